// Boot script of the dealcoach web resource (a separate web resource: Dynamics serves
// web resources from the org's origin, and keeping script out of the HTML keeps the
// page compatible with a strict Content-Security-Policy).
//
// Hand-off of the record id, both documented by Microsoft for web resource controls:
// 1. the query string: with "Pass record object-type code and unique identifier as
//    parameters", Dynamics appends typename and id ({GUID}, braces URL-encoded);
// 2. postMessage from the form (dealcoach_form.js), for a record saved after the form
//    opened; only messages from this page's own origin (the Dynamics org) are taken.
(function () {
  "use strict";
  // The sidecar's public HTTPS URL.
  var SIDECAR = "https://dealcoach.example.com";

  function normalize(id) {
    return String(id || "").replace(/[{}]/g, "").toLowerCase();
  }

  var script = document.createElement("script");
  script.type = "module";
  script.src = SIDECAR + "/ui/panel.js";
  document.head.appendChild(script);

  document.addEventListener("DOMContentLoaded", function () {
    var panel = document.getElementById("panel");
    panel.setAttribute("base-url", SIDECAR);
    var q = new URLSearchParams(window.location.search);
    // A web resource control may also pass custom text in "data" (e.g. data=manager).
    if (q.get("data") === "manager") panel.setAttribute("mode", "manager");
    if (q.get("typename") === "opportunity" && q.get("id")) {
      panel.setAttribute("deal-id", normalize(q.get("id")));
    }
    window.addEventListener("message", function (event) {
      if (event.origin !== window.location.origin) return;
      var msg = event.data || {};
      if (msg.type === "dealcoach-deal" && msg.id) panel.setAttribute("deal-id", normalize(msg.id));
    });
  });
})();
