// batches.js - bulk buying in the web UI (docs/web.md, docs/api.md
// "Batches"): upload a shop's CSV of orders (the columns of
// `stamp buy --csv`, docs/cli.md), buy them as one batch, watch its
// progress and per-item results, download every bought piece as one file,
// and see the earlier batches.

import { get, request } from './api.js';
import { h, clear, field, formError, onSubmit, money, when, title, table, toast } from './ui.js';

const COLUMNS = ['reference', 'mail_class', 'weight_oz', 'from_zip', 'to_zip', 'mail_date',
  'from_address', 'to_address', 'medium_serial', 'payment_method_id'];
const POLL_MS = 700;

// RFC 4180 as spreadsheets write it -> rows of fields, each row with the
// line it starts on. Throws an Error naming the line.
export function parseCsv(text) {
  const rows = [];
  let i = text.startsWith('\ufeff') ? 1 : 0;
  let line = 1;
  let row = [];
  let start = 1;
  while (i < text.length) {
    if (row.length === 0) start = line;
    let f = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) throw new Error(`line ${start}: a quoted field does not end`);
        if (text[i] === '"' && text[i + 1] === '"') { f += '"'; i += 2; continue; }
        if (text[i] === '"') { i++; break; }
        if (text[i] === '\n') line++;
        f += text[i++];
      }
      if (i < text.length && !',\r\n'.includes(text[i])) throw new Error(`line ${line}: text after a closing quote`);
    } else {
      while (i < text.length && !',\r\n'.includes(text[i])) {
        if (text[i] === '"') throw new Error(`line ${line}: a quote inside an unquoted field`);
        f += text[i++];
      }
    }
    row.push(f);
    if (text[i] === ',') {
      i++;
      if (i < text.length && !'\r\n'.includes(text[i])) continue;
      row.push('');
    }
    if (text[i] === '\r') i++;
    if (text[i] === '\n') { i++; line++; }
    if (!(row.length === 1 && row[0] === '')) rows.push({ fields: row, line: start });
    row = [];
  }
  return rows;
}

// The CSV's orders as batch items; throws an Error for a file to fix.
export function itemsOf(text) {
  const rows = parseCsv(text);
  if (rows.length < 2) throw new Error('a header row and at least one order are needed');
  if (rows.length - 1 > 1000) throw new Error(`${rows.length - 1} orders: at most 1000 in one batch`);
  const head = rows[0].fields;
  for (const c of head) if (!COLUMNS.includes(c)) throw new Error(`unknown column "${c}" (the columns are ${COLUMNS.join(', ')})`);
  if (!head.includes('reference')) throw new Error('the header has no "reference" column');
  return rows.slice(1).map((r, n) => {
    if (r.fields.length !== head.length) throw new Error(`row ${n + 2} (line ${r.line}) has ${r.fields.length} fields, the header ${head.length}`);
    const it = {};
    head.forEach((c, k) => {
      const v = r.fields[k];
      if (v === '') return;
      if (c === 'weight_oz') it[c] = /^[0-9]+(\.[0-9]+)?$/.test(v) ? Number(v) : v;
      else if (c === 'from_address' || c === 'to_address') it[c] = v.replaceAll('\\n', '\n');
      else if (c === 'payment_method_id') it.payment = { method: 'card', payment_method_id: v };
      else it[c] = v;
    });
    return it;
  });
}

async function sha256hex(text) {
  const d = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(d), (x) => x.toString(16).padStart(2, '0')).join('');
}

function statusText(b) {
  return b.status === 'completed' ? 'Completed' : b.status === 'interrupted' ? 'Interrupted — upload the same file again to resume' : 'Buying…';
}

