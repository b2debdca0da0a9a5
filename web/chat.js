// The signed-in app: the conversation list, the open conversation's messages and composer,
// starting a conversation, and signing out. Messages are always inserted as text.
import { call, get, getAll, keptKeys, post } from './api.js';
import { connect } from './stream.js';
import { fill, h } from './dom.js';
import { conversationControls, forgetBlocks } from './groups.js';
import { merged, messageView, shortcodes, withReaction } from './message.js';
import { outbox } from './outbox.js';
import { attachPicker } from './attachments.js';
import { openAccount, openEmotes } from './panels.js';
import { previewOf, replyingLine } from './replies.js';
import { searchDialog } from './search.js';
import { checkVersion } from './update.js';

const TYPING_SHOWN_MS = 5000;
const TYPING_SENT_EVERY_MS = 2000;
// Where the list and the open conversation take turns on the screen (as in style.css).
const PHONE = window.matchMedia('(max-width: 47.99em)');

// What the conversation pane shows while no conversation is open.
function choosePrompt() {
  return h('p', { class: 'empty' }, 'Choose a conversation, or start a new one.');
}

export function openChat(root, me, signedOut) {
  const conversations = new Map();
  // The list as last read from the server, kept (until signing out) so that the app opens
  // with it while the server cannot be reached.
  const [keptKey] = keptKeys(me.id);
  for (const kept of JSON.parse(localStorage.getItem(keptKey) ?? '[]')) conversations.set(kept.id, kept);
  // The open conversation: its id, elements, and the messages shown (by id) with their articles.
  let open = null;
  let typingSentAt = 0;
  const typists = new Map();
  let emoteNames = null; // the custom emotes' names, read when a conversation first opens
  const unknownNames = new Set(); // :names: looked up and not found, so not asked for again

  const status = h('p', { role: 'status', class: 'status' });
  const list = h('ul', { class: 'conversations' });
  // Search sits above the list rather than in the header, which keeps to one row on a phone.
  const searchButton = h('button', { type: 'button', class: 'search-open' }, 'Search');
  const nav = h('nav', { 'aria-label': 'Conversations' }, h('h2', { class: 'sr-only' }, 'Conversations'), searchButton, list);
  const pane = h('section', { class: 'pane', 'aria-label': 'Conversation' },
    choosePrompt());
  const dialog = newConversationDialog();
  const finder = searchDialog({
    nameOf: (c) => (conversations.has(c.id) ? nameOf(conversations.get(c.id)) : c.name ?? 'Group'),
    openAt: openConversation,
  });
  searchButton.addEventListener('click', () => finder.open());
  // Desktop notifications are asked for only from this button, never on load.
  const canAsk = 'Notification' in window && Notification.permission === 'default';
  const notifyButton = h('button', {
    type: 'button',
    hidden: !canAsk,
    onclick: async () => {
      await Notification.requestPermission();
      // A dismissed question may be asked again; once answered the button goes, and its
      // focus moves to the header's first button rather than to nowhere.
      if (Notification.permission === 'default') return;
      const hadFocus = document.activeElement === notifyButton;
      notifyButton.hidden = true;
      if (hadFocus) newButton.focus();
    },
  }, h('span', { class: 'phone-only', 'aria-hidden': 'true' }, '🔔'), h('span', { class: 'phone-sr' }, 'Turn on notifications'));
  const unsent = outbox(me.id, {
    delivered: showMessage,
    refused: (entry, err) => {
      open?.pending.get(entry.client_id)?.remove();
      open?.pending.delete(entry.client_id);
      status.textContent = `Not sent: ${err.message}`;
      // The words are not lost: they go back into an empty composer, to be changed and sent.
      if (open?.id === entry.conversation_id) open.restoreDraft(entry.body);
    },
  });

  // On a phone the header keeps to one row: shorter visible labels with the same names, and
  // "Sign out" only in the Account panel.
  const newButton = h('button', { type: 'button', onclick: () => dialog.open() }, 'New', h('span', { class: 'phone-sr' }, ' conversation'));
  const chat = h('div', { class: 'chat' },
    h('header', { class: 'bar' },
      h('h1', {}, 'EmoteChat'),
      status,
      newButton,
      notifyButton,
      h('button', { type: 'button', onclick: () => openEmotes(me, emotesChanged) }, 'Emotes'),
      h('button', {
        type: 'button',
        onclick: () => openAccount(me, { renamed, signOut }),
      }, 'Account'),
      h('button', { type: 'button', class: 'desktop-only', onclick: signOut }, 'Sign out')),
    h('main', { class: 'columns' }, nav, pane),
    dialog.element,
    finder.element);
  fill(root, chat);
  renderList();
  // The form that had the focus is gone: a keyboard user starts from the first control.
  newButton.focus();

  const stop = connect({
    onEvent: apply,
    onOpen: (resumed) => {
      status.textContent = '';
      // A stream opened without a resume point starts with the next event: what happened
      // before it is read afresh, after it is live, so nothing falls in between.
      if (!resumed) {
        loadConversations();
        if (open) loadMessages(open.id);
      }
      unsent.flush();
    },
    onDown: () => { status.textContent = 'Reconnecting…'; },
    onVersion: checkVersion,
    onUnauthorized: () => signedOut(),
  });

  // One's own new name shows at once on one's own messages; others see it when their page
  // next reads the conversation (the server sends no event for a new name).
  function renamed(user) {
    me.name = user.name;
    if (!open) return;
    for (const message of open.messages.values()) {
      if (message.sender.id === me.id) showMessage({ ...message, sender: { ...message.sender, name: me.name } }, false);
    }
  }

  // Works without the server too: this browser forgets the session even if the server did
  // not hear of it.
  async function signOut() {
    await post('/api/auth/logout').catch(() => {});
    signedOut();
  }

  async function loadConversations() {
    const all = await getAll('/api/conversations', 'conversations').catch(() => null);
    if (all) localStorage.setItem(keptKey, JSON.stringify(all));
    for (const conversation of all ?? []) conversations.set(conversation.id, conversation);
    renderList();
  }

  function nameOf(conversation) {
    if (conversation.title) return conversation.title;
    const others = conversation.members.filter((m) => m.id !== me.id);
    return others.map((m) => m.name).join(', ') || me.name;
  }

  function renderList() {
    // The list is redrawn on every change; a keyboard user keeps their place in it.
    const focused = list.contains(document.activeElement) ? document.activeElement.dataset.id : null;
    const sorted = [...conversations.values()]
      .sort((a, b) => b.last_activity_at.localeCompare(a.last_activity_at) || b.id - a.id);
    fill(list, sorted.map((c) => {
      // Named by what it shows ("Title 2 unread"), so voice control finds it by what is seen.
      const unread = c.unread_count > 0
        ? h('span', { class: 'badge' }, String(c.unread_count), h('span', { class: 'sr-only' }, ' unread'))
        : null;
      return h('li', {}, h('button', {
        type: 'button',
        class: 'conversation',
        'aria-current': open?.id === c.id ? 'true' : false,
        'data-id': c.id,
        onclick: () => openConversation(c.id),
      }, h('span', { class: 'name' }, nameOf(c)), unread));
    }));
    if (focused) list.querySelector(`[data-id="${focused}"]`)?.focus();
    const total = [...conversations.values()].reduce((sum, c) => sum + c.unread_count, 0);
    document.title = total > 0 ? `(${total}) EmoteChat` : 'EmoteChat';
    if (total > 0) navigator.setAppBadge?.(total).catch(() => {});
    else navigator.clearAppBadge?.().catch(() => {});
  }

  // `at`: a message to show (found by search, or quoted by a reply) instead of the newest.
  async function openConversation(id, at = null) {
    // Choosing the open conversation again keeps it as it is, half-typed message included.
    if (open?.id === id) return at ? jumpTo(at) : pane.querySelector('textarea').focus();
    const conversation = conversations.get(id);
    const log = h('div', { role: 'log', 'aria-label': 'Messages', class: 'messages', tabindex: '0' });
    const typing = h('p', { class: 'typing', 'aria-live': 'polite' });
    open = {
      id, log, typing, messages: new Map(), articles: new Map(), pending: new Map(),
      // How many messages from others were unread on opening; the divider goes above the first.
      unread: conversation?.unread_count ?? 0, divider: null,
    };
    open.head = h('div', { class: 'pane-head' });
    renderHead();
    fill(pane,
      open.head,
      log,
      typing,
      composer(id));
    // Someone may be typing here already: the line shows it now, not at their next word.
    renderTyping();
    chat.classList.add('conversation-open');
    // The phone's own back gesture returns to the list too: the open conversation is a step
    // in the history (one step, however many conversations are opened in turn).
    if (PHONE.matches) {
      if (history.state?.conversation) history.replaceState({ conversation: id }, '');
      else history.pushState({ conversation: id }, '');
    }
    renderList();
    pane.querySelector('textarea').focus();
    log.addEventListener('scroll', () => {
      if (log.scrollTop < 60) loadOlder(id);
      if (log.scrollHeight - log.scrollTop - log.clientHeight < 60) loadNewer(id);
    });
    await customEmotes();
    await loadMessages(id);
    if (open?.id !== id) return;
    open.newestOnOpening = Math.max(0, ...open.messages.keys());
    placeDivider();
    log.scrollTop = log.scrollHeight;
    if (at) await jumpTo(at);
  }

  // Shows a message of the open conversation: scrolled to and focused when it is loaded, else
  // the page around it replaces what is shown (newer pages load when scrolling down).
  async function jumpTo(messageId) {
    if (!open) return;
    const id = open.id;
    if (!open.articles.has(messageId)) {
      const answer = await get(`/api/conversations/${id}/messages?around=${messageId}&limit=50`).catch(() => null);
      if (open?.id !== id || !answer) return;
      for (const article of open.articles.values()) article.remove();
      open.divider?.remove();
      Object.assign(open, { messages: new Map(), articles: new Map(), divider: null, unread: 0 });
      open.hasOlder = answer.has_more;
      for (const message of answer.messages) showMessage(message, false);
      open.hasNewer = answer.has_newer;
    }
    const article = open.articles.get(messageId);
    if (!article) return;
    for (const shown of open.log.querySelectorAll('.found')) shown.classList.remove('found');
    open.found = messageId;
    markFound(article);
    article.scrollIntoView({ block: 'center' });
    article.focus();
  }

  // The message jumped to keeps its mark and can hold the focus, also when it is redrawn.
  function markFound(article) {
    article.classList.add('found');
    article.tabIndex = -1;
  }

  // After a jump into the history: the page after the newest shown message.
  async function loadNewer(id) {
    if (!open?.hasNewer || open.loadingNewer) return;
    open.loadingNewer = true;
    const shown = open.messages;
    const newest = Math.max(...shown.keys());
    const answer = await get(`/api/conversations/${id}/messages?after=${newest}&limit=50`).catch(() => null);
    if (open?.id !== id) return;
    open.loadingNewer = false;
    if (!answer || open.messages !== shown) return;
    open.hasNewer = answer.has_more;
    for (const message of answer.messages) showMessage(message, false);
  }

  // The open conversation's name and controls, redrawn when the conversation changes.
  function renderHead() {
    const conversation = conversations.get(open.id);
    fill(open.head,
      h('button', { type: 'button', class: 'back', onclick: goBack },
        h('span', { 'aria-hidden': 'true' }, '←'), h('span', { class: 'sr-only' }, 'Back to conversations')),
      h('h2', {}, conversation ? nameOf(conversation) : ''),
      conversation ? conversationControls(conversation, me, { changed: conversationChanged, left: conversationGone }) : null);
  }

  // A new state of a conversation, from an answer or an event: shared events carry no last
  // message, unread count or mute, so those are kept from what was known.
  function conversationChanged(changed) {
    const known = conversations.get(changed.id);
    if (!known) return refreshConversation(changed.id);
    conversations.set(changed.id, { ...known, ...changed });
    renderList();
    if (open?.id === changed.id) renderHead();
  }

  // The user left the conversation or was removed from it: it goes from the page.
  function conversationGone(id) {
    conversations.delete(id);
    localStorage.setItem(keptKey, JSON.stringify([...conversations.values()]));
    if (open?.id === id) backToList();
    else renderList();
  }

  // On a phone the list and the conversation take turns on the screen: going back closes the
  // conversation (so what arrives in it counts as unread again) and focuses it in the list.
  function goBack() {
    if (history.state?.conversation) history.back();
    else backToList();
  }

  function onHistory() {
    if (open && !history.state?.conversation) backToList();
  }

  function backToList() {
    const id = open?.id;
    open = null;
    chat.classList.remove('conversation-open');
    fill(pane, choosePrompt());
    renderList();
    list.querySelector(`[data-id="${id}"]`)?.focus();
  }

  // The newest page of the open conversation, merged into what is shown.
  async function loadMessages(id) {
    const answer = await get(`/api/conversations/${id}/messages?limit=50`).catch(() => null);
    if (open?.id !== id) return;
    if (answer) {
      if (open.hasOlder === undefined) open.hasOlder = answer.has_more;
      for (const message of answer.messages) showMessage(message);
    }
    // Unsent messages show even when the server cannot be reached (after a reload offline).
    for (const entry of unsent.waiting(id)) showPending(entry);
    if (answer) markRead();
  }

  // After a resync the stream cannot say what changed: what is shown may have been edited,
  // deleted or (after a restore) never have existed, and the newest page may not reach back to
  // it. Start again from the newest page, keeping the composer and the unsent messages.
  async function reloadMessages(id) {
    for (const article of open.articles.values()) article.remove();
    open.divider?.remove();
    Object.assign(open, { messages: new Map(), articles: new Map(), divider: null, unread: 0, hasOlder: undefined, hasNewer: false });
    await loadMessages(id);
    if (open?.id === id) open.log.scrollTop = open.log.scrollHeight;
  }

  function composer(id) {
    const text = h('textarea', { name: 'body', rows: '1', required: true, placeholder: 'Message' });
    const picker = attachPicker(id, text, {
      // A message of pictures or files alone needs no text.
      changed: (pending) => { text.required = !pending; },
      failed: (err) => { status.textContent = `Not attached: ${err.message}`; },
    });
    const replying = h('div', { class: 'reply-slot' });
    const form = h('form', { class: 'composer' },
      picker.tray,
      picker.button,
      picker.input,
      replying,
      h('label', { class: 'field' }, h('span', { class: 'sr-only' }, 'Message'), text),
      h('button', { type: 'submit', class: 'primary' }, 'Send'));
    form.addEventListener('dragover', (event) => event.preventDefault());
    form.addEventListener('drop', (event) => picker.dropped(event));
    text.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    // The box grows with what is typed (up to its CSS max-height, then it scrolls), and
    // shrinks again once the message is sent.
    const fit = () => {
      text.style.removeProperty('height');
      const borders = text.offsetHeight - text.clientHeight;
      text.style.setProperty('height', `${text.scrollHeight + borders}px`);
    };
    text.addEventListener('input', fit);
    open.restoreDraft = (body) => {
      if (text.value) return;
      text.value = body;
      fit();
    };
    text.addEventListener('input', () => {
      if (Date.now() - typingSentAt < TYPING_SENT_EVERY_MS || !text.value) return;
      typingSentAt = Date.now();
      post(`/api/conversations/${id}/typing`).catch(() => {});
    });
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const body = text.value;
      if (!body.trim() && !picker.pending()) return;
      text.value = '';
      fit();
      const attachments = await picker.ids();
      if (!body.trim() && attachments.length === 0) return;
      const replyTo = open?.replyTo?.id ?? null;
      stopReplying();
      // A jump into the history left the newest messages unloaded: the new one goes below them.
      if (open?.hasNewer) await reloadMessages(id);
      showPending(unsent.add(id, body, attachments, replyTo));
    });
    return form;
  }

  // The composer answers `message` until sent or cancelled.
  function startReplying(message) {
    if (!open) return;
    const slot = pane.querySelector('.reply-slot');
    open.replyTo = message;
    fill(slot, replyingLine(message, () => { stopReplying(); pane.querySelector('textarea')?.focus(); }));
    pane.querySelector('textarea')?.focus();
  }

  function stopReplying() {
    if (open) open.replyTo = null;
    const slot = pane.querySelector('.reply-slot');
    if (slot) fill(slot);
  }

  // Shows a message of the open conversation, or replaces the shown copy; keeps the focus
  // on the same control of a replaced message, and follows new messages at the bottom.
  function showMessage(incoming, follow = true) {
    if (open?.id !== incoming.conversation_id) return;
    // Past a gap after a jump into the history: it shows when the pages up to it are loaded.
    if (open.hasNewer && !open.messages.has(incoming.id) && incoming.id > Math.max(0, ...open.messages.keys())) return;
    const message = merged(open.messages.get(incoming.id), incoming);
    open.messages.set(message.id, message);
    open.pending.get(message.client_id)?.remove();
    open.pending.delete(message.client_id);
    const existing = open.articles.get(message.id);
    // An edit in progress outlives a new copy of its message (someone reacting meanwhile).
    const draft = existing?.querySelector('textarea:not([data-saving])')?.value ?? null;
    const article = messageView(message, me, messageActions(message), new Set(emoteNames ?? []), draft);
    if (open.found === message.id) markFound(article);
    const atBottom = follow && open.log.scrollHeight - open.log.scrollTop - open.log.clientHeight < 80;
    if (existing) {
      const focused = existing.contains(document.activeElement)
        ? document.activeElement.getAttribute('data-key') : null;
      const wasFocused = document.activeElement === existing;
      existing.replaceWith(article);
      if (wasFocused) article.focus();
      // A control that is gone (the Delete of a deleted message) leaves the focus in the log.
      if (focused) (article.querySelector(`[data-key="${CSS.escape(focused)}"]`) ?? open.log).focus();
    } else {
      const later = [...open.articles.keys()].filter((id) => id > message.id).sort((a, b) => a - b)[0];
      const firstPending = open.log.querySelector('.pending');
      if (later) open.articles.get(later).before(article);
      else if (firstPending) firstPending.before(article);
      else open.log.append(article);
    }
    open.articles.set(message.id, article);
    if (atBottom) open.log.scrollTop = open.log.scrollHeight;
    lookUpEmotes(message);
  }

  // A message naming an emote this page has not heard of (one made since it read them)
  // reads the emotes again, once per name, and shows the open messages again with it.
  function lookUpEmotes(message) {
    if (!emoteNames || message.deleted) return;
    const unheard = shortcodes(message).filter((name) => !emoteNames.includes(name) && !unknownNames.has(name));
    if (unheard.length === 0) return;
    for (const name of unheard) unknownNames.add(name);
    emotesChanged();
  }

  async function emotesChanged() {
    const names = await readEmoteNames();
    if (!names) return;
    emoteNames = names;
    for (const name of emoteNames) unknownNames.delete(name);
    if (open) for (const message of open.messages.values()) showMessage(message, false);
  }

  // "New messages" above the first of the messages from others that were unread on opening:
  // the `unread` newest of them then, not counting deleted ones (nor does the server). When it
  // is on an older page, it is placed once that page is shown.
  function placeDivider() {
    if (open.unread === 0 || open.divider) return;
    const fromOthers = [...open.messages.values()]
      .filter((m) => m.sender.id !== me.id && !m.deleted && m.id <= open.newestOnOpening)
      .sort((a, b) => a.id - b.id);
    if (fromOthers.length < open.unread && open.hasOlder) return;
    const first = fromOthers[Math.max(fromOthers.length - open.unread, 0)];
    if (!first) return;
    open.divider = h('p', { class: 'divider' }, 'New messages');
    open.articles.get(first.id).before(open.divider);
  }

  // The page before the oldest shown message, added above without moving what is in view.
  async function loadOlder(id) {
    if (!open?.hasOlder || open.loadingOlder) return;
    open.loadingOlder = true;
    const shown = open.messages;
    const oldest = Math.min(...shown.keys());
    const answer = await get(`/api/conversations/${id}/messages?before=${oldest}&limit=50`).catch(() => null);
    if (open?.id !== id) return;
    open.loadingOlder = false;
    // A resync meanwhile started again from the newest page: this older one would leave a gap.
    if (!answer || open.messages !== shown) return;
    open.hasOlder = answer.has_more;
    const fromBottom = open.log.scrollHeight - open.log.scrollTop;
    for (const message of answer.messages) showMessage(message, false);
    placeDivider();
    open.log.scrollTop = open.log.scrollHeight - fromBottom;
  }

  // A message not yet stored by the server, shown after the stored ones until it is.
  function showPending(entry) {
    if (open?.id !== entry.conversation_id || open.pending.has(entry.client_id)) return;
    if ([...open.messages.values()].some((m) => m.client_id === entry.client_id)) return;
    const article = h('article', { class: 'mine pending' },
      h('header', {}, h('strong', { class: 'author' }, me.name), h('span', { class: 'edited' }, 'Sending…')),
      h('p', { class: 'body' }, entry.body));
    open.pending.set(entry.client_id, article);
    open.log.append(article);
    open.log.scrollTop = open.log.scrollHeight;
  }

  function messageActions(message) {
    const path = `/api/conversations/${message.conversation_id}/messages/${message.id}`;
    const fail = (err) => { status.textContent = err.message; };
    return {
      react: (emote, on) => call(on ? 'PUT' : 'DELETE', `${path}/reactions/${encodeURIComponent(emote)}`).catch(fail),
      edit: (body) => call('PATCH', path, { body }).then(({ message: edited }) => {
        showMessage(edited);
        updateQuotes(edited);
      }, fail),
      remove: () => confirmDelete(() => call('DELETE', path).then(({ message: gone }) => {
        showMessage(gone);
        updateQuotes(gone);
      }, fail)),
      emotes: customEmotes,
      reply: () => startReplying(message),
      jump: jumpTo,
    };
  }

  // An edited or deleted message: the replies shown that quote it show it as it now is.
  function updateQuotes(original) {
    if (!open) return;
    for (const message of open.messages.values()) {
      if (message.reply_to?.id === original.id) showMessage({ ...message, reply_to: previewOf(original) }, false);
    }
    if (open.replyTo?.id === original.id && original.deleted) stopReplying();
  }

  // The custom emotes' names as read once (none while the server cannot be reached).
  async function customEmotes() {
    if (!emoteNames) emoteNames = (await readEmoteNames()) ?? [];
    return emoteNames;
  }

  // The custom emotes' names read afresh; null when the server cannot be reached.
  async function readEmoteNames() {
    const emotes = await getAll('/api/emotes', 'emotes').catch(() => null);
    return emotes ? emotes.map((e) => e.name) : null;
  }

  function confirmDelete(remove) {
    const dialog = h('dialog', { 'aria-labelledby': 'confirm-delete-title' },
      h('h2', { id: 'confirm-delete-title' }, 'Delete this message?'),
      h('p', {}, 'Everyone in the conversation will see “Message deleted” instead.'),
      h('div', { class: 'actions' },
        h('button', { type: 'button', onclick: () => dialog.close() }, 'Cancel'),
        h('button', { type: 'button', class: 'danger', onclick: () => { dialog.close(); remove(); } }, 'Delete')));
    dialog.addEventListener('close', () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
  }

  async function markRead() {
    if (!open || document.hidden) return;
    const lastId = [...open.messages.keys()].reduce((a, b) => Math.max(a, b), 0);
    const conversation = conversations.get(open.id);
    if (!lastId || !conversation) return;
    const answer = await post(`/api/conversations/${open.id}/read`, { message_id: lastId }).catch(() => null);
    if (answer) {
      conversation.unread_count = answer.unread_count;
      renderList();
    }
  }

  async function refreshConversation(id) {
    const answer = await get(`/api/conversations/${id}`).catch(() => null);
    if (answer) {
      conversations.set(id, answer.conversation);
      renderList();
      if (open?.id === id) renderHead();
    }
  }

  function apply(type, data) {
    if (type === 'resync') {
      loadConversations();
      if (open) reloadMessages(open.id);
    } else if (type === 'reaction.added' || type === 'reaction.removed') {
      const shown = open?.messages.get(data.message_id);
      if (shown) showMessage(withReaction(shown, data.emote, type === 'reaction.added', data.user.id === me.id));
    } else if (type === 'conversation.created') {
      conversations.set(data.conversation.id, data.conversation);
      renderList();
    } else if (type === 'conversation.updated') {
      conversationChanged(data.conversation);
    } else if (type === 'member.joined' && data.user.id === me.id) {
      refreshConversation(data.conversation.id);
    } else if (type === 'member.left' && data.user.id === me.id) {
      conversationGone(data.conversation.id);
    } else if (type === 'member.joined' || type === 'member.left') {
      conversationChanged(data.conversation);
    } else if (type.startsWith('message.')) {
      const message = data.message;
      const conversation = conversations.get(message.conversation_id);
      if (!conversation) return refreshConversation(message.conversation_id);
      // One's own message may be shown already (from the reply to sending it), but it still
      // moves its conversation to the top of the list.
      if (type === 'message.created' && message.created_at > conversation.last_activity_at) {
        conversation.last_activity_at = message.created_at;
      }
      const isNew = type === 'message.created' && !open?.messages.has(message.id);
      if (isNew && message.sender.id !== me.id) {
        conversation.unread_count += 1;
        notify(conversation, message);
      }
      showMessage(message);
      if (type !== 'message.created') updateQuotes(message);
      if (isNew && open?.id === message.conversation_id) markRead();
      // A deleted message no longer counts as unread; only the server knows whether it was.
      if (type === 'message.deleted' && message.sender.id !== me.id) refreshConversation(message.conversation_id);
      typists.delete(`${message.conversation_id}:${message.sender.id}`);
      renderTyping();
      renderList();
    } else if (type === 'read.updated' && data.user_id === me.id) {
      refreshConversation(data.conversation_id);
    } else if (type === 'typing' && data.user.id !== me.id) {
      const key = `${data.conversation_id}:${data.user.id}`;
      clearTimeout(typists.get(key)?.timer);
      typists.set(key, { ...data, timer: setTimeout(() => { typists.delete(key); renderTyping(); }, TYPING_SHOWN_MS) });
      renderTyping();
    }
  }

  // A desktop notification for a message that arrives while the tab is hidden.
  function notify(conversation, message) {
    if (conversation.muted || !document.hidden || !('Notification' in window) || Notification.permission !== 'granted') return;
    const title = conversation.kind === 'group' ? `${message.sender.name} in ${nameOf(conversation)}` : message.sender.name;
    const options = { body: message.body, tag: `conversation-${conversation.id}` };
    try {
      const shown = new Notification(title, options);
      shown.onclick = () => { window.focus(); openConversation(conversation.id); shown.close(); };
    } catch {
      // Browsers that show notifications only through the service worker (Chrome on Android).
      navigator.serviceWorker?.ready.then((worker) => worker.showNotification(title, options)).catch(() => {});
    }
  }

  function renderTyping() {
    if (!open) return;
    const names = [...typists.values()].filter((t) => t.conversation_id === open.id).map((t) => t.user.name);
    open.typing.textContent = names.length ? `${names.join(', ')} ${names.length > 1 ? 'are' : 'is'} typing…` : '';
  }

  // Choosing one person opens the direct conversation with them. With a group name typed,
  // choosing people picks them instead, and "Create group" makes the group.
  function newConversationDialog() {
    const results = h('ul', { class: 'people' });
    const search = h('input', { type: 'search', name: 'q', autocomplete: 'off' });
    const groupName = h('input', { type: 'text', name: 'title', autocomplete: 'off' });
    const chosenLine = h('p', { class: 'notice', 'aria-live': 'polite' });
    const alert = h('p', { role: 'alert', class: 'error' });
    const chosen = new Map();
    let found = [];
    const element = h('dialog', { 'aria-labelledby': 'new-conversation-title' },
      h('h2', { id: 'new-conversation-title' }, 'New conversation'),
      h('label', { class: 'field' }, h('span', {}, 'Search people'), search),
      results,
      h('label', { class: 'field' }, h('span', {}, 'Group name'), groupName),
      h('p', { class: 'notice' }, 'Type a group name to choose several people.'),
      chosenLine,
      alert,
      h('div', { class: 'actions' },
        h('button', { type: 'button', onclick: () => element.close() }, 'Close'),
        h('button', { type: 'button', class: 'primary', onclick: createGroup }, 'Create group')));
    let asked = 0;
    search.addEventListener('input', async () => {
      const mine = ++asked;
      const query = new URLSearchParams({ q: search.value.trim(), page_size: '20' });
      try {
        const { users } = await get(`/api/profile/users?${query}`);
        if (mine !== asked) return;
        found = users.filter((u) => u.id !== me.id);
        renderPeople();
        alert.textContent = '';
      } catch (err) {
        alert.textContent = err.message;
      }
    });
    groupName.addEventListener('input', renderPeople);

    // Redrawn as the answers to the search come in: a keyboard user keeps their place.
    function renderPeople() {
      const picking = groupName.value.trim() !== '';
      const focused = results.contains(document.activeElement) ? document.activeElement.dataset.id : null;
      fill(results, found.map((u) => h('li', {}, h('button', {
        type: 'button',
        'aria-pressed': picking ? String(chosen.has(u.id)) : false,
        'data-id': u.id,
        onclick: () => (picking ? toggle(u) : start([u.id])),
      }, u.name))));
      if (focused) results.querySelector(`[data-id="${focused}"]`)?.focus();
      const names = [...chosen.values()];
      chosenLine.textContent = picking && names.length ? `Chosen: ${names.join(', ')}` : '';
    }

    function toggle(user) {
      if (chosen.has(user.id)) chosen.delete(user.id);
      else chosen.set(user.id, user.name);
      renderPeople();
    }

    function createGroup() {
      const title = groupName.value.trim();
      if (!title || chosen.size === 0) {
        alert.textContent = 'Type a group name and choose at least one person.';
        return;
      }
      start([...chosen.keys()], title);
    }

    async function start(memberIds, title) {
      try {
        const { conversation } = await post('/api/conversations',
          title ? { member_ids: memberIds, title } : { member_ids: memberIds });
        conversations.set(conversation.id, conversation);
        element.close();
        openConversation(conversation.id);
      } catch (err) {
        alert.textContent = err.message;
      }
    }
    return {
      element,
      open() {
        search.value = '';
        groupName.value = '';
        chosen.clear();
        found = [];
        fill(results);
        alert.textContent = '';
        element.showModal();
        search.dispatchEvent(new Event('input'));
      },
    };
  }

  document.addEventListener('visibilitychange', markRead);
  window.addEventListener('popstate', onHistory);
  return () => {
    stop();
    forgetBlocks();
    unsent.clear();
    for (const open of document.querySelectorAll('dialog[open]')) open.close();
    document.removeEventListener('visibilitychange', markRead);
    window.removeEventListener('popstate', onHistory);
  };
}
