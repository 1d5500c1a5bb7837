// Small DOM helpers. Text always goes in through textContent, never as HTML.

/** Makes an element: h('a', {href: '#/x', class: 'y'}, 'text', child, ...). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

let nextId = 0;
/** A unique element id. */
export function uid(prefix = 'f') {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

/** A labelled form field: label + control (+ hint), ids wired for screen readers. */
export function field(label, control, hint) {
  const id = control.id || uid();
  control.id = id;
  const parts = [h('label', { for: id }, label), control];
  if (hint) {
    const hid = uid('hint');
    control.setAttribute('aria-describedby', hid);
    parts.push(h('small', { id: hid, class: 'hint' }, hint));
  }
  return h('div', { class: 'field' }, parts);
}

let shown = false;
/**
 * Replaces the main region's content. After a navigation, focus moves to the new heading
 * (so screen readers announce it); the first page of a load keeps the natural tab order.
 */
export function page(title, ...children) {
  const main = document.getElementById('main');
  main.replaceChildren(h('h1', { tabindex: '-1' }, title), ...children);
  document.title = `${title} · rwhisk`;
  if (shown) main.querySelector('h1').focus();
  shown = true;
  return main;
}

/** A message in the live status region (read out by screen readers). */
export function announce(text, kind = 'info') {
  const el = document.getElementById('status');
  el.className = `status ${kind}`;
  el.textContent = text;
  clearTimeout(announce.timer);
  announce.timer = setTimeout(() => { el.textContent = ''; el.className = 'status'; }, 6000);
}

/** An inline message box; kind is 'error', 'ok' or 'info'. */
export function message(text, kind = 'info') {
  return h('p', { class: `msg ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

/** Asks for confirmation in a modal dialog; resolves true when confirmed. */
export function confirmDialog(text, okLabel = 'Delete') {
  const dlg = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = text;
  const ok = document.getElementById('confirm-ok');
  const cancel = document.getElementById('confirm-cancel');
  ok.textContent = okLabel;
  return new Promise((resolve) => {
    const done = (v) => {
      ok.removeEventListener('click', yes);
      cancel.removeEventListener('click', no);
      dlg.removeEventListener('cancel', no);
      dlg.close();
      resolve(v);
    };
    const yes = () => done(true);
    const no = () => done(false);
    ok.addEventListener('click', yes);
    cancel.addEventListener('click', no);
    dlg.addEventListener('cancel', no);
    dlg.showModal();
    cancel.focus();
  });
}

/** Pretty JSON in a <pre>. */
export function json(value, label) {
  return h('pre', { class: 'json', tabindex: '0', 'aria-label': label || 'JSON' },
    JSON.stringify(value, null, 2));
}

/** A table: columns [{label, cell(row) -> node|string}], rows. */
export function table(caption, columns, rows, empty = 'Nothing here yet.') {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h('div', { class: 'table-wrap' },
    h('table', {},
      h('caption', { class: 'sr-only' }, caption),
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c.label)))),
      h('tbody', {}, rows.map((r) => h('tr', {}, columns.map((c) => h('td', { 'data-label': c.label }, c.cell(r))))))));
}

/** Local date and time of epoch milliseconds. */
export function when(ms) {
  if (!ms) return '';
  return new Date(ms).toLocaleString();
}

/** "12 ms", "1.5 s". */
export function ms(v) {
  if (v === undefined || v === null) return '–';
  return v < 1000 ? `${Math.round(v)} ms` : `${(v / 1000).toFixed(v < 10000 ? 2 : 1)} s`;
}

/** A button that runs an async handler, disabled while it runs. */
export function button(label, onclick, attrs = {}) {
  const b = h('button', { type: 'button', ...attrs }, label);
  b.addEventListener('click', async (ev) => {
    b.disabled = true;
    try { await onclick(ev); } finally { b.disabled = false; }
  });
  return b;
}
