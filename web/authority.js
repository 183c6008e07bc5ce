// authority.js - the postal authority's pages: the vendor's devices (PSDs)
// with their registers, status and audit trail, suspension and the reset
// lock; the postal deposit it credits and the resets it signed; the signed
// daily reports to download; the refund claims it decides; the holds it
// orders on a customer; and the pieces presented more than once.
// Everything here is what a postal key reaches (docs/authority.md): pieces,
// devices and money totals, never a customer's email, address or card.

import { get, post, newKey } from './api.js';
import { h, clear, money, when, title, table, toast, field, formError, onSubmit } from './ui.js';

// A small form: a reason input and the buttons that act with it.
function reasonBox(id, label) {
  const input = h('input', { id, name: 'reason', maxlength: 500, size: 40, placeholder: 'Why (kept in the audit trail)' });
  return { input, el: h('div', { class: 'field inline' }, h('label', { for: id }, label), input) };
}

const status = (d) => d.status === 'suspended' && d.suspended_by ? `suspended by ${d.suspended_by}` : d.status;

export async function devicesPage(main) {
  const box = h('section', { id: 'devices', 'aria-live': 'polite' });
  const hist = h('section', { id: 'device-history', 'aria-live': 'polite' });
  const reason = reasonBox('device-reason', 'Reason');
  clear(main, title('Devices'),
    h('p', {}, 'The vendor\'s postal security devices with their registers. A device you suspend sells nothing until you resume it; the vendor cannot lift your suspension. Locking resets stops every refill of the vendor\'s devices.'),
    h('div', { class: 'toolbar' }, reason.el), box, hist);
  const need = () => {
    const r = reason.input.value.trim();
    if (!r) { reason.input.focus(); toast('Give a reason first'); return null; }
    return r;
  };
  const showHistory = async (id) => {
    const j = await get(`/v1/authority/devices/${encodeURIComponent(id)}/history`, { limit: 100 });
    const rows = j.data.map((e) => h('tr', {},
      h('td', {}, when(e.at)), h('td', {}, e.event.replaceAll('_', ' ')), h('td', {}, e.actor || '—'),
      h('td', {}, e.status_after || '—'),
      h('td', { class: 'num' }, money(e.ascending_mills)), h('td', { class: 'num' }, money(e.descending_mills)),
      h('td', { class: 'num' }, money(e.control_total_mills)), h('td', { class: 'num' }, e.piece_count),
      h('td', {}, e.reason || '')));
    clear(hist, table(`History of device ${id}`, ['When', 'Event', 'By', 'Status', 'Ascending', 'Descending', 'Control total', 'Pieces', 'Reason'], rows, { showCaption: true, empty: 'No events.' }));
  };
  const load = async () => {
    const j = await get('/v1/authority/devices', { limit: 100 });
    const locked = j.data.some((d) => d.resets_locked);
    const rows = j.data.map((d) => {
      const act = (verb, label, disabled) => h('button', {
        type: 'button', class: 'small', disabled: disabled || undefined, 'aria-label': `${label} device ${d.id}`,
        onclick: async () => {
          const r = verb === 'history' ? '' : need();
          if (r === null) return;
          try {
            if (verb === 'history') { await showHistory(d.id); return; }
            await post(`/v1/authority/devices/${encodeURIComponent(d.id)}/${verb}`, r ? { reason: r } : {});
            toast(`Device ${d.id}: ${verb === 'suspend' ? 'suspended' : 'resumed'}`);
            await load();
            await showHistory(d.id);
          } catch (e) { toast(e.message); }
        },
      }, label);
      return h('tr', { dataset: { device: d.id } },
        h('th', { scope: 'row' }, `PSD ${d.id}`), h('td', { class: 'status' }, status(d)),
        h('td', { class: 'num asc' }, money(d.ascending_mills)), h('td', { class: 'num desc' }, money(d.descending_mills)),
        h('td', { class: 'num' }, money(d.control_total_mills)), h('td', { class: 'num pieces' }, d.piece_count),
        h('td', { class: 'num' }, d.key_id ?? '—'),
        h('td', { class: d.overdue ? 'bad' : '' }, d.last_contact_at ? when(d.last_contact_at) + (d.overdue ? ' — overdue' : '') : '—'),
        h('td', { class: 'actions' },
          act('suspend', 'Suspend', d.status !== 'active'),
          act('resume', 'Resume', !(d.status === 'suspended' && d.suspended_by === 'authority')),
          act('history', 'History')));
    });
    const lockBtn = h('button', { type: 'button', id: locked ? 'unlock-resets' : 'lock-resets' }, locked ? 'Unlock resets' : 'Lock resets');
    lockBtn.addEventListener('click', async () => {
      const r = locked ? reason.input.value.trim() : need();
      if (r === null) return;
      try {
        await post(`/v1/authority/resets/${locked ? 'unlock' : 'lock'}`, r ? { reason: r } : {});
        toast(locked ? 'Resets unlocked' : 'Resets locked');
        await load();
      } catch (e) { toast(e.message); }
    });
    clear(box,
      locked ? h('div', { class: 'banner-warn', id: 'resets-locked', role: 'alert' }, 'Resets are locked: no device of this vendor is refilled until you unlock them.') : null,
      h('div', { class: 'toolbar' }, lockBtn),
      table('Devices and their registers', ['Device', 'Status', 'Ascending', 'Descending', 'Control total', 'Pieces', 'Key', 'Last contact', ''], rows, { showCaption: true, empty: 'No devices.' }));
  };
  await load();
}

