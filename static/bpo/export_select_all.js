/* Export page (templates/admin/import_export/export.html): the "Select all" box, bound here
   instead of an inline onchange attribute, which the Content-Security-Policy blocks.
   onSelectToggleChange comes from django-import-export's export_selectable_fields.js. */
(function () {
  "use strict";
  function bind() {
    var toggle = document.getElementById("select-all-toggle");
    if (toggle && typeof window.onSelectToggleChange === "function") {
      toggle.addEventListener("change", window.onSelectToggleChange);
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", bind);
  } else {
    bind();
  }
})();
