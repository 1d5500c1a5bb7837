// Alarms: a scheduled trigger from a cron expression, made as `wsk trigger create --feed
// /whisk.system/alarms/alarm` does (the trigger with a `feed` annotation, then the feed's
// CREATE; the trigger is removed again if the feed refuses). The next fire times are
// computed here as you type; the list reads each schedule back from the feed (READ).

import { h, field, page, message, announce, table, button, confirmDialog } from '../dom.js';
import { call, NS, entityPath, listAll, explain } from '../api.js';
import { paramsEditor, annotation } from '../params.js';
import { nextTimes, parseCron, checkZone } from '../cron.js';
import { feedEvent, deleteTrigger } from './triggers.js';

export const ALARM_FEED = '/whisk.system/alarms/alarm';
const PREVIEW = 5;
/** Schedules read back at most. */
const MAX_LISTED = 50;

function fmtIn(t, zone) {
  const opts = { dateStyle: 'medium', timeStyle: 'medium' };
  let there = '';
  try {
    if (zone && !/^[+-]\d/.test(zone)) there = new Date(t).toLocaleString([], { ...opts, timeZone: zone });
    else if (!zone || zone === 'UTC') there = new Date(t).toLocaleString([], { ...opts, timeZone: 'UTC' });
  } catch { there = ''; }
  const local = new Date(t).toLocaleString([], opts);
  return there && there !== local ? `${there} (${zone || 'UTC'}) · ${local} here` : `${local} here`;
}

/** The preview list of the next fire times, or the error. */
export function preview(cron, zone) {
  try {
    parseCron(cron);
    checkZone(zone);
    const times = nextTimes(cron, PREVIEW, Date.now(), zone);
    if (!times.length) return message('This expression never fires.', 'error');
    return h('ol', { class: 'fires' }, times.map((t) => h('li', {}, h('time', { datetime: new Date(t).toISOString() }, fmtIn(t, zone)))));
  } catch (e) {
    return message(e.message, 'error');
  }
}

export async function render() {
  const name = h('input', { type: 'text', name: 'alarm-name', spellcheck: 'false', autocomplete: 'off' });
  const cron = h('input', { type: 'text', name: 'cron', value: '0 9 * * 1-5', spellcheck: 'false', class: 'mono' });
  const zone = h('input', { type: 'text', name: 'timezone', placeholder: 'UTC', spellcheck: 'false', list: 'zones' });
  const zones = h('datalist', { id: 'zones' }, ['UTC', Intl.DateTimeFormat().resolvedOptions().timeZone, 'Europe/Berlin', 'America/New_York', 'Asia/Tokyo']
    .filter((z, i, a) => z && a.indexOf(z) === i).map((z) => h('option', { value: z })));
  const payload = paramsEditor('Payload each fire carries');
  const next = h('div', { id: 'next-fires', 'aria-live': 'polite' });
  const out = h('div', { 'aria-live': 'polite' });
  const update = () => next.replaceChildren(h('h3', {}, `Next ${PREVIEW} fire times`), preview(cron.value, zone.value.trim()));
  cron.addEventListener('input', update);
  zone.addEventListener('input', update);
  const form = h('form', { class: 'card', novalidate: true, 'aria-labelledby': 'new-alarm' },
    h('h2', { id: 'new-alarm' }, 'Create a scheduled trigger'),
    field('Trigger name', name),
    field('Cron expression', cron, 'minute hour day month weekday, or seconds first (6 fields); e.g. "*/5 * * * *" every 5 minutes.'),
    field('Time zone', zone, 'IANA name such as Europe/Berlin, or +02:00; empty is UTC.'), zones,
    next, payload.el,
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Create alarm')), out);
  update();
  const listBox = h('div', { 'aria-live': 'polite' }, message('Loading…'));
  page('Alarms', form, h('h2', {}, 'Scheduled triggers'), listBox);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const n = name.value.trim();
    let params;
    try {
      if (!n) throw new Error('The trigger needs a name.');
      parseCron(cron.value);
      checkZone(zone.value.trim());
      params = { cron: cron.value.trim() };
      if (zone.value.trim()) params.timezone = zone.value.trim();
      const p = payload.value();
      if (Object.keys(p).length) params.trigger_payload = p;
    } catch (e) { out.replaceChildren(message(e.message, 'error')); return; }
    try {
      await call('PUT', `${NS}/triggers/${entityPath(n)}`, {
        body: { annotations: [{ key: 'feed', value: ALARM_FEED }] },
      });
    } catch (e) { out.replaceChildren(message(explain(e), 'error')); return; }
    try {
      await feedEvent(ALARM_FEED, n, 'CREATE', params);
    } catch (e) {
      // As wsk: a trigger whose feed failed is removed again.
      await call('DELETE', `${NS}/triggers/${entityPath(n)}`).catch(() => {});
      out.replaceChildren(message(`Unable to create the alarm ${n}: ${explain(e)}`, 'error'));
      return;
    }
    out.replaceChildren(message(`ok: created trigger ${n} with feed ${ALARM_FEED}`, 'ok'),
      h('p', {}, 'Link it to an action under ', h('a', { href: '#/rules' }, 'Rules'), '.'));
    announce(`Created alarm ${n}.`, 'ok');
    name.value = '';
    load();
  });

  async function del(t) {
    if (!await confirmDialog(`Delete the alarm ${t.name}? Its schedule stops.`)) return;
    try { await deleteTrigger(t); announce(`Deleted ${t.name}.`, 'ok'); load(); } catch (e) { announce(explain(e), 'error'); }
  }

  async function load() {
    let alarms;
    try {
      alarms = (await listAll('triggers')).filter((t) => annotation(t.annotations, 'feed')).slice(0, MAX_LISTED);
      alarms = await Promise.all(alarms.map(async (t) => {
        try {
          return { t, read: await feedEvent(annotation(t.annotations, 'feed'), t.name, 'READ') };
        } catch (e) { return { t, error: explain(e) }; }
      }));
    } catch (e) { listBox.replaceChildren(message(explain(e), 'error')); return; }
    listBox.replaceChildren(table('Scheduled triggers', [
      { label: 'Trigger', cell: (r) => r.t.name },
      { label: 'Schedule', cell: (r) => (r.read ? `${r.read.config.cron || r.read.config.date || `every ${r.read.config.minutes} min`}${r.read.config.timezone ? ` (${r.read.config.timezone})` : ''}` : r.error) },
      { label: 'Active', cell: (r) => (r.read ? (r.read.status.active ? 'yes' : 'no') : '') },
      {
        label: 'Next fire',
        cell: (r) => {
          if (!r.read || !r.read.config.cron || !r.read.status.active) return '';
          try { const [t] = nextTimes(r.read.config.cron, 1, Date.now(), r.read.config.timezone || ''); return t ? fmtIn(t, r.read.config.timezone) : ''; } catch { return ''; }
        },
      },
      { label: 'Actions', cell: (r) => button('Delete', () => del(r.t), { class: 'danger', 'aria-label': `Delete ${r.t.name}` }) },
    ], alarms, 'No scheduled triggers yet.'));
  }
  load();
}