export async function depositPage(main) {
  const box = h('section', { id: 'deposit', 'aria-live': 'polite' });
  const resets = h('section', { id: 'resets' });
  let key = newKey(); // one credit: kept until it lands, so a retry never credits twice
  const form = h('form', { class: 'card', id: 'credit-form', novalidate: true, 'aria-label': 'Credit the postal deposit' },
    h('h2', {}, 'Credit the deposit'),
    field('Amount ($)', { name: 'amount', inputmode: 'decimal', required: true, placeholder: '2500.00' }),
    field('Transfer reference', { name: 'reference', required: true, maxlength: 128 }, 'Your reference for the funds received'),
    formError(),
    h('button', { type: 'submit', class: 'primary' }, 'Credit'));
  clear(main, title('Postal deposit'), box, form, resets);
  const load = async () => {
    const [d, r] = await Promise.all([get('/v1/authority/deposits', { limit: 100 }), get('/v1/authority/resets', { limit: 100 })]);
    const rows = d.data.map((e) => h('tr', { dataset: { entry: e.id } },
      h('td', {}, when(e.created)), h('td', {}, e.type), h('td', { class: 'num' }, money(e.amount_mills)),
      h('td', { class: 'num' }, money(e.balance_mills)), h('td', {}, e.psd_id ? `PSD ${e.psd_id}` : '—'),
      h('td', {}, e.reference || e.ref || '')));
    clear(box,
      h('p', { class: 'balance' }, 'The vendor\'s postal deposit: ', h('strong', { id: 'deposit-balance' }, money(d.balance_mills))),
      table('Deposit history', ['When', 'Type', 'Amount', 'Balance after', 'Device', 'Reference'], rows, { showCaption: true }));
    const rr = r.data.map((x) => h('tr', {},
      h('td', {}, when(x.created)), h('td', {}, `PSD ${x.psd_id}`), h('td', { class: 'num' }, money(x.amount_mills)),
      h('td', { class: 'num' }, money(x.before.descending_mills)), h('td', { class: 'num' }, money(x.after.descending_mills)),
      h('td', { class: x.authorisation && x.authorisation.verified ? 'ok' : 'bad' }, x.authorisation && x.authorisation.verified ? '✓ signed by you' : '✗ not verified')));
    clear(resets, table('Resets you authorised', ['When', 'Device', 'Amount', 'Descending before', 'Descending after', 'Signature'], rr, { showCaption: true, empty: 'No resets yet.' }));
  };
  onSubmit(form, async (v) => {
    const j = await post('/v1/authority/deposits', { amount: v.amount, reference: v.reference }, { idempotencyKey: key });
    key = newKey();
    form.reset();
    toast(`Credited ${money(j.amount_mills)}: the deposit is ${money(j.balance_mills)}`);
    await load();
  });
  await load();
}

