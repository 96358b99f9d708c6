/* Import job page: poll the job's status while it runs and show its progress.
   A static file (not an inline script) so that the Content-Security-Policy needs no exception.
   The polls are marked as background requests: they do not keep an idle session alive. */
(function () {
  "use strict";
  function start() {
    var box = document.getElementById("import-job");
    if (!box || box.dataset.running !== "1") return;
    var url = box.dataset.statusUrl;
    function poll() {
      // redirect "manual": a logged-out poll is answered with a redirect to the login page;
      // following it here would swallow the "logged out" message meant for the user.
      fetch(url, {
        credentials: "same-origin",
        redirect: "manual",
        headers: {"X-Background-Request": "1"}
      })
        .then(function (r) {
          // Logged out meanwhile (idle timeout): reload, which shows the login page.
          if (r.type === "opaqueredirect") { window.location.reload(); return null; }
          if (!r.ok) { throw new Error("status " + r.status); }
          return r.json();
        })
        .then(function (s) {
          if (!s) return;
          document.getElementById("job-bar").value = s.percent;
          document.getElementById("job-status").textContent = s.status_display;
          document.getElementById("job-progress-text").textContent =
            s.processed_rows + " / " + s.total_rows + " rows · " + s.orders_created +
            " orders created · " + s.orders_rejected + " rejected";
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
