// htmx "settles" the class and style attributes of elements kept by id (the appointment card
// swapped after an action), writing style attributes from script, which the CSP (style-src
// 'self', no inline styles) refuses. Scheduling pages use no inline styles: do not settle them.
if (window.htmx) {
  window.htmx.config.attributesToSettle = window.htmx.config.attributesToSettle.filter((name) => name !== "style");
}
