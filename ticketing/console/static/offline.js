// Forewarn on the phone: ticket actions (accept/decline, status, notes, photos, sub-tasks and
// checklist steps, the customer's signature) made without
// a network are kept in IndexedDB, in order, and sent when the network is back. The server's
// state machine decides: a refused action (e.g. the job was reassigned meanwhile) is shown
// with the server's own message and dropped from the queue.
"use strict";
(function () {
  var DB = "forewarn-offline", STORE = "queue";
  var ACTION = /^\/console\/tickets\/\d+\/(transition|decline|comment|photos|signoff|subtasks(\/\d+)?|steps\/\d+)$/;
  var T = document.documentElement.lang === "zh-CN"
    ? { waiting: "条操作等待同步（离线）", synced: "离线操作已同步", refused: "服务器拒绝了离线操作：" }
    : { waiting: "change(s) waiting to sync (offline)", synced: "Offline changes synced", refused: "The server refused an offline change: " };

  function open() {
    return new Promise(function (resolve, reject) {
      var r = indexedDB.open(DB, 1);
      r.onupgradeneeded = function () { r.result.createObjectStore(STORE, { keyPath: "id", autoIncrement: true }); };
      r.onsuccess = function () { resolve(r.result); };
      r.onerror = function () { reject(r.error); };
    });
  }
  function tx(mode, fn) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var t = db.transaction(STORE, mode), out = fn(t.objectStore(STORE));
        t.oncomplete = function () { resolve(out && out.result !== undefined ? out.result : out); };
        t.onerror = function () { reject(t.error); };
      });
    });
  }
  function banner(text, kind) {
    var el = document.getElementById("offline-banner");
    if (!el) {
      el = document.createElement("p");
      el.id = "offline-banner";
      document.querySelector("main").prepend(el);
    }
    el.className = kind || "notice";
    el.textContent = text;
    el.hidden = !text;
  }
  function count() {
    return tx("readonly", function (s) { return s.count(); }).then(function (n) {
      if (n) { banner(n + " " + T.waiting, "notice"); }
      return n;
    });
  }
  function entries(form, submitter) {
    var out = [], fd = new FormData(form);
    // The pressed button's value (a checklist step's Pass/Fail) is not in FormData(form).
    if (submitter && submitter.name && !fd.has(submitter.name)) { fd.append(submitter.name, submitter.value); }
    fd.forEach(function (v, k) { out.push([k, v]); });  // Files are kept as Blobs
    return out;
  }
  function send(item) {
    var fd = new FormData();
    item.fields.forEach(function (kv) {
      if (kv[1] instanceof Blob) { fd.append(kv[0], kv[1], kv[1].name || "photo.jpg"); } else { fd.append(kv[0], kv[1]); }
    });
    return fetch(item.url, { method: "POST", body: fd, credentials: "same-origin" });
  }
  function reason(resp) {
    return resp.text().then(function (html) {
      var m = /id="error-message">([^<]*)</.exec(html);
      return m ? m[1] : "HTTP " + resp.status;
    });
  }
  var syncing = false;
  function sync() {
    if (syncing) { return Promise.resolve(); }
    syncing = true;
    return tx("readonly", function (s) { return s.getAll(); }).then(function (items) {
      var chain = Promise.resolve(), refused = [], sent = 0;
      items.forEach(function (item) {
        chain = chain.then(function () {
          return send(item).then(function (resp) {
            var done = resp.ok || resp.redirected || (resp.status >= 400 && resp.status < 500);
            var why = resp.ok || resp.redirected ? Promise.resolve(null) : reason(resp);
            return why.then(function (w) {
              if (w) { refused.push(w); }
              if (done) { sent += 1; return tx("readwrite", function (s) { s.delete(item.id); }); }
              throw new Error("server error; kept for later");
            });
          });
        });
      });
      return chain.then(function () {
        if (refused.length) { banner(T.refused + refused.join("; "), "error"); }
        else if (sent) { banner(T.synced, "notice"); location.reload(); }
      });
    }).catch(function () { /* still offline: the queue stays */ }).finally(function () { syncing = false; count(); });
  }
  document.addEventListener("submit", function (e) {
    var form = e.target, url = new URL(form.action, location.href);
    if (!ACTION.test(url.pathname) || (form.method || "").toLowerCase() !== "post") { return; }
    e.preventDefault();
    var fields = entries(form, e.submitter);
    var item = { url: url.pathname, fields: fields, at: new Date().toISOString() };
    var queue = function () {
      return tx("readwrite", function (s) { s.add(item); }).then(function () { form.reset(); return count(); });
    };
    if (!navigator.onLine) { queue(); return; }
    send(item).then(function (resp) {
      if (resp.redirected) { location.href = resp.url; return; }
      return resp.text().then(function (html) { document.open(); document.write(html); document.close(); });
    }).catch(queue);
  });
  window.addEventListener("online", sync);
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/console/sw.js", { scope: "/console/" }).catch(function () {});
  }
  window.addEventListener("load", function () { count().then(function (n) { if (n && navigator.onLine) { sync(); } }); });
  window.forewarnSync = sync;
})();
