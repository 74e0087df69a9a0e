// Forewarn console: live SLA countdowns and polling of server-rendered fragments.
"use strict";
(function () {
  function fmt(ms, el) {
    var s = Math.abs(Math.round(ms / 1000)), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    var txt = h ? h + "h " + String(m).padStart(2, "0") + "m" : m + "m " + String(s % 60).padStart(2, "0") + "s";
    return (ms < 0 ? (el.dataset.overdue || "overdue") : (el.dataset.in || "in")) + " " + txt;
  }
  function tick() {
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var ms = Date.parse(el.dataset.due) - Date.now();
      el.textContent = (el.dataset.label || el.dataset.which) + " " + fmt(ms, el);
      el.classList.toggle("overdue", ms < 0);
      el.classList.toggle("soon", ms >= 0 && ms < 30 * 60 * 1000);
    });
  }
  function poll(el) {
    var every = parseInt(el.dataset.every || "5000", 10);
    function once() {
      fetch(el.dataset.poll, { credentials: "same-origin", headers: { "X-Console-Fragment": "1" } })
        .then(function (r) {
          if (r.status === 401) { window.location = "/console/login?next=" + encodeURIComponent(location.pathname); return null; }
          return r.ok ? r.text() : null;
        })
        .then(function (html) {
          if (html !== null && html !== el.dataset.last) { el.innerHTML = html; el.dataset.last = html; tick(); }
        })
        .catch(function () { /* offline for a moment: try again next round */ })
        .finally(function () { setTimeout(once, every); });
    }
    setTimeout(once, every);
  }
  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 1000);
    document.querySelectorAll("[data-poll]").forEach(poll);
  });
})();
