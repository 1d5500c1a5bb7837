// Triggers: list, create with parameters, fire with a payload (the record's link shown),
// delete with confirmation (a feed trigger's schedule is deleted first, as `wsk` does).

import { h, field, page, message, announce, table, button, confirmDialog } from '../dom.js';
import { call, NS, entityPath, listAll, explain, settings } from '../api.js';
import { paramsEditor, toKeyValues, annotation } from '../params.js';

/** Runs a feed action's lifecycle event for trigger name (CREATE, READ, DELETE). */
export async function feedEvent(feed, name, event, params = {}) {
  const parts = String(feed).replace(/^\//, '').split('/');
  const ns = parts.shift();
  const s = settings();
  const body = { ...params, lifecycleEvent: event, triggerName: `/${s.namespace || '_'}/${name}` };
  const { data } = await call('POST', `/namespaces/${encodeURIComponent(ns)}/actions/${parts.map(encodeURIComponent).join('/')}`,
    { query: { blocking: true, result: true }, body });
  return data;
}

/** Deletes trigger name, ending its feed first. */
export async function deleteTrigger(t) {
  const feed = annotation(t.annotations, 'feed');
  if (feed) {
    try { await feedEvent(feed, t.name, 'DELETE'); } catch (e) { if (e.status !== 404) throw e; }
  }
  await call('DELETE', `${NS}/triggers/${entityPath(t.name)}`);
}

export async function render() {
  const listBox = h('div', {}, message('Loading…'));
  const name = h('input', { type: 'text', name: 'trigger-name', required: true, spellcheck: 'false', autocomplete: 'off' });
  const params = paramsEditor('Default parameters');
  const created = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'card', novalidate: true, 'aria-labelledby': 'new-trigger' },
    h('h2', { id: 'new-trigger' }, 'Create a trigger'),
    field('Trigger name', name), params.el,
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Create trigger')), created);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const n = name.value.trim();
      if (!n) throw new Error('The trigger needs a name.');
      await call('PUT', `${NS}/triggers/${entityPath(n)}`, { body: { parameters: toKeyValues(params.value()) } });
      created.replaceChildren(message(`ok: created trigger ${n}`, 'ok'));
      name.value = '';
      load();
    } catch (e) { created.replaceChildren(message(explain(e), 'error')); }
  });
  const fireOut = h('div', { 'aria-live': 'polite', id: 'fire-result' });
  page('Triggers', h('p', {}, 'Alarms (scheduled triggers) are made under ', h('a', { href: '#/alarms' }, 'Alarms'), '; rules link triggers to actions under ', h('a', { href: '#/rules' }, 'Rules'), '.'),
    fireOut, listBox, form);

  function fire(t) {
    const payload = h('textarea', { rows: 3, class: 'mono', spellcheck: 'false', id: 'fire-payload' });
    payload.value = '{}';
    const go = button('Fire now', async () => {
      let body;
      try {
        body = payload.value.trim() ? JSON.parse(payload.value) : {};
        if (!body || typeof body !== 'object' || Array.isArray(body)) throw new Error('The payload must be a JSON object.');
      } catch (e) { out.replaceChildren(message(e.message, 'error')); return; }
      try {
        const { status, data } = await call('POST', `${NS}/triggers/${entityPath(t.name)}`, { body });
        if (status === 204 || !data || !data.activationId) {
          out.replaceChildren(message(`ok: fired trigger ${t.name}: no active rule, nothing ran.`, 'info'));
        } else {
          out.replaceChildren(message(`ok: triggered /_/${t.name} with id ${data.activationId}`, 'ok'),
            h('p', {}, h('a', { href: `#/activations/${data.activationId}` }, 'Open the trigger\'s activation')));
        }
        announce(`Fired ${t.name}.`, 'ok');
      } catch (e) { out.replaceChildren(message(explain(e), 'error')); }
    }, { class: 'primary' });
    const out = h('div', { 'aria-live': 'polite' });
    fireOut.replaceChildren(h('section', { class: 'card', 'aria-labelledby': 'fire-h' },
      h('h2', { id: 'fire-h' }, `Fire ${t.name}`),
      field('Payload (a JSON object)', payload),
      h('div', { class: 'row' }, go, button('Close', () => fireOut.replaceChildren())),
      out));
    payload.focus();
  }

  async function del(t) {
    if (!await confirmDialog(`Delete the trigger ${t.name}? Its rules stay, inactive.`)) return;
    try {
      await deleteTrigger(t);
      announce(`Deleted ${t.name}.`, 'ok');
      load();
    } catch (e) { announce(explain(e), 'error'); }
  }

  async function load() {
    let triggers;
    try { triggers = await listAll('triggers'); } catch (e) { listBox.replaceChildren(message(explain(e), 'error')); return; }
    listBox.replaceChildren(table('Triggers', [
      { label: 'Name', cell: (t) => t.name },
      { label: 'Feed', cell: (t) => annotation(t.annotations, 'feed') || '' },
      { label: 'Version', cell: (t) => t.version },
      {
        label: 'Actions',
        cell: (t) => h('span', { class: 'row' },
          button('Fire', () => fire(t), { 'aria-label': `Fire ${t.name}` }),
          button('Delete', () => del(t), { class: 'danger', 'aria-label': `Delete ${t.name}` })),
      },
    ], triggers, 'No triggers yet.'));
  }
  load();
}
