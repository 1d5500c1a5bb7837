// Activations: newest first, filter by name and status, paging; the detail shows the
// result, logs, the wait/init/run breakdown from the annotations, and the links between a
// sequence and its components (a component's `cause` is its parent; a sequence's logs
// list its components).

import { h, field, page, message, table, when, ms, json } from '../dom.js';
import { get, NS, explain } from '../api.js';
import { annotation } from '../params.js';
import { timingBar } from '../charts.js';

const STATUS = ['success', 'application error', 'developer error', 'whisk internal error'];
/** Records scanned at most for one filtered page. */
const MAX_SCAN = 1000;

/** The words for a record's status ("success", "application error", ...). */
export function statusText(s) {
  return s || 'unknown';
}

const state = { name: '', status: '', size: 20, starts: [0] };

export async function render(rest) {
  if (rest[0]) return detail(rest[0]);
  return list();
}

function list() {
  const name = h('input', { type: 'search', name: 'name', value: state.name, placeholder: 'action or pkg/action', spellcheck: 'false' });
  const status = h('select', { name: 'status' },
    h('option', { value: '' }, 'any'),
    STATUS.map((s, i) => h('option', { value: String(i), selected: state.status === String(i) }, s)));
  const size = h('select', { name: 'size' }, [10, 20, 50].map((n) => h('option', { value: n, selected: n === state.size }, n)));
  const rows = h('div', { 'aria-live': 'polite' });
  const prev = h('button', { type: 'button' }, 'Newer');
  const next = h('button', { type: 'button' }, 'Older');
  const where = h('span', { class: 'muted' });
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter activations' },
    field('Name', name), field('Status', status), field('Per page', size),
    h('button', { type: 'submit' }, 'Filter'),
    h('button', { type: 'button', onclick: () => load() }, 'Refresh'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    state.name = name.value.trim();
    state.status = status.value;
    state.size = Number(size.value);
    state.starts = [0];
    load();
  });
  prev.addEventListener('click', () => { if (state.starts.length > 1) { state.starts.pop(); state.starts.pop(); load(); } });
  next.addEventListener('click', () => load(next.nextStart));
  page('Activations', form, rows, h('div', { class: 'row pager' }, prev, where, next));

  async function load(start) {
    if (start !== undefined) state.starts.push(start);
    const skip = state.starts[state.starts.length - 1];
    rows.replaceChildren(message('Loading…'));
    let found;
    try {
      found = await fetchPage(skip);
    } catch (e) {
      rows.replaceChildren(message(explain(e), 'error'));
      return;
    }
    prev.disabled = state.starts.length <= 1;
    next.disabled = found.next === null;
    next.nextStart = found.next;
    where.textContent = `page ${state.starts.length}`;
    rows.replaceChildren(table('Activations, newest first', [
      { label: 'Activation', cell: (a) => h('a', { href: `#/activations/${a.activationId}`, class: 'mono' }, a.activationId) },
      { label: 'Name', cell: (a) => a.name },
      { label: 'Kind', cell: (a) => annotation(a.annotations, 'kind') || 'trigger' },
      { label: 'Start', cell: (a) => when(a.start) },
      { label: 'Duration', cell: (a) => ms(a.duration) },
      { label: 'Start type', cell: (a) => startType(a) },
      { label: 'Status', cell: (a) => h('span', { class: `badge s${code(a)}` }, STATUS[code(a)] || 'unknown') },
    ], found.rows, 'No activations match.'));
  }
  load();
}

/** The status code of a summary: 0 success .. 3 whisk error (trigger records: 0). */
function code(a) {
  if (typeof a.statusCode === 'number') return a.statusCode;
  const s = a.response && a.response.status;
  const i = STATUS.indexOf(s);
  return i < 0 ? 0 : i;
}

/** "cold" or "warm" for an activation that ran in a container, else ''. */
export function startType(a) {
  const kind = annotation(a.annotations, 'kind');
  if (!kind || kind === 'sequence' || kind.startsWith('builtin')) return '';
  if (annotation(a.annotations, 'waitTime') === undefined) return '';
  return annotation(a.annotations, 'initTime') === undefined ? 'warm' : 'cold';
}

