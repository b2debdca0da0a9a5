// The only live connection: Server-Sent Events opened with a single-use ticket, so the
// session token never goes into a URL. A ticket works once, so EventSource's own retry
// cannot reuse it: on any drop this module closes the source, shows "Reconnecting…", and
// opens a new one with a new ticket and `since=` the last event id it saw, so nothing is
// missed and nothing comes twice.
import { ApiError, post } from './api.js';

const TYPES = ['conversation.created', 'conversation.updated', 'member.joined', 'member.left',
  'message.created', 'message.updated', 'message.deleted',
  'reaction.added', 'reaction.removed', 'read.updated', 'typing', 'resync'];

// Calls `onEvent(type, data)` for each event, `onOpen(resumed)` when a stream opens (resumed:
// it continues from the last event seen), `onDown()` when it drops, and `onUnauthorized()`
// when the session is gone. Returns a function that stops it.
export function connect({ onEvent, onOpen, onDown, onUnauthorized }) {
  let source = null;
  let lastId = null;
  let retryDelay = 1000;
  let timer = null;
  let stopped = false;

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
    source = new EventSource(`/api/events?${query}`);
    source.onopen = () => { retryDelay = 1000; onOpen(resumed); };
    source.onerror = () => { source.close(); source = null; retry(); };
    for (const type of TYPES) {
      source.addEventListener(type, (event) => {
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
    source?.close();
    window.removeEventListener('online', retryNow);
    document.removeEventListener('visibilitychange', retryNow);
  };
}
