// The contact panel (contacts/_panel.html): in the inbox, a change made in another tab reloads it.
// inbox.js turns the realtime frame into an "inbox:contact-changed" event with the contact's id.
(function () {
  function reload(panel) {
    if (!window.htmx) return;
    const active = document.activeElement;
    if (active && panel.contains(active) && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName)) {
      // Someone is typing in the panel: reload once they leave it, not under their fingers.
      panel.dataset.stale = "1";
      return;
    }
    htmx.ajax("GET", panel.dataset.panelUrl, { target: "#contact-panel", swap: "outerHTML" });
  }

  document.addEventListener("inbox:contact-changed", (event) => {
    const panel = document.getElementById("contact-panel");
    if (panel && Number(panel.dataset.contactId) === Number(event.detail.contactId)) reload(panel);
  });

  // The pane's title names the contact too: it follows the panel (in this tab and after a reload).
  document.addEventListener("htmx:afterSwap", () => {
    const panel = document.getElementById("contact-panel");
    const title = document.getElementById("pane-title");
    if (panel && title && panel.dataset.displayName) title.textContent = panel.dataset.displayName;
  });

  document.addEventListener("focusout", (event) => {
    const panel = document.getElementById("contact-panel");
    if (!panel || panel.dataset.stale !== "1" || !panel.contains(event.target)) return;
    window.setTimeout(() => {
      if (!panel.contains(document.activeElement)) {
        delete panel.dataset.stale;
        reload(panel);
      }
    }, 0);
  });
})();
