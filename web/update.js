// A page open across a server upgrade. The server serves only its own build's files, so once
// it is upgraded, a module this page has not loaded yet is gone. The page learns of the new
// build from the stream's heartbeats (which name the version the server serves), or from a
// module that fails to load, and offers a button to reload. It never reloads by itself:
// someone may be typing.
import { h } from './dom.js';

// This build's version: the assets are served under /assets/<version>/.
const VERSION = new URL(import.meta.url).pathname.split('/')[2];

// Offers the reload when the server serves another version than this page's.
export function checkVersion(served) {
  if (served && served !== VERSION) offerReload();
}

export function offerReload() {
  if (document.querySelector('.update')) return;
  document.body.append(h('div', { class: 'update', role: 'status' },
    h('span', {}, 'A new version of EmoteChat is available.'),
    h('button', { type: 'button', class: 'primary', onclick: () => location.reload() }, 'Reload to update')));
}