/** One page from skip; with a status filter it scans forward (bounded). */
async function fetchPage(skip) {
  const name = state.name || undefined;
  if (state.status === '') {
    const rows = await get(`${NS}/activations`, { limit: state.size, skip, name });
    return { rows, next: rows.length === state.size ? skip + state.size : null };
  }
  const want = Number(state.status);
  const rows = [];
  let at = skip;
  while (rows.length < state.size && at - skip < MAX_SCAN) {
    const batch = await get(`${NS}/activations`, { limit: 50, skip: at, name });
    for (let i = 0; i < batch.length; i += 1) {
      if (code(batch[i]) === want) {
        rows.push(batch[i]);
        if (rows.length === state.size) return { rows, next: at + i + 1 };
      }
    }
    at += batch.length;
    if (batch.length < 50) return { rows, next: null };
  }
  return { rows, next: at - skip >= MAX_SCAN ? at : null };
}

async function detail(id) {
  const body = h('div', {}, message('Loading…'));
  page(`Activation ${id}`, h('p', {}, h('a', { href: '#/activations' }, '← All activations')), body);
  let a;
  try {
    a = await get(`${NS}/activations/${encodeURIComponent(id)}`);
  } catch (e) {
    body.replaceChildren(message(explain(e), 'error'));
    return;
  }
  const ann = a.annotations || [];
  const kind = annotation(ann, 'kind');
  const wait = annotation(ann, 'waitTime');
  const init = annotation(ann, 'initTime');
  const run = a.duration === undefined ? undefined : Math.max(0, a.duration - (init || 0));
  const ok = a.response && a.response.success;
  const facts = [
    ['Name', `${a.namespace}/${a.name}`],
    ['Kind', kind || 'trigger'],
    ['Status', statusText(a.response && a.response.status)],
    ['Start', when(a.start)],
    ['End', when(a.end)],
    ['Duration', ms(a.duration)],
    ['Wait', ms(wait)],
    ['Init', init === undefined ? 'none (warm start)' : ms(init)],
    ['Run', ms(run)],
  ];
  const links = [];
  if (a.cause) links.push(h('p', {}, 'Part of ', h('a', { href: `#/activations/${a.cause}`, class: 'mono' }, a.cause), annotation(ann, 'causedBy') ? ` (${annotation(ann, 'causedBy')})` : ''));
  const isComposite = kind === 'sequence' || annotation(ann, 'conductor') !== undefined;
  const ids = (a.logs || []).filter((l) => /^[0-9a-f]{32}$/.test(l));
  if (isComposite && ids.length) {
    links.push(h('h2', {}, 'Components'), h('ol', { class: 'components' },
      ids.map((c) => h('li', {}, h('a', { href: `#/activations/${c}`, class: 'mono' }, c)))));
  }
  // A trigger's record logs one JSON line per rule it ran.
  const caused = kind ? [] : (a.logs || []).map((l) => { try { return JSON.parse(l); } catch { return null; } })
    .filter((r) => r && typeof r.activationId === 'string');
  if (caused.length) {
    links.push(h('h2', {}, 'Activations it started'), h('ul', { class: 'components' },
      caused.map((r) => h('li', {}, `${r.rule || 'rule'} → ${r.action || 'action'}: `,
        h('a', { href: `#/activations/${r.activationId}`, class: 'mono' }, r.activationId)))));
  }
  body.replaceChildren(
    h('dl', { class: `facts ${ok ? 'ok' : 'bad'}` }, facts.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
    h('h2', {}, 'Timing'),
    timingBar([['wait', wait || 0], ['init', init || 0], ['run', run || 0]]),
    ...links,
    h('h2', {}, 'Result'),
    json(a.response ? a.response.result : null, 'Result JSON'),
    h('h2', {}, 'Logs'),
    a.logs && a.logs.length && !isComposite
      ? h('pre', { class: 'logs', tabindex: '0', 'aria-label': 'Logs' }, a.logs.join('\n'))
      : h('p', { class: 'empty' }, isComposite ? 'A composition logs its components (above).' : 'No log lines.'),
    h('details', {}, h('summary', {}, 'Annotations'), json(ann, 'Annotations JSON')));
}
