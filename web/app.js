// Boot and routing: which view the address shows, signed in or out. The token lives in
// localStorage, so a reload keeps one signed in.
import { ApiError, get, keptKeys, token, whenSessionGone } from './api.js';
import { fill } from './dom.js';
import { forgotView, registerView, resetView, signInView } from './signed_out.js';
import { offerReload } from './update.js';

const root = document.getElementById('app');
// Who is signed in, kept so that the app opens while the server cannot be reached.
const USER_KEY = 'emotechat.user';
let leaveChat = null;

// Shows the view for `path`; `notice` is a line shown above the sign-in form.
function go(path, notice = '') {
  if (location.pathname + location.search !== path) history.pushState(null, '', path);
  render(notice);
}

function render(notice = '') {
  const params = new URLSearchParams(location.search);
  const ctx = {
    go, signedIn, notice, resetToken: params.get('token') ?? '', invite: params.get('invite') ?? '',
  };
  const view = {
    '/register': registerView,
    '/forgot-password': forgotView,
    '/reset-password': resetView,
  }[location.pathname] ?? signInView;
  document.title = 'EmoteChat';
  fill(root, view(ctx));
  root.querySelector('input')?.focus();
}

async function signedIn(user) {
  localStorage.setItem(USER_KEY, JSON.stringify(user));
  history.replaceState(null, '', '/');
  let openChat;
  try {
    ({ openChat } = await import('./chat.js'));
  } catch {
    // This page's build is no longer served (the server was upgraded since it loaded).
    return offerReload();
  }
  leaveChat = openChat(root, user, signedOut);
}

function signedOut() {
  leaveChat?.();
  leaveChat = null;
  forget();
  go('/');
}

// Everything the browser kept for the session: its token, who it was, their conversation
// list and unsent messages. Also when the session ended elsewhere (a 401 on opening).
function forget() {
  const known = JSON.parse(localStorage.getItem(USER_KEY) ?? 'null');
  token.clear();
  localStorage.removeItem(USER_KEY);
  for (const key of known ? keptKeys(known.id) : []) localStorage.removeItem(key);
}

async function boot() {
  window.addEventListener('popstate', () => { if (!leaveChat) render(); });
  // Any request of the signed-in app that finds the session gone leads to the sign-in form.
  whenSessionGone(() => { if (leaveChat) signedOut(); });
  if (!token.get() || location.pathname === '/reset-password') return render();
  try {
    const { user } = await get('/api/auth/validate');
    await signedIn(user);
  } catch (err) {
    const known = JSON.parse(localStorage.getItem(USER_KEY) ?? 'null');
    if (err instanceof ApiError && err.status === 0 && known) return signedIn(known);
    if (err instanceof ApiError && err.status === 401) forget();
    render(err.status === 401 ? '' : err.message);
  }
}

if ('serviceWorker' in navigator) navigator.serviceWorker.register('/sw.js').catch(() => {});
boot();
