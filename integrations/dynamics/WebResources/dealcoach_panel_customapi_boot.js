// Boot script of the server-side variant (dealcoach_panel_customapi.html): gives the
// panel a fetcher that calls the Custom API dealcoach_GetGuidance through the org's Web
// API (same origin, the user's own session and privileges), which answers the sidecar's
// status and body unchanged; the record id comes from the query string or postMessage,
// as in dealcoach_panel_boot.js.
(function () {
  "use strict";
  var WEB_API = window.location.origin + "/api/data/v9.2/dealcoach_GetGuidance";

  function normalize(id) {
    return String(id || "").replace(/[{}]/g, "").toLowerCase();
  }

  // The panel asks for "/v1/deals/{id}/guidance" (and /checklist, /v1/reps/{id}/agenda).
  function fetcher(path) {
    return fetch(WEB_API, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        Accept: "application/json",
        "Content-Type": "application/json; charset=utf-8",
        "OData-MaxVersion": "4.0",
        "OData-Version": "4.0",
      },
      body: JSON.stringify({ Path: path }),
    }).then(function (res) {
      return res.json().then(function (out) {
        if (!res.ok) {
          // The Custom API itself failed (a plug-in exception, no privilege): Dataverse's
          // error, shown by the panel like a sidecar error.
          var message = (out && out.error && out.error.message) || "Dataverse answered HTTP " + res.status;
          return { status: res.status, ok: false, json: function () { return Promise.resolve({ message: message }); } };
        }
        var status = out.StatusCode;
        return {
          status: status,
          ok: status >= 200 && status < 300,
          json: function () { return Promise.resolve(JSON.parse(out.Body || "{}")); },
        };
      });
    });
  }

  // This script runs at the end of the page's body, before the panel's module script.
  (function () {
    var panel = document.getElementById("panel");
    // The panel's stylesheet is the web resource dealcoach_/ui/panel.css.
    panel.setAttribute("base-url", window.location.origin + "/WebResources/dealcoach_");
    panel.fetcher = fetcher;
    var q = new URLSearchParams(window.location.search);
    if (q.get("data") === "manager") panel.setAttribute("mode", "manager");
    if (q.get("typename") === "opportunity" && q.get("id")) {
      panel.setAttribute("deal-id", normalize(q.get("id")));
    }
    window.addEventListener("message", function (event) {
      if (event.origin !== window.location.origin) return;
      var msg = event.data || {};
      if (msg.type === "dealcoach-deal" && msg.id) panel.setAttribute("deal-id", normalize(msg.id));
    });
  })();
})();
