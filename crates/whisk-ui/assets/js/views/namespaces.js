// Namespaces: the namespaces of the key, and for the caller's own what it holds and which
// limits apply.

import { h, page, message, table } from '../dom.js';
import { get, NS, explain } from '../api.js';

const COLLECTIONS = ['actions', 'packages', 'triggers', 'rules', 'activations'];

export async function render() {
  const body = h('div', {}, message('Loading…'));
  page('Namespaces', body);
  try {
    const [names, counts, limits] = await Promise.all([
      get('/namespaces'),
      Promise.all(COLLECTIONS.map((c) => get(`${NS}/${c}`, { count: true }).then((r) => [c, r[c]]))),
      get(`${NS}/limits`).catch(() => ({})),
    ]);
    body.replaceChildren(
      table('Namespaces', [{ label: 'Namespace', cell: (n) => n }], names),
      h('h2', {}, `What ${names[0] || 'your namespace'} holds`),
      h('dl', { class: 'facts' }, counts.map(([c, n]) => [h('dt', {}, c), h('dd', {}, h('a', { href: `#/${c}` }, String(n)))])),
      h('h2', {}, 'Limits'),
      Object.keys(limits).length
        ? h('dl', { class: 'facts' }, Object.entries(limits).map(([k, v]) => [h('dt', {}, k), h('dd', {}, typeof v === 'string' ? v : JSON.stringify(v))]))
        : h('p', { class: 'empty' }, 'The system defaults apply.'));
  } catch (e) {
    body.replaceChildren(message(explain(e), 'error'));
  }
}
