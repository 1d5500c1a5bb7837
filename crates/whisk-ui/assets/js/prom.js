// Reads the Prometheus text format of GET /metrics: samples by metric name, label
// lookup, and quantiles of a histogram from its cumulative buckets.

/** Parses the text into Map(name -> [{labels, value}]). */
export function parse(text) {
  const out = new Map();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
      let l;
      while ((l = re.exec(m[3])) !== null) labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    }
    const value = m[4] === '+Inf' ? Infinity : Number(m[4]);
    if (!out.has(m[1])) out.set(m[1], []);
    out.get(m[1]).push({ labels, value });
  }
  return out;
}

/** Sum of the samples of name whose labels include match; null when absent. */
export function sum(metrics, name, match = {}) {
  const samples = metrics.get(name);
  if (!samples) return null;
  let total = 0;
  let any = false;
  for (const sm of samples) {
    if (Object.entries(match).every(([k, v]) => sm.labels[k] === v)) { total += sm.value; any = true; }
  }
  return any ? total : null;
}

/** Values of name by the values of one label: {label value: sum}; null when absent. */
export function byLabel(metrics, name, label) {
  const samples = metrics.get(name);
  if (!samples) return null;
  const out = {};
  for (const sm of samples) {
    const k = sm.labels[label];
    if (k !== undefined) out[k] = (out[k] || 0) + sm.value;
  }
  return out;
}

/** Cumulative buckets [[le, count]] of histogram name (summed over other labels). */
export function buckets(metrics, name) {
  const samples = metrics.get(`${name}_bucket`);
  if (!samples) return null;
  const by = new Map();
  for (const sm of samples) {
    const le = sm.labels.le === '+Inf' ? Infinity : Number(sm.labels.le);
    by.set(le, (by.get(le) || 0) + sm.value);
  }
  return [...by.entries()].sort((a, b) => a[0] - b[0]);
}

/**
 * The q-quantile of the observations between two bucket snapshots (cumulative counts),
 * linearly interpolated inside the bucket as Prometheus' histogram_quantile does.
 */
export function quantile(q, now, before) {
  if (!now) return null;
  const prev = new Map(before || []);
  const counts = now.map(([le, c]) => [le, c - (prev.get(le) || 0)]);
  const total = counts.length ? counts[counts.length - 1][1] : 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [le, c] of counts) {
    if (c >= rank) {
      if (le === Infinity) return lower;
      const inBucket = c - below;
      return inBucket > 0 ? lower + ((le - lower) * (rank - below)) / inBucket : le;
    }
    lower = le;
    below = c;
  }
  return lower;
}

/** The q-quantile of plain numbers (nearest rank). */
export function percentile(values, q) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}
