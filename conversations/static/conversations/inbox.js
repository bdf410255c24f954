// The agent inbox: one websocket per tab, keyboard shortcuts, live list and conversation.
// Event frames carry the server's rendered partials (the message, the list item; escaped there
// by the templates), so nothing a customer writes is ever turned into markup here, and a new
// message shows without a request. Each event has the organization's sequence: the tab keeps
// the last one and the server replays what it missed when it reconnects (or says "resync").
(function () {
  "use strict";

  const root = document.getElementById("inbox");
  if (!root) return;

  const T = root.dataset;
  const myUserId = Number(T.userId);
  const canAct = T.canAct === "1";
  const HEARTBEAT_MS = 20000;
  const TYPING_SEND_MS = 3000;
  const TYPING_SHOW_MS = 6000;
  const IDLE_AWAY_MS = 5 * 60 * 1000;
  const POLL_MS = 4000;
  const POLL_AFTER_FAILURES = 3;

  let socket = null;
  let connectedOnce = false;
  let attempt = 0;
  let failuresWithoutOpen = 0;
  let pollTimer = null;
  let lastSeq = Number(T.seq || 0);
  let listMoves = new Map();
  let listMoveFrame = null;
  let heartbeatTimer = null;
  let lastActivity = Date.now();
  let listTimer = null;
  let fetchingNewer = false;
  let newerAgain = false;
  let lastTypingSent = 0;
  const typingTimers = new Map();
  const readBy = new Map();
  let refSeq = 0;
  const pendingSends = new Map();

  // Unprocessable answers (a refused action) still replace the pane: they carry the error.
  if (window.htmx) {
    htmx.config.responseHandling = [{ code: "422", swap: true, error: false }].concat(htmx.config.responseHandling);
  }

  // --- state helpers ----------------------------------------------------------------------------
  function openConversationId() {
    const pane = document.getElementById("pane");
    return pane && pane.dataset.conversationId ? Number(pane.dataset.conversationId) : null;
  }

  function lastMessageId() {
    const items = document.querySelectorAll("#history-messages [data-message-id]");
    return items.length ? Number(items[items.length - 1].dataset.messageId) : 0;
  }

  function setStatus(state) {
    const el = document.getElementById("ws-status");
    if (el) {
      el.dataset.state = state;
      el.textContent =
        { live: T.i18nLive, connecting: T.i18nConnecting, reconnecting: T.i18nReconnecting, polling: T.i18nPolling }[state] ||
        state;
    }
    const banner = document.getElementById("connection-banner");
    if (banner) {
      banner.hidden = state === "live" || state === "connecting";
      banner.textContent = state === "polling" ? T.i18nBannerPolling : T.i18nBannerOffline;
    }
  }

  function send(frame) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  function memberName(userId) {
    const item = document.querySelector(`[data-presence-user="${userId}"]`);
    return item ? item.dataset.name : "";
  }

  // --- refreshing from the server ---------------------------------------------------------------
  function refreshList() {
    clearTimeout(listTimer);
    listTimer = setTimeout(() => {
      if (!window.htmx) return;
      const search = document.getElementById("inbox-search");
      if (search && document.activeElement === search) return; // do not disturb typing in the search box
      htmx.ajax("GET", window.location.pathname + window.location.search, { target: "#inbox-list", swap: "innerHTML" });
    }, 300);
  }

  function fetchNewer() {
    const id = openConversationId();
    if (!id || !window.htmx) return;
    if (fetchingNewer) {
      newerAgain = true;
      return;
    }
    fetchingNewer = true;
    const url = `${root.dataset.inboxUrl || window.location.pathname}?c=${id}&after=${lastMessageId()}`;
    htmx
      .ajax("GET", url, { target: "#history-messages", swap: "beforeend", headers: { "HX-Target": "history-messages" } })
      .finally(() => {
        fetchingNewer = false;
        const empty = document.querySelector("#history-messages > .empty");
        if (empty && document.querySelector("#history-messages [data-message-id]")) empty.remove();
        scrollHistory();
        markRead();
        if (newerAgain) {
          newerAgain = false;
          fetchNewer();
        }
      });
  }

  function refreshPane() {
    const id = openConversationId();
    if (!id || !window.htmx) return;
    const composer = document.getElementById("reply-body");
    if (composer && composer.value.trim()) {
      fetchNewer(); // keep a reply being written; the header refreshes on the next action
      return;
    }
    htmx.ajax("GET", window.location.pathname + window.location.search, { target: "#inbox-pane", swap: "innerHTML" });
  }

  function scrollHistory() {
    const history = document.getElementById("history");
    if (history) history.scrollTop = history.scrollHeight;
  }

  function markRead() {
    const id = openConversationId();
    const last = lastMessageId();
    if (canAct && id && last && document.visibilityState === "visible") {
      send({ type: "read", conversation_id: id, message_id: last });
    }
  }

  // --- websocket --------------------------------------------------------------------------------
  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const lang = encodeURIComponent(document.documentElement.lang || "");
    let opened = false;
    try {
      socket = new WebSocket(`${scheme}://${window.location.host}${T.wsPath}?since=${lastSeq}&lang=${lang}`);
    } catch (error) {
      startPolling();
      return;
    }
    if (!pollTimer) setStatus(connectedOnce ? "reconnecting" : "connecting");
    // Live once the server's hello arrives (a proxy may accept the upgrade and pass nothing).
    function live() {
      opened = true;
      attempt = 0;
      failuresWithoutOpen = 0;
      stopPolling();
      setStatus("live");
      connectedOnce = true; // what was missed meanwhile comes as replayed events (or a resync)
      subscribeOpen();
      clearInterval(heartbeatTimer);
      if (canAct) heartbeatTimer = setInterval(heartbeat, HEARTBEAT_MS);
    }
    socket.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      if (frame.type === "hello") live();
      else handle(frame);
    });
    socket.addEventListener("close", () => {
      clearInterval(heartbeatTimer);
      if (!opened) failuresWithoutOpen += 1;
      // Websockets blocked (a proxy, a firewall): poll the same events over HTTP meanwhile.
      if (failuresWithoutOpen >= POLL_AFTER_FAILURES) startPolling();
      else if (!pollTimer) setStatus("reconnecting");
      // Exponential backoff with jitter, so a restarted server is not hit by every tab at once.
      const delay = Math.min(15000, 500 * 2 ** attempt) * (0.75 + Math.random() * 0.5);
      attempt += 1;
      setTimeout(connect, delay);
    });
  }

  // --- events: apply in sequence order, each at most once -----------------------------------------
  function fragment(html) {
    const template = document.createElement("template");
    template.innerHTML = html;
    return template.content;
  }

  function defaultListView() {
    // The list shows every active conversation, newest first: a list item can move to the top
    // by itself. Under any filter, search or page the server decides (one coalesced refresh).
    const params = new URLSearchParams(window.location.search);
    params.delete("c");
    return Array.from(params.keys()).length === 0;
  }

  function showMessage(html, replace) {
    const list = document.getElementById("history-messages");
    if (!list) return;
    Array.from(fragment(html).children).forEach((item) => {
      const shown = item.id && document.getElementById(item.id);
      if (shown && replace) {
        shown.replaceWith(item); // the message changed (its media arrived or failed)
        if (window.htmx) htmx.process(item);
        return;
      }
      if (!item.id || shown) return; // already shown (a replay overlap)
      const id = Number(item.dataset.messageId);
      const later = Array.from(list.querySelectorAll("[data-message-id]")).find((el) => Number(el.dataset.messageId) > id);
      list.insertBefore(item, later || null);
      if (window.htmx) htmx.process(item);
    });
    const empty = list.querySelector(":scope > .empty");
    if (empty && list.querySelector("[data-message-id]")) empty.remove();
    scrollHistory();
    markRead();
  }

  function moveListItems() {
    listMoveFrame = null;
    const list = document.getElementById("conv-list");
    const moves = listMoves;
    listMoves = new Map();
    if (!list) return;
    moves.forEach((html, conversationId) => {
      const item = fragment(html).firstElementChild;
      if (!item) return;
      const old = list.querySelector(`.conv-item[data-conversation-id="${conversationId}"]`);
      if (old) old.remove();
      const empty = list.querySelector(":scope > .empty");
      if (empty) empty.remove();
      list.insertBefore(item, list.firstElementChild);
      if (window.htmx) htmx.process(item);
    });
    markOpenInList();
  }

  function applyEvent(frame, open) {
    if (typeof frame.seq === "number") {
      if (frame.seq <= lastSeq) return;
      lastSeq = frame.seq;
    }
    // For the workspace's signals (desktop notifications, title counter): each event once, in order.
    root.dispatchEvent(new CustomEvent("inbox:event", { detail: { frame: frame, open: open } }));
    if (frame.contact_id) {
      // A contact changed: its panel (contacts/panel.js) refreshes itself; names in the list may change.
      document.dispatchEvent(new CustomEvent("inbox:contact-changed", { detail: { contactId: frame.contact_id } }));
      refreshList();
      return;
    }
    if (frame.conversation_id === open) {
      if (frame.html) showMessage(frame.html, frame.event === "message.updated");
      else if (!frame.message_id) refreshPane();
    }
    if (frame.message_id && frame.item && defaultListView()) {
      listMoves.delete(frame.conversation_id);
      listMoves.set(frame.conversation_id, frame.item); // Map order: the latest moves last, to the top
      if (!listMoveFrame) listMoveFrame = window.requestAnimationFrame(moveListItems);
    } else if (!frame.message_id || frame.item) {
      refreshList(); // counts or membership of the list changed: one refresh for a burst
    }
  }

  function resync(seq) {
    if (typeof seq === "number") lastSeq = seq;
    refreshList();
    if (openConversationId()) fetchNewer();
  }

  // --- polling fallback ----------------------------------------------------------------------------
  function poll() {
    const url = `${root.dataset.eventsUrl}?since=${lastSeq}&lang=${encodeURIComponent(document.documentElement.lang || "")}`;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
      .then((answer) => {
        if (!pollTimer) return;
        setStatus("polling"); // the server answers but the websocket does not get through
        if (answer.resync) resync(answer.seq);
        else (answer.events || []).forEach((frame) => applyEvent(frame, openConversationId()));
      })
      .catch(() => {
        if (pollTimer) setStatus("reconnecting"); // the server itself is unreachable
      });
  }

  function startPolling() {
    if (pollTimer) return;
    setStatus("reconnecting");
    pollTimer = setInterval(poll, POLL_MS);
    poll();
  }

  function stopPolling() {
    clearInterval(pollTimer);
    pollTimer = null;
  }

  function heartbeat() {
    const away = document.visibilityState !== "visible" || Date.now() - lastActivity > IDLE_AWAY_MS;
    send({ type: "heartbeat", status: away ? "away" : "online" });
  }

  function subscribeOpen() {
    const id = openConversationId();
    if (!canAct) return;
    if (id) send({ type: "subscribe", conversation_id: id });
    else send({ type: "unsubscribe" });
  }

  function handle(frame) {
    const open = openConversationId();
    switch (frame.type) {
      case "event":
        applyEvent(frame, open);
        break;
      case "events":
        (frame.events || []).forEach((item) => applyEvent(item, open));
        break;
      case "resync":
        resync(frame.seq);
        break;
      case "presence":
        showPresence(frame.user_id, frame.status);
        break;
      case "typing":
        if (frame.conversation_id === open && frame.user_id !== myUserId) showTyping(frame.user_id, frame.name, frame.typing);
        break;
      case "read":
        if (frame.conversation_id === open && frame.user_id !== myUserId) {
          readBy.set(frame.user_id, frame.name);
          showReadBy();
        }
        break;
      case "badge":
      case "notification":
        if (typeof frame.unread === "number") showBadge(frame.unread);
        break;
      case "sent":
        settleSend(frame.ref, null);
        break;
      case "error":
        if (frame.ref && pendingSends.has(frame.ref)) settleSend(frame.ref, frame.message);
        break;
      default:
        break;
    }
  }

  function showPresence(userId, status) {
    const item = document.querySelector(`[data-presence-user="${userId}"]`);
    if (!item) return;
    const dot = item.querySelector(".dot");
    if (dot) dot.className = `dot dot-${status}`;
    const label = item.querySelector(".presence-label");
    const text = { online: T.i18nOnline, away: T.i18nAway, offline: T.i18nOffline }[status];
    if (label && text) label.textContent = text;
    item.dataset.status = status;
  }

  function showTyping(userId, name, typing) {
    clearTimeout(typingTimers.get(userId));
    if (typing) typingTimers.set(userId, setTimeout(() => showTyping(userId, name, false), TYPING_SHOW_MS));
    else typingTimers.delete(userId);
    const el = document.getElementById("typing");
    if (!el) return;
    el.dataset.names = JSON.stringify(Object.assign(JSON.parse(el.dataset.names || "{}"), { [userId]: typing ? name : null }));
    const names = Object.values(JSON.parse(el.dataset.names)).filter(Boolean);
    el.textContent = names.length ? `${names.join(", ")} ${T.i18nTyping}` : "";
  }

  function showReadBy() {
    const el = document.getElementById("read-receipts");
    if (!el) return;
    const names = Array.from(readBy.values()).filter(Boolean);
    el.textContent = names.length ? `${T.i18nSeen} ${names.join(", ")}` : "";
  }

  function showBadge(count) {
    document.querySelectorAll("[data-notification-badge]").forEach((badge) => {
      badge.textContent = String(count);
      badge.hidden = count <= 0;
    });
  }

  // --- replying over the websocket (plain POST when it is down or a file is attached) -------------
  function settleSend(ref, errorMessage) {
    const entry = pendingSends.get(ref);
    if (!entry) return;
    pendingSends.delete(ref);
    const form = document.getElementById("composer");
    const error = document.getElementById("composer-error");
    if (errorMessage) {
      if (error) {
        error.textContent = errorMessage;
        error.hidden = false;
      }
      return;
    }
    if (error) error.hidden = true;
    const body = document.getElementById("reply-body");
    if (form && body && body.value === entry.body) {
      body.value = "";
      body.dispatchEvent(new Event("input", { bubbles: true }));
    }
    send({ type: "typing", conversation_id: entry.conversationId, typing: false });
  }

  document.addEventListener("htmx:beforeRequest", (event) => {
    const form = event.detail.elt;
    if (!form || form.id !== "composer") return;
    const file = document.getElementById("reply-attachment");
    if (file && file.files && file.files.length) return;
    const body = document.getElementById("reply-body");
    const note = document.getElementById("note-toggle");
    const conversationId = openConversationId();
    const ref = `r${(refSeq += 1)}`;
    if (send({ type: "send", conversation_id: conversationId, body: body.value, note: !!(note && note.checked), ref })) {
      event.preventDefault();
      pendingSends.set(ref, { body: body.value, conversationId });
    }
  });

  // --- composer: typing indicator, canned responses, Ctrl+Enter ---------------------------------------
  document.addEventListener("input", (event) => {
    if (event.target.id !== "reply-body") return;
    const now = Date.now();
    if (now - lastTypingSent > TYPING_SEND_MS && event.target.value) {
      lastTypingSent = now;
      send({ type: "typing", conversation_id: openConversationId(), typing: true });
    }
  });

  document.addEventListener("change", (event) => {
    if (event.target.id === "canned-select") {
      const option = event.target.selectedOptions[0];
      const body = document.getElementById("reply-body");
      if (option && option.dataset.body !== undefined && body) {
        body.value = option.dataset.body;
        body.dispatchEvent(new Event("input", { bubbles: true }));
        body.focus();
      }
      event.target.value = "";
    }
  });

  function expandCanned(textarea) {
    const match = /^\/([\w-]+)$/.exec(textarea.value.trim());
    if (!match) return false;
    const option = Array.from(document.querySelectorAll("#canned-select option")).find((o) => o.value === match[1]);
    if (!option) return false;
    textarea.value = option.dataset.body;
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
    return true;
  }

  // --- keyboard ---------------------------------------------------------------------------------
  function typingInField(target) {
    return target.closest("input, textarea, select, [contenteditable=true]");
  }

  function moveInList(step) {
    const items = Array.from(document.querySelectorAll("#conv-list .conv-item"));
    if (!items.length) return;
    let index = items.findIndex((item) => item.classList.contains("is-open"));
    index = index === -1 ? 0 : Math.max(0, Math.min(items.length - 1, index + step));
    const link = items[index].querySelector("a");
    if (link) {
      link.focus();
      link.click();
    }
  }

  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (target.id === "reply-body") {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        document.getElementById("composer").requestSubmit();
      } else if (event.key === "Tab" && expandCanned(target)) {
        event.preventDefault();
      } else if (event.key === "Escape") {
        target.blur();
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typingInField(target)) return;
    const click = (id) => {
      const el = document.getElementById(id);
      if (el) {
        event.preventDefault();
        el.click();
      }
    };
    switch (event.key) {
      case "j":
        event.preventDefault();
        moveInList(1);
        break;
      case "k":
        event.preventDefault();
        moveInList(-1);
        break;
      case "n":
        click("pull-next");
        break;
      case "c":
        click("action-close");
        break;
      case "r": {
        const body = document.getElementById("reply-body");
        if (body) {
          event.preventDefault();
          body.focus();
        }
        break;
      }
      case "/": {
        const search = document.getElementById("inbox-search");
        if (search) {
          event.preventDefault();
          search.focus();
        }
        break;
      }
      case "?": {
        const help = document.getElementById("shortcut-help");
        if (help && !help.open) help.showModal();
        break;
      }
      default:
        break;
    }
  });

  document.addEventListener("click", (event) => {
    if (event.target.closest("#shortcut-help-open")) document.getElementById("shortcut-help").showModal();
  });

  ["mousemove", "keydown", "focus"].forEach((name) =>
    window.addEventListener(name, () => {
      lastActivity = Date.now();
    }, { passive: true })
  );
  document.addEventListener("visibilitychange", () => {
    if (canAct) heartbeat();
    if (document.visibilityState === "visible") markRead();
  });

  // --- after HTMX swaps -------------------------------------------------------------------------
  function markOpenInList() {
    const id = openConversationId();
    document.querySelectorAll("#conv-list .conv-item").forEach((item) => {
      item.classList.toggle("is-open", Number(item.dataset.conversationId) === id);
    });
  }

  function loadReadMarkers() {
    readBy.clear();
    document.querySelectorAll("#read-receipts [data-read-user]").forEach((marker) => {
      readBy.set(Number(marker.dataset.readUser), memberName(marker.dataset.readUser));
    });
    showReadBy();
  }

  function paneChanged() {
    typingTimers.forEach((timer) => clearTimeout(timer));
    typingTimers.clear();
    markOpenInList();
    loadReadMarkers();
    scrollHistory();
    subscribeOpen();
    markRead();
  }

  document.addEventListener("htmx:afterSwap", (event) => {
    const target = event.detail && event.detail.target;
    if (!target) return;
    if (target.id === "inbox-pane") {
      paneChanged();
    } else if (target.id === "inbox-list") {
      markOpenInList();
    }
  });

  document.body.addEventListener("inbox:list-changed", refreshList);
  // Back/Forward: htmx fetches the whole page again (the inbox opts out of its history cache, a
  // live page must not come back stale) and swaps the body.
  document.addEventListener("htmx:historyRestore", () => {
    setStatus(socket && socket.readyState === WebSocket.OPEN ? "live" : "reconnecting");
    paneChanged();
  });

  loadReadMarkers();
  scrollHistory();
  connect();
})();
