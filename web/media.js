// media.js - the operators' media pages (docs/media.md): affiliates with
// their resupply rules and a chart of the labels each has left, batches of
// serial-numbered media (their serials, the CSV and the PDF of the blank
// media), the CRM record of a serial, and the resupply orders to ship.

import { get, post, request } from './api.js';
import { h, clear, field, formError, onSubmit, money, when, title, table, toast, showError } from './ui.js';
import { hBarChart } from './charts.js';

// The products of docs/media.md, by code; the name is also the layout.
const PRODUCTS = {
  1: { name: 'avery-5160', label: 'Avery 5160 sheet (30 labels)' },
  2: { name: 'netstamps-sheet', label: 'NetStamps sheet (20 labels)' },
  3: { name: 'stamp-1x2', label: 'Stamp roll label 1×2 (1 label)' },
  4: { name: 'envelope-10', label: '#10 envelope (letters only)' },
};
const productName = (code) => (PRODUCTS[code] ? PRODUCTS[code].name : `product ${code}`);
const SHOWN_SERIALS = 124; // rows of serials on the page; the CSV has them all

function subnav() {
  const here = location.hash.split('?')[0];
  const link = (href, text) => h('a', { href, 'aria-current': here === href ? 'page' : undefined }, text);
  return h('nav', { class: 'subnav', 'aria-label': 'Media' },
    link('#/ops/media', 'Affiliates'), link('#/ops/media/batches', 'Batches'),
    link('#/ops/media/lookup', 'Serial lookup'), link('#/ops/media/resupply', 'Resupply orders'));
}

const lookupHref = (serial) => `#/ops/media/lookup?serial=${encodeURIComponent(serial)}`;

// An integer field for the API: a number when it reads as one, else the
// text as typed, so the server's own check names the field.
const int = (v) => (/^-?\d+$/.test(v) ? Number(v) : v);

// Download one batch again as CSV or PDF through any of its serials.
async function downloadBatch(serial, batch, format, box) {
  const blob = await request('GET', `/v1/admin/media/${encodeURIComponent(serial)}`, { query: { format }, raw: true });
  const name = `media-batch-${batch}.${format}`;
  const a = h('a', { href: URL.createObjectURL(blob), download: name, class: 'download-link' }, `Download ${name} again`);
  clear(box, a);
  a.click();
}

function downloadButtons(serial, batch) {
  const links = h('p', { class: 'downloads' });
  const err = h('p', { class: 'field-error', role: 'alert' });
  const btn = (format, text) => {
    const b = h('button', { type: 'button', id: `download-${format}` }, text);
    b.addEventListener('click', () => { err.textContent = ''; downloadBatch(serial, batch, format, links).catch((e) => { err.textContent = e.message; }); });
    return b;
  };
  return h('div', {}, h('div', { class: 'buttons' }, btn('csv', 'Download CSV of the serials'), btn('pdf', 'Download PDF of the blank media')), err, links);
}

// ---- affiliates and the chart of their supply ----

