// operator.js - the operators' pages: PSD registers and refills, charts
// of postage sold and of the descending registers, the servers with their
// health and share of traffic, and the ledger check; the low-deposit
// threshold and its banner; suspending and resuming a PSD (who suspended it);
// the readiness banner (GET /readyz: why nothing can be sold) and the
// confirmation before draining or disabling the last active processor.

import { get, post, put } from './api.js';
import { h, clear, money, when, title, table, toast } from './ui.js';
import { barChart, lineChart, legend } from './charts.js';

let refreshTimer = null;

export function stopRefresh() {
  clearInterval(refreshTimer);
  refreshTimer = null;
}

export async function registersPage(main) {
  const regs = h('section', { id: 'registers', 'aria-live': 'polite' });
  const charts = h('section', { id: 'charts' });
  const days = h('select', { id: 'chart-days' }, [7, 30, 90, 365].map((d) => h('option', { value: d, selected: d === 30 || undefined }, `${d} days`)));
  const refresh = h('button', { type: 'button', id: 'refresh' }, 'Refresh');
  const updated = h('span', { class: 'hint', id: 'updated' });
  const thr = h('input', { id: 'deposit-threshold', name: 'threshold', inputmode: 'decimal', size: 12, placeholder: '0.00' });
  const thrForm = h('form', { id: 'threshold-form', class: 'toolbar' },
    h('label', { for: 'deposit-threshold' }, 'Warn when the postal deposit is below $'), thr,
    h('button', { type: 'submit' }, 'Save threshold'));
  clear(main, title('PSD registers'),
    h('div', { class: 'toolbar' }, refresh, h('label', { for: 'chart-days' }, 'Charts over '), days, updated),
    thrForm, regs, charts);
  let thrShown = false;
  const load = async () => {
    const [p, stats, notReady] = await Promise.all([get('/v1/psds'), get('/v1/admin/stats', { days: days.value }), readiness()]);
    p.not_ready = notReady;
    if (!thrShown && document.activeElement !== thr) {
      thr.value = dollars(p.deposit_low_threshold_mills);
      thrShown = true;
    }
    renderRegisters(regs, p, stats, load);
    renderCharts(charts, stats, p);
    updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
  };
  refresh.addEventListener('click', () => load().catch((e) => toast(e.message)));
  thrForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await put('/v1/admin/deposit/threshold', { threshold: thr.value.trim() || '0.00' });
      toast('Low-deposit threshold saved');
      await load();
    } catch (e) { toast(e.message); }
  });
  days.addEventListener('change', () => load().catch((e) => toast(e.message)));
  await load();
  stopRefresh();
  refreshTimer = setInterval(() => { if (document.visibilityState === 'visible') load().catch(() => {}); }, 10000);
}

// The reasons GET /readyz gives for selling nothing now ([] when ready).
async function readiness() {
  try {
    await get('/readyz');
    return [];
  } catch (e) {
    if (e.code === 'not_ready' && Array.isArray(e.details.reasons)) return e.details.reasons;
    return [{ code: e.code, message: e.message }];
  }
}

// Mills as a plain dollar amount for an input ("250.00"), in integers.
function dollars(m) {
  const c = Math.floor((m || 0) / 10);
  return `${Math.floor(c / 100)}.${String(c % 100).padStart(2, '0')}`;
}

// Suspend an active PSD, or resume one the operator suspended (the authority's
// suspension is the authority's to lift; a withdrawn PSD changes no more).
function lifecycleButton(d, reload) {
  const verb = d.status === 'active' ? 'suspend' : d.status === 'suspended' && d.suspended_by === 'operator' ? 'resume' : null;
  if (!verb) return '—';
  const b = h('button', { type: 'button', class: 'small', 'aria-label': `${verb === 'suspend' ? 'Suspend' : 'Resume'} PSD ${d.id}` }, verb === 'suspend' ? 'Suspend' : 'Resume');
  b.addEventListener('click', async () => {
    const reason = prompt(`Why ${verb} PSD ${d.id}? (kept in its history)`);
    if (reason === null) return;
    try {
      await post(`/v1/admin/psds/${d.id}/${verb}`, reason.trim() ? { reason: reason.trim() } : {});
      toast(`PSD ${d.id} ${verb === 'suspend' ? 'suspended' : 'resumed'}`);
      await reload();
    } catch (e) { toast(e.message); }
  });
  return b;
}

