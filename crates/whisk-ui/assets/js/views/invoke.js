// Invoke: choose an action, give key/value parameters (the seed's figure 6.6) or raw
// JSON, blocking or not; shows result, status, duration, init and wait time, and logs.

import { h, field, page, message, json, ms } from '../dom.js';
import { get, call, NS, entityPath, listAll, explain } from '../api.js';
import { paramsEditor, annotation } from '../params.js';
import { shortName } from './actions.js';
import { statusText } from './activations.js';

/** How long a non-blocking invoke's record is awaited. */
const POLL_MS = 60000;

export async function render(rest) {
  const chosen = rest.join('/');
  const body = h('div', {}, message('Loading…'));
  page('Invoke', body);
  let actions;
  try {
    actions = await listAll('actions');
  } catch (e) {
    body.replaceChildren(message(explain(e), 'error'));
    return;
  }
  const names = actions.map(shortName).sort();
  if (chosen && !names.includes(chosen)) names.unshift(chosen);
  if (!names.length) {
    body.replaceChildren(message('There are no actions yet.', 'info'), h('a', { href: '#/actions/new', class: 'button primary' }, 'Create an action'));
    return;
  }
  const select = h('select', { name: 'action' }, names.map((n) => h('option', { value: n, selected: n === chosen }, n)));
  const params = paramsEditor('Parameters');
  params.addRow();
  const blocking = h('input', { type: 'checkbox', id: 'blocking', checked: true });
  const out = h('section', { class: 'result', 'aria-live': 'polite', 'aria-label': 'Invocation result' });
  const form = h('form', { class: 'card', novalidate: true },
    field('Action', select),
    params.el,
    h('div', { class: 'check' }, blocking, h('label', { for: 'blocking' }, 'Wait for the result (blocking)')),
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Invoke')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const btn = form.querySelector('button[type=submit]');
    let payload;
    try { payload = params.value(); } catch (e) { out.replaceChildren(message(e.message, 'error')); return; }
    btn.disabled = true;
    out.replaceChildren(message(`Invoking ${select.value}…`));
    const t0 = performance.now();
    try {
      const record = await invoke(select.value, payload, blocking.checked, (id) => {
        out.replaceChildren(message(`Accepted: activation ${id}; waiting for its record…`), h('a', { href: `#/activations/${id}` }, 'Open the activation'));
      });
      out.replaceChildren(showRecord(record, performance.now() - t0));
    } catch (e) {
      out.replaceChildren(message(`Unable to invoke ${select.value}: ${explain(e)}`, 'error'));
    } finally {
      btn.disabled = false;
    }
  });
  body.replaceChildren(form, out);
}

/**
 * Invokes and resolves to the activation record. A blocking call that the server answers
 * with 202 (still running), or a non-blocking one, polls the record.
 */
async function invoke(name, payload, blocking, onAccepted) {
  let data;
  try {
    ({ data } = await call('POST', `${NS}/actions/${entityPath(name)}`, { query: { blocking }, body: payload }));
  } catch (e) {
    // A failed activation still comes with its record (502 and friends).
    if (e.body && e.body.activationId && e.body.response) return e.body;
    throw e;
  }
  if (data && data.response) return data;
  const id = data && data.activationId;
  if (!id) throw new Error('The server gave no activation id.');
  onAccepted(id);
  const deadline = Date.now() + POLL_MS;
  while (Date.now() < deadline) {
    try {
      return await get(`${NS}/activations/${id}`);
    } catch (e) {
      if (e.status !== 404) throw e;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`No record for ${id} after ${POLL_MS / 1000} s; look for it under Activations.`);
}

/** The record as the result panel shows it. */
export function showRecord(a, roundTrip) {
  const ann = a.annotations || [];
  const init = annotation(ann, 'initTime');
  const wait = annotation(ann, 'waitTime');
  const ok = a.response && a.response.success;
  const facts = [
    ['Status', statusText(a.response && a.response.status)],
    ['Activation', h('a', { href: `#/activations/${a.activationId}` }, a.activationId)],
    ['Duration', ms(a.duration)],
    ['Init time', init === undefined ? 'warm start (none)' : ms(init)],
    ['Wait time', ms(wait)],
  ];
  if (roundTrip !== undefined) facts.push(['Round trip', ms(roundTrip)]);
  return h('div', {},
    h('h2', {}, ok ? 'Result' : 'Result (failed)'),
    h('dl', { class: `facts ${ok ? 'ok' : 'bad'}` }, facts.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
    json(a.response ? a.response.result : null, 'Result JSON'),
    h('h2', {}, 'Logs'),
    a.logs && a.logs.length
      ? h('pre', { class: 'logs', tabindex: '0', 'aria-label': 'Logs' }, a.logs.join('\n'))
      : h('p', { class: 'empty' }, 'No log lines.'));
}
