// Pictures and files: the composer's "Attach" control (and pasted or dropped images), the
// uploads waiting to be sent, and how a message shows its attachments. Files are fetched with
// the bearer token (an <img> tag cannot send it) and shown from blob: URLs; pictures only when
// they scroll into view, in a box of their own size reserved from the start.
import { ApiError, token } from './api.js';
import { h, fill } from './dom.js';

// The composer's side: an "Attach" button over a file input named "Attach file", a list of
// the uploads chosen for the next message, pictures pasted into `pasteZone`, and files
// dropped on the composer (`dropped`). Each upload starts at once; `ids()` gives the uploaded
// ids for the message being sent and empties the list. `changed(pending)` says whether any
// are waiting.
export function attachPicker(conversationId, pasteZone, { changed, failed }) {
  const chosen = [];
  const tray = h('ul', { class: 'attachments-tray', 'aria-label': 'Attachments to send' });
  // The visible "Attach" button opens the file input's chooser; the input itself stays out of
  // sight and out of the Tab order, so the focus only ever lands on what shows a ring.
  const input = h('input', { type: 'file', multiple: true, 'aria-label': 'Attach file', class: 'sr-only', tabindex: '-1' });
  const button = h('button', { type: 'button', class: 'attach', onclick: () => input.click() }, 'Attach');
  input.addEventListener('change', () => {
    for (const file of input.files) add(file);
    input.value = '';
  });
  pasteZone.addEventListener('paste', (event) => {
    const files = [...(event.clipboardData?.files ?? [])];
    if (files.length === 0) return;
    event.preventDefault();
    for (const file of files) add(file);
  });

  function add(file) {
    const item = { name: file.name || 'pasted image', id: null, upload: null };
    const row = h('li', {}, `${item.name} (${sizeText(file.size)}) `, h('span', { class: 'state' }, 'uploading…'));
    tray.append(row);
    chosen.push(item);
    changed(true);
    item.upload = upload(conversationId, item.name, file).then((attachment) => {
      item.id = attachment.id;
      row.querySelector('.state').textContent = 'ready';
    }, (err) => {
      chosen.splice(chosen.indexOf(item), 1);
      row.remove();
      changed(chosen.length > 0);
      failed(err);
    });
  }

  return {
    button,
    input,
    tray,
    pending: () => chosen.length > 0,
    dropped(event) {
      const files = [...(event.dataTransfer?.files ?? [])];
      if (files.length === 0) return;
      event.preventDefault();
      for (const file of files) add(file);
    },
    // Waits for uploads still running; the ids of those that succeeded, and empties the tray.
    async ids() {
      await Promise.all(chosen.map((item) => item.upload));
      const ids = chosen.filter((item) => item.id !== null).map((item) => item.id);
      chosen.length = 0;
      fill(tray);
      changed(false);
      return ids;
    },
  };
}

async function upload(conversationId, name, file) {
  const response = await fetch(
    `/api/conversations/${conversationId}/attachments?name=${encodeURIComponent(name)}`,
    { method: 'POST', headers: { Authorization: `Bearer ${token.get()}` }, body: file },
  ).catch(() => null);
  if (!response) throw new ApiError(0, 'network', 'Cannot reach the server. Check your connection.');
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(response.status, data?.error ?? 'unknown',
      data?.message ?? `The server answered ${response.status}.`, data?.field);
  }
  return data.attachment;
}

// A message's attachments: pictures inline, files as a named link with their size.
export function attachmentsView(attachments) {
  if (!attachments?.length) return null;
  return h('div', { class: 'attachments' }, attachments.map((a) => (a.width ? picture(a) : fileLink(a))));
}

function picture(attachment) {
  const img = h('img', {
    alt: attachment.name,
    width: attachment.width,
    height: attachment.height,
    class: 'attachment-image',
  });
  const button = h('button', { type: 'button', class: 'picture', 'aria-label': `Enlarge ${attachment.name}` }, img);
  button.addEventListener('click', () => enlarge(attachment, img));
  whenVisible(button, async () => { img.src = await blobUrl(attachment.url); });
  return button;
}

function fileLink(attachment) {
  const link = h('a', { href: attachment.url, class: 'attachment-file', download: attachment.name },
    `${attachment.name} (${sizeText(attachment.size)})`);
  link.addEventListener('click', async (event) => {
    if (link.href.startsWith('blob:')) return;
    event.preventDefault();
    link.href = await blobUrl(attachment.url);
    link.click();
  });
  return link;
}

// The picture at full size in a modal dialog; Escape (the dialog's own cancel) closes it and
// gives the focus back.
function enlarge(attachment, img) {
  const dialog = h('dialog', { class: 'enlarged', 'aria-label': attachment.name },
    h('img', { src: img.src, alt: attachment.name }),
    h('form', { method: 'dialog' }, h('button', { type: 'submit' }, 'Close')));
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

const loaded = new Map();

// The file as a blob: URL, fetched once per page.
function blobUrl(url) {
  if (!loaded.has(url)) {
    loaded.set(url, fetch(url, { headers: { Authorization: `Bearer ${token.get()}` } })
      .then((response) => (response.ok ? response.blob() : Promise.reject(new Error(String(response.status)))))
      .then((blob) => URL.createObjectURL(blob))
      .catch((err) => { loaded.delete(url); throw err; }));
  }
  return loaded.get(url);
}

let watcher = null;
const onVisible = new WeakMap();

// Runs `load` once `element` first comes near the screen.
function whenVisible(element, load) {
  watcher ??= new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      watcher.unobserve(entry.target);
      onVisible.get(entry.target)?.().catch(() => {});
    }
  }, { rootMargin: '200px' });
  onVisible.set(element, load);
  watcher.observe(element);
}

export function sizeText(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
