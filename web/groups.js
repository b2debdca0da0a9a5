// Groups that change, from the open conversation's header: "Group settings" (the name, the
// members with their owners marked, adding people, removing them, making owners, whether
// newcomers see earlier messages, leaving), "Mute"/"Unmute" on every conversation, and
// "Block"/"Unblock" on a direct one. The server decides who may do what; its refusals show
// in the dialog's alert. Changes come back to the page through `changed(conversation)` and
// the events every member gets.
import { call, get } from './api.js';
import { field, fill, h } from './dom.js';

// The people the signed-in user blocks, read once and kept up to date by the toggles here.
let blockedIds = null;

async function blocked() {
  if (!blockedIds) {
    const answer = await get('/api/blocks').catch(() => ({ users: [] }));
    blockedIds = new Set(answer.users.map((u) => u.id));
  }
  return blockedIds;
}

// Forgets the block list (another person signs in on this page).
export function forgetBlocks() {
  blockedIds = null;
}

// The header's controls for `conversation`. `changed(conversation)` hands a new state of it
// to the app; `left(id)` says the user is no longer in it.
export function conversationControls(conversation, me, { changed, left }) {
  const muteButton = h('button', {
    type: 'button',
    'aria-pressed': String(Boolean(conversation.muted)),
    onclick: async () => {
      const method = conversation.muted ? 'DELETE' : 'PUT';
      const answer = await call(method, `/api/conversations/${conversation.id}/mute`).catch(() => null);
      if (answer) changed(answer.conversation);
    },
  }, conversation.muted ? 'Unmute' : 'Mute');
  const controls = [muteButton];
  if (conversation.kind === 'group') {
    controls.push(h('button', {
      type: 'button',
      onclick: () => openGroupSettings(conversation, me, { changed, left }),
    }, 'Group settings'));
  } else {
    const other = conversation.members.find((m) => m.id !== me.id);
    if (other) controls.push(blockButton(other));
  }
  return h('div', { class: 'pane-controls' }, controls);
}

function blockButton(other) {
  const button = h('button', { type: 'button', 'aria-pressed': 'false' }, 'Block');
  const show = (ids) => {
    const is = ids.has(other.id);
    button.textContent = is ? 'Unblock' : 'Block';
    button.setAttribute('aria-pressed', String(is));
  };
  blocked().then(show);
  button.addEventListener('click', async () => {
    const ids = await blocked();
    const method = ids.has(other.id) ? 'DELETE' : 'PUT';
    const answer = await call(method, `/api/blocks/${other.id}`).catch(() => null);
    if (!answer) return;
    blockedIds = new Set(answer.users.map((u) => u.id));
    show(blockedIds);
  });
  return button;
}

// The settings dialog of a group. Owners see every control; other members see the members
// and "Leave group".
function openGroupSettings(initial, me, { changed, left }) {
  let conversation = initial;
  const alert = h('p', { role: 'alert', class: 'error' });
  const body = h('div', {});
  const dialog = h('dialog', { 'aria-labelledby': 'group-settings-title', class: 'panel' },
    h('div', { class: 'panel-head' },
      h('h2', { id: 'group-settings-title' }, 'Group settings'),
      h('button', { type: 'button', onclick: () => dialog.close() }, 'Close')),
    alert,
    body);
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  render();
  dialog.showModal();

  // Runs a change, shows the server's refusal, and redraws with the answer.
  async function act(work) {
    alert.textContent = '';
    try {
      const answer = await work();
      if (answer?.conversation) {
        conversation = answer.conversation;
        changed(conversation);
        render();
      }
    } catch (err) {
      alert.textContent = err.message;
    }
  }

  function render() {
    const owner = conversation.owner_ids.includes(me.id);
    fill(body,
      owner ? renameForm() : null,
      h('h3', {}, 'Members'),
      h('ul', { class: 'members', 'aria-label': 'Members' }, conversation.members.map((m) => memberRow(m, owner))),
      owner ? addPeople() : null,
      owner ? historySetting() : null,
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'danger', onclick: confirmLeave }, 'Leave group')));
  }

  function renameForm() {
    const name = field('Group name', { type: 'text', name: 'title', required: true, autocomplete: 'off' });
    name.querySelector('input').value = conversation.title ?? '';
    const form = h('form', {}, name, h('button', { type: 'submit' }, 'Save'));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      act(() => call('PATCH', `/api/conversations/${conversation.id}`, { title: new FormData(form).get('title') }));
    });
    return form;
  }

  function memberRow(member, owner) {
    const isOwner = conversation.owner_ids.includes(member.id);
    const label = member.id === me.id ? `${member.name} (you)` : member.name;
    const id = conversation.id;
    return h('li', {},
      h('span', {}, label),
      isOwner ? h('span', { class: 'badge owner' }, 'owner') : null,
      owner && !isOwner ? h('button', {
        type: 'button',
        'aria-label': `Make ${member.name} owner`,
        onclick: () => act(() => call('PUT', `/api/conversations/${id}/owners/${member.id}`)),
      }, 'Make owner') : null,
      owner && member.id !== me.id ? h('button', {
        type: 'button',
        'aria-label': `Remove ${member.name}`,
        onclick: () => act(async () => {
          await call('DELETE', `/api/conversations/${id}/members/${member.id}`);
          return get(`/api/conversations/${id}`);
        }),
      }, 'Remove') : null);
  }

  // "Add people": the same people search as a new conversation; choosing one adds them.
  function addPeople() {
    const results = h('ul', { class: 'people', 'aria-label': 'People to add' });
    const search = h('input', { type: 'search', name: 'q', autocomplete: 'off' });
    let asked = 0;
    search.addEventListener('input', async () => {
      const mine = ++asked;
      const query = new URLSearchParams({ q: search.value.trim(), page_size: '20' });
      const answer = await get(`/api/profile/users?${query}`).catch(() => null);
      if (!answer || mine !== asked) return;
      const members = new Set(conversation.members.map((m) => m.id));
      fill(results, answer.users.filter((u) => !members.has(u.id)).map((u) => h('li', {}, h('button', {
        type: 'button',
        'aria-label': `Add ${u.name}`,
        onclick: () => act(() => call('POST', `/api/conversations/${conversation.id}/members`, { user_ids: [u.id] })),
      }, u.name))));
    });
    return h('section', { 'aria-label': 'Add people' },
      h('h3', {}, 'Add people'),
      h('label', { class: 'field' }, h('span', {}, 'Search people to add'), search),
      results);
  }

  function historySetting() {
    const box = h('input', { type: 'checkbox', checked: conversation.history_visible });
    box.addEventListener('change', () => act(() => call('PATCH', `/api/conversations/${conversation.id}`,
      { history_visible: box.checked })));
    return h('label', { class: 'check' }, box, ' New members see earlier messages');
  }

  function confirmLeave() {
    const confirm = h('dialog', { 'aria-labelledby': 'confirm-leave-title' },
      h('h2', { id: 'confirm-leave-title' }, 'Leave this group?'),
      h('p', {}, 'You will no longer see its messages.'),
      h('div', { class: 'actions' },
        h('button', { type: 'button', onclick: () => confirm.close() }, 'Cancel'),
        h('button', {
          type: 'button',
          class: 'danger',
          onclick: async () => {
            confirm.close();
            try {
              await call('DELETE', `/api/conversations/${conversation.id}/members/${me.id}`);
              dialog.close();
              left(conversation.id);
            } catch (err) {
              alert.textContent = err.message;
            }
          },
        }, 'Leave')));
    confirm.addEventListener('close', () => confirm.remove());
    document.body.append(confirm);
    confirm.showModal();
  }
}
