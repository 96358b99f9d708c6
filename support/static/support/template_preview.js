/* Live preview of a notification template: posts the form's template fields to the admin's
   preview view (sandboxed rendering against a real order) while the supervisor types. */
(function () {
  "use strict";
  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }
  ready(function () {
    var panel = document.getElementById("template-preview-panel");
    if (!panel) { return; }
    var form = panel.closest("form");
    var timer = null;
    function field(name) {
      var el = form.querySelector("[name='" + name + "']");
      return el ? el.value : "";
    }
    function payload() {
      var data = new FormData();
      ["client", "event", "subject", "body_text", "body_html", "csrfmiddlewaretoken"].forEach(function (n) {
        data.append(n, field(n));
      });
      data.append("order_number", document.getElementById("preview-order-number").value);
      return data;
    }
    function showErrors(errors) {
      var list = document.getElementById("preview-errors");
      list.textContent = "";
      (errors || []).forEach(function (e) {
        var li = document.createElement("li");
        li.textContent = e;
        list.appendChild(li);
      });
    }
    function post(url, onDone) {
      fetch(url, { method: "POST", body: payload(), credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(onDone)
        .catch(function (err) { showErrors(["Preview failed: " + err]); });
    }
    function refresh() {
      post(panel.dataset.previewUrl, function (data) {
        showErrors(data.errors);
        if (data.errors && data.errors.length) { return; }
        document.getElementById("preview-order").textContent = data.order;
        document.getElementById("preview-subject").textContent = data.subject;
        document.getElementById("preview-text").textContent = data.body_text;
        document.getElementById("preview-html").srcdoc = data.body_html || "";
      });
    }
    function schedule() {
      clearTimeout(timer);
      timer = setTimeout(refresh, 400);
    }
    ["client", "event", "subject", "body_text", "body_html"].forEach(function (n) {
      var el = form.querySelector("[name='" + n + "']");
      if (el) { el.addEventListener("input", schedule); el.addEventListener("change", schedule); }
    });
    document.getElementById("preview-order-number").addEventListener("change", schedule);
    document.getElementById("preview-refresh").addEventListener("click", refresh);
    document.getElementById("preview-test-send").addEventListener("click", function () {
      post(panel.dataset.testSendUrl, function (data) {
        showErrors(data.errors);
        document.getElementById("preview-message").textContent = data.message || "";
      });
    });
    refresh();
  });
})();
