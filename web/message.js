// One message as an article: author, text (always as text), "edited" or "Message deleted",
// its reactions as toggle buttons ("👍 2"), and the buttons React, and on one's own message
// Edit and Delete. Actions go back to the caller; this module holds no state.
import { fill, h } from './dom.js';
import { attachmentsView } from './attachments.js';
import { quoteView } from './replies.js';

export const EMOJI = ['👍', '❤️', '😂', '😮', '😢', '🎉', '🙏', '👀'];

// `actions`: react(emote, on), edit(body), remove(), emotes() → [custom emote names],
// reply() (answer this message), jump(id) (show the message a reply quotes);
// `known`: the custom emote names already loaded, shown inline where the text says :name:;
// `draft`: the text of an edit in progress on the copy this one replaces, kept open.
export function messageView(message, me, actions, known = new Set(), draft = null) {
  const mine = message.sender.id === me.id;
  const article = h('article', { class: mine ? 'mine' : '', 'data-id': message.id },
    h('header', {},
      h('strong', { class: 'author' }, message.sender.name),
      h('time', { datetime: message.created_at, title: new Date(message.created_at).toLocaleString() },
        timeOf(message.created_at)),
      message.edited_at && !message.deleted ? h('span', { class: 'edited' }, 'edited') : null),
    message.reply_to && !message.deleted ? quoteView(message.reply_to, actions.jump) : null,
    message.deleted
      ? h('p', { class: 'body deleted' }, 'Message deleted')
      : h('p', { class: 'body' }, bodyParts(message.body, known)));
  if (message.deleted) return article;
  const attached = attachmentsView(message.attachments);
  if (attached) article.append(attached);
  const reactions = h('div', { class: 'reactions' }, message.reactions.map((r) =>
    h('button', {
      type: 'button',
      class: 'reaction',
      'aria-pressed': r.me ? 'true' : 'false',
      'data-key': `reaction ${r.emote}`,
      onclick: () => actions.react(r.emote, !r.me),
    }, emoteFace(r.emote, known), ` ${r.count}`)));
  const picker = h('div', { class: 'picker', hidden: true, role: 'group', 'aria-label': 'Reactions' });
  picker.addEventListener('keydown', (event) => pickerKey(event));
  const tools = h('div', { class: 'tools' },
    h('button', {
      type: 'button',
      'aria-expanded': 'false',
      'data-key': 'react',
      onclick: (event) => togglePicker(event.currentTarget),
    }, 'React'),
    h('button', { type: 'button', 'data-key': 'reply', onclick: () => actions.reply() }, 'Reply'),
    mine && h('button', { type: 'button', 'data-key': 'edit', onclick: () => startEdit() }, 'Edit'),
    mine && h('button', { type: 'button', 'data-key': 'delete', onclick: () => actions.remove() }, 'Delete'));
  article.append(reactions, tools, picker);
  if (mine && draft !== null) startEdit(draft);
  return article;

  // Arrows move between the emoji; Escape closes the picker and goes back to "React".
  function pickerKey(event) {
    const buttons = [...picker.querySelectorAll('button')];
    const at = buttons.indexOf(document.activeElement);
    const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[event.key];
    if (event.key === 'Escape') {
      event.preventDefault();
      picker.hidden = true;
      const react = article.querySelector('[data-key=react]');
      react.setAttribute('aria-expanded', 'false');
      react.focus();
    } else if (step && at >= 0) {
      event.preventDefault();
      buttons[(at + step + buttons.length) % buttons.length].focus();
    }
  }

  async function togglePicker(button) {
    const opening = picker.hidden;
    picker.hidden = !opening;
    button.setAttribute('aria-expanded', String(opening));
    if (!opening) return;
    const choose = (emote) => () => {
      picker.hidden = true;
      button.setAttribute('aria-expanded', 'false');
      const current = message.reactions.find((r) => r.emote === emote);
      actions.react(emote, !current?.me);
      button.focus();
    };
    const custom = await actions.emotes();
    fill(picker,
      EMOJI.map((emoji) => h('button', { type: 'button', onclick: choose(emoji) }, emoji)),
      custom.map((name) => h('button', { type: 'button', 'aria-label': `:${name}:`, onclick: choose(`:${name}:`) },
        h('img', { src: `/api/emotes/${encodeURIComponent(name)}`, alt: '', width: 20, height: 20 }))));
    picker.querySelector('button')?.focus();
  }

  function startEdit(draftText = message.body) {
    const body = article.querySelector('.body');
    const text = h('textarea', { 'aria-label': 'Edit message', rows: '2', 'data-key': 'edit' });
    text.value = draftText;
    const cancel = () => { text.replaceWith(body); article.querySelector('[data-key=edit]')?.focus(); };
    text.addEventListener('keydown', async (event) => {
      if (event.key === 'Escape') {
        event.preventDefault();
        cancel();
      } else if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        if (!text.value.trim() || text.value === message.body) return cancel();
        // Being saved, it is no draft for a copy that arrives meanwhile to keep open.
        text.setAttribute('data-saving', '');
        await actions.edit(text.value);
        text.removeAttribute('data-saving');
      }
    });
    body.replaceWith(text);
    text.focus();
    text.setSelectionRange(text.value.length, text.value.length);
  }
}

