// The service worker: keeps this build's page and files, so the app opens without a network
// (and then shows "Reconnecting…" and keeps unsent messages until the server is back). The
// API and the live stream are never touched. A new build has a new version, so a new worker
// installs and drops the old files.
const VERSION = '%VERSION%';
const SHELL = ['/', ...%FILES%];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(VERSION)
    .then((cache) => cache.addAll(SHELL))
    .then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys()
    .then((names) => Promise.all(names.filter((name) => name !== VERSION).map((name) => caches.delete(name))))
    .then(() => self.clients.claim()));
});

self.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith('/assets/')) {
    // Versioned files never change: the kept copy is the file.
    event.respondWith(caches.match(request).then((kept) => kept ?? fetch(request)));
  } else if (request.mode === 'navigate') {
    // The page comes from the server while it answers, else from what was kept.
    event.respondWith(fetch(request).catch(() => caches.match('/')));
  }
});

// A notification shown through the worker (where the page cannot show one itself) brings the
// app to the front when pressed.
self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  event.waitUntil(self.clients.matchAll({ type: 'window' })
    .then((open) => (open[0] ? open[0].focus() : self.clients.openWindow('/'))));
});
