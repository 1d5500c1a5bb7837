// Entry point: a hash router (#/actions, #/activations/<id>, ...) over the views. Each
// view's render(args) fills <main>; it may return a function that stops its timers.

import { settings } from './api.js';
import { page, message } from './dom.js';
import * as settingsView from './views/settings.js';
import * as dashboard from './views/dashboard.js';
import * as actions from './views/actions.js';
import * as invoke from './views/invoke.js';
import * as activations from './views/activations.js';
import * as triggers from './views/triggers.js';
import * as rules from './views/rules.js';
import * as alarms from './views/alarms.js';
import * as packages from './views/packages.js';
import * as namespaces from './views/namespaces.js';

const VIEWS = {
  settings: settingsView,
  dashboard,
  actions,
  invoke,
  activations,
  triggers,
  rules,
  alarms,
  packages,
  namespaces,
};

let stop = null;

async function route() {
  if (stop) { stop(); stop = null; }
  const hash = location.hash.replace(/^#\/?/, '');
  const [name, ...rest] = hash.split('/').map(decodeURIComponent);
  let view = VIEWS[name];
  if (!settings() && name !== 'settings') {
    location.replace('#/settings');
    return;
  }
  if (!view) {
    if (name) {
      page('Not found', message(`There is no screen "${name}".`, 'error'));
      return;
    }
    location.replace('#/dashboard');
    return;
  }
  for (const a of document.querySelectorAll('nav a')) {
    const current = a.getAttribute('href') === `#/${name}`;
    if (current) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  document.getElementById('nav').classList.remove('open');
  document.getElementById('menu-toggle').setAttribute('aria-expanded', 'false');
  showWho();
  try {
    stop = (await view.render(rest)) || null;
  } catch (e) {
    page('Error', message(e.message || String(e), 'error'));
  }
}

/** The header's "namespace @ endpoint" line. */
export function showWho() {
  const s = settings();
  const who = document.getElementById('who');
  who.textContent = s ? `${s.namespace || ''} @ ${s.endpoint}` : 'not connected';
}

function init() {
  const toggle = document.getElementById('menu-toggle');
  toggle.addEventListener('click', () => {
    const nav = document.getElementById('nav');
    const open = nav.classList.toggle('open');
    toggle.setAttribute('aria-expanded', String(open));
    if (open) nav.querySelector('a').focus();
  });
  window.addEventListener('hashchange', route);
  route();
}

init();