function renderRegisters(box, p, stats, reload) {
  const rows = p.psds.map((d) => h('tr', { dataset: { psd: d.id } },
    h('th', { scope: 'row' }, `PSD ${d.id}`, d.test ? ' (test)' : ''),
    h('td', { class: 'status', title: d.reason || '' }, d.status, d.suspended_by ? ` (${d.suspended_by})` : ''),
    h('td', { class: 'num asc' }, money(d.ascending_mills)), h('td', { class: 'num desc' }, money(d.descending_mills)),
    h('td', { class: 'num' }, money(d.control_total_mills)), h('td', { class: 'num pieces' }, d.piece_count),
    h('td', {}, when(d.last_refill_at)), h('td', { class: d.balanced ? 'ok' : 'bad' }, d.balanced ? '✓ balanced' : '✗ out of balance'),
    h('td', {}, d.lease_holder || '—'), h('td', {}, lifecycleButton(d, reload))));
  const refills = [];
  for (const ps of stats.psds) for (const day of ps.days) if (day.refilled_mills > 0) refills.push(h('tr', {}, h('td', {}, day.date), h('td', {}, `PSD ${ps.psd_id}`), h('td', { class: 'num' }, money(day.refilled_mills))));
  const banner = p.deposit_low
    ? h('div', { class: 'banner-warn', id: 'deposit-low', role: 'alert' },
      `The postal deposit (${money(p.deposit_mills)}) is below the threshold of ${money(p.deposit_low_threshold_mills)}: ask the postal authority for a credit before refills stop.`)
    : null;
  const notReady = p.not_ready && p.not_ready.length
    ? h('div', { class: 'banner-error', id: 'not-ready', role: 'alert' },
      h('strong', {}, 'Nothing can be sold now:'),
      h('ul', {}, p.not_ready.map((r) => h('li', { dataset: { code: r.code } }, `${r.message} (${r.code})`))))
    : null;
  clear(box, notReady, banner,
    h('p', { class: 'balance' }, 'Postal deposit left for refills: ', h('strong', { id: 'deposit' }, money(p.deposit_mills))),
    table('PSD registers', ['PSD', 'Status', 'Ascending', 'Descending', 'Control total', 'Pieces', 'Last refill', 'Check', 'Lease', 'Action'], rows, { showCaption: true }),
    table(`Refills in the last ${stats.days} days`, ['Day', 'PSD', 'Amount'], refills.reverse(), { showCaption: true, empty: 'No refills in this period.' }));
}

function renderCharts(box, stats, p) {
  const sold = stats.sales.map((d) => ({ date: d.date, value: d.postage_mills }));
  const live = stats.psds.filter((x) => !x.test);
  const series = live.map((x) => ({ name: `PSD ${x.psd_id}`, points: x.days.map((d) => ({ date: d.date, value: d.descending_mills })) }));
  const total = sold.reduce((a, d) => a + d.value, 0);
  const pieces = stats.sales.reduce((a, d) => a + d.count, 0);
  clear(box,
    h('figure', { class: 'card chart-box', id: 'chart-sales' },
      h('figcaption', {}, h('h2', {}, 'Postage sold per day'), h('p', {}, `${money(total)} in ${pieces} live pieces over ${stats.days} days`)),
      barChart('Postage sold per day', sold, money)),
    h('figure', { class: 'card chart-box', id: 'chart-registers' },
      h('figcaption', {}, h('h2', {}, 'Descending registers'), h('p', {}, 'Each live PSD\'s descending register at the end of each day: purchases lower it, refills raise it.')),
      lineChart('Descending registers over time', series, money), legend(series.map((x) => x.name))));
  void p;
}

