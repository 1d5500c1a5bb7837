// Packages: list (yours, and the shared whisk.system ones), create with parameters and
// sharing, bind, the actions inside one, delete with confirmation.

import { h, field, page, message, announce, table, button, confirmDialog } from '../dom.js';
import { get, call, NS, entityPath, listAll, explain, settings } from '../api.js';
import { paramsEditor, toKeyValues } from '../params.js';

function bindingText(b) {
  if (!b || typeof b !== 'object' || !b.name) return '';
  return `/${b.namespace}/${b.name}`;
}

export async function render(rest) {
  if (rest[0]) return contents(rest[0], rest[1]);
  const listBox = h('div', { 'aria-live': 'polite' }, message('Loading…'));
  const sysBox = h('div');
  const name = h('input', { type: 'text', name: 'package-name', spellcheck: 'false', autocomplete: 'off' });
  const bind = h('input', { type: 'text', name: 'bind', spellcheck: 'false', placeholder: '/whisk.system/utils' });
  const shared = h('input', { type: 'checkbox', id: 'pkg-shared' });
  const params = paramsEditor('Default parameters');
  const out = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'card', novalidate: true, 'aria-labelledby': 'new-pkg' },
    h('h2', { id: 'new-pkg' }, 'Create a package'),
    field('Package name', name),
    field('Bind to (optional)', bind, 'A binding is a package that refers to another, e.g. /whisk.system/utils, with its own parameters.'),
    params.el,
    h('div', { class: 'check' }, shared, h('label', { for: 'pkg-shared' }, 'Shared: other namespaces may read and invoke it')),
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Create package')), out);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const n = name.value.trim();
    try {
      if (!n) throw new Error('The package needs a name.');
      const body = { parameters: toKeyValues(params.value()), publish: shared.checked };
      const b = bind.value.trim().replace(/^\//, '');
      if (b) {
        const [ns, ...pkg] = b.split('/');
        if (!ns || pkg.length !== 1) throw new Error('Bind to /namespace/package.');
        body.binding = { namespace: ns, name: pkg[0] };
      }
      await call('PUT', `${NS}/packages/${entityPath(n)}`, { body });
      out.replaceChildren(message(`ok: created package ${n}`, 'ok'));
      name.value = '';
      load();
    } catch (e) { out.replaceChildren(message(explain(e), 'error')); }
  });
  page('Packages', listBox, form, sysBox);

  async function del(p) {
    if (!await confirmDialog(`Delete the package ${p.name}? It must hold no actions.`)) return;
    try { await call('DELETE', `${NS}/packages/${entityPath(p.name)}`); announce(`Deleted ${p.name}.`, 'ok'); load(); } catch (e) { announce(explain(e), 'error'); }
  }

  async function load() {
    let pkgs;
    try { pkgs = await listAll('packages'); } catch (e) { listBox.replaceChildren(message(explain(e), 'error')); return; }
    const ns = settings().namespace || '_';
    listBox.replaceChildren(table('Your packages', [
      { label: 'Name', cell: (p) => h('a', { href: `#/packages/${encodeURIComponent(ns)}/${encodeURIComponent(p.name)}` }, p.name) },
      { label: 'Binding', cell: (p) => bindingText(p.binding) },
      { label: 'Shared', cell: (p) => (p.publish ? 'yes' : 'no') },
      { label: 'Version', cell: (p) => p.version },
      { label: 'Actions', cell: (p) => button('Delete', () => del(p), { class: 'danger', 'aria-label': `Delete ${p.name}` }) },
    ], pkgs, 'No packages yet.'));
    try {
      const sys = await get('/namespaces/whisk.system/packages');
      sysBox.replaceChildren(h('h2', {}, 'Shared by whisk.system'), table('Shared packages', [
        { label: 'Name', cell: (p) => h('a', { href: `#/packages/whisk.system/${encodeURIComponent(p.name)}` }, `/whisk.system/${p.name}`) },
        { label: 'Version', cell: (p) => p.version },
      ], sys));
    } catch { sysBox.replaceChildren(); }
  }
  load();
}

async function contents(ns, name) {
  const body = h('div', {}, message('Loading…'));
  page(`Package /${ns}/${name}`, h('p', {}, h('a', { href: '#/packages' }, '← All packages')), body);
  try {
    const [pkg, actions] = await Promise.all([
      get(`/namespaces/${encodeURIComponent(ns)}/packages/${encodeURIComponent(name)}`),
      get(`/namespaces/${encodeURIComponent(ns)}/actions/${encodeURIComponent(name)}/`),
    ]);
    const own = ns === (settings().namespace || '_');
    body.replaceChildren(
      pkg.binding && pkg.binding.name ? h('p', {}, `A binding of ${bindingText(pkg.binding)}.`) : '',
      h('h2', {}, 'Parameters'),
      table('Parameters', [{ label: 'Key', cell: (p) => p.key }, { label: 'Value', cell: (p) => JSON.stringify(p.value) }], pkg.parameters || [], 'None.'),
      h('h2', {}, 'Actions'),
      table('Actions in the package', [
        { label: 'Name', cell: (a) => `${name}/${a.name}` },
        { label: 'Version', cell: (a) => a.version },
        {
          label: 'Actions',
          cell: (a) => h('a', { class: 'button', href: `#/invoke/${own ? `${encodeURIComponent(name)}/${encodeURIComponent(a.name)}` : ''}`, hidden: !own }, 'Invoke'),
        },
      ], actions, 'No actions in this package.'));
  } catch (e) {
    body.replaceChildren(message(explain(e), 'error'));
  }
}
