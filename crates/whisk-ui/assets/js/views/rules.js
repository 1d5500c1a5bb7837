// Rules: list with status, create (trigger → action), enable/disable, delete.

import { h, field, page, message, announce, table, button, confirmDialog } from '../dom.js';
import { get, call, NS, entityPath, listAll, explain, settings } from '../api.js';
import { shortName } from './actions.js';

/** Rules listed (each costs a GET for its status). */
const MAX_RULES = 200;

/** "/ns/name" of a rule's trigger or action ({path, name}) without the namespace. */
function below(ref) {
  if (!ref) return '';
  if (typeof ref === 'string') return ref;
  const parts = String(ref.path || '').split('/');
  return parts.length > 1 ? `${parts.slice(1).join('/')}/${ref.name}` : ref.name;
}

export async function render() {
  const listBox = h('div', { 'aria-live': 'polite' }, message('Loading…'));
  const formBox = h('div');
  page('Rules', listBox, formBox);

  async function toggle(r) {
    const status = r.status === 'active' ? 'inactive' : 'active';
    try {
      await call('POST', `${NS}/rules/${entityPath(r.name)}`, { body: { status } });
      announce(`ok: ${status === 'active' ? 'enabled' : 'disabled'} rule ${r.name}`, 'ok');
      load();
    } catch (e) { announce(explain(e), 'error'); }
  }

  async function del(r) {
    if (!await confirmDialog(`Delete the rule ${r.name}?`)) return;
    try {
      await call('DELETE', `${NS}/rules/${entityPath(r.name)}`);
      announce(`Deleted ${r.name}.`, 'ok');
      load();
    } catch (e) { announce(explain(e), 'error'); }
  }

  async function load() {
    let rules;
    try {
      // The list has no status; each rule's GET does (so at most MAX_RULES of them).
      const list = await listAll('rules', MAX_RULES);
      rules = await Promise.all(list.map((r) => get(`${NS}/rules/${entityPath(r.name)}`)));
    } catch (e) { listBox.replaceChildren(message(explain(e), 'error')); return; }
    listBox.replaceChildren(table('Rules', [
      { label: 'Name', cell: (r) => r.name },
      { label: 'Trigger', cell: (r) => below(r.trigger) },
      { label: 'Action', cell: (r) => below(r.action) },
      { label: 'Status', cell: (r) => h('span', { class: `badge ${r.status === 'active' ? 's0' : 's3'}` }, r.status) },
      {
        label: 'Actions',
        cell: (r) => h('span', { class: 'row' },
          button(r.status === 'active' ? 'Disable' : 'Enable', () => toggle(r), { 'aria-label': `${r.status === 'active' ? 'Disable' : 'Enable'} ${r.name}` }),
          button('Delete', () => del(r), { class: 'danger', 'aria-label': `Delete ${r.name}` })),
      },
    ], rules, 'No rules yet.'));
  }

  async function buildForm() {
    let triggers; let actions;
    try { [triggers, actions] = await Promise.all([listAll('triggers'), listAll('actions')]); } catch (e) { formBox.replaceChildren(message(explain(e), 'error')); return; }
    const name = h('input', { type: 'text', name: 'rule-name', spellcheck: 'false', autocomplete: 'off' });
    const trig = h('select', { name: 'trigger' }, triggers.map((t) => h('option', { value: t.name }, t.name)));
    const act = h('select', { name: 'action' }, actions.map((a) => h('option', { value: shortName(a) }, shortName(a))));
    const out = h('div', { 'aria-live': 'polite' });
    const form = h('form', { class: 'card', novalidate: true, 'aria-labelledby': 'new-rule' },
      h('h2', { id: 'new-rule' }, 'Create a rule'),
      field('Rule name', name), field('When this trigger fires', trig), field('Run this action', act),
      h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Create rule')), out);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const n = name.value.trim();
      if (!n || !trig.value || !act.value) { out.replaceChildren(message('Give a name, a trigger and an action.', 'error')); return; }
      const ns = settings().namespace || '_';
      try {
        await call('PUT', `${NS}/rules/${entityPath(n)}`, { body: { trigger: `/${ns}/${trig.value}`, action: `/${ns}/${act.value}` } });
        out.replaceChildren(message(`ok: created rule ${n}`, 'ok'));
        name.value = '';
        load();
      } catch (e) { out.replaceChildren(message(explain(e), 'error')); }
    });
    formBox.replaceChildren(triggers.length && actions.length ? form
      : message('A rule needs a trigger and an action: create them first.', 'info'));
  }
  load();
  buildForm();
}
