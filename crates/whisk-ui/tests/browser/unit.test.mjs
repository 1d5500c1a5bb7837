// Unit tests of the UI's pure modules (no browser): the Prometheus text parser and
// quantiles, the cron preview, and the dashboard's figures. Run with `node --test`
// by crates/whiskd/tests/ui.rs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as prom from '../../assets/js/prom.js';
import { nextTimes, parseCron } from '../../assets/js/cron.js';
import { namespaceFigures, platformFigures } from '../../assets/js/views/dashboard.js';

// The shape prometheus-client (OpenMetrics) writes, as whiskd's /metrics will.
const SAMPLE = (cold, warm, prewarm, buckets, ok, failed) => `# HELP whisk_controller_invocations Action invocations by outcome.
# TYPE whisk_controller_invocations counter
whisk_controller_invocations_total{outcome="success"} ${ok}
whisk_controller_invocations_total{outcome="application_error"} ${failed}
whisk_controller_invocations_total{outcome="accepted"} 0
# TYPE whisk_invoker_activations counter
whisk_invoker_activations_total{status="success"} ${ok}
whisk_invoker_activations_total{status="developer_error"} ${failed}
# TYPE whisk_invoker_starts counter
whisk_invoker_starts_total{start="cold"} ${cold}
whisk_invoker_starts_total{start="warm"} ${warm}
whisk_invoker_starts_total{start="prewarm"} ${prewarm}
# TYPE whisk_invoker_activation_duration_seconds histogram
whisk_invoker_activation_duration_seconds_sum 1.5
whisk_invoker_activation_duration_seconds_count ${buckets[3]}
whisk_invoker_activation_duration_seconds_bucket{le="0.01"} ${buckets[0]}
whisk_invoker_activation_duration_seconds_bucket{le="0.1"} ${buckets[1]}
whisk_invoker_activation_duration_seconds_bucket{le="1.0"} ${buckets[2]}
whisk_invoker_activation_duration_seconds_bucket{le="+Inf"} ${buckets[3]}
# TYPE whisk_invoker_containers gauge
whisk_invoker_containers{state="busy"} 2
whisk_invoker_containers{state="warm"} 3
whisk_invoker_containers{state="prewarm"} 1
whisk_invoker_containers{state="paused"} 0
# EOF
`;

test('parses samples, labels and sums', () => {
  const m = prom.parse(SAMPLE(1, 2, 3, [0, 0, 0, 0], 10, 2));
  assert.equal(prom.sum(m, 'whisk_invoker_starts_total'), 6);
  assert.equal(prom.sum(m, 'whisk_invoker_starts_total', { start: 'warm' }), 2);
  assert.deepEqual(prom.byLabel(m, 'whisk_invoker_containers', 'state'), { busy: 2, warm: 3, prewarm: 1, paused: 0 });
  assert.equal(prom.sum(m, 'absent_total'), null);
  const escaped = prom.parse('x{a="q\\"uote",b="n"} 4\n');
  assert.deepEqual(escaped.get('x')[0].labels, { a: 'q"uote', b: 'n' });
});

test('histogram quantiles between two snapshots', () => {
  const before = prom.buckets(prom.parse(SAMPLE(0, 0, 0, [10, 10, 10, 10], 0, 0)), 'whisk_invoker_activation_duration_seconds');
  // 100 new observations: 50 under 10 ms, 40 in 10-100 ms, 9 in 0.1-1 s, 1 above.
  const now = prom.buckets(prom.parse(SAMPLE(0, 0, 0, [60, 100, 109, 110], 0, 0)), 'whisk_invoker_activation_duration_seconds');
  assert.equal(prom.quantile(0.5, now, before), 0.01);
  assert.ok(Math.abs(prom.quantile(0.9, now, before) - 0.1) < 1e-9);
  const p99 = prom.quantile(0.99, now, before);
  assert.ok(p99 > 0.1 && p99 <= 1.0, String(p99));
  assert.equal(prom.quantile(0.5, before, before), null, 'no new observations');
  assert.equal(prom.percentile([5, 1, 3], 0.5), 3);
  assert.equal(prom.percentile([], 0.5), null);
});

