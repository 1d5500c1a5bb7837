// The key/value parameter editor of the seed's figure 6.6, with a raw JSON alternative.
// A value is read as JSON when it parses (as `wsk -p key value` does), else as a string.

import { h, uid } from './dom.js';

/** Parses one value the way `wsk -p` does. */
export function parseValue(text) {
  try { return JSON.parse(text); } catch { return text; }
}

/**
 * An editor. Returns {el, value()} where value() gives an object or throws an Error with
 * a message for the user. initial is an object.
 */
export function paramsEditor(legend, initial = {}) {
  const rows = h('div', { class: 'kv-rows' });
  const rawId = uid('raw');
  const rawArea = h('textarea', { id: rawId, rows: 6, spellcheck: 'false', class: 'mono' });
  const rawBox = h('div', { class: 'field', hidden: true },
    h('label', { for: rawId }, 'Parameters as a JSON object'), rawArea);
  const mode = h('input', { type: 'checkbox', id: uid('mode') });
  let n = 0;

  function addRow(key = '', value = '') {
    n += 1;
    const k = h('input', { type: 'text', value: key, 'aria-label': `Parameter ${n} name`, class: 'kv-key', placeholder: 'key' });
    const v = h('input', { type: 'text', value, 'aria-label': `Parameter ${n} value`, class: 'kv-value', placeholder: 'value' });
    const row = h('div', { class: 'kv-row' }, k, v,
      h('button', { type: 'button', class: 'kv-remove', 'aria-label': `Remove parameter ${n}`, onclick: () => { row.remove(); } }, 'Remove'));
    rows.append(row);
    return k;
  }

  function fromRows() {
    const out = {};
    for (const row of rows.querySelectorAll('.kv-row')) {
      const key = row.querySelector('.kv-key').value.trim();
      const value = row.querySelector('.kv-value').value;
      if (!key) {
        if (value) throw new Error('A parameter has a value but no name.');
        continue;
      }
      out[key] = parseValue(value);
    }
    return out;
  }

  function fromRaw() {
    const text = rawArea.value.trim();
    if (!text) return {};
    let v;
    try { v = JSON.parse(text); } catch (e) { throw new Error(`The parameters are not valid JSON: ${e.message}`); }
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('The parameters must be a JSON object.');
    return v;
  }

  function setRows(obj) {
    rows.replaceChildren();
    for (const [k, v] of Object.entries(obj)) addRow(k, typeof v === 'string' ? v : JSON.stringify(v));
  }

  mode.addEventListener('change', () => {
    try {
      if (mode.checked) {
        rawArea.value = JSON.stringify(fromRows(), null, 2);
      } else {
        setRows(fromRaw());
      }
    } catch (e) {
      mode.checked = !mode.checked;
      alertText.textContent = e.message;
      return;
    }
    alertText.textContent = '';
    rows.hidden = mode.checked;
    addBtn.hidden = mode.checked;
    rawBox.hidden = !mode.checked;
  });

  const addBtn = h('button', { type: 'button', class: 'kv-add', onclick: () => addRow().focus() }, 'Add parameter');
  const alertText = h('span', { class: 'error-text', role: 'alert' });
  setRows(initial);
  const el = h('fieldset', { class: 'params' },
    h('legend', {}, legend),
    rows, addBtn, rawBox,
    h('div', { class: 'check' }, mode, h('label', { for: mode.id }, 'Edit as raw JSON')),
    alertText);
  return {
    el,
    addRow,
    value: () => (mode.checked ? fromRaw() : fromRows()),
  };
}

/** OpenWhisk's parameter list [{key, value}] from an object, and back. */
export function toKeyValues(obj) {
  return Object.entries(obj).map(([key, value]) => ({ key, value }));
}

export function fromKeyValues(list) {
  const out = {};
  for (const kv of list || []) out[kv.key] = kv.value;
  return out;
}

/** The value of annotation key in a list [{key, value}]. */
export function annotation(list, key) {
  const kv = (list || []).find((a) => a.key === key);
  return kv ? kv.value : undefined;
}
