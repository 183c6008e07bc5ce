// app.js - the web UI's entry point: who is logged in (GET /v1/session),
// the hash routes, the navigation for customers, operators and the postal
// authority.
// Everything runs from these files served by stampd itself; no CDN.

import { get, post, setCsrf } from './api.js';
import { h, clear, toast } from './ui.js';
import { authPage, buyPage, historyPage, accountPage } from './customer.js';
import { registersPage, serversPage, ledgerPage, stopRefresh } from './operator.js';
import { affiliatesPage, batchesPage, lookupPage, resupplyPage } from './media.js';
import { bulkPage } from './batches.js';
import { devicesPage, depositPage, reportsPage, claimsPage, holdsPage, duplicatesPage } from './authority.js';
import { webhooksPage } from './webhooks.js';

let session = null;

const customerRoutes = { '/buy': buyPage, '/batches': bulkPage, '/history': historyPage, '/account': accountPage, '/webhooks': webhooksPage };
const operatorRoutes = {
  '/ops': registersPage, '/ops/servers': serversPage, '/ops/ledger': ledgerPage,
  '/ops/media': affiliatesPage, '/ops/media/batches': batchesPage, '/ops/media/lookup': lookupPage, '/ops/media/resupply': resupplyPage,
};
const postalRoutes = {
  '/authority': devicesPage, '/authority/deposit': depositPage, '/authority/reports': reportsPage,
  '/authority/claims': claimsPage, '/authority/holds': holdsPage, '/authority/duplicates': duplicatesPage,
};
const routesOf = { customer: customerRoutes, operator: operatorRoutes, postal: postalRoutes };
const homeOf = { customer: '#/buy', operator: '#/ops', postal: '#/authority' };

function nav() {
  const el = document.getElementById('nav');
  // A link to the page shown starts it afresh (no hashchange fires for it).
  // A section link (Media) is current on its section's pages too.
  const here = location.hash.split('?')[0];
  const link = (href, text, section) => h('a', {
    href,
    'aria-current': here === href ? 'page' : section && here.startsWith(href + '/') ? 'true' : undefined,
    onclick: (ev) => { if (location.hash === href) { ev.preventDefault(); route(); } },
  }, text);
  if (!session) {
    clear(el, link('#/login', 'Log in'), link('#/signup', 'Sign up'));
    return;
  }
  const out = h('button', { type: 'button', class: 'link', id: 'logout' }, 'Log out');
  out.addEventListener('click', async () => {
    try { await post('/v1/logout', {}); } catch (e) { /* the session may be gone already */ }
    session = null;
    setCsrf(null);
    location.hash = '#/login';
    toast('Logged out');
  });
  const links = session.role === 'operator'
    ? [link('#/ops', 'Registers'), link('#/ops/servers', 'Servers'), link('#/ops/ledger', 'Ledger'), link('#/ops/media', 'Media', true)]
    : session.role === 'postal'
      ? [link('#/authority', 'Devices'), link('#/authority/deposit', 'Deposit'), link('#/authority/reports', 'Reports'),
        link('#/authority/claims', 'Claims'), link('#/authority/holds', 'Holds'), link('#/authority/duplicates', 'Duplicates')]
      : [link('#/buy', 'Buy'), link('#/batches', 'Batches'), link('#/history', 'History'), link('#/account', 'Account'), link('#/webhooks', 'Webhooks')];
  clear(el, links, h('span', { class: 'who' }, session.email || session.name), out);
}

async function loadSession() {
  try {
    session = await get('/v1/session');
    setCsrf(session.csrf_token);
  } catch (err) {
    if (err.status !== 401) throw err;
    session = null;
    setCsrf(null);
  }
}

async function route() {
  stopRefresh();
  // Every navigation renders into an element of its own. A page still
  // loading from an earlier navigation then finishes into a detached
  // element, never over the page shown now.
  const old = document.getElementById('main');
  const main = old.cloneNode(false);
  old.replaceWith(main);
  const [path, query] = (location.hash.slice(1) || '/').split('?');
  const params = new URLSearchParams(query || '');
  const home = session ? homeOf[session.role] || '#/buy' : '#/login';
  nav();
  try {
    if (path === '/login' || path === '/signup' || path === '/operator' || path === '/postal') {
      if (session) { location.hash = home; return; }
      authPage(main, path.slice(1), async (s) => {
        setCsrf(s.csrf_token);
        await loadSession();
        location.hash = homeOf[s.role] || '#/buy';
      });
      return;
    }
    const table = session && routesOf[session.role];
    const page = table && table[path];
    if (!page) { location.hash = home; return; }
    await page(main, params);
    const t = main.querySelector('.page-title');
    if (t && document.activeElement === document.body) t.focus();
  } catch (err) {
    if (err.status === 401) {
      session = null;
      location.hash = '#/login';
      return;
    }
    clear(main, h('h1', {}, 'Something went wrong'), h('p', { class: 'field-error', role: 'alert' }, err.message || String(err)));
  }
}

window.addEventListener('hashchange', route);
loadSession().then(route, (err) => clear(document.getElementById('main'), h('p', { role: 'alert' }, err.message)));
