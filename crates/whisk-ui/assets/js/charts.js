// Small SVG charts drawn by hand: a stacked timing bar, line charts and stacked bar
// charts over time. Colours come from CSS classes (c0, c1, ...).

const SVG = 'http://www.w3.org/2000/svg';

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function fmt(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  if (Math.abs(v) >= 100) return String(Math.round(v));
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return String(Math.round(v * 100) / 100);
}

/** A horizontal bar of parts [[label, ms], ...] with a legend. */
export function timingBar(parts) {
  const total = parts.reduce((a, [, v]) => a + v, 0) || 1;
  const width = 600;
  let x = 0;
  const label = parts.map(([k, v]) => `${k} ${Math.round(v)} ms`).join(', ');
  const svg = s('svg', { viewBox: `0 0 ${width} 28`, class: 'timing', role: 'img', 'aria-label': `Timing: ${label}` },
    s('title', {}, `Timing: ${label}`));
  parts.forEach(([, v], i) => {
    const w = (v / total) * width;
    svg.append(s('rect', { x, y: 2, width: Math.max(w, 0), height: 24, class: `c${i}` }));
    x += w;
  });
  const legend = document.createElement('ul');
  legend.className = 'legend';
  parts.forEach(([k, v], i) => {
    const li = document.createElement('li');
    const sw = document.createElement('span');
    sw.className = `swatch c${i}`;
    li.append(sw, `${k}: ${Math.round(v)} ms`);
    legend.append(li);
  });
  const wrap = document.createElement('div');
  wrap.className = 'chart';
  wrap.append(svg, legend);
  return wrap;
}

/**
 * A chart over time. series: [{name, values: [number|null]}]; labels: x labels.
 * kind 'line' draws lines, 'stack' stacked bars. Returns a <figure>.
 */
export function chart(title, labels, series, { kind = 'line', unit = '' } = {}) {
  const W = 560;
  const H = 200;
  const L = 44;
  const B = 22;
  const T = 8;
  const n = labels.length;
  const fig = document.createElement('figure');
  fig.className = 'chart';
  const cap = document.createElement('figcaption');
  cap.textContent = title;
  const has = series.some((se) => se.values.some((v) => v !== null && v !== undefined));
  if (!has || !n) {
    const p = document.createElement('p');
    p.className = 'nodata';
    p.textContent = 'no data';
    fig.append(cap, p);
    return fig;
  }
  let max = 0;
  for (let i = 0; i < n; i += 1) {
    if (kind === 'stack') max = Math.max(max, series.reduce((a, se) => a + (se.values[i] || 0), 0));
    else for (const se of series) max = Math.max(max, se.values[i] || 0);
  }
  max = max > 0 ? niceMax(max) : 1;
  const x = (i) => L + (n === 1 ? (W - L) / 2 : (i * (W - L - 8)) / (n - 1));
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const last = series.map((se) => `${se.name} ${fmt(lastValue(se.values))}${unit}`).join(', ');
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${title}; latest: ${last}` },
    s('title', {}, `${title}; latest: ${last}`));
  for (const f of [0, 0.5, 1]) {
    const yy = y(max * f);
    svg.append(s('line', { x1: L, x2: W, y1: yy, y2: yy, class: 'grid' }),
      s('text', { x: L - 4, y: yy + 4, class: 'axis', 'text-anchor': 'end' }, fmt(max * f)));
  }
  const step = Math.max(1, Math.ceil(n / 6));
  for (let i = 0; i < n; i += step) {
    svg.append(s('text', { x: x(i), y: H - 6, class: 'axis', 'text-anchor': 'middle' }, labels[i]));
  }
  if (kind === 'stack') {
    const bw = Math.max(2, ((W - L - 8) / Math.max(n, 1)) * 0.7);
    for (let i = 0; i < n; i += 1) {
      let acc = 0;
      series.forEach((se, k) => {
        const v = se.values[i] || 0;
        if (v > 0) {
          svg.append(s('rect', { x: x(i) - bw / 2, y: y(acc + v), width: bw, height: y(acc) - y(acc + v), class: `c${k}` },
            s('title', {}, `${labels[i]} ${se.name}: ${fmt(v)}${unit}`)));
        }
        acc += v;
      });
    }
  } else {
    series.forEach((se, k) => {
      let d = '';
      se.values.forEach((v, i) => {
        if (v === null || v === undefined) return;
        d += `${d ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
      });
      if (d) svg.append(s('path', { d, class: `line c${k}` }));
      se.values.forEach((v, i) => {
        if (v !== null && v !== undefined) {
          svg.append(s('circle', { cx: x(i), cy: y(v), r: 2.5, class: `dot c${k}` }, s('title', {}, `${labels[i]} ${se.name}: ${fmt(v)}${unit}`)));
        }
      });
    });
  }
  const legend = document.createElement('ul');
  legend.className = 'legend';
  series.forEach((se, k) => {
    const li = document.createElement('li');
    const sw = document.createElement('span');
    sw.className = `swatch c${k}`;
    li.append(sw, `${se.name}: ${fmt(lastValue(se.values))}${unit}`);
    legend.append(li);
  });
  fig.append(cap, svg, legend);
  return fig;
}

function lastValue(values) {
  for (let i = values.length - 1; i >= 0; i -= 1) if (values[i] !== null && values[i] !== undefined) return values[i];
  return null;
}

function niceMax(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

/** Horizontal bars of [label, value] (e.g. containers by state). */
export function bars(title, pairs) {
  const fig = document.createElement('figure');
  fig.className = 'chart';
  const cap = document.createElement('figcaption');
  cap.textContent = title;
  if (!pairs.length) {
    const p = document.createElement('p');
    p.className = 'nodata';
    p.textContent = 'no data';
    fig.append(cap, p);
    return fig;
  }
  const W = 560;
  const row = 26;
  const H = pairs.length * row + 4;
  const max = Math.max(1, ...pairs.map(([, v]) => v));
  const text = pairs.map(([k, v]) => `${k} ${fmt(v)}`).join(', ');
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${title}: ${text}` }, s('title', {}, `${title}: ${text}`));
  pairs.forEach(([k, v], i) => {
    const yy = i * row + 2;
    svg.append(
      s('text', { x: 0, y: yy + 16, class: 'axis' }, k),
      s('rect', { x: 90, y: yy, width: ((W - 140) * v) / max, height: row - 6, class: `c${i}` }),
      s('text', { x: 96 + ((W - 140) * v) / max, y: yy + 16, class: 'axis' }, fmt(v)));
  });
  fig.append(cap, svg);
  return fig;
}
