// The two panels the header opens as dialogs: Account (name, password, sessions, signing
// out) and Emotes (upload, list, delete one's own). Each form shows the server's errors in
// its own role="alert" element.
import { call, get, getAll, post } from './api.js';
import { field, fill, h } from './dom.js';

// A modal dialog titled `title`, removed from the page when closed.
function panel(title, ...content) {
  const id = `panel-${title.toLowerCase()}`;
  const dialog = h('dialog', { 'aria-labelledby': id, class: 'panel' },
    h('div', { class: 'panel-head' },
      h('h2', { id }, title),
      h('button', { type: 'button', onclick: () => dialog.close() }, 'Close')),
    content);
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

// A form that runs `submit(data)` and shows its errors, or `done` text, below it.
function form(fields, button, submit) {
  const alert = h('p', { role: 'alert', class: 'error' });
  const note = h('p', { class: 'notice', 'aria-live': 'polite' });
  const element = h('form', {}, fields, alert, note, h('button', { type: 'submit' }, button));
  element.addEventListener('submit', async (event) => {
    event.preventDefault();
    alert.textContent = '';
    note.textContent = '';
    try {
      note.textContent = (await submit(new FormData(element), element)) ?? '';
    } catch (err) {
      alert.textContent = err.message;
    }
  });
  return element;
}

// `me` is the signed-in user; `renamed(user)` and `signOut()` reach back to the app.
export function openAccount(me, { renamed, signOut }) {
  const sessions = h('ul', { class: 'sessions', 'aria-label': 'Sessions' });
  const alert = h('p', { role: 'alert', class: 'error' });
  const nameField = field('Name', { type: 'text', name: 'name', autocomplete: 'name', required: true });
  nameField.querySelector('input').value = me.name;
  panel('Account',
    h('section', { 'aria-label': 'Profile' },
      form(nameField, 'Save', async (data) => {
        const { user } = await call('PATCH', '/api/profile', { name: data.get('name') });
        renamed(user);
        return 'Saved.';
      })),
    h('section', { 'aria-label': 'Password' },
      h('h3', {}, 'Password'),
      form([
        field('Current password', { type: 'password', name: 'current', autocomplete: 'current-password', required: true }),
        field('New password', { type: 'password', name: 'new', autocomplete: 'new-password', required: true }),
      ], 'Change password', async (data, element) => {
        await post('/api/profile/password', { current_password: data.get('current'), new_password: data.get('new') })
          .catch((err) => {
            // The server's word is the sign-in one ("Invalid email or password"); here only
            // the current password can be wrong.
            throw err.code === 'invalid_credentials' ? new Error('The current password is wrong.') : err;
          });
        element.reset();
        listSessions();
        return 'Password changed. Your other devices were signed out.';
      })),
    h('section', { 'aria-label': 'Sessions' },
      h('h3', {}, 'Signed in on'),
      sessions,
      alert,
      h('div', { class: 'actions' },
        h('button', { type: 'button', onclick: signOutEverywhere }, 'Sign out everywhere'),
        h('button', { type: 'button', class: 'primary', onclick: signOut }, 'Sign out'))));
  listSessions();

  async function listSessions() {
    try {
      const answer = await get('/api/auth/sessions');
      fill(sessions, answer.sessions.map((s) => h('li', {},
        describe(s),
        s.current
          ? h('strong', {}, 'This device')
          : h('button', { type: 'button', onclick: () => revoke(s.id) }, 'Sign out'))));
    } catch (err) {
      alert.textContent = err.message;
    }
  }

  async function revoke(id) {
    try {
      await call('DELETE', `/api/auth/sessions/${id}`);
      listSessions();
    } catch (err) {
      alert.textContent = err.message;
    }
  }

  async function signOutEverywhere() {
    try {
      const { sessions: live } = await get('/api/auth/sessions');
      for (const s of live.filter((s) => !s.current)) await call('DELETE', `/api/auth/sessions/${s.id}`);
      await signOut();
    } catch (err) {
      alert.textContent = err.message;
    }
  }
}

// "Chrome on Linux · signed in 3 Dec 2026 · last used 5 minutes ago"; the raw agent string
// stays in a tooltip.
function describe(session) {
  const signedIn = new Date(session.created_at).toLocaleDateString([], { dateStyle: 'medium' });
  return h('span', { title: session.user_agent ?? '' },
    h('strong', { class: 'device' }, session.device),
    ` · signed in ${signedIn} · last used ${ago(session.last_used_at)}`);
}

// How long ago a moment was, in words ("just now", "5 minutes ago", "yesterday").
function ago(stamp) {
  const seconds = (Date.parse(stamp) - Date.now()) / 1000;
  if (seconds > -60) return 'just now';
  const words = new Intl.RelativeTimeFormat([], { numeric: 'auto' });
  for (const [unit, size] of [['day', 86400], ['hour', 3600], ['minute', 60]]) {
    if (-seconds >= size) return words.format(Math.round(seconds / size), unit);
  }
  return 'just now';
}

export function openEmotes(me, changed) {
  const list = h('ul', { class: 'emotes' });
  const alert = h('p', { role: 'alert', class: 'error' });
  panel('Emotes',
    form([
      field('Emote name', { type: 'text', name: 'name', autocomplete: 'off', required: true }),
      field('Emote image', { type: 'file', name: 'image', accept: 'image/png,image/gif,image/webp', required: true }),
    ], 'Upload emote', async (data, element) => {
      const file = data.get('image');
      if (!(file instanceof File) || file.size === 0) throw new Error('Choose an image file.');
      await post('/api/emotes', { name: data.get('name'), image_base64: await base64(file) });
      element.reset();
      changed();
      show();
      return 'Uploaded.';
    }),
    alert,
    list);
  show();

  async function show() {
    try {
      const emotes = await getAll('/api/emotes', 'emotes');
      fill(list, emotes.map((e) => h('li', {},
        h('img', { src: e.url, alt: '', width: 28, height: 28 }),
        h('span', {}, `:${e.name}:`),
        e.created_by.id === me.id
          ? h('button', { type: 'button', onclick: () => remove(e.name) }, 'Delete')
          : null)));
    } catch (err) {
      alert.textContent = err.message;
    }
  }

  async function remove(name) {
    try {
      await call('DELETE', `/api/emotes/${encodeURIComponent(name)}`);
      changed();
      show();
    } catch (err) {
      alert.textContent = err.message;
    }
  }
}

// A file's bytes as standard base64, without the data: prefix.
async function base64(file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}
