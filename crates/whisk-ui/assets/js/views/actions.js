// Actions: the list (kind, version, last run), create from a Docker image (the seed's
// figure 6.4) or from code with a kind, edit code, parameters, limits and web export, and
// delete with confirmation.

import { h, field, page, message, announce, table, when, button, confirmDialog } from '../dom.js';
import { get, call, NS, entityPath, listAll, explain, settings } from '../api.js';
import { paramsEditor, toKeyValues, fromKeyValues, annotation } from '../params.js';

/** Full name below the namespace: "pkg/name" or "name". */
export function shortName(a) {
  const parts = String(a.namespace).split('/');
  return parts.length > 1 ? `${parts.slice(1).join('/')}/${a.name}` : a.name;
}

export async function render(rest) {
  if (rest[0] === 'new') return editor(null);
  if (rest[0] === 'edit' && rest.length > 1) return editor(rest.slice(1).join('/'));
  return list();
}

async function list() {
  const body = h('div', {}, message('Loading…'));
  page('Actions',
    h('p', {}, h('a', { href: '#/actions/new', class: 'button primary' }, 'Create an action')),
    body);
  let actions;
  let recent = [];
  try {
    actions = await listAll('actions');
    recent = await get(`${NS}/activations`, { limit: 200 });
  } catch (e) {
    body.replaceChildren(message(explain(e), 'error'));
    return;
  }
  const last = new Map();
  for (const a of recent) if (!last.has(a.name)) last.set(a.name, a);
  const rows = actions.map((a) => ({ a, name: shortName(a), run: last.get(a.name) }));
  const del = async (name) => {
    if (!await confirmDialog(`Delete the action ${name}? This cannot be undone.`)) return;
    try {
      await call('DELETE', `${NS}/actions/${entityPath(name)}`);
      announce(`Deleted ${name}.`, 'ok');
      list();
    } catch (e) { announce(explain(e), 'error'); }
  };
  body.replaceChildren(table('Actions', [
    { label: 'Name', cell: (r) => h('a', { href: `#/actions/edit/${entityPath(r.name)}` }, r.name) },
    { label: 'Kind', cell: (r) => annotation(r.a.annotations, 'exec') || '' },
    { label: 'Version', cell: (r) => r.a.version },
    { label: 'Web', cell: (r) => (isWeb(r.a.annotations) ? 'yes' : '') },
    {
      label: 'Last run',
      cell: (r) => (r.run ? h('a', { href: `#/activations/${r.run.activationId}` }, when(r.run.start)) : 'never'),
    },
    {
      label: 'Actions',
      cell: (r) => h('span', { class: 'row' },
        h('a', { href: `#/invoke/${entityPath(r.name)}`, class: 'button', 'aria-label': `Invoke ${r.name}` }, 'Invoke'),
        button('Delete', () => del(r.name), { class: 'danger', 'aria-label': `Delete ${r.name}` })),
    },
  ], rows, 'No actions yet: create one.'));
}

function isWeb(annotations) {
  const v = annotation(annotations, 'web-export');
  return v === true || v === 'true';
}

/** The kinds the server offers for code, from GET /api/v1. */
async function codeKinds() {
  const info = await get('');
  const kinds = [];
  for (const list of Object.values(info.runtimes || {})) {
    for (const k of list) if (!k.deprecated) kinds.push(k.kind);
  }
  return kinds;
}

