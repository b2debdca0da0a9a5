// The only live connection: Server-Sent Events opened with a single-use ticket, so the
// session token never goes into a URL. A ticket works once, so EventSource's own retry
// cannot reuse it: on any drop this module closes the source, shows "Reconnecting…", and
// opens a new one with a new ticket and `since=` the last event id it saw, so nothing is
// missed and nothing comes twice.
//
// A connection can also die without closing (a phone that changed networks leaves it
// half-open), and then EventSource waits forever. So the stream asks for heartbeats: the
// server sends one at the start, saying its interval, and after every quiet interval. When
// neither a heartbeat nor an event arrives within WATCHDOG intervals, the stream is taken for
// dead and reopened like a dropped one.
import { ApiError, post } from './api.js';

const WATCHDOG = 2.5;

const TYPES = ['conversation.created', 'conversation.updated', 'member.joined', 'member.left',
  'message.created', 'message.updated', 'message.deleted',
  'reaction.added', 'reaction.removed', 'read.updated', 'typing', 'resync'];

// Calls `onEvent(type, data)` for each event, `onOpen(resumed)` when a stream opens (resumed:
// it continues from the last event seen), `onDown()` when it drops, `onVersion(version)` with
// the version of the web client the server serves (from each heartbeat), and
// `onUnauthorized()` when the session is gone. Returns a function that stops it.
export function connect({ onEvent, onOpen, onDown, onVersion, onUnauthorized }) {
  let source = null;
  let lastId = null;
  let retryDelay = 1000;
  let timer = null;
  let stopped = false;
  let watchdog = null;
  let silenceMs = null; // WATCHDOG heartbeat intervals, once the server has said its interval

  // Anything heard from the server shows the connection is alive.
  function heard() {
    clearTimeout(watchdog);
    if (silenceMs !== null) watchdog = setTimeout(silent, silenceMs);
  }

  function silent() {
    source?.close();
    source = null;
    retry();
  }

  async function open() {
    timer = null;
    let ticket;
    try {
      ({ ticket } = await post('/api/events/ticket'));
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return onUnauthorized();
      return retry();
    }
    if (stopped) return;
    const query = new URLSearchParams({ ticket });
    const resumed = lastId !== null;
    if (resumed) query.set('since', lastId);
    query.set('heartbeat', '1');
    source = new EventSource(`/api/events?${query}`);
    source.onopen = () => { retryDelay = 1000; heard(); onOpen(resumed); };
    source.onerror = () => { clearTimeout(watchdog); source.close(); source = null; retry(); };
    source.addEventListener('heartbeat', (event) => {
      const { interval, client_version: version } = JSON.parse(event.data);
      silenceMs = interval * 1000 * WATCHDOG;
      heard();
      onVersion(version);
    });
    for (const type of TYPES) {
      source.addEventListener(type, (event) => {
        heard();
        if (event.lastEventId) lastId = event.lastEventId;
        onEvent(type, JSON.parse(event.data));
      });
    }
  }

  // Waits a random part of the delay (so many clients do not return at once), doubling it
  // up to 30 s; coming back online, or to the tab, retries at once.
  function retry() {
    if (stopped || timer) return;
    onDown();
    timer = setTimeout(open, Math.random() * retryDelay + 250);
    retryDelay = Math.min(retryDelay * 2, 30000);
  }

  // A person who comes back to the tab (or whose browser is online again) should not wait
  // out the backoff, which a hidden tab's throttled timers may have stretched further.
  function retryNow() {
    if (!source && timer && !document.hidden) { clearTimeout(timer); open(); }
  }

  window.addEventListener('online', retryNow);
  document.addEventListener('visibilitychange', retryNow);
  open();
  return () => {
    stopped = true;
    clearTimeout(timer);
    clearTimeout(watchdog);
    source?.close();
    window.removeEventListener('online', retryNow);
    document.removeEventListener('visibilitychange', retryNow);
  };
}