test('platform figures from successive snapshots, and no data when absent', () => {
  const t = 1_700_000_000_000;
  const history = [
    { t, m: prom.parse(SAMPLE(1, 0, 0, [0, 0, 0, 0], 0, 0)) },
    { t: t + 60000, m: prom.parse(SAMPLE(2, 5, 1, [4, 8, 8, 8], 6, 2)) },
  ];
  const f = platformFigures(history);
  assert.deepEqual(f.rate, [8]);
  assert.deepEqual(f.errorRate, [25]);
  assert.deepEqual(f.starts.map((s) => [s.name, s.values[0]]), [['cold', 1], ['prewarm', 1], ['warm', 5]]);
  assert.deepEqual(Object.fromEntries(f.containers), { busy: 2, warm: 3, prewarm: 1, paused: 0 });
  assert.ok(f.p50[0] > 0 && f.p50[0] <= 10, String(f.p50));
  const bare = platformFigures([{ t, m: prom.parse('other_total 1\n') }, { t: t + 5000, m: prom.parse('other_total 2\n') }]);
  assert.deepEqual(bare.rate, [null]);
  assert.deepEqual(bare.containers, []);
  assert.equal(bare.cards[1][1], 'no data');
});

test('namespace figures per minute', () => {
  const now = Date.UTC(2026, 0, 1, 12, 0, 30);
  const ann = (kind, init) => [{ key: 'kind', value: kind }, { key: 'path', value: 'guest/a' }, { key: 'waitTime', value: 1 }]
    .concat(init === undefined ? [] : [{ key: 'initTime', value: init }]);
  const records = [
    { start: now - 1000, duration: 10, statusCode: 0, annotations: ann('blackbox', 5) },
    { start: now - 2000, duration: 30, statusCode: 1, annotations: ann('blackbox') },
    { start: now - 61000, duration: 20, statusCode: 0, annotations: ann('nodejs:18') },
    { start: now - 3000, annotations: [] }, // a trigger record: not an invocation
    { start: now - 3600000, duration: 5, statusCode: 0, annotations: ann('blackbox') }, // outside
  ];
  const f = namespaceFigures(records, now);
  assert.equal(f.labels.length, 15);
  assert.deepEqual(f.count.slice(-2), [1, 2]);
  assert.deepEqual(f.errorRate.slice(-2), [0, 50]);
  assert.deepEqual(f.cold.slice(-1), [1]);
  assert.deepEqual(f.warm.slice(-2), [1, 1]);
  assert.deepEqual(f.cards.map(([k]) => k), ['Invocations', 'Error rate', 'Cold starts', 'p50', 'p99']);
  assert.equal(f.cards[0][1], '3');
  assert.equal(f.cards[3][1], '20 ms');
});

test('cron: next fire times, fields, zones', () => {
  const from = Date.UTC(2026, 11, 6, 23, 59, 30); // a Sunday
  const iso = (ts) => ts.map((t) => new Date(t).toISOString());
  assert.deepEqual(iso(nextTimes('*/15 * * * *', 3, from)), ['2026-12-07T00:00:00.000Z', '2026-12-07T00:15:00.000Z', '2026-12-07T00:30:00.000Z']);
  assert.deepEqual(iso(nextTimes('30 * * * * *', 2, from)), ['2026-12-07T00:00:30.000Z', '2026-12-07T00:01:30.000Z']);
  assert.deepEqual(iso(nextTimes('0 9 * * mon-fri', 2, from, 'Europe/Berlin')), ['2026-12-07T08:00:00.000Z', '2026-12-08T08:00:00.000Z']);
  assert.deepEqual(iso(nextTimes('0 9 * * 1', 1, Date.UTC(2026, 6, 1), 'Europe/Berlin')), ['2026-07-06T07:00:00.000Z'], 'summer time');
  assert.deepEqual(iso(nextTimes('0 0 1 jan *', 1, from, '+02:00')), ['2026-12-31T22:00:00.000Z']);
  // Day of month and day of week both given: either matches (cron's rule).
  assert.deepEqual(iso(nextTimes('0 0 13 * 5', 2, Date.UTC(2027, 0, 1))), ['2027-01-08T00:00:00.000Z', '2027-01-13T00:00:00.000Z']);
  assert.deepEqual(nextTimes('0 0 30 2 *', 1, from), [], 'never fires');
  assert.throws(() => parseCron('* * *'), /5 fields/);
  assert.throws(() => parseCron('61 * * * *'), /minute: "61" is outside 0-59/);
  assert.throws(() => parseCron('* * * foo *'), /month: "foo"/);
  assert.throws(() => nextTimes('* * * * *', 1, from, 'Mars/Olympus'), /not known/);
});
