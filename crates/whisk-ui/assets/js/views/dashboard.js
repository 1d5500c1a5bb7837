// The dashboard: charts that update live. "Your namespace" is computed from the
// activations API (last 15 minutes, per minute); "Platform" from GET /metrics
// (Prometheus text, no key), as counter deltas between polls. A metric the server does
// not export shows "no data".

import { h, page, message } from '../dom.js';
import { get, raw, settings, NS, explain } from '../api.js';
import { annotation } from '../params.js';
import { chart, bars } from '../charts.js';
import * as prom from '../prom.js';
import { startType } from './activations.js';

const WINDOW_MIN = 15;
/** Records read at most per refresh. */
const MAX_RECORDS = 1000;
const METRICS_EVERY_MS = 5000;
const ACTIVATIONS_EVERY_MS = 10000;
/** Metric snapshots kept (5 s apart: 10 minutes). */
const KEEP = 120;

export const M = {
  invocations: 'whisk_controller_invocations_total',
  starts: 'whisk_invoker_starts_total',
  duration: 'whisk_invoker_activation_duration_seconds',
  containers: 'whisk_invoker_containers',
  activations: 'whisk_invoker_activations_total',
};

export function render() {
  const nsCards = h('div', { class: 'cards' });
  const nsCharts = h('div', { class: 'charts' });
  const nsNote = h('div', { 'aria-live': 'polite' });
  const plCards = h('div', { class: 'cards' });
  const plCharts = h('div', { class: 'charts' });
  const plNote = h('div');
  const updated = h('p', { class: 'muted', id: 'dash-updated' });
  page('Dashboard',
    updated,
    h('section', { 'aria-labelledby': 'ns-h' }, h('h2', { id: 'ns-h' }, `Your namespace, last ${WINDOW_MIN} minutes`), nsNote, nsCards, nsCharts),
    h('section', { 'aria-labelledby': 'pl-h' }, h('h2', { id: 'pl-h' }, 'Platform (GET /metrics)'), plNote, plCards, plCharts));

  const history = [];
  let stopped = false;

  async function refreshNamespace() {
    try {
      const records = await recent();
      const fig = namespaceFigures(records, Date.now());
      nsNote.replaceChildren();
      nsCards.replaceChildren(...fig.cards.map(card));
      nsCharts.replaceChildren(
        chart('Invocations per minute', fig.labels, [{ name: 'invocations', values: fig.count }], { kind: 'stack' }),
        chart('Error rate per minute', fig.labels, [{ name: 'errors', values: fig.errorRate }], { unit: '%' }),
        chart('Cold and warm starts per minute', fig.labels, [{ name: 'cold', values: fig.cold }, { name: 'warm', values: fig.warm }], { kind: 'stack' }),
        chart('Duration p50 / p99 per minute', fig.labels, [{ name: 'p50', values: fig.p50 }, { name: 'p99', values: fig.p99 }], { unit: ' ms' }));
      updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (e) {
      nsNote.replaceChildren(message(explain(e), 'error'));
    }
  }

  async function refreshPlatform() {
    try {
      const s = settings();
      const text = (await raw(s.endpoint, 'GET', '/metrics', { text: true })).data;
      history.push({ t: Date.now(), m: prom.parse(String(text)) });
      if (history.length > KEEP) history.shift();
      const fig = platformFigures(history);
      plNote.replaceChildren();
      plCards.replaceChildren(...fig.cards.map(card));
      plCharts.replaceChildren(
        chart('Invocations per minute (all namespaces)', fig.labels, [{ name: 'invocations', values: fig.rate }]),
        chart('Error rate', fig.labels, [{ name: 'errors', values: fig.errorRate }], { unit: '%' }),
        chart('Starts per interval', fig.labels, fig.starts, { kind: 'stack' }),
        chart('Activation duration p50 / p99', fig.labels, [{ name: 'p50', values: fig.p50 }, { name: 'p99', values: fig.p99 }], { unit: ' ms' }),
        bars('Containers by state', fig.containers));
    } catch (e) {
      plNote.replaceChildren(message(`GET /metrics failed: ${explain(e)}`, 'error'));
    }
  }

  async function loop(fn, every) {
    while (!stopped) {
      await fn();
      await new Promise((r) => { setTimeout(r, every); });
    }
  }
  loop(refreshNamespace, ACTIVATIONS_EVERY_MS);
  loop(refreshPlatform, METRICS_EVERY_MS);
  return () => { stopped = true; };
}

function card([label, value]) {
  return h('div', { class: 'card stat' }, h('span', { class: 'stat-label' }, label), h('strong', { class: 'stat-value' }, value));
}

/** Action activations of the window, newest first (bounded). */
async function recent() {
  const since = Date.now() - WINDOW_MIN * 60000;
  const out = [];
  for (let skip = 0; skip < MAX_RECORDS; skip += 200) {
    const batch = await get(`${NS}/activations`, { limit: 200, skip, since });
    out.push(...batch);
    if (batch.length < 200) break;
  }
  return out;
}

function minuteLabel(t) {
  const d = new Date(t);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

/** Per-minute figures of activation summaries (actions only; triggers have no kind). */
export function namespaceFigures(records, now) {
  const end = Math.floor(now / 60000) * 60000;
  const start = end - (WINDOW_MIN - 1) * 60000;
  const labels = [];
  const count = [];
  const errors = [];
  const cold = [];
  const warm = [];
  const durations = [];
  for (let i = 0; i < WINDOW_MIN; i += 1) {
    labels.push(minuteLabel(start + i * 60000));
    count.push(0); errors.push(0); cold.push(0); warm.push(0); durations.push([]);
  }
  const all = [];
  for (const a of records) {
    const kind = annotation(a.annotations, 'kind');
    if (!kind) continue;
    const i = Math.floor((a.start - start) / 60000);
    if (i < 0 || i >= WINDOW_MIN) continue;
    count[i] += 1;
    if ((a.statusCode || 0) !== 0) errors[i] += 1;
    const how = startType(a);
    if (how === 'warm') warm[i] += 1; else if (how === 'cold') cold[i] += 1;
    if (typeof a.duration === 'number') { durations[i].push(a.duration); all.push(a.duration); }
  }
  const total = count.reduce((x, y) => x + y, 0);
  const errTotal = errors.reduce((x, y) => x + y, 0);
  const coldTotal = cold.reduce((x, y) => x + y, 0);
  const starts = coldTotal + warm.reduce((x, y) => x + y, 0);
  const pct = (a, b) => (b ? `${Math.round((100 * a) / b)}%` : '–');
  const msText = (v) => (v === null ? '–' : `${Math.round(v)} ms`);
  return {
    labels,
    count,
    errorRate: count.map((c, i) => (c ? (100 * errors[i]) / c : null)),
    cold,
    warm,
    p50: durations.map((d) => prom.percentile(d, 0.5)),
    p99: durations.map((d) => prom.percentile(d, 0.99)),
    cards: [
      ['Invocations', String(total)],
      ['Error rate', pct(errTotal, total)],
      ['Cold starts', pct(coldTotal, starts)],
      ['p50', msText(prom.percentile(all, 0.5))],
      ['p99', msText(prom.percentile(all, 0.99))],
    ],
  };
}

/** Figures from successive /metrics snapshots [{t, m}]. */
export function platformFigures(history) {
  const labels = [];
  const rate = [];
  const errorRate = [];
  const p50 = [];
  const p99 = [];
  const startNames = new Set();
  for (const { m } of history) Object.keys(prom.byLabel(m, M.starts, 'start') || {}).forEach((k) => startNames.add(k));
  const startSeries = [...startNames].sort().map((name) => ({ name, values: [] }));
  for (let i = 1; i < history.length; i += 1) {
    const a = history[i - 1];
    const b = history[i];
    const minutes = (b.t - a.t) / 60000;
    labels.push(new Date(b.t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' }));
    const total = (x) => prom.sum(x.m, M.invocations);
    const tb = total(b);
    const ta = total(a);
    rate.push(tb === null || ta === null ? null : Math.max(0, tb - ta) / minutes);
    errorRate.push(errorShare(a.m, b.m));
    for (const se of startSeries) {
      const vb = prom.sum(b.m, M.starts, { start: se.name });
      const va = prom.sum(a.m, M.starts, { start: se.name });
      se.values.push(vb === null ? null : Math.max(0, vb - (va || 0)));
    }
    const bb = prom.buckets(b.m, M.duration);
    const ba = prom.buckets(a.m, M.duration);
    const q = (x) => { const v = prom.quantile(x, bb, ba); return v === null ? null : v * 1000; };
    p50.push(bb ? q(0.5) : null);
    p99.push(bb ? q(0.99) : null);
  }
  const last = history[history.length - 1].m;
  const containers = Object.entries(prom.byLabel(last, M.containers, 'state') || {});
  const startsTotal = prom.byLabel(last, M.starts, 'start');
  const all = prom.sum(last, M.invocations);
  return {
    labels,
    rate,
    errorRate,
    starts: startSeries.length ? startSeries : [{ name: 'starts', values: labels.map(() => null) }],
    p50,
    p99,
    containers,
    cards: [
      ['Invocations since start', all === null ? 'no data' : String(all)],
      ['Cold / warm / prewarm starts', startsTotal ? ['cold', 'warm', 'prewarm'].map((k) => startsTotal[k] || 0).join(' / ') : 'no data'],
      ['Containers', containers.length ? String(containers.reduce((x, [, v]) => x + v, 0)) : 'no data'],
    ],
  };
}

/** Share (%) of failed activations between two snapshots: from the invoker's statuses
 *  when exported, else from the controller's outcomes. */
function errorShare(ma, mb) {
  const inv = (m) => prom.byLabel(m, M.activations, 'status');
  const ib = inv(mb);
  if (ib) {
    const ia = inv(ma) || {};
    let all = 0;
    let bad = 0;
    for (const [k, v] of Object.entries(ib)) {
      const d = Math.max(0, v - (ia[k] || 0));
      all += d;
      if (k !== 'success') bad += d;
    }
    return all ? (100 * bad) / all : null;
  }
  const out = (m) => prom.byLabel(m, M.invocations, 'outcome');
  const ob = out(mb);
  if (!ob) return null;
  const oa = out(ma) || {};
  let all = 0;
  let bad = 0;
  for (const [k, v] of Object.entries(ob)) {
    if (k === 'accepted' || k === 'timeout') continue;
    const d = Math.max(0, v - (oa[k] || 0));
    all += d;
    if (k !== 'success') bad += d;
  }
  return all ? (100 * bad) / all : null;
}
