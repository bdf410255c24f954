// The AI assistant in the inbox: suggest a reply, rewrite the draft, summarize for a transfer.
// The server streams JSON lines ({"text"}, then {"done"} or {"error"}); the text goes into the
// composer (or the transfer's summary) for the agent to edit. Nothing is ever sent from here.
(function () {
  "use strict";

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (error) {
      return "";
    }
  }

  let running = false;

  function setBusy(bar, busy, message) {
    running = busy;
    bar.querySelectorAll("button, select").forEach((el) => {
      el.disabled = busy;
    });
    bar.dataset.busy = busy ? "1" : "0";
    const status = bar.querySelector("#ai-status");
    if (status) {
      status.textContent = message || "";
      status.classList.toggle("error", false);
    }
  }

  function showError(bar, message) {
    const status = bar.querySelector("#ai-status");
    if (status) {
      status.textContent = message;
      status.classList.add("error");
    }
  }

  async function streamInto(bar, url, fields, target) {
    const before = target.value;
    // URL-encoded, not FormData: an empty multipart body is not a valid form.
    const body = new URLSearchParams(fields);
    setBusy(bar, true, bar.dataset.i18nWorking);
    let text = "";
    let failed = null;
    try {
      const response = await fetch(url, {
        method: "POST",
        body,
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(), Accept: "application/x-ndjson" },
      });
      if (!response.ok || !response.body) {
        let message = bar.dataset.i18nFailed;
        try {
          message = (await response.json()).error || message;
        } catch (error) {
          /* not JSON: keep the generic message */
        }
        failed = message;
      } else {
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        target.value = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (value) buffer += decoder.decode(value, { stream: true });
          let newline;
          while ((newline = buffer.indexOf("\n")) >= 0) {
            const line = buffer.slice(0, newline).trim();
            buffer = buffer.slice(newline + 1);
            if (!line) continue;
            const item = JSON.parse(line);
            if (typeof item.text === "string") {
              text += item.text;
              target.value = text;
              target.dispatchEvent(new Event("input", { bubbles: true }));
            } else if (item.error) {
              failed = item.error;
            }
          }
          if (done) break;
        }
      }
    } catch (error) {
      failed = bar.dataset.i18nFailed;
    }
    setBusy(bar, false, "");
    if (failed) {
      if (!text) target.value = before;
      target.dispatchEvent(new Event("input", { bubbles: true }));
      showError(bar, failed);
    } else {
      target.dataset.aiFilled = "1";
      target.focus();
    }
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("#assistant-actions [data-ai]");
    if (!button || running) return;
    const bar = button.closest("#assistant-actions");
    if (button.dataset.ai === "suggest") {
      const composer = document.getElementById("reply-body");
      if (composer) streamInto(bar, bar.dataset.suggestUrl, {}, composer);
    } else if (button.dataset.ai === "summarize") {
      const summary = document.getElementById("transfer-summary");
      if (!summary) return;
      const details = summary.closest("details");
      if (details) details.open = true;
      streamInto(bar, bar.dataset.summarizeUrl, {}, summary);
    }
  });

  document.addEventListener("change", (event) => {
    if (event.target.id !== "ai-rewrite-mode" || running) return;
    const select = event.target;
    const mode = select.value;
    select.value = "";
    const bar = select.closest("#assistant-actions");
    const composer = document.getElementById("reply-body");
    if (!mode || !bar || !composer) return;
    streamInto(bar, bar.dataset.rewriteUrl, { mode, draft: composer.value }, composer);
  });

  // The settings page: removing a provider asks first.
  document.addEventListener("submit", (event) => {
    const form = event.target.closest("form.js-confirm");
    if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });
})();
