// The only module that talks to the REST API: bearer token, JSON, errors as ApiError.
const TOKEN_KEY = 'emotechat.token';

export class ApiError extends Error {
  constructor(status, code, message, field, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
    // Seconds the server asked the client to wait (429 and 503 carry Retry-After).
    this.retryAfter = retryAfter;
  }
}

// A Retry-After in seconds; an HTTP date or nothing gives undefined.
function retryAfterOf(response) {
  const seconds = Number.parseInt(response.headers.get('Retry-After') ?? '', 10);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : undefined;
}

// What else the browser keeps for a signed-in user (see chat.js and outbox.js), forgotten
// with the session.
export const keptKeys = (userId) => [`emotechat.conversations.${userId}`, `emotechat.outbox.${userId}`];

// What the app does when a request finds the session gone (ended on another device, or
// expired); app.js sets it.
let sessionGone = () => {};
export const whenSessionGone = (handler) => { sessionGone = handler; };

export const token = {
  get: () => localStorage.getItem(TOKEN_KEY),
  set: (value) => localStorage.setItem(TOKEN_KEY, value),
  clear: () => localStorage.removeItem(TOKEN_KEY),
};

export async function call(method, path, body) {
  const headers = {};
  const bearer = token.get();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the server. Check your connection.');
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new ApiError(response.status, data?.error ?? 'unknown',
      data?.message ?? `The server answered ${response.status}.`, data?.field, retryAfterOf(response));
    // A wrong password is another code: only a request that carried the session finds it gone.
    if (bearer && error.code === 'unauthorized') sessionGone();
    throw error;
  }
  return data;
}

export const get = (path) => call('GET', path);

// Every item of a paged list (`path` answers `{[key]: [...], pagination}`), page by page at
// the largest page size: a family easily has more than one page of emotes or conversations.
export async function getAll(path, key) {
  const items = [];
  const joiner = path.includes('?') ? '&' : '?';
  for (let page = 1; ; page += 1) {
    const answer = await get(`${path}${joiner}page=${page}&page_size=100`);
    items.push(...answer[key]);
    if (page >= answer.pagination.total_pages) return items;
  }
}
export const post = (path, body) => call('POST', path, body);
