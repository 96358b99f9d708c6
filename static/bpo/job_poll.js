/* Background job pages (order import, large export): poll the job's status while a worker
   runs it, show its progress, reload when it has finished (the page then offers what is next).
   The element marked data-job-poll carries the status URL and whether the job is running; the
   status JSON says percent, status_display, progress_text and finished.
   A static file (not an inline script) so that the Content-Security-Policy needs no exception.
   The polls are marked as background requests: they do not keep an idle session alive. */
(function () {
  "use strict";
  function start() {
    var box = document.querySelector("[data-job-poll]");
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
          document.getElementById("job-progress-text").textContent = s.progress_text;
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
