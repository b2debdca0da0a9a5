// Message search: a dialog with the searchbox "Search messages" and its results, newest first.
// Each result names its conversation and shows the server's snippet, the matched words in
// <mark> elements built as elements around text, never from HTML. Choosing a result hands its
// conversation and message to `openAt`.
import { get } from './api.js';
import { fill, h } from './dom.js';

const PAGE = 20;

// `nameOf(hit.conversation)` names a result's conversation; `openAt(conversationId, messageId)`.
export function searchDialog({ nameOf, openAt }) {
  const box = h('input', { type: 'search', name: 'q', autocomplete: 'off', 'aria-label': 'Search messages' });
  const results = h('ul', { class: 'search-results', 'aria-label': 'Search results' });
  const notice = h('p', { class: 'notice', 'aria-live': 'polite' });
  const more = h('button', { type: 'button', hidden: true, onclick: () => run(false) }, 'More results');
  const element = h('dialog', { 'aria-labelledby': 'search-title', class: 'search' },
    h('h2', { id: 'search-title' }, 'Search'),
    h('form', { role: 'search', onsubmit: (event) => { event.preventDefault(); run(true); } },
      box, h('button', { type: 'submit', class: 'primary' }, 'Search')),
    notice,
    results,
    h('div', { class: 'actions' }, more,
      h('button', { type: 'button', onclick: () => element.close() }, 'Close')));
  let asked = 0;
  let last = null; // the oldest hit shown: the next page is before it
  let timer = null;
  box.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => run(true), 250);
  });

  async function run(fresh) {
    const q = box.value.trim();
    const mine = ++asked;
    if (fresh) { last = null; fill(results); more.hidden = true; }
    if (!q) { notice.textContent = ''; return; }
    const query = new URLSearchParams({ q, limit: String(PAGE) });
    if (last) query.set('before', String(last));
    try {
      const answer = await get(`/api/search/messages?${query}`);
      if (mine !== asked) return;
      results.append(...answer.hits.map(resultView));
      last = answer.hits.at(-1)?.message.id ?? last;
      more.hidden = !answer.has_more;
      notice.textContent = results.childElementCount === 0 ? 'No messages found.' : '';
    } catch (err) {
      if (mine === asked) notice.textContent = err.message;
    }
  }

  function resultView(hit) {
    return h('li', {}, h('button', {
      type: 'button',
      class: 'search-hit',
      'data-id': hit.message.id,
      onclick: () => { element.close(); openAt(hit.message.conversation_id, hit.message.id); },
    },
    h('span', { class: 'where' }, h('strong', {}, nameOf(hit.conversation)), ' · ', hit.message.sender.name),
    h('span', { class: 'snippet' }, hit.snippet.map((part) => (part.match ? h('mark', {}, part.text) : part.text)))));
  }

  return {
    element,
    open() {
      element.showModal();
      box.focus();
      box.select();
    },
  };
}