export async function bulkPage(main, params) {
  const id = params.get('id');
  if (id) return batchView(main, id);
  const list = await get('/v1/batches', { limit: 20 });
  const form = h('form', { class: 'card', novalidate: true, 'aria-label': 'Upload orders' },
    field('Orders (CSV file)', { name: 'file', type: 'file', accept: '.csv,text/csv', required: true, id: 'batch-file' },
      `A header row, then one order a row. Columns: ${COLUMNS.join(', ')} (reference is required). The same file again is the same batch: nothing is bought twice.`),
    formError(),
    h('button', { type: 'submit', class: 'primary', id: 'batch-buy' }, 'Buy every order'));
  onSubmit(form, async () => {
    const input = form.querySelector('#batch-file');
    const file = input.files && input.files[0];
    if (!file) throw { code: 'missing_field', field: 'file', message: 'choose a CSV file of orders' };
    const text = await file.text();
    let items;
    try { items = itemsOf(text); } catch (e) { throw { code: 'invalid_request', field: 'file', message: e.message }; }
    const b = await request('POST', '/v1/batches', { body: { items }, idempotencyKey: 'web-' + (await sha256hex(text)).slice(0, 40) });
    toast(`Batch of ${b.counts.total} orders saved`);
    location.hash = `#/batches?id=${encodeURIComponent(b.id)}`;
  });
  const rows = list.data.map((b) => h('tr', { dataset: { batch: b.id } },
    h('td', {}, h('a', { href: `#/batches?id=${encodeURIComponent(b.id)}` }, b.id)),
    h('td', {}, when(b.created)), h('td', {}, b.status),
    h('td', { class: 'num' }, `${b.counts.bought} / ${b.counts.total}`), h('td', { class: 'num' }, String(b.counts.failed)),
    h('td', { class: 'num' }, money(b.postage_mills))));
  clear(main, title('Batches'), h('p', {}, 'Buy many orders at once from a CSV file, as exported by your shop.'), form,
    h('h2', {}, 'Your batches'),
    h('div', { id: 'batch-list' }, table('Your batches', ['Batch', 'Created', 'Status', 'Bought', 'Failed', 'Postage'], rows,
      { empty: 'No batches yet.' })));
}

async function batchView(main, id) {
  const layouts = (await get('/v1/layouts')).layouts;
  const bar = h('progress', { id: 'batch-progress', class: 'batch-progress', max: 1, value: 0, 'aria-label': 'Orders done' });
  const summary = h('p', { id: 'batch-summary', 'aria-live': 'polite' });
  const items = h('div', { id: 'batch-items' });
  const dl = h('form', { class: 'card', 'aria-label': 'Download labels', hidden: true, id: 'batch-download' },
    field('Layout', { tag: 'select', name: 'layout', id: 'batch-layout', options: layouts.map((l) => ({ value: l.name, label: l.description || l.name, selected: l.name === 'avery-5160' })) }),
    formError(),
    h('button', { type: 'submit', class: 'primary', id: 'batch-labels' }, 'Download labels (PDF)'),
    h('p', { class: 'downloads', id: 'batch-link' }));
  onSubmit(dl, async (v) => {
    const blob = await request('GET', `/v1/batches/${encodeURIComponent(id)}/labels`, { query: { layout: v.layout, format: 'pdf' }, raw: true });
    const a = h('a', { href: URL.createObjectURL(blob), download: `${id}-${v.layout}.pdf`, id: 'batch-file-link' }, `${id}-${v.layout}.pdf`);
    clear(dl.querySelector('#batch-link'), 'Saved: ', a);
    a.click();
  });
  clear(main, title('Batch'), h('p', {}, h('a', { href: '#/batches' }, '← All batches')), h('p', { class: 'mono' }, id),
    bar, summary, dl, h('h2', {}, 'Orders'), items);
  const render = async () => {
    const b = await get(`/v1/batches/${encodeURIComponent(id)}`, { limit: 1000 });
    const done = b.counts.bought + b.counts.failed;
    bar.max = b.counts.total;
    bar.value = done;
    summary.textContent = `${statusText(b)}: ${done} of ${b.counts.total} done — ${b.counts.bought} bought, ${b.counts.failed} failed, postage ${money(b.postage_mills)}.`;
    summary.dataset.status = b.status;
    dl.hidden = b.counts.bought === 0;
    const rows = b.items.data.map((it) => h('tr', { dataset: { item: String(it.index), status: it.status } },
      h('td', { class: 'num' }, String(it.index + 2)), h('td', {}, it.reference), h('td', {}, it.status),
      h('td', {}, it.indicium_id || ''), h('td', { class: 'num' }, it.postage_mills === null ? '' : money(it.postage_mills)),
      h('td', {}, it.error ? `${it.error.code}: ${it.error.message}${it.error.field ? ` (${it.error.field})` : ''}` : '')));
    clear(items, table('Orders of the batch', ['Row', 'Reference', 'Status', 'Indicium', 'Postage', 'Error'], rows));
    return b.status === 'completed' || b.status === 'interrupted';
  };
  // Poll while the page is shown and the batch runs.
  const loop = async () => {
    if (!main.isConnected) return;
    let finished = false;
    try { finished = await render(); } catch (e) { summary.textContent = e.message; }
    if (!finished && main.isConnected) setTimeout(loop, POLL_MS);
  };
  await loop();
}