export async function reportsPage(main) {
  const box = h('section', { id: 'reports', 'aria-live': 'polite' });
  clear(main, title('Daily reports'),
    h('p', {}, 'Each device reports every mail day: every piece and its registers at the start and end of the day, signed in its cryptographic module. Download a day as JSON Lines or CSV.'), box);
  const j = await get('/v1/authority/reports', { limit: 100 });
  const link = (date, fmt, label) => h('a', {
    href: `/v1/authority/reports/${encodeURIComponent(date)}?format=${fmt}`,
    download: `stampd-report-${date}.${fmt === 'csv' ? 'csv' : 'jsonl'}`, class: 'button small',
  }, label);
  const rows = j.data.map((r) => h('tr', { dataset: { date: r.date } },
    h('th', { scope: 'row' }, r.date), h('td', { class: 'num' }, r.devices), h('td', { class: 'num' }, r.pieces),
    h('td', { class: 'num' }, money(r.postage_mills)),
    h('td', { class: 'actions' }, link(r.date, 'jsonl', 'JSON Lines'), ' ', link(r.date, 'csv', 'CSV'))));
  clear(box, table('Reports by mail day', ['Day', 'Devices', 'Pieces', 'Postage', 'Download'], rows, { showCaption: true, empty: 'No reports yet: devices report each day after it ends.' }));
}

export async function claimsPage(main) {
  const box = h('section', { id: 'claims', 'aria-live': 'polite' });
  const reason = reasonBox('claim-reason', 'Reason');
  const filter = h('select', { id: 'claim-status', 'aria-label': 'Show claims' },
    ['pending', 'accepted', 'rejected', ''].map((s) => h('option', { value: s }, s || 'all')));
  clear(main, title('Refund claims'),
    h('p', {}, 'The vendor refunded these unused pieces to its customers and claims the postage back. Accept to credit it back; reject (with a reason) and the vendor bears it.'),
    h('div', { class: 'toolbar' }, h('label', { for: 'claim-status' }, 'Show'), filter, reason.el), box);
  const load = async () => {
    const j = await get('/v1/authority/refund-claims', { status: filter.value, limit: 100 });
    const rows = j.data.map((c) => {
      const act = (decision, label) => h('button', {
        type: 'button', class: 'small', disabled: c.status !== 'pending' || undefined, 'aria-label': `${label} claim ${c.id}`,
        onclick: async () => {
          const r = reason.input.value.trim();
          if (decision === 'reject' && !r) { reason.input.focus(); toast('Give a reason to reject'); return; }
          try {
            await post(`/v1/authority/refund-claims/${encodeURIComponent(c.id)}`, r ? { decision, reason: r } : { decision });
            toast(`Claim ${decision === 'accept' ? 'accepted' : 'rejected'}`);
            await load();
          } catch (e) { toast(e.message); }
        },
      }, label);
      return h('tr', { dataset: { claim: c.id } },
        h('td', {}, when(c.created)), h('td', {}, c.serial ?? '—'), h('td', {}, c.psd_id ? `PSD ${c.psd_id}` : '—'),
        h('td', { class: 'num' }, money(c.amount_mills)), h('td', { class: 'status' }, c.status), h('td', {}, c.reason || ''),
        h('td', { class: 'actions' }, act('accept', 'Accept'), act('reject', 'Reject')));
    });
    clear(box, table('Refund claims', ['Claimed', 'Piece', 'Device', 'Amount', 'Status', 'Reason', ''], rows, { showCaption: true, empty: 'No claims.' }));
  };
  filter.addEventListener('change', () => load().catch((e) => toast(e.message)));
  await load();
}

