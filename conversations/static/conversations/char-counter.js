// Character counters for text boxes with a limit: <textarea data-max-chars="4096" aria-describedby="x">
// and <p id="x" data-over="…"><span class="char-count"></span> / 4096</p>. The server refuses a text
// over the limit (nothing is cut); this only shows the count while typing and flags an over-long text.
// Characters are counted as the server counts them: code points, line breaks sent as one.
(function () {
  "use strict";

  function length(text) {
    return Array.from(text.replace(/\r\n/g, "\n").trim()).length;
  }

  function update(box) {
    const counter = document.getElementById(box.getAttribute("aria-describedby") || "");
    const max = Number(box.dataset.maxChars);
    if (!counter || !max) return;
    const count = counter.querySelector(".char-count");
    const used = length(box.value);
    const over = used > max;
    if (count) count.textContent = String(used);
    counter.classList.toggle("is-over", over);
    box.classList.toggle("is-over", over);
    box.setAttribute("aria-invalid", over ? "true" : "false");
    let warning = counter.querySelector(".char-over");
    if (over && !warning) {
      warning = document.createElement("span");
      warning.className = "char-over";
      warning.textContent = " · " + (counter.dataset.over || "");
      counter.appendChild(warning);
    } else if (!over && warning) {
      warning.remove();
    }
  }

  function updateAll(root) {
    root.querySelectorAll("textarea[data-max-chars]").forEach(update);
  }

  document.addEventListener("input", (event) => {
    if (event.target.matches && event.target.matches("textarea[data-max-chars]")) update(event.target);
  });
  document.addEventListener("htmx:afterSwap", (event) => updateAll(event.detail.target || document));
  document.addEventListener("DOMContentLoaded", () => updateAll(document));
})();
