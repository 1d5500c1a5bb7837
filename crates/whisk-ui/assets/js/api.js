// The REST API client. The key travels only in the Authorization header (Basic), never in
// a URL. Settings live in localStorage ("remember") or sessionStorage.

const KEY = 'rwhisk.settings';

/** An error answer of the API or a failure to reach it. */
export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status; // 0: not reached
    this.body = body;
  }
}

/** The stored settings {endpoint, key, remember}, or null. */
export function settings() {
  const raw = localStorage.getItem(KEY) || sessionStorage.getItem(KEY);
  if (!raw) return null;
  try { return JSON.parse(raw); } catch { return null; }
}

export function saveSettings(s) {
  forgetSettings();
  (s.remember ? localStorage : sessionStorage).setItem(KEY, JSON.stringify(s));
}

export function forgetSettings() {
  localStorage.removeItem(KEY);
  sessionStorage.removeItem(KEY);
}

/** The endpoint the page came from. */
export function defaultEndpoint() {
  return location.origin;
}

/** "http://host:port" without trailing slashes or "/api/v1". */
export function normalizeEndpoint(e) {
  return (e || '').trim().replace(/\/+$/, '').replace(/\/api\/v1$/, '');
}

function authHeader(key) {
  const bytes = new TextEncoder().encode(key);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return `Basic ${btoa(bin)}`;
}

/**
 * Calls the API. path is below /api/v1 ("/namespaces/_/actions"); query an object;
 * body is sent as JSON. Resolves to the parsed JSON (or text) of a 2xx answer.
 */
export async function call(method, path, { query, body, cfg } = {}) {
  const s = cfg || settings();
  if (!s || !s.key) throw new ApiError(401, 'No API key set: open Settings.');
  return raw(s.endpoint, method, `/api/v1${path}`, { query, body, key: s.key });
}

/** One request to endpoint + path; the key, when given, as Basic auth. */
export async function raw(endpoint, method, path, { query, body, key, text } = {}) {
  const url = new URL(normalizeEndpoint(endpoint) + path);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
  }
  const headers = { Accept: text ? 'text/plain' : 'application/json' };
  if (key) headers.Authorization = authHeader(key);
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let resp;
  try {
    resp = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
      referrerPolicy: 'no-referrer',
    });
  } catch (e) {
    throw new ApiError(0, `Cannot reach ${normalizeEndpoint(endpoint)}: ${e.message}`);
  }
  const type = resp.headers.get('content-type') || '';
  const data = type.includes('json') ? await resp.json().catch(() => null) : await resp.text();
  if (!resp.ok) {
    const text = data && typeof data === 'object' && data.error
      ? (typeof data.error === 'string' ? data.error : JSON.stringify(data.error))
      : `${resp.status} ${resp.statusText}`;
    throw new ApiError(resp.status, text, data);
  }
  return { status: resp.status, data, headers: resp.headers };
}

/** GET with the stored settings; resolves to the data. */
export async function get(path, query) {
  return (await call('GET', path, { query })).data;
}

/** The caller's namespace path below /api/v1. */
export const NS = '/namespaces/_';

/** Encodes "pkg/name" or "name" for a path, keeping the slash. */
export function entityPath(name) {
  return name.split('/').map(encodeURIComponent).join('/');
}

/** Every page of a list (bounded), limit 200 each. */
export async function listAll(collection, max = 1000) {
  const out = [];
  for (let skip = 0; skip < max; skip += 200) {
    const page = await get(`${NS}/${collection}`, { limit: 200, skip });
    out.push(...page);
    if (page.length < 200) break;
  }
  return out;
}

/** A person-readable text of an ApiError for an action ("Unable to ..."). */
export function explain(e) {
  if (!(e instanceof ApiError)) return String(e && e.message ? e.message : e);
  if (e.status === 401) return `The API key was refused (401): ${e.message}`;
  if (e.status === 0) return e.message;
  return `${e.message} (HTTP ${e.status})`;
}
