// Follows a running workflow: polls the API's JSON every 1.5 s and, when a
// state changed, fetches the server-rendered graph and swaps it in, so the
// page has one renderer. Stops once the workflow is done (and reloads once
// to show the final buttons). Without JavaScript a meta refresh does it.
(function () {
  "use strict";
  var box = document.getElementById("pipelines");
  if (!box || box.dataset.live !== "true") return;
  var id = box.dataset.workflow;
  var last = "";
  function signature(wf) {
    var parts = [wf.state, wf.result || ""];
    (wf.pipelines || []).forEach(function (p) {
      parts.push(p.id, p.state, p.result || "");
      (p.blocks || []).forEach(function (b) {
        parts.push(b.state, b.result || "");
        (b.jobs || []).forEach(function (j) { parts.push(j.state, j.result || "", j.wait_reason || ""); });
      });
    });
    return parts.join("|");
  }
  function tick() {
    fetch("/api/v1/workflows/" + encodeURIComponent(id), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (wf) {
        var sig = signature(wf);
        if (wf.state === "done") {
          location.reload();
          return;
        }
        if (last !== "" && sig !== last) {
          return fetch(location.pathname + "?fragment=graph", { credentials: "same-origin" })
            .then(function (r) { return r.text(); })
            .then(function (html) { box.innerHTML = html; last = sig; setTimeout(tick, 1500); });
        }
        last = sig;
        setTimeout(tick, 1500);
      })
      .catch(function () { setTimeout(tick, 5000); });
  }
  setTimeout(tick, 1500);
})();
