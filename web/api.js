// api.js - the one way the pages talk to stampd: fetch with the session
// cookie, the CSRF token on every state change, and the API's error body
// turned into an ApiError that names the field it is about.

let csrf = null;

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || 'http_error';
    this.field = e.field || null;
    this.declineCode = e.decline_code || null;
    this.details = e; // the whole error: e.g. price_mills of medium_payment_required
    this.errors = (body && Array.isArray(body.errors)) ? body.errors : null; // every field error, when listed
  }
}

export function setCsrf(token) {
  csrf = token || null;
}

function newKey() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

// request(method, path, {body, query, idempotent, raw}) -> parsed JSON (or a Blob when raw).
export async function request(method, path, opts = {}) {
  const headers = { Accept: opts.raw ? '*/*' : 'application/json' };
  let url = path;
  if (opts.query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query)) {
      if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
    }
    const s = q.toString();
    if (s) url += '?' + s;
  }
  if (method !== 'GET' && csrf) headers['X-CSRF-Token'] = csrf;
  if (opts.idempotencyKey) headers['Idempotency-Key'] = opts.idempotencyKey;
  let body;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  let resp;
  try {
    resp = await fetch(url, { method, headers, body, credentials: 'same-origin', cache: 'no-store' });
  } catch (err) {
    throw new ApiError(0, { error: { code: 'network_error', message: 'stampd cannot be reached; check your connection and try again' } });
  }
  const type = resp.headers.get('Content-Type') || '';
  if (!resp.ok) {
    const j = type.startsWith('application/json') ? await resp.json().catch(() => null) : null;
    throw new ApiError(resp.status, j);
  }
  if (opts.raw) return resp.blob();
  return type.startsWith('application/json') ? resp.json() : resp.text();
}

export const get = (path, query) => request('GET', path, { query });
export const post = (path, body, opts = {}) => request('POST', path, { ...opts, body });
export const put = (path, body) => request('PUT', path, { body });
export const del = (path) => request('DELETE', path);

// A key for one attempt at something that moves money: kept by the caller
// and reused on retry, so a double click or a lost answer never pays twice.
export { newKey };
