// The signed-out views: sign in, create an account, forgot password, and the page the reset
// mail links to. Each is a form whose server errors appear in its role="alert" element.
import { post, token } from './api.js';
import { h, field } from './dom.js';

// A view: a heading, a form with its fields and button, an alert, and links below.
function formView(title, fields, button, submit, links = [], notice = '') {
  const alert = h('p', { role: 'alert', class: 'error' });
  const form = h('form', { novalidate: true }, fields, alert,
    h('button', { type: 'submit', class: 'primary' }, button));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    alert.textContent = '';
    const busy = form.querySelector('button[type=submit]');
    busy.disabled = true;
    try {
      await submit(new FormData(form), form);
    } catch (err) {
      alert.textContent = err.message;
    } finally {
      busy.disabled = false;
    }
  });
  return h('main', { class: 'signed-out' },
    h('h1', {}, h('img', { src: iconUrl(), alt: '', width: 32, height: 32 }), 'EmoteChat'),
    h('section', { class: 'card', 'aria-labelledby': 'view-title' },
      h('h2', { id: 'view-title' }, title),
      notice && h('p', { class: 'notice' }, notice),
      form,
      h('nav', { class: 'links', 'aria-label': 'Account' }, links)));
}

function iconUrl() {
  return new URL('./icon.svg', import.meta.url).pathname;
}

function link(text, path, go) {
  return h('a', {
    href: path,
    onclick: (event) => { event.preventDefault(); go(path); },
  }, text);
}

async function signIn(email, password, signedIn) {
  const session = await post('/api/auth/login', { email, password });
  token.set(session.token);
  signedIn(session.user);
}

export function signInView({ go, signedIn, notice }) {
  return formView('Sign in', [
    field('Email', { type: 'email', name: 'email', autocomplete: 'email', required: true }),
    field('Password', { type: 'password', name: 'password', autocomplete: 'current-password', required: true }),
  ], 'Sign in', (data) => signIn(data.get('email'), data.get('password'), signedIn), [
    link('Create an account', '/register', go),
    link('Forgot password?', '/forgot-password', go),
  ], notice);
}

// The answers that say this server takes new accounts only with an invite code.
const INVITE_ERRORS = ['invite_required', 'invite_invalid'];

// The invite code comes from the link `emotechat invite create` prints (`?invite=CODE`); its
// field shows when the link carried one or when the server asks for one.
export function registerView({ go, signedIn, invite }) {
  const inviteField = field('Invite code', {
    type: 'text', name: 'invite', autocomplete: 'off', spellcheck: 'false', value: invite,
  });
  inviteField.hidden = !invite;
  return formView('Create an account', [
    field('Name', { type: 'text', name: 'name', autocomplete: 'name', required: true }),
    field('Email', { type: 'email', name: 'email', autocomplete: 'email', required: true }),
    field('Password', { type: 'password', name: 'password', autocomplete: 'new-password', required: true }),
    inviteField,
  ], 'Create account', async (data) => {
    const email = data.get('email');
    const password = data.get('password');
    const code = data.get('invite').trim();
    try {
      await post('/api/auth/register', {
        name: data.get('name'), email, password, ...(code && { invite: code }),
      });
    } catch (err) {
      if (INVITE_ERRORS.includes(err.code)) {
        inviteField.hidden = false;
        inviteField.querySelector('input').focus();
      }
      throw err;
    }
    await signIn(email, password, signedIn);
  }, [link('Sign in', '/', go)]);
}

export function forgotView({ go }) {
  return formView('Forgot password', [
    field('Email', { type: 'email', name: 'email', autocomplete: 'email', required: true }),
  ], 'Send reset link', async (data, form) => {
    const answer = await post('/api/password/reset-request', { email: data.get('email') });
    form.replaceWith(h('p', { class: 'notice', 'aria-live': 'polite' },
      answer?.message ?? 'If that email is registered, a reset link has been sent.'));
  }, [link('Sign in', '/', go)]);
}

export function resetView({ go, resetToken }) {
  return formView('Set a new password', [
    field('New password', { type: 'password', name: 'password', autocomplete: 'new-password', required: true }),
  ], 'Set password', async (data) => {
    await post('/api/password/reset', { token: resetToken, password: data.get('password') });
    go('/', 'Your password has been set. Sign in with it.');
  }, [link('Sign in', '/', go)]);
}
