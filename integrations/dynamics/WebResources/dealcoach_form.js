// Optional form script for the opportunity form: register Dealcoach.onLoad on the form's
// OnLoad event (pass the execution context). It tells the web resource which record is
// open, also after a new record is first saved (when the query string had no id).
var Dealcoach = Dealcoach || {};
Dealcoach.onLoad = function (executionContext) {
  "use strict";
  var formContext = executionContext.getFormContext();
  var control = formContext.getControl("WebResource_dealcoach");
  if (!control) return;
  function send() {
    var id = formContext.data.entity.getId();
    if (!id) return;
    control.getContentWindow().then(function (win) {
      // Same origin: the web resource is served by the Dynamics org itself.
      win.postMessage({ type: "dealcoach-deal", id: id }, window.location.origin);
    });
  }
  send();
  formContext.data.entity.addOnPostSave(send);
};
