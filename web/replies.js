// Replies: the quoted preview of the message a reply answers, and the composer's
// "Replying to NAME" line. Previews come from the server; when the original is edited or
// deleted, its own message.updated / message.deleted event carries what the preview shows.
import { h } from './dom.js';

const PREVIEW_CHARS = 100;

// A reply's quote: the original's author and first line, as a button that jumps to it; or,
// when the original is hidden from this reader (from before they joined, or from someone they
// block), a plain line saying so, with nothing to jump to.
export function quoteView(preview, jump) {
  if (preview.hidden) return h('p', { class: 'quote', 'data-key': 'quote' }, h('em', {}, 'A message you cannot see'));
  return h('button', {
    type: 'button',
    class: 'quote',
    'data-key': 'quote',
    'aria-label': `Reply to ${preview.sender.name}: ${preview.deleted ? 'Message deleted' : preview.excerpt}`,
    onclick: () => jump(preview.id),
  },
  h('strong', {}, preview.sender.name),
  ' ',
  preview.deleted ? h('em', {}, 'Message deleted') : preview.excerpt);
}

// The preview of `original` as the server would give it now: the first non-blank line, cut to
// 100 characters (the last one "…" when cut).
export function previewOf(original) {
  const line = original.body.split('\n').map((l) => l.trim()).find((l) => l) ?? '';
  const chars = [...line];
  const excerpt = chars.length <= PREVIEW_CHARS ? line : `${chars.slice(0, PREVIEW_CHARS - 1).join('')}…`;
  return { id: original.id, sender: original.sender, excerpt: original.deleted ? '' : excerpt, deleted: original.deleted, hidden: false };
}

// The line above the composer while a reply is being written, with its Cancel button.
export function replyingLine(target, cancel) {
  return h('p', { class: 'replying' },
    h('span', {}, `Replying to ${target.sender.name}`),
    h('button', { type: 'button', onclick: cancel }, 'Cancel reply'));
}
