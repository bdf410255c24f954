// Live unread badge: one websocket per tab to /ws/notifications/ (session auth). On every
// (re)connect the server sends the current count, so nothing is missed while disconnected.
(() => {
  const badge = document.querySelector("[data-notification-badge]");
  // One websocket per tab: a page whose own socket carries the badge (the inbox) opens no other.
  if (!badge || !("WebSocket" in window) || document.querySelector("[data-carries-notifications]")) {
    return;
  }
  let delay = 1000;

  function setCount(count) {
    badge.textContent = String(count);
    badge.hidden = count === 0;
    badge.dataset.count = String(count);
    document.querySelectorAll("[data-unread-count]").forEach((el) => {
      el.textContent = String(count);
    });
  }

  function refreshList() {
    const list = document.querySelector("[data-notification-list]");
    if (list && window.htmx) {
      window.htmx.ajax("GET", window.location.pathname, { target: "#notification-list", swap: "outerHTML" });
    }
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${window.location.host}${badge.dataset.wsPath}`);
    socket.addEventListener("open", () => {
      delay = 1000;
      badge.dataset.live = "1";
    });
    socket.addEventListener("message", (event) => {
      let data;
      try {
        data = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      if (typeof data.unread === "number") {
        setCount(data.unread);
      }
      if (data.type === "notification" && data.channel === "in_app") {
        refreshList();
      }
    });
    socket.addEventListener("close", () => {
      badge.dataset.live = "0";
      window.setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    });
  }

  connect();
})();
