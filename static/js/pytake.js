// Site-wide behaviour without inline scripts (the CSP forbids them).
document.addEventListener("change", (event) => {
  const form = event.target.closest("form.js-autosubmit");
  if (form && event.target.tagName === "SELECT") {
    form.requestSubmit();
  }
});

// Colors chosen in the admin (queue colors) come as data attributes: style attributes are blocked by the CSP.
function paintSwatches(root) {
  root.querySelectorAll("[data-color]").forEach((el) => {
    if (/^#[0-9a-fA-F]{6}$/.test(el.dataset.color)) {
      el.style.backgroundColor = el.dataset.color;
    }
  });
}
document.addEventListener("DOMContentLoaded", () => paintSwatches(document));
document.addEventListener("htmx:afterSwap", (event) => paintSwatches(event.target));