export async function affiliatesPage(main) {
  const { affiliates } = await get('/v1/admin/affiliates');
  const rows = affiliates.map((a) => h('tr', { dataset: { affiliate: a.id } },
    h('th', { scope: 'row' }, a.name, h('br'), h('code', { class: 'hint' }, a.id)),
    h('td', { class: 'num' }, a.group),
    h('td', {}, a.customer_id ? h('code', {}, a.customer_id) : 'reseller'),
    h('td', { class: 'num total' }, a.labels_total), h('td', { class: 'num used' }, a.labels_used),
    h('td', { class: a.threshold_labels > 0 && a.labels_remaining < a.threshold_labels ? 'num remaining bad' : 'num remaining' }, a.labels_remaining),
    h('td', {}, [a.threshold_labels ? `below ${a.threshold_labels} labels` : null, a.target_days ? `under ${a.target_days} days` : null].filter(Boolean).join(' or ') || 'never',
      `; ships ${a.resupply_sheets} sheets`),
    h('td', {}, when(a.created))));

  const form = h('form', { class: 'card', novalidate: true, 'aria-labelledby': 'aff-h' },
    h('h2', { id: 'aff-h' }, 'Add an affiliate'),
    h('div', { class: 'row' },
      field('Name', { name: 'name', maxlength: 127, required: true }, 'A reseller, or a business buying media for itself.'),
      field('Own customer id (optional)', { name: 'customer_id', maxlength: 63, autocomplete: 'off', placeholder: 'cus_…' }, 'Set for a customer who is its own affiliate: only that customer may use its media.')),
    h('fieldset', {},
      h('legend', {}, 'Resupply rule'),
      h('div', { class: 'row' },
        field('Threshold (labels)', { name: 'threshold_labels', type: 'number', min: 0, step: 1, value: '0', inputmode: 'numeric' }, 'Open an order when fewer unused labels remain; 0 = no threshold.'),
        field('Target (days)', { name: 'target_days', type: 'number', min: 0, max: 3650, step: 1, value: '0', inputmode: 'numeric' }, 'Or when fewer days of supply remain at the last 30 days\' rate; 0 = no target.'),
        field('Resupply sheets', { name: 'resupply_sheets', type: 'number', min: 1, max: 1000, step: 1, value: '10', inputmode: 'numeric' }, 'Sheets a resupply ships.'))),
    formError(),
    h('button', { type: 'submit', class: 'primary', id: 'add-affiliate' }, 'Add affiliate'));
  onSubmit(form, async (v) => {
    const body = { name: v.name };
    if (v.customer_id) body.customer_id = v.customer_id;
    for (const k of ['threshold_labels', 'target_days', 'resupply_sheets']) if (v[k] !== '') body[k] = int(v[k]);
    const a = await post('/v1/admin/affiliates', body);
    toast(`Added ${a.name} (group ${a.group})`);
    await affiliatesPage(main);
  });

  const items = affiliates.map((a) => ({ name: a.name, value: a.labels_remaining, mark: a.threshold_labels, low: a.threshold_labels > 0 && a.labels_remaining < a.threshold_labels }));
  const remaining = affiliates.reduce((n, a) => n + a.labels_remaining, 0);
  const chart = h('figure', { class: 'card chart-box', id: 'chart-affiliates' },
    h('figcaption', {}, h('h2', {}, 'Labels remaining per affiliate'),
      h('p', {}, `${remaining} unused labels with ${affiliates.length} affiliate${affiliates.length === 1 ? '' : 's'}. A tick marks an affiliate's threshold; red bars are below it.`)),
    affiliates.length ? hBarChart('Labels remaining per affiliate', items, (n) => String(Math.round(n))) : h('p', { class: 'hint' }, 'No affiliates yet.'));
  clear(main, title('Media: affiliates'), subnav(), chart,
    table('Affiliates', ['Affiliate', 'Group', 'Own customer', 'Labels', 'Used', 'Remaining', 'Resupply rule', 'Added'], rows, { showCaption: true, empty: 'No affiliates yet.' }),
    form);
}

// ---- batches ----

export async function batchesPage(main) {
  const { affiliates } = await get('/v1/admin/affiliates');
  const form = h('form', { class: 'card batch-form', novalidate: true, 'aria-labelledby': 'batch-h' },
    h('h2', { id: 'batch-h' }, 'Make a batch'),
    h('div', { class: 'row' },
      field('Product', { tag: 'select', name: 'product', options: Object.values(PRODUCTS).map((p) => ({ value: p.name, label: p.label })) }),
      field('Sheets', { name: 'sheets', type: 'number', min: 1, max: 1000, step: 1, value: '1', required: true, inputmode: 'numeric' }, '1 to 1,000')),
    field('Affiliate', { tag: 'select', name: 'affiliate_id', options: affiliates.length ? affiliates.map((a) => ({ value: a.id, label: `${a.name} (group ${a.group})` })) : [{ value: '', label: 'Add an affiliate first' }] }),
    h('div', { class: 'row' },
      field('Payment', { tag: 'select', name: 'payment', options: [
        { value: 'unpaid', label: 'Unpaid: each sheet\'s first user pays its price' },
        { value: 'paid', label: 'Paid: the affiliate paid, or its own stock' },
        { value: 'free', label: 'Free: handed out free' }] }),
      field('Price per sheet ($)', { name: 'price', inputmode: 'decimal', placeholder: 'product default' }, 'Unpaid sheets only; empty: the product\'s default price.')),
    formError(),
    h('button', { type: 'submit', class: 'primary', id: 'make-batch' }, 'Make batch'));
  const pay = form.querySelector('[name="payment"]');
  const price = form.querySelector('[name="price"]');
  const syncPay = () => { const unpaid = pay.value === 'unpaid'; price.disabled = !unpaid; price.closest('.field').hidden = !unpaid; };
  pay.addEventListener('change', syncPay);
  syncPay();
  const result = h('section', { id: 'batch-result', 'aria-live': 'polite' });
  onSubmit(form, async (v) => {
    const body = { product: v.product, sheets: int(v.sheets), affiliate_id: v.affiliate_id, payment: v.payment };
    if (v.payment === 'unpaid' && v.price) body.price = v.price;
    const b = await post('/v1/admin/media/batches', body);
    toast(`Batch ${b.batch} made: ${b.sheets} sheets`);
    showBatch(result, b, affiliates);
  });
  clear(main, title('Media: batches'), subnav(), form, result);
}

