// Forewarn service worker (scope /console/): pages and static files network-first, with the
// last copy served when there is no network, so a job opened once still opens on site.
"use strict";
var CACHE = "forewarn-v1";
self.addEventListener("install", function (e) {
  e.waitUntil(caches.open(CACHE).then(function (c) {
    return c.addAll(["/console/static/console.css", "/console/static/console.js",
                     "/console/static/offline.js", "/console/static/manifest.webmanifest"]);
  }).then(function () { return self.skipWaiting(); }));
});
self.addEventListener("activate", function (e) { e.waitUntil(self.clients.claim()); });
self.addEventListener("fetch", function (e) {
  var req = e.request;
  var url = new URL(req.url);
  if (req.method !== "GET" || url.origin !== self.location.origin) { return; }
  if (!url.pathname.startsWith("/console/") || url.pathname.endsWith(".csv")) { return; }
  e.respondWith(fetch(req).then(function (resp) {
    if (resp.ok && !req.headers.get("X-Console-Fragment")) {
      var copy = resp.clone();
      caches.open(CACHE).then(function (c) { c.put(req, copy); });
    }
    return resp;
  }).catch(function () {
    return caches.match(req).then(function (hit) {
      return hit || new Response("offline", { status: 503, headers: { "Content-Type": "text/plain" } });
    });
  }));
});
