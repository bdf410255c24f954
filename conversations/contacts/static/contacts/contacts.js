// The contacts pages: refused forms (422) are swapped in with their errors; "select all" ticks the
// page's boxes; the bulk form says when it acts on every contact the filters select.
(function () {
  if (window.htmx) {
    htmx.config.responseHandling = [{ code: "422", swap: true, error: false }].concat(htmx.config.responseHandling);
  }

  document.addEventListener("change", (event) => {
    const target = event.target;
    if (target.id === "select-page") {
      document.querySelectorAll("input[name=ids]").forEach((box) => {
        box.checked = target.checked;
      });
    }
    if (target.name === "action" && target.closest("#bulk-form")) {
      const form = target.closest("#bulk-form");
      form.dataset.action = target.value;
    }
  });
})();
