// Settings: the endpoint and the API key (the seed's figure 6.3), checked against the
// server at once and kept only when the check passes.

import { h, field, page, message, announce } from '../dom.js';
import {
  raw, settings, saveSettings, forgetSettings, defaultEndpoint, normalizeEndpoint, ApiError,
} from '../api.js';
import { showWho } from '../main.js';

/**
 * Checks endpoint + key: resolves to the namespaces list, or throws an Error whose text
 * says what is wrong (other origin, unreachable, not an OpenWhisk API, wrong key).
 */
export async function check(endpoint, key) {
  let url;
  try { url = new URL(endpoint); } catch { throw new Error(`"${endpoint}" is not a URL: use e.g. ${defaultEndpoint()}`); }
  if (url.origin !== location.origin) {
    throw new Error(`This page only talks to the server it came from (${location.origin}); `
      + `its Content-Security-Policy keeps your key from going anywhere else. `
      + `Open ${url.origin}/ui/ to manage ${url.origin}.`);
  }
  if (!/^[^:\s]+:\S+$/.test(key)) throw new Error('An API key looks like uuid:secret (wsk property get --auth).');
  try {
    const info = await raw(endpoint, 'GET', '/api/v1');
    if (!info.data || typeof info.data !== 'object' || !info.data.api_version) throw new Error();
  } catch (e) {
    if (e instanceof ApiError && e.status === 0) throw new Error(`The endpoint cannot be reached: ${e.message}`);
    throw new Error(`${endpoint} does not answer like an OpenWhisk API (GET /api/v1 failed${e.status ? `: HTTP ${e.status}` : ''}).`);
  }
  try {
    return (await raw(endpoint, 'GET', '/api/v1/namespaces', { key })).data;
  } catch (e) {
    if (e.status === 401) throw new Error(`The API key was refused (401 Unauthorized): ${e.message} Check it with "wsk property get --auth" or ~/.rwhisk/guest.key.`);
    if (e.status === 0) throw new Error(`The endpoint cannot be reached: ${e.message}`);
    throw new Error(`The server answered: ${e.message} (HTTP ${e.status}).`);
  }
}

export function render() {
  const s = settings();
  const endpoint = h('input', { type: 'url', name: 'endpoint', required: true, value: s ? s.endpoint : defaultEndpoint(), autocomplete: 'url' });
  const key = h('input', { type: 'password', name: 'key', required: true, value: s ? s.key : '', autocomplete: 'off', spellcheck: 'false', class: 'mono' });
  const show = h('input', { type: 'checkbox', id: 'show-key' });
  show.addEventListener('change', () => { key.type = show.checked ? 'text' : 'password'; });
  const remember = h('input', { type: 'checkbox', id: 'remember', checked: s ? s.remember : true });
  const result = h('div', { id: 'settings-result', 'aria-live': 'polite' });
  if (s) result.replaceChildren(message(`Connected to ${s.endpoint} as namespace ${s.namespace}.`, 'ok'));

  const form = h('form', { class: 'card', novalidate: true },
    field('Endpoint', endpoint, 'The rwhisk server, e.g. http://127.0.0.1:3233 (this page\'s own origin).'),
    field('API key', key, 'uuid:secret, as "wsk property get --auth" prints it or ~/.rwhisk/guest.key holds it.'),
    h('div', { class: 'check' }, show, h('label', { for: 'show-key' }, 'Show the key')),
    h('div', { class: 'check' }, remember, h('label', { for: 'remember' }, 'Remember on this device (else until the browser closes)')),
    h('div', { class: 'row' },
      h('button', { type: 'submit', class: 'primary' }, 'Save and check'),
      h('button', { type: 'button', onclick: forget }, 'Forget the key')),
    result);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const ep = normalizeEndpoint(endpoint.value);
    result.replaceChildren(message('Checking…'));
    try {
      const namespaces = await check(ep, key.value.trim());
      const namespace = Array.isArray(namespaces) && namespaces.length ? namespaces[0] : '_';
      saveSettings({ endpoint: ep, key: key.value.trim(), remember: remember.checked, namespace });
      result.replaceChildren(message(`Connected to ${ep} as namespace ${namespace}. Saved.`, 'ok'));
      announce('Settings saved.', 'ok');
      showWho();
    } catch (e) {
      result.replaceChildren(message(e.message, 'error'));
    }
  });

  function forget() {
    forgetSettings();
    key.value = '';
    result.replaceChildren(message('The key is forgotten in this browser.', 'info'));
    showWho();
  }

  page('Settings', form);
}
