// The agent's workspace in the inbox: live SLA badges, bulk selection, @mention autocomplete, and the
// signals for new work (desktop notifications, a title counter, a sound), each a preference of the
// person. Server-rendered markup only; text from the server is set with textContent.
(function () {
  "use strict";

  const root = document.getElementById("inbox");
  if (!root) return;
  const myUserId = Number(root.dataset.userId);
  const lang = document.documentElement.lang || "en";

  // --- SLA badges: the state follows the clock from the due and warning instants --------------------
  const relative = window.Intl && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(lang, { numeric: "auto" }) : null;

  function humanize(ms) {
    const minutes = Math.round(ms / 60000);
    if (!relative) return `${minutes} min`;
    if (Math.abs(minutes) < 60) return relative.format(minutes, "minute");
    const hours = Math.round(minutes / 60);
    if (Math.abs(hours) < 48) return relative.format(hours, "hour");
    return relative.format(Math.round(hours / 24), "day");
  }

  function tickSla() {
    const now = Date.now();
    document.querySelectorAll(".sla-badge[data-sla-due]").forEach((badge) => {
      if (badge.dataset.slaState === "paused") return;
      const due = Date.parse(badge.dataset.slaDue);
      const warning = badge.dataset.slaWarning ? Date.parse(badge.dataset.slaWarning) : NaN;
      if (Number.isNaN(due)) return;
      let state = "ok";
      if (now >= due) state = "breached";
      else if (!Number.isNaN(warning) && now >= warning) state = "warning";
      if (badge.dataset.slaState !== state) {
        badge.dataset.slaState = state;
        badge.classList.remove("sla-ok", "sla-warning", "sla-breached");
        badge.classList.add(`sla-${state}`);
      }
      const time = badge.querySelector(".sla-time");
      if (time) time.textContent = humanize(due - now);
    });
  }
  tickSla();
  setInterval(tickSla, 1000);

  // --- bulk selection: kept across live refreshes of the list ----------------------------------------
  const selected = new Set();

  function syncBulk() {
    const form = document.getElementById("bulk-form");
    document.querySelectorAll("#conv-list .conv-select").forEach((box) => {
      box.checked = selected.has(box.value);
    });
    const count = document.getElementById("bulk-count");
    if (count) count.textContent = String(selected.size);
    if (form) form.classList.toggle("has-selection", selected.size > 0);
    const all = document.getElementById("bulk-select-all");
    const boxes = document.querySelectorAll("#conv-list .conv-select");
    if (all) all.checked = boxes.length > 0 && Array.from(boxes).every((box) => box.checked);
    showBulkParams();
  }

  function showBulkParams() {
    const action = document.getElementById("bulk-action");
    document.querySelectorAll("#bulk-form [data-bulk-for]").forEach((select) => {
      const on = action && action.value === select.dataset.bulkFor;
      select.hidden = !on;
      select.disabled = !on;
    });
  }

  document.addEventListener("change", (event) => {
    const target = event.target;
    if (target.classList && target.classList.contains("conv-select")) {
      if (target.checked) selected.add(target.value);
      else selected.delete(target.value);
      syncBulk();
    } else if (target.id === "bulk-select-all") {
      document.querySelectorAll("#conv-list .conv-select").forEach((box) => {
        if (target.checked) selected.add(box.value);
        else selected.delete(box.value);
      });
      syncBulk();
    } else if (target.id === "bulk-action") {
      showBulkParams();
    }
  });

  // Ticked conversations scrolled out by a refresh still go with the form.
  document.addEventListener("htmx:configRequest", (event) => {
    if (!event.detail.elt || event.detail.elt.id !== "bulk-form") return;
    const params = event.detail.parameters;
    const ids = Array.from(selected);
    if (params instanceof FormData) {
      params.delete("ids");
      ids.forEach((id) => params.append("ids", id));
    } else {
      params.ids = ids;
    }
  });

  document.addEventListener("htmx:afterRequest", (event) => {
    if (event.detail.elt && event.detail.elt.id === "bulk-form" && event.detail.successful) selected.clear();
  });

  document.addEventListener("htmx:afterSwap", () => {
    syncBulk();
    tickSla();
  });

  // --- @mentions in internal notes ----------------------------------------------------------------------
  let mentionIndex = 0;

  function members() {
    const template = document.getElementById("mention-members");
    if (!template) return [];
    return Array.from(template.content.querySelectorAll("option")).map((option) => ({
      handle: option.value,
      name: option.dataset.name || option.value,
    }));
  }

  function mentionQuery(textarea) {
    const before = textarea.value.slice(0, textarea.selectionStart);
    const match = /(^|[^\w@])@([\w.+-]*)$/.exec(before);
    return match ? match[2].toLowerCase() : null;
  }

  function mentionList() {
    return document.getElementById("mention-list");
  }

  function closeMentions() {
    const list = mentionList();
    if (list) {
      list.hidden = true;
      list.textContent = "";
    }
  }

  function renderMentions(textarea) {
    const list = mentionList();
    const note = document.getElementById("note-toggle");
    if (!list) return;
    const query = note && note.checked ? mentionQuery(textarea) : null;
    if (query === null) return closeMentions();
    const found = members()
      .filter((m) => m.handle.toLowerCase().startsWith(query) || m.name.toLowerCase().split(/\s+/).some((w) => w.startsWith(query)))
      .slice(0, 8);
    if (!found.length) return closeMentions();
    mentionIndex = Math.min(mentionIndex, found.length - 1);
    list.textContent = "";
    found.forEach((member, index) => {
      const item = document.createElement("li");
      item.setAttribute("role", "option");
      item.dataset.handle = member.handle;
      item.className = index === mentionIndex ? "is-active" : "";
      item.setAttribute("aria-selected", index === mentionIndex ? "true" : "false");
      const name = document.createElement("strong");
      name.textContent = member.name;
      const handle = document.createElement("span");
      handle.className = "muted";
      handle.textContent = ` @${member.handle}`;
      item.append(name, handle);
      list.appendChild(item);
    });
    list.hidden = false;
  }

  function insertMention(textarea, handle) {
    const start = textarea.selectionStart;
    const before = textarea.value.slice(0, start).replace(/@([\w.+-]*)$/, `@${handle} `);
    textarea.value = before + textarea.value.slice(start);
    textarea.selectionStart = textarea.selectionEnd = before.length;
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
    closeMentions();
    textarea.focus();
  }

  document.addEventListener("input", (event) => {
    if (event.target.id === "reply-body") renderMentions(event.target);
  });

  // Capture phase: while the list is open its keys win over the composer's shortcuts.
  document.addEventListener(
    "keydown",
    (event) => {
      const list = mentionList();
      if (event.target.id !== "reply-body" || !list || list.hidden) return;
      const items = Array.from(list.children);
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        mentionIndex = (mentionIndex + (event.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
        renderMentions(event.target);
      } else if ((event.key === "Enter" && !event.ctrlKey && !event.metaKey) || event.key === "Tab") {
        insertMention(event.target, items[mentionIndex].dataset.handle);
      } else if (event.key === "Escape") {
        closeMentions();
      } else {
        return;
      }
      event.preventDefault();
      event.stopImmediatePropagation();
    },
    true
  );

  document.addEventListener("mousedown", (event) => {
    const item = event.target.closest && event.target.closest("#mention-list li");
    if (!item) return;
    event.preventDefault();
    insertMention(document.getElementById("reply-body"), item.dataset.handle);
  });

  // --- signals for new work -------------------------------------------------------------------------------
  const signals = document.getElementById("work-signals");
  const prefs = signals ? signals.dataset : {};
  const baseTitle = document.title;
  let unseen = 0;
  let audio = null;

  function supported() {
    return "Notification" in window;
  }

  function showEnableButton() {
    const button = document.getElementById("enable-desktop-notifications");
    const state = document.getElementById("desktop-notifications-state");
    if (!button || !supported()) return;
    const wanted = prefs.desktopMessage === "1" || prefs.desktopAssignment === "1";
    button.hidden = !wanted || Notification.permission !== "default";
    if (state) {
      state.textContent =
        wanted && Notification.permission === "denied" ? prefs.i18nDenied : wanted && Notification.permission === "granted" ? prefs.i18nGranted : "";
    }
  }

  document.addEventListener("click", (event) => {
    if (!event.target.closest("#enable-desktop-notifications")) return;
    if (prefs.sound === "1" && !audio && window.AudioContext) audio = new AudioContext(); // needs a gesture
    Notification.requestPermission().then(showEnableButton);
  });

  function beep() {
    if (prefs.sound !== "1" || !window.AudioContext) return;
    audio = audio || new AudioContext();
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    oscillator.frequency.value = 880;
    gain.gain.setValueAtTime(0.08, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.25);
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start();
    oscillator.stop(audio.currentTime + 0.25);
  }

  function countUnseen() {
    if (prefs.titleCounter !== "1" || document.visibilityState === "visible") return;
    unseen += 1;
    document.title = `(${unseen}) ${baseTitle}`;
  }

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && unseen) {
      unseen = 0;
      document.title = baseTitle;
    }
  });

  function contactName(itemHtml) {
    if (!itemHtml) return "";
    const template = document.createElement("template");
    template.innerHTML = itemHtml; // parsed, never inserted: only its text is read
    const name = template.content.querySelector(".conv-name");
    return name ? name.textContent.trim() : "";
  }

  function desktop(title, body, conversationId) {
    if (!supported() || Notification.permission !== "granted") return;
    const notification = new Notification(title, { body: body, tag: `conversation-${conversationId}` });
    notification.onclick = () => {
      window.focus();
      window.location.href = `${root.dataset.inboxUrl}?c=${conversationId}`;
    };
  }

  root.addEventListener("inbox:event", (event) => {
    const frame = event.detail.frame;
    const away = document.visibilityState !== "visible" || frame.conversation_id !== event.detail.open;
    if (frame.event === "message.received" && frame.agent_id === myUserId && away) {
      countUnseen();
      beep();
      if (prefs.desktopMessage === "1") {
        const name = contactName(frame.item);
        desktop((prefs.i18nNewMessage || "").replace("{name}", name), "", frame.conversation_id);
      }
    } else if (frame.event === "conversation.assigned" && frame.agent_id === myUserId && frame.by_id !== myUserId) {
      countUnseen();
      beep();
      if (prefs.desktopAssignment === "1") desktop(prefs.i18nAssigned, `#${frame.conversation_id}`, frame.conversation_id);
    }
  });

  showEnableButton();
  syncBulk();
})();