// A reaction's emote as shown: an emoji as itself, a known custom :name: as its image (alt
// text :name:, so the button is still named by it).
function emoteFace(emote, known) {
  const custom = /^:([a-z0-9_]{2,32}):$/.exec(emote);
  return custom && known.has(custom[1])
    ? h('img', { class: 'emote', src: `/api/emotes/${custom[1]}`, alt: emote, title: emote })
    : emote;
}

// The custom emote names a message mentions as :name:, in its text or its reactions.
export function shortcodes(message) {
  const text = [message.body, ...message.reactions.map((r) => r.emote)].join(' ');
  return [...text.matchAll(/:([a-z0-9_]{2,32}):/g)].map((match) => match[1]);
}

// A body as nodes: text stays text; http(s) links become links that open apart, and a
// known :name: becomes its emote's image (alt text :name:, so copying keeps the words).
export function bodyParts(body, known) {
  const pattern = /(https?:\/\/[^\s<>"]+)|:([a-z0-9_]{2,32}):/g;
  const parts = [];
  let from = 0;
  for (const match of body.matchAll(pattern)) {
    const [whole, url, name] = match;
    if (name && !known.has(name)) continue;
    const link = url && withoutTrailingPunctuation(url);
    parts.push(body.slice(from, match.index));
    parts.push(link
      ? h('a', { href: link, target: '_blank', rel: 'noopener noreferrer' }, link)
      : h('img', { class: 'emote', src: `/api/emotes/${name}`, alt: whole, title: whole }));
    from = match.index + (link || whole).length;
  }
  parts.push(body.slice(from));
  return parts;
}

// A link ends before the punctuation that ends its sentence ("see https://x.org."), and
// before a closing bracket it did not open ("(https://x.org)"); the rest stays text.
function withoutTrailingPunctuation(url) {
  let link = url;
  for (;;) {
    const last = link.at(-1);
    const unopened = last === ')' && link.split('(').length < link.split(')').length;
    if (!'.,;:!?\'"'.includes(last) && !unopened) return link;
    link = link.slice(0, -1);
  }
}

// Today's messages show their time; older ones the day too, and the year when it is not this
// one (a conversation read days later must not look as if it happened today).
function timeOf(stamp, now = new Date()) {
  const at = new Date(stamp);
  const time = at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (at.toDateString() === now.toDateString()) return time;
  const day = at.getFullYear() === now.getFullYear()
    ? { day: 'numeric', month: 'short' }
    : { day: 'numeric', month: 'short', year: 'numeric' };
  return `${at.toLocaleDateString([], day)}, ${time}`;
}

// A message with a reaction event applied: the count moves, and `me` when it was mine.
export function withReaction(message, emote, added, byMe) {
  const reactions = message.reactions.map((r) => ({ ...r }));
  let entry = reactions.find((r) => r.emote === emote);
  if (!entry && added) reactions.push(entry = { emote, count: 0, me: false });
  if (!entry) return message;
  entry.count += added ? 1 : -1;
  if (byMe) entry.me = added;
  return { ...message, reactions: reactions.filter((r) => r.count > 0) };
}

// A newer copy of a message keeps what only this client knows: which reactions are its own
// (events carry `me: false` for everyone). A copy older than the shown one (a page read before
// an edit or a delete that the stream has already shown) changes nothing.
export function merged(older, newer) {
  if (!older) return newer;
  if (staler(newer, older)) return older;
  const mine = new Set(older.reactions.filter((r) => r.me).map((r) => r.emote));
  return { ...newer, reactions: newer.reactions.map((r) => ({ ...r, me: r.me || mine.has(r.emote) })) };
}

// Whether `copy` was read before `shown` changed: `shown` is deleted and `copy` not, or
// `shown` was edited later.
function staler(copy, shown) {
  if (shown.deleted) return !copy.deleted;
  const editedAt = (message) => (message.edited_at ? Date.parse(message.edited_at) : 0);
  return editedAt(shown) > editedAt(copy);
}
