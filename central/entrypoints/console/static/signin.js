// Sign-in link support: /console/sign-in#token=<API token> (printed by `sfsync demo`).
// The fragment never reaches the server; it is removed from the address bar before submitting.
(function () {
  var m = /^#token=([A-Za-z0-9_\-]+)$/.exec(window.location.hash || "");
  if (!m) { return; }
  history.replaceState(null, "", window.location.pathname + window.location.search);
  var field = document.getElementById("token");
  if (!field) { return; }
  field.value = m[1];
  field.form.submit();
})();
