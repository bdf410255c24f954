// The preferences form is swapped as a whole on every change. htmx "settles" the class and style
// attributes of elements kept by id, writing style attributes from script, which the CSP
// (style-src 'self', no inline styles) refuses; this page uses no inline styles, so do not settle them.
document.addEventListener("DOMContentLoaded", () => {
  if (window.htmx) {
    window.htmx.config.attributesToSettle = window.htmx.config.attributesToSettle.filter((name) => name !== "style");
  }
});