function showBatch(box, b, affiliates) {
  const aff = affiliates.find((a) => a.id === b.affiliate_id);
  const rows = b.serials.slice(0, SHOWN_SERIALS).map((x) => h('tr', { class: x.position ? 'label' : 'sheet' },
    h('td', {}, h('a', { href: lookupHref(x.serial), class: 'serial' }, h('code', {}, x.serial))),
    h('td', { class: 'num' }, x.sheet), h('td', {}, x.position ? `label ${x.position}` : 'the sheet')));
  clear(box,
    h('h2', { tabindex: '-1' }, `Batch ${b.batch}`),
    h('dl', { class: 'facts', id: 'batch-facts' },
      h('dt', {}, 'Product'), h('dd', {}, `${b.layout} (${b.labels_per_sheet} labels per sheet)`),
      h('dt', {}, 'Sheets'), h('dd', {}, b.sheets),
      h('dt', {}, 'Affiliate'), h('dd', {}, aff ? `${aff.name} (group ${b.group})` : b.affiliate_id),
      h('dt', {}, 'Payment'), h('dd', { class: 'payment' }, b.payment === 'unpaid' ? `unpaid, ${money(b.price_mills)} a sheet` : b.payment),
      h('dt', {}, 'Distributed'), h('dd', {}, when(b.distributed))),
    downloadButtons(b.serials[0].serial, b.batch),
    table(b.serials.length > SHOWN_SERIALS ? `Serials: the first ${SHOWN_SERIALS} of ${b.serials.length} (the CSV has them all)` : `Serials of batch ${b.batch}`,
      ['Serial', 'Sheet', 'Position'], rows, { showCaption: true, class: 'serials' }));
  box.querySelector('h2').focus();
}

// ---- the CRM record of a serial ----

export async function lookupPage(main, params) {
  const serial = params.get('serial') || '';
  const form = h('form', { class: 'card', role: 'search', novalidate: true, 'aria-label': 'Look up a serial' },
    field('Serial', { name: 'serial', type: 'search', value: serial, maxlength: 40, autocomplete: 'off', spellcheck: 'false', required: true }, 'A sheet or label serial, as printed (dashes optional).'),
    formError(),
    h('button', { type: 'submit', class: 'primary', id: 'lookup' }, 'Look up'));
  const box = h('section', { id: 'medium-record', 'aria-live': 'polite' });
  clear(main, title('Media: serial lookup'), subnav(), form, box);
  onSubmit(form, async (v) => {
    const next = lookupHref(v.serial);
    if (location.hash === next) await show(v.serial);
    else location.hash = next;
  });
  const show = async (s) => {
    let r;
    try {
      r = await get(`/v1/admin/media/${encodeURIComponent(s)}`);
    } catch (err) {
      clear(box);
      showError(form, err);
      return;
    }
    showRecord(box, r);
  };
  if (serial) await show(serial);
  else form.querySelector('input').focus();
}

