// Live updates of a message list: the tenant's event stream says something changed, the list is fetched
// again as an HTML fragment (server-rendered, like the page). No framework, no build step.
(function () {
  "use strict";
  var box = document.getElementById("messages");
  if (!box || !window.EventSource) return;
  var pending = null;
  function refresh() {
    pending = null;
    fetch(box.dataset.list, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) box.innerHTML = html; });
  }
  var events = new EventSource(box.dataset.events);
  events.addEventListener("message", function () {
    if (pending === null) pending = setTimeout(refresh, 100); // one fetch per burst of changes
  });
  // The server dropped our backlog (we read too slowly): reload the list now.
  events.addEventListener("resync", refresh);
  events.addEventListener("open", function () { document.body.dataset.live = "1"; });
})();
