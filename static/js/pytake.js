// Site-wide behaviour without inline scripts (the CSP forbids them).
document.addEventListener("change", (event) => {
  const form = event.target.closest("form.js-autosubmit");
  if (form && event.target.tagName === "SELECT") {
    form.requestSubmit();
  }
});

// A write refused because the organization is read-only (trial ended): the answer is the banner,
// retargeted by the server (HX-Retarget), so it is swapped in although its status is 403.
document.addEventListener("htmx:beforeSwap", (event) => {
  if (event.detail.xhr.getResponseHeader("X-PyTake-Read-Only")) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
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