function showRecord(box, r) {
  const b = r.batch;
  const a = r.affiliate;
  const paid = r.payment === 'unpaid' ? `unpaid (${money(b.price_mills)} to its first user)` : r.payment === 'paid' && r.paid_by ? `paid by ${r.paid_by} ${when(r.paid_at)}` : r.payment;
  const thisLabel = r.kind === 'label'
    ? (r.label ? `used ${when(r.label.used_at)} by ${r.label.customer_id} for ${r.label.indicium_id}` : 'not used yet')
    : null;
  clear(box,
    h('div', { class: 'card' },
      h('h2', { tabindex: '-1' }, r.kind === 'label' ? `Label ${r.position} of sheet ${r.sheet}` : `Sheet ${r.sheet}`),
      h('dl', { class: 'facts', id: 'record-facts' },
        h('dt', {}, 'Serial'), h('dd', {}, h('code', {}, r.serial)),
        h('dt', {}, 'Batch'), h('dd', { class: 'batch' }, `${b.batch}: ${b.sheets} sheets of ${b.layout}, key ${b.key_id}`),
        h('dt', {}, 'Affiliate group'), h('dd', {}, b.group),
        h('dt', {}, 'Product'), h('dd', {}, `${b.layout} (${r.labels_per_sheet} labels per sheet)`),
        h('dt', {}, 'Affiliate'), h('dd', { class: 'affiliate' }, a.name, a.customer_id ? ` (own affiliate of ${a.customer_id})` : ' (reseller)'),
        h('dt', {}, 'Distributed'), h('dd', {}, when(r.distributed)),
        h('dt', {}, 'Payment'), h('dd', { class: 'payment' }, paid),
        h('dt', {}, 'Labels used'), h('dd', { class: 'labels-used' }, `${r.labels_used} of ${r.labels_per_sheet}`, r.positions_used.length ? ` (positions ${r.positions_used.join(', ')})` : ''),
        h('dt', {}, 'First use'), h('dd', {}, when(r.first_use)),
        h('dt', {}, 'Last use'), h('dd', {}, when(r.last_use)),
        thisLabel ? [h('dt', {}, 'This label'), h('dd', { class: 'this-label' }, thisLabel)] : null,
        h('dt', {}, 'Used by'), h('dd', { class: 'customers' }, r.customers.length ? r.customers.map((c, i) => [i ? ', ' : '', h('code', {}, c)]) : 'nobody yet')),
      h('h3', {}, `Batch ${b.batch}`),
      downloadButtons(r.serial, b.batch)));
  box.querySelector('h2').focus();
}

// ---- resupply orders ----

export async function resupplyPage(main) {
  const [{ orders }, { affiliates }] = await Promise.all([get('/v1/admin/resupply-orders'), get('/v1/admin/affiliates')]);
  const names = Object.fromEntries(affiliates.map((a) => [a.id, a]));
  const rows = orders.map((o) => {
    const aff = names[o.affiliate_id];
    const ship = h('button', { type: 'button', class: 'small', 'aria-label': `Mark ${o.id} shipped`, disabled: o.status !== 'open' || undefined }, 'Mark shipped');
    ship.addEventListener('click', async () => {
      ship.disabled = true;
      try {
        const r = await post(`/v1/admin/resupply-orders/${encodeURIComponent(o.id)}/ship`, {});
        toast(`Shipped: batch ${r.batch.batch}, ${r.batch.sheets} paid sheets`);
        await resupplyPage(main);
      } catch (err) {
        ship.disabled = false;
        toast(err.message);
      }
    });
    return h('tr', { dataset: { order: o.id } },
      h('th', { scope: 'row' }, h('code', {}, o.id)),
      h('td', {}, aff ? aff.name : o.affiliate_id), h('td', { class: `status ${o.status}` }, o.status),
      h('td', {}, productName(o.product)), h('td', { class: 'num' }, o.labels_remaining),
      h('td', {}, when(o.created)), h('td', {}, o.shipped_at ? when(o.shipped_at) : '—'),
      h('td', {}, o.batch ? `batch ${o.batch}` : '—'),
      h('td', { class: 'actions' }, ship));
  });
  const open = orders.filter((o) => o.status === 'open').length;
  clear(main, title('Media: resupply orders'), subnav(),
    h('p', {}, `${open} open. An order opens when an affiliate runs low by its rule; shipping makes a paid batch of the affiliate's resupply sheets and closes it.`),
    table('Resupply orders, newest first', ['Order', 'Affiliate', 'Status', 'Product', 'Labels left when opened', 'Opened', 'Shipped', 'Batch', ''], rows, { showCaption: true, empty: 'No resupply orders.' }));
}