export async function serversPage(main) {
  const box = h('section', { id: 'servers', 'aria-live': 'polite' });
  clear(main, title('Servers'), box);
  const load = async () => {
    const s = await get('/v1/admin/servers');
    const rows = s.servers.map((v) => {
      const act = (status, label) => {
        const b = h('button', { type: 'button', class: 'small', disabled: v.status === status || undefined, 'aria-label': `${label} ${v.id}` }, label);
        b.addEventListener('click', async () => {
          // The last active processor: draining or disabling it stops every sale.
          const others = s.servers.filter((x) => x.id !== v.id && x.status === 'active' && x.healthy);
          if (status !== 'active' && v.status === 'active' && others.length === 0 &&
              !confirm(`${v.id} is the last active processor: ${status === 'draining' ? 'draining' : 'disabling'} it stops all sales. Go on?`)) return;
          try {
            await post(`/v1/admin/servers/${encodeURIComponent(v.id)}`, { status });
            toast(`${v.id}: ${status}`);
          } catch (e) { toast(e.message); }
          load();
        });
        return b;
      };
      const share = Math.round((v.share_total || 0) * 100);
      return h('tr', { dataset: { server: v.id } },
        h('th', { scope: 'row' }, v.id), h('td', {}, v.address), h('td', {}, v.status),
        h('td', { class: v.healthy ? 'ok' : 'bad' }, v.healthy ? '● healthy' : '○ unhealthy'),
        h('td', { class: 'num' }, `${(v.heartbeat_age_ms / 1000).toFixed(1)} s`),
        h('td', {}, v.psd_leases.join(', ') || '—'),
        h('td', { class: 'num' }, v.indicia_last_hour), h('td', { class: 'num' }, v.indicia_total),
        h('td', { class: 'share' }, h('meter', { min: 0, max: 100, value: share, 'aria-label': `${v.id} share of traffic` }), ` ${share}%`),
        h('td', { class: 'actions' }, act('active', 'Activate'), act('draining', 'Drain'), act('disabled', 'Disable')));
    });
    clear(box, table('Processing servers', ['Server', 'Address', 'Status', 'Health', 'Heartbeat', 'PSD leases', 'Last hour', 'Total', 'Share of traffic', ''], rows, { showCaption: true }));
  };
  await load();
}

export async function ledgerPage(main) {
  const box = h('section', { id: 'ledger', 'aria-live': 'polite' });
  const run = h('button', { type: 'button', class: 'primary', id: 'run-ledger' }, 'Check the ledger');
  clear(main, title('Ledger check'), h('p', {}, 'Proves the double-entry books: every journal sums to zero, every account matches its lines, every PSD account matches its descending register.'), run, box);
  const load = async () => {
    const r = await get('/v1/admin/ledger');
    const issues = r.issues.map((x) => h('tr', {}, h('td', {}, x.kind.replaceAll('_', ' ')), h('td', {}, x.name), h('td', { class: 'num' }, money(x.recorded_mills)), h('td', { class: 'num' }, money(x.computed_mills))));
    clear(box,
      h('p', { class: r.ok ? 'verdict ok' : 'verdict bad', id: 'ledger-verdict' }, r.ok ? `✓ The books balance: ${r.journals} journals, ${r.accounts} accounts.` : `✗ ${r.issues.length} issue(s) in ${r.journals} journals.`),
      r.issues.length ? table('Ledger issues', ['Kind', 'Name', 'Recorded', 'Computed'], issues, { showCaption: true }) : null,
      h('p', { class: 'hint' }, `Checked ${new Date().toLocaleTimeString()}`));
  };
  run.addEventListener('click', () => load().catch((e) => toast(e.message)));
  await load();
}