async function editor(name) {
  const creating = !name;
  const body = h('div', {}, message('Loading…'));
  page(creating ? 'Create an action' : `Edit ${name}`, body);
  let action = null;
  let kinds = [];
  try {
    kinds = await codeKinds();
    if (!creating) action = await get(`${NS}/actions/${entityPath(name)}`);
  } catch (e) {
    body.replaceChildren(message(explain(e), 'error'));
    return;
  }
  const exec = action ? action.exec : { kind: 'blackbox' };
  const isDocker = exec.kind === 'blackbox';
  if (exec.kind === 'sequence') {
    body.replaceChildren(
      message(`${name} is a sequence of ${(exec.components || []).join(', ')}; edit it with "wsk action update --sequence".`, 'info'));
    return;
  }

  const nameInput = h('input', { type: 'text', name: 'name', required: true, value: name || '', readonly: !creating, autocomplete: 'off', spellcheck: 'false' });
  const srcDocker = h('input', { type: 'radio', name: 'source', id: 'src-docker', value: 'docker', checked: isDocker });
  const srcCode = h('input', { type: 'radio', name: 'source', id: 'src-code', value: 'code', checked: !isDocker });
  const image = h('input', { type: 'text', name: 'image', value: exec.image || '', spellcheck: 'false', placeholder: 'whisk/example-c' });
  const kind = h('select', { name: 'kind' }, kinds.map((k) => h('option', { value: k, selected: k === exec.kind }, k)));
  const code = h('textarea', { name: 'code', rows: 12, spellcheck: 'false', class: 'mono' });
  code.value = typeof exec.code === 'string' && !exec.binary ? exec.code : '';
  if (exec.binary) code.placeholder = '(binary code, kept unless you paste new code here)';
  const main = h('input', { type: 'text', name: 'main', value: exec.main || '', placeholder: 'main' });
  const params = paramsEditor('Default parameters', action ? fromKeyValues(action.parameters) : {});
  const limits = action ? action.limits || {} : {};
  const timeout = h('input', { type: 'number', name: 'timeout', min: 1, value: limits.timeout || '', placeholder: '60000' });
  const memory = h('input', { type: 'number', name: 'memory', min: 1, value: limits.memory || '', placeholder: '256' });
  const logs = h('input', { type: 'number', name: 'logs', min: 0, value: limits.logs || '', placeholder: '10' });
  const web = h('input', { type: 'checkbox', id: 'web-export', checked: action ? isWeb(action.annotations) : false });
  const result = h('div', { 'aria-live': 'polite' });

  const dockerBox = h('div', { class: 'group' },
    field('Docker image', image, 'An image serving /init and /run on 8080, e.g. one built FROM openwhisk/dockerskeleton.'));
  const codeBox = h('div', { class: 'group' },
    field('Kind', kind),
    field('Code', code, action ? 'Leave empty to keep the current code.' : 'The action\'s source; its function is main unless set below.'),
    field('Main function', main));
  const sync = () => { dockerBox.hidden = !srcDocker.checked; codeBox.hidden = srcDocker.checked; };
  srcDocker.addEventListener('change', sync);
  srcCode.addEventListener('change', sync);
  sync();

  const form = h('form', { class: 'card', novalidate: true },
    field('Action name', nameInput, creating ? 'A name, or package/name.' : undefined),
    h('fieldset', { class: 'inline' }, h('legend', {}, 'Source'),
      h('span', { class: 'check' }, srcDocker, h('label', { for: 'src-docker' }, 'Docker image')),
      h('span', { class: 'check' }, srcCode, h('label', { for: 'src-code' }, 'Code with a kind'))),
    dockerBox, codeBox, params.el,
    h('fieldset', { class: 'limits' }, h('legend', {}, 'Limits (empty: the defaults)'),
      field('Timeout (ms)', timeout), field('Memory (MB)', memory), field('Logs (MB)', logs)),
    h('div', { class: 'check' }, web, h('label', { for: 'web-export' }, 'Web action (reachable without a key at /api/v1/web/…)')),
    h('div', { class: 'row' },
      h('button', { type: 'submit', class: 'primary' }, creating ? 'Create' : 'Save'),
      h('a', { href: '#/actions', class: 'button' }, 'Back to actions')),
    result);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const n = nameInput.value.trim();
    let putBody;
    try {
      if (!n) throw new Error('The action needs a name.');
      putBody = buildBody();
    } catch (e) {
      result.replaceChildren(message(e.message, 'error'));
      return;
    }
    try {
      await call('PUT', `${NS}/actions/${entityPath(n)}`, { query: { overwrite: !creating }, body: putBody });
      const text = creating ? `ok: created action ${n}` : `ok: updated action ${n}`;
      const links = [h('a', { href: `#/invoke/${entityPath(n)}` }, `Invoke ${n}`)];
      if (web.checked) {
        const ns = settings().namespace || '_';
        const parts = n.split('/');
        const url = `${location.origin}/api/v1/web/${ns}/${parts.length > 1 ? parts[0] : 'default'}/${parts[parts.length - 1]}`;
        links.push(' · web URL: ', h('code', {}, url));
      }
      result.replaceChildren(message(text, 'ok'), h('p', {}, links));
      announce(text, 'ok');
    } catch (e) {
      result.replaceChildren(message(explain(e), 'error'));
    }
  });

  function buildBody() {
    const out = {};
    if (srcDocker.checked) {
      const img = image.value.trim();
      if (!img) throw new Error('Give the Docker image, e.g. whisk/example-c.');
      out.exec = { kind: 'blackbox', image: img };
      // A skeleton image's own code (wsk action create --docker IMAGE FILE) is kept.
      if (isDocker && exec.code) { out.exec.code = exec.code; if (exec.binary) out.exec.binary = true; }
    } else {
      const src = code.value;
      if (!src.trim()) {
        if (!action || isDocker) throw new Error('Paste the action\'s code.');
        out.exec = { ...exec };
      } else {
        out.exec = { kind: kind.value, code: src };
      }
      out.exec.kind = kind.value;
      if (main.value.trim()) out.exec.main = main.value.trim(); else delete out.exec.main;
    }
    out.parameters = toKeyValues(params.value());
    const lim = {};
    for (const [k, input] of [['timeout', timeout], ['memory', memory], ['logs', logs]]) {
      if (input.value !== '') {
        const v = Number(input.value);
        if (!Number.isInteger(v) || v < 0) throw new Error(`The ${k} limit must be a whole number.`);
        lim[k] = v;
      }
    }
    if (Object.keys(lim).length) out.limits = lim;
    const keep = (action ? action.annotations || [] : [])
      .filter((a) => !['web-export', 'raw-http', 'final', 'exec'].includes(a.key));
    if (web.checked) {
      keep.push({ key: 'web-export', value: true }, { key: 'raw-http', value: false }, { key: 'final', value: true });
    } else if (action && isWeb(action.annotations)) {
      keep.push({ key: 'web-export', value: false });
    }
    out.annotations = keep;
    return out;
  }

  body.replaceChildren(form);
  if (creating) nameInput.focus();
}
