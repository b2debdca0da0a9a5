// Messages waiting to be sent, kept in localStorage per user so that neither a dropped
// connection nor a reload loses them. Each keeps the client_id it was first sent with: the
// server stores a retried message once. Sent one at a time, in order; a network error, a
// server error or a rate limit leaves the queue for the next flush (when the stream is back,
// the browser is online again, or after a wait: what the server's Retry-After asks for, else
// a random part of a delay that doubles from 1 s up to 60 s); a session found gone stops it (signing out
// forgets the queue); any other refusal drops the message and hands it to `refused`, which
// says why and gives the words back.
import { keptKeys, post } from './api.js';

const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 60000;

// How long to wait before trying again after `err`: the server's Retry-After when it gave
// one, else a random part of `delay` (so many clients do not return at once), at least 250 ms.
export function retryWait(err, delay) {
  if (err.retryAfter !== undefined) return err.retryAfter * 1000;
  return 250 + Math.random() * delay;
}

export function outbox(userId, { delivered, refused }) {
  const [, key] = keptKeys(userId);
  let entries = JSON.parse(localStorage.getItem(key) ?? '[]');
  let flushing = false;
  let retry = null;
  let delay = FIRST_DELAY_MS;
  const save = () => localStorage.setItem(key, JSON.stringify(entries));

  async function flush() {
    if (flushing) return;
    flushing = true;
    clearTimeout(retry);
    try {
      while (entries.length) {
        const entry = entries[0];
        try {
          const attachments = entry.attachments?.length ? { attachments: entry.attachments } : {};
          const { message } = await post(`/api/conversations/${entry.conversation_id}/messages`,
            { body: entry.body, client_id: entry.client_id, reply_to: entry.reply_to ?? null, ...attachments });
          delivered(message);
          delay = FIRST_DELAY_MS;
        } catch (err) {
          if (err.status === 0 || err.status === 429 || err.status >= 500) {
            retry = setTimeout(flush, retryWait(err, delay));
            delay = Math.min(delay * 2, MAX_DELAY_MS);
            return;
          }
          // The session is gone: signing out forgets the queue, and nothing is kept again.
          if (err.code === 'unauthorized') return;
          refused(entry, err);
        }
        entries = entries.filter((e) => e.client_id !== entry.client_id);
        save();
      }
    } finally {
      flushing = false;
    }
  }

  window.addEventListener('online', flush);
  return {
    flush,
    waiting: (conversationId) => entries.filter((e) => e.conversation_id === conversationId),
    // `attachments`: ids of uploads already stored, sent with the message; `replyTo`: the id of
    // the message this one answers, if any.
    add(conversationId, body, attachments = [], replyTo = null) {
      const entry = { client_id: crypto.randomUUID(), conversation_id: conversationId, body, attachments, reply_to: replyTo };
      entries.push(entry);
      save();
      flush();
      return entry;
    },
    // Signing out forgets what was not sent.
    clear() {
      window.removeEventListener('online', flush);
      clearTimeout(retry);
      entries = [];
      localStorage.removeItem(key);
    },
  };
}
