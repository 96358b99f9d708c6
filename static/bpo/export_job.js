/* Export job page: poll the job while a worker writes the file, then reload to offer it.
   A static file (not an inline script) so that the Content-Security-Policy needs no exception. */
(function () {
  "use strict";
  function start() {
    var box = document.getElementById("export-job");
    if (!box || box.dataset.running !== "1") return;
    var url = box.dataset.statusUrl;
    function poll() {
      fetch(url, {
        credentials: "same-origin",
        redirect: "manual",
        headers: {"X-Background-Request": "1"}
      })
        .then(function (r) {
          if (r.type === "opaqueredirect") { window.location.reload(); return null; }
          if (!r.ok) { throw new Error("status " + r.status); }
          return r.json();
        })
        .then(function (s) {
          if (!s) return;
          document.getElementById("job-bar").value = s.percent;
          document.getElementById("job-status").textContent = s.status_display;
          document.getElementById("job-progress-text").textContent =
            s.done_orders + " / " + s.total_orders + " orders";
          if (s.finished) { window.location.reload(); } else { setTimeout(poll, 1000); }
        })
        .catch(function () { setTimeout(poll, 3000); });
    }
    setTimeout(poll, 500);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
