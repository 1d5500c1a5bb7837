// Next fire times of a cron expression, for the alarm form's preview. Five fields
// (minute hour day month weekday) or six with seconds first, as the alarms feed takes
// them; names (jan, mon), ranges, lists, steps, `*` and `?`; day of month and day of week
// both restricted match either, as in cron. The zone is an IANA name, `UTC` or `+02:00`.

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
/** How far ahead to look for a tick. */
const HORIZON_DAYS = 366 * 5;

function field(text, min, max, names, what) {
  const value = (s) => {
    if (/^\d+$/.test(s)) return Number(s);
    const i = names.indexOf(s.toLowerCase());
    if (i < 0) throw new Error(`${what}: "${s}" is not a number${names.length ? ' or a name' : ''}`);
    return i + (names.length === 12 ? 1 : 0);
  };
  const set = new Set();
  const star = text === '*' || text === '?';
  for (const part of text.split(',')) {
    const [range, stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step <= 0) throw new Error(`${what}: bad step in "${part}"`);
    let lo; let hi;
    if (range === '*' || range === '?') { lo = min; hi = max; } else if (range.includes('-')) {
      const [a, b] = range.split('-');
      lo = value(a); hi = value(b);
    } else {
      lo = value(range);
      hi = stepText === undefined ? lo : max;
    }
    if (lo < min || hi > max || lo > hi) throw new Error(`${what}: "${part}" is outside ${min}-${max}`);
    for (let v = lo; v <= hi; v += step) set.add(v);
  }
  return { set, star };
}

/** Parses an expression; throws an Error saying what is wrong. */
export function parseCron(expr) {
  const parts = String(expr).trim().split(/\s+/).filter(Boolean);
  if (parts.length !== 5 && parts.length !== 6) {
    throw new Error(`A cron expression has 5 fields (minute hour day month weekday) or 6 with seconds first; this has ${parts.length}.`);
  }
  const [sec, ...rest] = parts.length === 6 ? parts : ['0', ...parts];
  const weekdays = field(rest[4], 0, 7, DAYS, 'day of week');
  if (weekdays.set.has(7)) weekdays.set.add(0);
  return {
    seconds: field(sec, 0, 59, [], 'seconds').set,
    minutes: field(rest[0], 0, 59, [], 'minute').set,
    hours: field(rest[1], 0, 23, [], 'hour').set,
    days: field(rest[2], 1, 31, [], 'day of month'),
    months: field(rest[3], 1, 12, MONTHS, 'month').set,
    weekdays,
  };
}

/** Offset (ms) of zone at instant t: wall clock minus UTC. */
export function offsetAt(zone, t) {
  if (!zone || zone === 'UTC' || zone === 'Z') return 0;
  const m = /^([+-])(\d{2}):?(\d{2})$/.exec(zone);
  if (m) return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) * 60000;
  const f = new Intl.DateTimeFormat('en-US', {
    timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
  const p = Object.fromEntries(f.formatToParts(new Date(t)).map((x) => [x.type, x.value]));
  const wall = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second));
  return wall - Math.floor(t / 1000) * 1000;
}

/** Throws when the zone is neither an IANA name, UTC nor an offset. */
export function checkZone(zone) {
  if (!zone) return;
  try { offsetAt(zone, Date.now()); } catch {
    throw new Error(`The time zone "${zone}" is not known: use an IANA zone such as Europe/Berlin, UTC, or an offset such as +02:00.`);
  }
}

/** The instant of a wall-clock time (ms, as UTC fields) in zone. */
function instantOf(zone, wall) {
  let t = wall - offsetAt(zone, wall);
  t = wall - offsetAt(zone, t);
  return t;
}

function dayMatches(c, d) {
  const dom = c.days.set.has(d.getUTCDate());
  const dow = c.weekdays.set.has(d.getUTCDay());
  if (!c.days.star && !c.weekdays.star) return dom || dow;
  if (!c.days.star) return dom;
  if (!c.weekdays.star) return dow;
  return true;
}

/** The next n fire times (epoch ms) after `after`, in zone. */
export function nextTimes(expr, n, after = Date.now(), zone = '') {
  const c = typeof expr === 'string' ? parseCron(expr) : expr;
  checkZone(zone);
  const out = [];
  let from = Math.floor(after / 1000) * 1000 + 1000;
  while (out.length < n) {
    const t = nextAfter(c, from, zone);
    if (t === null) break;
    out.push(t);
    from = t + 1000;
  }
  return out;
}

function nextAfter(c, from, zone) {
  // Walk wall-clock time (a Date whose UTC fields are the zone's wall clock).
  const d = new Date(from + offsetAt(zone, from));
  const limit = d.getTime() + HORIZON_DAYS * 86400000;
  while (d.getTime() <= limit) {
    if (!c.months.has(d.getUTCMonth() + 1)) {
      d.setUTCMonth(d.getUTCMonth() + 1, 1); d.setUTCHours(0, 0, 0, 0);
    } else if (!dayMatches(c, d)) {
      d.setUTCDate(d.getUTCDate() + 1); d.setUTCHours(0, 0, 0, 0);
    } else if (!c.hours.has(d.getUTCHours())) {
      d.setUTCHours(d.getUTCHours() + 1, 0, 0, 0);
    } else if (!c.minutes.has(d.getUTCMinutes())) {
      d.setUTCMinutes(d.getUTCMinutes() + 1, 0, 0);
    } else if (!c.seconds.has(d.getUTCSeconds())) {
      d.setUTCSeconds(d.getUTCSeconds() + 1, 0);
    } else {
      const at = instantOf(zone, d.getTime());
      if (at >= from) return at;
      d.setUTCSeconds(d.getUTCSeconds() + 1, 0);
    }
  }
  return null;
}