export async function holdsPage(main) {
  const box = h('section', { id: 'holds', 'aria-live': 'polite' });
  const form = h('form', { class: 'card', id: 'hold-form', novalidate: true, 'aria-label': 'Order a hold' },
    h('h2', {}, 'Stop a customer'),
    h('div', { class: 'row' },
      field('Serial of one of their pieces', { name: 'serial', inputmode: 'numeric', maxlength: 10 }, 'As printed in the indicium'),
      field('Device (PSD)', { name: 'psd_id', inputmode: 'numeric', maxlength: 10 }, 'The PSD that signed it, when several have that serial')),
    field('Or the customer id', { name: 'customer_id', maxlength: 39 }),
    field('Reason', { name: 'reason', required: true, maxlength: 500 }),
    formError(),
    h('button', { type: 'submit', class: 'primary' }, 'Order the hold'));
  clear(main, title('Holds'),
    h('p', {}, 'A hold refuses every purchase of that customer until you lift it. You name the customer by one of their pieces or by id; you never see who they are.'),
    form, box);
  const load = async () => {
    const j = await get('/v1/authority/holds', { limit: 100 });
    const rows = j.data.map((x) => h('tr', { dataset: { hold: x.id } },
      h('td', {}, x.customer_id), h('td', {}, x.serial ? `PSD ${x.psd_id} · ${x.serial}` : '—'), h('td', {}, when(x.placed_at)),
      h('td', { class: 'status' }, x.standing ? 'in force' : `lifted ${when(x.lifted_at)}`),
      h('td', {}, x.reason || ''),
      h('td', { class: 'actions' }, h('button', {
        type: 'button', class: 'small', disabled: !x.standing || undefined, 'aria-label': `Lift hold ${x.id}`,
        onclick: async () => {
          try { await post(`/v1/authority/holds/${encodeURIComponent(x.id)}/lift`, {}); toast('Hold lifted'); await load(); } catch (e) { toast(e.message); }
        },
      }, 'Lift'))));
    clear(box, table('Holds', ['Customer', 'Piece', 'Placed', 'Status', 'Reason', ''], rows, { showCaption: true, empty: 'No holds.' }));
  };
  onSubmit(form, async (v) => {
    const body = { reason: v.reason };
    if (v.serial) body.serial = Number(v.serial);
    if (v.psd_id) body.psd_id = Number(v.psd_id);
    if (v.customer_id) body.customer_id = v.customer_id;
    await post('/v1/authority/holds', body);
    form.reset();
    toast('Hold ordered');
    await load();
  });
  await load();
}

export async function duplicatesPage(main) {
  const box = h('section', { id: 'duplicates', 'aria-live': 'polite' });
  clear(main, title('Duplicates'), h('p', {}, 'Pieces your keys presented more than once, with when and where they were first seen.'), box);
  const j = await get('/v1/authority/presentations', { duplicates: 'true', limit: 100 });
  const rows = j.data.map((p) => h('tr', { dataset: { piece: `${p.psd_id}-${p.serial}` } },
    h('th', { scope: 'row' }, `PSD ${p.psd_id} · ${p.serial}`), h('td', { class: 'num' }, p.presentations),
    h('td', {}, when(p.first_presented_at)), h('td', {}, p.first_location || '—'),
    h('td', {}, when(p.last_presented_at)), h('td', {}, p.last_location || '—')));
  clear(box, table('Pieces presented more than once', ['Piece', 'Times', 'First seen', 'Where', 'Last seen', 'Where'], rows, { showCaption: true, empty: 'No duplicates seen.' }));
}
