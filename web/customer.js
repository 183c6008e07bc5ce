// customer.js - the customer's pages: buy a stamp (with its live price),
// print or download its label, the history with filters and refunds, and
// the account (balance, funds, cards, auto-refill, API keys).

import { get, post, put, del, request, newKey } from './api.js';
import { h, clear, field, errorSlot, formError, onSubmit, money, when, today, mailClasses, className, toast, title, table, showError } from './ui.js';
import { addressFieldset, addressParts, composeAddress, showFieldErrors, apiFieldErrors, rememberedReturn, rememberReturn, correctionLines } from './address.js';

// ---- shared: the card form and the payment choice ----

function cardFields() {
  const year = new Date().getFullYear();
  return h('fieldset', { class: 'card-fields' },
    h('legend', {}, 'Card'),
    field('Card number', { name: 'card.number', inputmode: 'numeric', autocomplete: 'cc-number', maxlength: 23, required: true }, 'Sandbox: 4242 4242 4242 4242 approves, 4000 0000 0000 0002 is declined.'),
    h('div', { class: 'row' },
      field('Expiry month', { name: 'card.exp_month', type: 'number', min: 1, max: 12, autocomplete: 'cc-exp-month', required: true, value: '12' }),
      field('Expiry year', { name: 'card.exp_year', type: 'number', min: year, max: year + 20, autocomplete: 'cc-exp-year', required: true, value: String(year + 3) }),
      field('CVC', { name: 'card.cvc', inputmode: 'numeric', autocomplete: 'cc-csc', maxlength: 4, required: true }),
      field('Billing ZIP', { name: 'card.zip', inputmode: 'numeric', autocomplete: 'postal-code', maxlength: 10, required: true })));
}

function cardFromValues(v) {
  const card = { number: v['card.number'].replace(/[\s-]/g, ''), exp_month: Number(v['card.exp_month']), exp_year: Number(v['card.exp_year']), cvc: v['card.cvc'] };
  if (v['card.zip']) card.zip = v['card.zip'];
  return card;
}

// A choice of how to pay: the balance (when allowed), a saved card or a new one.
function paymentChoice(cards, allowBalance, balance) {
  const opts = [];
  if (allowBalance) opts.push({ value: 'balance', label: `Prepaid balance (${money(balance)})` });
  for (const c of cards) opts.push({ value: c.id, label: `${c.brand} •••• ${c.last4} (expires ${c.exp_month}/${c.exp_year})` });
  opts.push({ value: 'new', label: 'A new card' });
  const sel = field('Pay with', { tag: 'select', name: 'pay_with', options: opts });
  const newCard = cardFields();
  const box = h('div', { class: 'payment' }, sel, newCard, errorSlot('payment'));
  const update = () => { const isNew = sel.querySelector('select').value === 'new'; newCard.hidden = !isNew; newCard.disabled = !isNew; };
  sel.querySelector('select').addEventListener('change', update);
  update();
  return box;
}

function paymentFromValues(v) {
  if (v.pay_with === 'balance') return { method: 'balance' };
  if (v.pay_with === 'new') return { method: 'card', card: cardFromValues(v) };
  return { method: 'card', payment_method_id: v.pay_with };
}

async function customerBasics() {
  const [acct, cards] = await Promise.all([get('/v1/account'), get('/v1/payment-methods')]);
  return { acct, cards: cards.data };
}

// ---- buy ----

export async function buyPage(main) {
  const [{ acct, cards }, layouts] = await Promise.all([customerBasics(), get('/v1/layouts')]);
  const price = h('output', { id: 'price', class: 'price', 'aria-live': 'polite', for: '' }, '—');
  const form = h('form', { class: 'card buy-form', novalidate: true, 'aria-label': 'Buy postage' },
    h('div', { class: 'row' },
      field('Mail class', { tag: 'select', name: 'mail_class', options: mailClasses }),
      field('Weight (oz)', { name: 'weight_oz', type: 'number', min: 0.1, step: 0.1, value: '1', required: true, inputmode: 'decimal' })),
    h('div', { class: 'row' },
      field('From ZIP', { name: 'from_zip', inputmode: 'numeric', maxlength: 5, autocomplete: 'postal-code', required: true, value: localStorage.getItem('stampd.from_zip') || '' }),
      field('To ZIP', { name: 'to_zip', inputmode: 'numeric', maxlength: 10, required: true }, '5 digits or ZIP+4')),
    h('div', { class: 'row' },
      field('Mail date', { name: 'mail_date', type: 'date', value: today(), required: true }),
      field('Medium serial (optional)', { name: 'medium_serial', maxlength: 32, autocomplete: 'off' }, 'The serial printed on a pre-printed label sheet, if you use one.')),
    h('fieldset', { class: 'options' }, h('legend', {}, 'Extra services (letters)'),
      h('div', { class: 'row' },
        field('Certified Mail', { type: 'checkbox', name: 'certified_mail' }),
        field('Return Receipt (with Certified Mail)', { type: 'checkbox', name: 'return_receipt' }),
        field('Non-machinable (surcharge)', { type: 'checkbox', name: 'non_machinable' }))),
    h('div', { class: 'notice medium-pay', id: 'medium-pay', tabindex: '-1', role: 'group', 'aria-label': 'Pay for the medium', hidden: true }),
    h('div', { class: 'addresses' },
      addressFieldset('from_address', 'Return address (optional)', rememberedReturn(acct.id),
        field('Remember this return address in this browser', { type: 'checkbox', name: 'remember_from', checked: true })),
      addressFieldset('to_address', 'Delivery address (optional)')),
    h('p', { class: 'price-line' }, 'Postage: ', price),
    paymentChoice(cards, true, acct.balance_mills),
    formError(),
    h('button', { type: 'submit', class: 'primary', id: 'buy-button' }, 'Buy postage'));
  const result = h('section', { id: 'result', 'aria-live': 'polite' });
  clear(main, title('Buy postage'), form, result);

  let timer = null;
  let seq = 0;
  const quote = async () => {
    const v = Object.fromEntries(['mail_class', 'weight_oz', 'mail_date'].map((k) => [k, form.querySelector(`[name="${k}"]`).value]));
    const services = chosenServices(form);
    if (services.length) v.extra_services = services.join(',');
    if (form.querySelector('[name="non_machinable"]').checked) v.non_machinable = 'true';
    for (const k of ['from_zip', 'to_zip']) {
      const z = form.querySelector(`[name="${k}"]`).value.trim();
      if (/^\d{5}(-?\d{4})?$/.test(z)) v[k] = z;
    }
    const mine = ++seq;
    for (const k of ['mail_class', 'weight_oz', 'mail_date']) {
      const i = form.querySelector(`[name="${k}"]`);
      i.removeAttribute('aria-invalid');
      i.closest('.field').querySelector('.field-error').textContent = '';
    }
    try {
      const q = await get('/v1/rates/quote', v);
      if (mine !== seq) return;
      const extras = [...(q.extra_services || []).map(serviceName), q.non_machinable ? 'non-machinable' : null].filter(Boolean);
      price.textContent = `${money(q.postage_mills)} for a ${className(q.mail_class).toLowerCase()} of ${q.weight_oz} oz mailed ${q.mail_date}` +
        (q.zone ? `, zone ${q.zone}` : '') + (extras.length ? ` with ${extras.join(', ')}` : '');
      form.querySelector('#buy-button').textContent = `Buy postage for ${money(q.postage_mills)}`;
    } catch (err) {
      if (mine !== seq) return;
      price.textContent = '—';
      form.querySelector('#buy-button').textContent = 'Buy postage';
      const i = err.field && form.querySelector(`[name="${err.field}"]`);
      if (i) { i.closest('.field').querySelector('.field-error').textContent = err.message; i.setAttribute('aria-invalid', 'true'); }
    }
  };
  for (const k of ['mail_class', 'weight_oz', 'mail_date', 'from_zip', 'to_zip', 'certified_mail', 'return_receipt', 'non_machinable']) {
    form.querySelector(`[name="${k}"]`).addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(quote, 200); });
  }
  quote();

  // One key per purchase attempt: a retry after a lost answer returns the same stamp.
  let attemptKey = null;
  let attemptBody = null;
  // The serial whose unpaid sheet the customer chose to buy with the purchase.
  let commitSerial = null;
  // An address's ZIP Code fills the piece's ZIP field while that is empty or was filled so.
  for (const [addr, zipName] of [['from_address', 'from_zip'], ['to_address', 'to_zip']]) {
    const src = form.querySelector(`[name="${addr}.zip"]`);
    const dst = form.querySelector(`[name="${zipName}"]`);
    let filled = dst.value === '' ? '' : null;
    src.addEventListener('input', () => {
      if (filled === null || dst.value !== filled) return;
      const d = src.value.replace(/[\s-]/g, '');
      dst.value = filled = zipName === 'to_zip' && d.length === 9 ? `${d.slice(0, 5)}-${d.slice(5)}` : d.slice(0, 5);
    });
    dst.addEventListener('input', () => { filled = dst.value === '' ? '' : null; });
    if (src.value && filled === '') dst.value = filled = src.value.replace(/[\s-]/g, '').slice(0, 5);
  }
  const serialInput = form.querySelector('[name="medium_serial"]');
  const mediumPay = form.querySelector('#medium-pay');
  serialInput.addEventListener('input', () => { commitSerial = null; mediumPay.hidden = true; });

  // 402 medium_payment_required: the sheet is unpaid. Offer to buy it now
  // from the balance (then buy the stamp again), or with this purchase.
  const offerMedium = (serial, err) => {
    const cost = money(err.details.price_mills);
    const buySheet = h('button', { type: 'button', id: 'buy-sheet' }, `Buy this sheet now for ${cost}`);
    const addSheet = h('button', { type: 'button', class: 'primary', id: 'add-sheet' }, `Add it to this purchase (+${cost})`);
    serialInput.closest('.field').querySelector('.field-error').textContent = `${err.message}: ${cost}`;
    serialInput.setAttribute('aria-invalid', 'true');
    clear(mediumPay,
      h('p', {}, h('strong', {}, `This sheet costs ${cost} and is not paid for yet.`), ' Buy it once and print on all its labels: now, from your balance, or together with this stamp.'),
      h('div', { class: 'buttons' }, addSheet, buySheet));
    // A definite refusal recorded nothing, so the next attempt takes a new key.
    attemptKey = attemptBody = null;
    buySheet.addEventListener('click', async () => {
      buySheet.disabled = addSheet.disabled = true;
      try {
        const r = await post(`/v1/media/${encodeURIComponent(serial)}/purchase`, {});
        toast(`Sheet bought for ${money(r.price_mills)}`);
      } catch (e) {
        // already_exists: paid meanwhile (another tab, a lost answer): go on.
        if (e.code !== 'already_exists') {
          if (e.field === 'serial') e.field = 'medium_serial';
          buySheet.disabled = addSheet.disabled = false;
          showError(form, e);
          return;
        }
      }
      mediumPay.hidden = true;
      form.requestSubmit(form.querySelector('#buy-button'));
    });
    addSheet.addEventListener('click', () => {
      commitSerial = serial;
      mediumPay.hidden = true;
      form.requestSubmit(form.querySelector('#buy-button'));
    });
    mediumPay.hidden = false;
    mediumPay.focus();
  };

  onSubmit(form, async (v) => {
    const body = { mail_class: v.mail_class, weight_oz: Number(v.weight_oz), from_zip: v.from_zip, to_zip: v.to_zip, mail_date: v.mail_date };
    const services = chosenServices(form);
    if (services.length) body.extra_services = services;
    if (form.querySelector('[name="non_machinable"]').checked) body.non_machinable = true;
    // Addresses: checked here, sent as the API's text blocks.
    const fromParts = addressParts(v, 'from_address');
    const toParts = addressParts(v, 'to_address');
    const addrErrors = [];
    for (const [parts, key] of [[fromParts, 'from_address'], [toParts, 'to_address']]) {
      if (!parts) continue;
      const c = composeAddress(parts, key);
      addrErrors.push(...c.errors);
      body[key] = c.text;
    }
    if (addrErrors.length) { showFieldErrors(form, addrErrors); return; }
    if (v.medium_serial) body.medium_serial = v.medium_serial;
    if (v.medium_serial && v.medium_serial === commitSerial) body.commit_to_purchase_medium = true;
    body.payment = paymentFromValues(v);
    const fingerprint = JSON.stringify(body);
    if (fingerprint !== attemptBody) { attemptKey = newKey(); attemptBody = fingerprint; }
    mediumPay.hidden = true;
    let ind;
    try {
      ind = await post('/v1/indicia', body, { idempotencyKey: attemptKey });
    } catch (err) {
      if (err.code === 'medium_payment_required' && v.medium_serial) { offerMedium(v.medium_serial, err); return; }
      // Every field error at its field (an address's at the part it names).
      const errs = apiFieldErrors(err);
      if (errs.length > 1 || (errs.length === 1 && /^(from|to)_address/.test(errs[0].field || ''))) {
        if (showFieldErrors(form, errs)) return;
      }
      throw err;
    }
    attemptKey = attemptBody = null;
    commitSerial = null;
    localStorage.setItem('stampd.from_zip', v.from_zip);
    if (v.remember_from && fromParts) rememberReturn(acct.id, fromParts);
    else if (!v.remember_from) rememberReturn(acct.id, null);
    toast(`Bought ${money(ind.postage_mills)} of postage`);
    showResult(result, ind, layouts.layouts);
  });
}

// The extra services ticked in the buy form, as the API names them.
function chosenServices(form) {
  return ['certified_mail', 'return_receipt'].filter((k) => form.querySelector(`[name="${k}"]`).checked);
}

function serviceName(s) {
  return { certified_mail: 'Certified Mail', return_receipt: 'Return Receipt' }[s] || s;
}

function showResult(box, ind, layouts) {
  clear(box,
    h('h2', { tabindex: '-1' }, 'Your stamp'),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Postage'), h('dd', { class: 'postage' }, money(ind.postage_mills)),
      h('dt', {}, 'Class'), h('dd', {}, className(ind.mail_class) + (ind.zone ? `, zone ${ind.zone}` : '')),
      (ind.extra_services || []).length || ind.non_machinable ? [h('dt', {}, 'Extra services'), h('dd', { class: 'services' },
        [...(ind.extra_services || []).map(serviceName), ind.non_machinable ? 'non-machinable surcharge' : null].filter(Boolean).join(', '))] : null,
      h('dt', {}, 'From → to'), h('dd', {}, `${ind.from_zip} → ${ind.to_zip}`),
      h('dt', {}, 'Mail date'), h('dd', {}, ind.mail_date),
      h('dt', {}, 'Indicium'), h('dd', {}, h('code', { class: 'ind-id' }, ind.id)),
      ind.from_address ? [h('dt', {}, 'Return address'), h('dd', { class: 'address from-address' }, ind.from_address)] : null,
      ind.to_address ? [h('dt', {}, 'Delivery address'), h('dd', { class: 'address to-address' }, ind.to_address)] : null,
      ind.medium ? [h('dt', {}, 'Medium'), h('dd', { class: 'medium' }, h('code', {}, ind.medium.serial), ` — label ${ind.medium.label ?? ind.medium.position} of sheet ${ind.medium.sheet}`,
        ind.medium.price_mills > 0 ? `; the sheet was bought with this stamp for ${money(ind.medium.price_mills)}` : '')] : null,
      ind.medium && ind.medium.row ? [h('dt', {}, 'On the sheet'), h('dd', { class: 'medium-position' }, `row ${ind.medium.row}, column ${ind.medium.column} of ${ind.medium.layout}: printed on that layout, it goes there`)] : null,
      ind.balance_mills !== undefined ? [h('dt', {}, 'Balance now'), h('dd', {}, money(ind.balance_mills))] : null),
    correctionLines(ind).length ? h('div', { class: 'notice corrections', id: 'address-corrections', role: 'status' },
      h('p', {}, h('strong', {}, 'The address was corrected:')), h('ul', {}, correctionLines(ind).map((l) => h('li', {}, l)))) : null,
    ind.resupply ? h('p', { class: 'notice resupply', role: 'status' }, `Your label supply runs low: ${ind.resupply.labels_remaining} unused labels left. Resupply order `, h('code', {}, ind.resupply.order_id), ' is open; new sheets will be shipped to you.') : null,
    printPanel(ind, layouts, ind.medium ? (ind.medium.label ?? ind.medium.position) : 0));
  box.querySelector('h2').focus();
}

// Preview, print and download one indicium's label in a layout; position
// (1-based, from a medium) preselects that label on a sheet layout.
export function printPanel(ind, layouts, position = 0) {
  const img = h('img', { class: 'preview', alt: `Label preview for indicium ${ind.id}`, width: 288 });
  const links = h('p', { class: 'downloads' });
  const opts = layouts.map((l) => ({ value: l.name, label: `${l.name} — ${l.description}` }));
  const form = h('form', { class: 'card print-form', novalidate: true, 'aria-label': 'Print the label' },
    h('h3', {}, 'Print or download'),
    field('Layout', { tag: 'select', name: 'layout', options: opts }),
    h('div', { class: 'row sheet-only' },
      field('Start row', { name: 'start_row', type: 'number', min: 1, value: '1' }, 'On a partly used sheet: the first free label.'),
      field('Start column', { name: 'start_col', type: 'number', min: 1, value: '1' })),
    h('div', { class: 'row' },
      field('Offset right (mm)', { name: 'offset_x', type: 'number', step: 0.05, min: -10, max: 10, value: localStorage.getItem('stampd.offset_x') || '0' }, 'Printer calibration: + moves right.'),
      field('Offset down (mm)', { name: 'offset_y', type: 'number', step: 0.05, min: -10, max: 10, value: localStorage.getItem('stampd.offset_y') || '0' }, '+ moves down.')),
    errorSlot('start'), errorSlot('offset'), errorSlot('layout'), formError(),
    h('div', { class: 'buttons' },
      h('button', { type: 'submit', name: 'action', value: 'pdf', class: 'primary', id: 'download-pdf' }, 'Download PDF'),
      h('button', { type: 'submit', name: 'action', value: 'print', id: 'print-pdf' }, 'Open PDF to print'),
      h('button', { type: 'submit', name: 'action', value: 'png', id: 'preview-png' }, 'Preview')),
    links);
  const layoutSel = form.querySelector('[name="layout"]');
  const sheetRow = form.querySelector('.sheet-only');
  const syncLayout = () => {
    const l = layouts.find((x) => x.name === layoutSel.value);
    sheetRow.hidden = !(l && l.kind === 'sheet');
    if (position > 0 && l && l.kind === 'sheet' && l.cols > 0 && position <= l.rows * l.cols) {
      form.querySelector('[name="start_row"]').value = String(Math.floor((position - 1) / l.cols) + 1);
      form.querySelector('[name="start_col"]').value = String(((position - 1) % l.cols) + 1);
    }
  };
  layoutSel.addEventListener('change', syncLayout);
  syncLayout();

  const params = (v, format) => {
    const l = layouts.find((x) => x.name === v.layout);
    const q = { format, layout: v.layout, offset: `${Number(v.offset_x) || 0},${Number(v.offset_y) || 0}` };
    if (l && l.kind === 'sheet') q.start = `${v.start_row || 1},${v.start_col || 1}`;
    return q;
  };
  const fetchDoc = (v, format) => request('GET', `/v1/indicia/${encodeURIComponent(ind.id)}/label`, { query: params(v, format), raw: true });
  const preview = async (v) => {
    const blob = await fetchDoc(v, 'png');
    if (img.src) URL.revokeObjectURL(img.src);
    img.src = URL.createObjectURL(blob);
  };
  onSubmit(form, async (v, submitter) => {
    const action = submitter ? submitter.value : 'pdf';
    localStorage.setItem('stampd.offset_x', v.offset_x);
    localStorage.setItem('stampd.offset_y', v.offset_y);
    if (action === 'png') return preview(v);
    const blob = await fetchDoc(v, 'pdf');
    const url = URL.createObjectURL(blob);
    if (action === 'print') { window.open(url, '_blank', 'noopener'); return; }
    const a = h('a', { href: url, download: `${ind.id}-${v.layout}.pdf`, class: 'download-link' }, `Download ${ind.id}-${v.layout}.pdf again`);
    clear(links, a);
    a.click();
  });
  preview({ layout: layoutSel.value, offset_x: 0, offset_y: 0 }).catch((err) => showError(form, err));
  return h('section', { class: 'print' }, h('figure', {}, img, h('figcaption', {}, 'Preview (PNG). The PDF prints at true size.')), form);
}

// ---- history ----

const refundText = (r) => r.status === 'approved' ? `Refund approved: ${money(r.amount_mills)} to your ${r.destination}` : r.status === 'denied' ? `Refund denied (${(r.reason || '').replaceAll('_', ' ')})` : 'Refund requested';

export async function historyPage(main, params) {
  const layouts = (await get('/v1/layouts')).layouts;
  const f = Object.fromEntries(['from', 'to', 'mail_class', 'mode', 'refunded', 'q', 'metadata'].map((k) => [k, params.get(k) || '']));
  const form = h('form', { class: 'card filters', role: 'search', 'aria-label': 'Search and filter your stamps' },
    h('div', { class: 'row' },
      field('Search', { name: 'q', type: 'search', value: f.q, placeholder: 'indicium id or ZIP' }),
      field('Bought from', { name: 'from', type: 'date', value: f.from }),
      field('Bought to', { name: 'to', type: 'date', value: f.to }),
      field('Reference', { name: 'metadata', type: 'search', value: f.metadata, placeholder: 'key=value, e.g. order=1001' }, 'metadata given at purchase: exact match')),
    h('div', { class: 'row' },
      field('Mail class', { tag: 'select', name: 'mail_class', options: [{ value: '', label: 'Any' }, ...mailClasses].map((o) => ({ ...o, selected: o.value === f.mail_class })) }),
      field('Mode', { tag: 'select', name: 'mode', options: [{ value: '', label: 'Any' }, { value: 'live', label: 'Live' }, { value: 'test', label: 'Test' }].map((o) => ({ ...o, selected: o.value === f.mode })) }),
      field('Refunded', { tag: 'select', name: 'refunded', options: [{ value: '', label: 'Any' }, { value: 'true', label: 'Refunded' }, { value: 'false', label: 'Not refunded' }].map((o) => ({ ...o, selected: o.value === f.refunded })) })),
    formError(),
    h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary', id: 'apply-filters' }, 'Apply'), h('a', { href: '#/history', class: 'button' }, 'Clear')));
  const list = h('div', { id: 'history-list' });
  const detail = h('section', { id: 'history-detail', 'aria-live': 'polite' });
  clear(main, title('History'), form, list, detail);
  onSubmit(form, async (v) => {
    const q = new URLSearchParams();
    for (const [k, val] of Object.entries(v)) if (val) q.set(k, val);
    location.hash = '#/history' + (q.toString() ? '?' + q : '');
  });

  const cursors = [];
  const show = async (cursor) => {
    let page;
    // Reference "key=value": the list's metadata[key]=value filter.
    const { metadata, ...rest } = f;
    const eq = metadata.indexOf('=');
    const meta = eq > 0 ? { [`metadata[${metadata.slice(0, eq)}]`]: metadata.slice(eq + 1) } : {};
    try {
      if (metadata && eq <= 0) throw Object.assign(new Error('Reference: type key=value, such as order=1001'), { field: 'metadata' });
      page = await get('/v1/indicia', { ...rest, ...meta, limit: 10, cursor });
    } catch (err) {
      showError(form, err);
      return;
    }
    const rows = page.data.map((ind) => {
      const status = h('span', { class: 'status', id: `status-${ind.id}` }, ind.refunded ? 'Refunded' : ind.test ? 'Test' : 'Valid');
      const refundBtn = h('button', { type: 'button', class: 'small', disabled: ind.refunded || ind.test || undefined, 'aria-label': `Request a refund for ${ind.id}` }, 'Refund');
      refundBtn.addEventListener('click', async () => {
        if (!confirm(`Refund ${money(ind.postage_mills)} for ${ind.id}? The label must not be used.`)) return;
        refundBtn.disabled = true;
        try {
          const r = await post(`/v1/indicia/${encodeURIComponent(ind.id)}/refund`, {});
          status.textContent = refundText(r);
        } catch (err) {
          status.textContent = err.message;
          refundBtn.disabled = false;
        }
      });
      const reprint = h('button', { type: 'button', class: 'small', 'aria-label': `Reprint ${ind.id}` }, 'Reprint');
      reprint.addEventListener('click', () => { clear(detail, h('h2', { tabindex: '-1' }, `Reprint ${ind.id}`), printPanel(ind, layouts, ind.medium ? ind.medium.label : 0)); detail.querySelector('h2').focus(); });
      const check = h('button', { type: 'button', class: 'small link', 'aria-label': `Refund status of ${ind.id}` }, 'Refund status');
      check.addEventListener('click', async () => {
        try { status.textContent = refundText(await get(`/v1/indicia/${encodeURIComponent(ind.id)}/refund`)); } catch (err) { status.textContent = err.code === 'not_found' ? 'No refund requested' : err.message; }
      });
      return h('tr', { dataset: { id: ind.id } },
        h('td', {}, when(ind.created)), h('td', {}, h('code', {}, ind.id), ...Object.entries(ind.metadata || {}).map(([k, v]) => h('div', { class: 'meta' }, `${k}=${v}`))), h('td', {}, className(ind.mail_class)),
        h('td', {}, `${ind.from_zip} → ${ind.to_zip}`), h('td', { class: 'num' }, money(ind.postage_mills)),
        h('td', {}, status), h('td', { class: 'actions' }, reprint, refundBtn, check));
    });
    const prev = h('button', { type: 'button', disabled: !cursors.length || undefined, id: 'prev-page' }, '← Newer');
    prev.addEventListener('click', () => { cursors.pop(); show(cursors.at(-1)); });
    const next = h('button', { type: 'button', disabled: !page.has_more || undefined, id: 'next-page' }, 'Older →');
    next.addEventListener('click', () => { cursors.push(page.next_cursor); show(page.next_cursor); });
    clear(list, table('Your stamps, newest first', ['Bought', 'Indicium', 'Class', 'From → to', 'Postage', 'Status', ''], rows, { empty: 'No stamps match.' }),
      h('nav', { class: 'pager', 'aria-label': 'Pages' }, prev, next));
  };
  await show(undefined);
}

// ---- account ----

export async function accountPage(main) {
  const [{ acct, cards }, refill, keys, txns] = await Promise.all([customerBasics(), get('/v1/account/auto-refill'), get('/v1/account/api-keys'), get('/v1/account/transactions', { limit: 10 })]);
  const balance = h('p', { class: 'balance' }, 'Balance: ', h('strong', { id: 'balance' }, money(acct.balance_mills)));

  // Add funds.
  const funds = h('form', { class: 'card', novalidate: true, 'aria-labelledby': 'funds-h' },
    h('h2', { id: 'funds-h' }, 'Add funds'),
    field('Amount ($)', { name: 'amount', inputmode: 'decimal', value: '25.00', required: true }, '$1.00 to $10,000.00'),
    paymentChoice(cards, false, 0), formError(),
    h('button', { type: 'submit', class: 'primary', id: 'add-funds' }, 'Add funds'));
  let fundsKey = null;
  let fundsBody = null;
  onSubmit(funds, async (v) => {
    const body = { amount: v.amount, payment: paymentFromValues(v) };
    const fp = JSON.stringify(body);
    if (fp !== fundsBody) { fundsKey = newKey(); fundsBody = fp; }
    const r = await post('/v1/account/funds', body, { idempotencyKey: fundsKey });
    fundsKey = fundsBody = null;
    toast(`Added ${money(r.amount_mills)}; balance ${money(r.balance_mills)}`);
    location.hash = '#/account?funded=' + r.id;
  });

  // Saved cards.
  const cardRows = cards.map((c) => {
    const rm = h('button', { type: 'button', class: 'small', 'aria-label': `Remove ${c.brand} ending ${c.last4}` }, 'Remove');
    rm.addEventListener('click', async () => { await del(`/v1/payment-methods/${encodeURIComponent(c.id)}`); toast('Card removed'); accountPage(main); });
    return h('tr', {}, h('td', {}, c.brand), h('td', {}, `•••• ${c.last4}`), h('td', {}, `${c.exp_month}/${c.exp_year}`), h('td', {}, rm));
  });
  const addCard = h('form', { class: 'card', novalidate: true, 'aria-labelledby': 'card-h' },
    h('h2', { id: 'card-h' }, 'Saved cards'),
    table('Saved cards', ['Brand', 'Number', 'Expires', ''], cardRows, { empty: 'No saved cards.' }),
    cardFields(), errorSlot('card'), formError(),
    h('button', { type: 'submit', id: 'save-card' }, 'Save card'));
  onSubmit(addCard, async (v) => {
    const pm = await post('/v1/payment-methods', { card: cardFromValues(v) });
    toast(`Saved ${pm.brand} ending ${pm.last4}`);
    await accountPage(main);
  });

  // Auto-refill.
  const refillForm = h('form', { class: 'card', novalidate: true, 'aria-labelledby': 'refill-h' },
    h('h2', { id: 'refill-h' }, 'Auto-refill'),
    h('p', {}, 'Top the balance up from a saved card when a purchase would leave less than the threshold.'),
    field('Refill automatically', { name: 'enabled', type: 'checkbox', checked: refill.enabled }),
    h('div', { class: 'row' },
      field('When the balance falls below ($)', { name: 'trigger', inputmode: 'decimal', value: refill.trigger_mills ? refill.trigger : '10.00' }),
      field('Add ($)', { name: 'amount', inputmode: 'decimal', value: refill.amount_mills ? refill.amount : '25.00' }, 'At least $5.00')),
    field('From card', { tag: 'select', name: 'payment_method_id', options: cards.length ? cards.map((c) => ({ value: c.id, label: `${c.brand} •••• ${c.last4}`, selected: c.id === refill.payment_method_id })) : [{ value: '', label: 'Save a card first' }] }),
    formError(),
    h('button', { type: 'submit', id: 'save-refill' }, 'Save auto-refill'),
    h('p', { class: 'status', id: 'refill-status', 'aria-live': 'polite' }, refill.enabled ? `On: add ${refill.amount} below ${refill.trigger}` : 'Off'));
  onSubmit(refillForm, async (v) => {
    const body = { enabled: v.enabled };
    if (v.enabled || v.trigger) body.trigger = v.trigger;
    if (v.enabled || v.amount) body.amount = v.amount;
    if (v.payment_method_id) body.payment_method_id = v.payment_method_id;
    const r = await put('/v1/account/auto-refill', body);
    refillForm.querySelector('#refill-status').textContent = r.enabled ? `On: add ${r.amount} below ${r.trigger}` : 'Off';
    toast('Auto-refill saved');
  });

  // API keys.
  const keyRows = keys.data.map((k) => {
    const rv = h('button', { type: 'button', class: 'small', disabled: k.revoked_at ? true : undefined, 'aria-label': `Revoke key ${k.name || k.prefix}` }, 'Revoke');
    rv.addEventListener('click', async () => { if (!confirm(`Revoke ${k.prefix}…? Programs using it stop working.`)) return; await del(`/v1/account/api-keys/${encodeURIComponent(k.id)}`); toast('Key revoked'); accountPage(main); });
    return h('tr', { dataset: { id: k.id } }, h('td', {}, k.name || '—'), h('td', {}, h('code', {}, k.prefix + '…')), h('td', {}, k.mode), h('td', {}, when(k.created)), h('td', {}, k.revoked_at ? `revoked ${when(k.revoked_at)}` : 'active'), h('td', {}, rv));
  });
  const secret = h('div', { id: 'new-key', 'aria-live': 'polite' });
  const keyForm = h('form', { class: 'card', novalidate: true, 'aria-labelledby': 'keys-h' },
    h('h2', { id: 'keys-h' }, 'API keys'),
    h('p', {}, 'For the stamp CLI and your own programs. A key is shown once, when it is created.'),
    table('API keys', ['Name', 'Key', 'Mode', 'Created', 'State', ''], keyRows, { empty: 'No API keys.' }),
    h('div', { class: 'row' },
      field('Name', { name: 'name', maxlength: 63, placeholder: 'shipping laptop' }),
      field('Mode', { tag: 'select', name: 'mode', options: [{ value: 'live', label: 'Live' }, { value: 'test', label: 'Test (sandbox, test pieces)' }] })),
    formError(), h('button', { type: 'submit', id: 'create-key' }, 'Create key'), secret);
  onSubmit(keyForm, async (v) => {
    const k = await post('/v1/account/api-keys', { name: v.name || undefined, mode: v.mode });
    await accountPage(main);
    const box = document.getElementById('new-key');
    const code = h('code', { id: 'new-key-secret' }, k.key);
    const copy = h('button', { type: 'button', class: 'small' }, 'Copy');
    copy.addEventListener('click', () => navigator.clipboard.writeText(k.key).then(() => toast('Copied')));
    clear(box, h('p', { class: 'notice', tabindex: '-1' }, 'Your new key — copy it now, it will not be shown again: ', code, ' ', copy));
    box.querySelector('.notice').focus();
  });

  const txRows = txns.data.map((t) => h('tr', {}, h('td', {}, when(t.created)), h('td', {}, t.kind.replaceAll('_', ' ')), h('td', {}, h('code', {}, t.ref)), h('td', { class: 'num' }, money(t.amount_mills))));
  clear(main, title('Account'), h('p', {}, acct.email), balance, funds, addCard, refillForm, keyForm,
    h('section', { class: 'card' }, h('h2', {}, 'Recent transactions'), table('Recent transactions', ['When', 'What', 'Reference', 'Amount'], txRows)));
}

// ---- sign-up and login ----

export function authPage(main, mode, onIn) {
  const signup = mode === 'signup';
  const operator = mode === 'operator';
  const postal = mode === 'postal'; // the postal authority: an account name, not an email
  const form = h('form', { class: 'card auth', novalidate: true, 'aria-label': signup ? 'Create an account' : 'Log in' },
    postal
      ? field('Account name', { name: 'name', autocomplete: 'username', required: true }, 'As the vendor created it (stampd authority create)')
      : field('Email', { name: 'email', type: 'email', autocomplete: 'email', required: true }),
    field('Password', { name: 'password', type: 'password', autocomplete: signup ? 'new-password' : 'current-password', required: true }, signup ? '10 to 128 characters' : undefined),
    formError(),
    h('button', { type: 'submit', class: 'primary', id: 'auth-submit' }, signup ? 'Create account' : 'Log in'));
  onSubmit(form, async (v) => {
    const body = postal ? { name: v.name, password: v.password } : { email: v.email, password: v.password };
    if (!signup) body.role = postal ? 'postal' : operator ? 'operator' : 'customer';
    const s = await post(signup ? '/v1/signup' : '/v1/login', body);
    await onIn(s);
  });
  const other = signup
    ? h('p', {}, 'Have an account? ', h('a', { href: '#/login' }, 'Log in'))
    : h('p', {}, operator || postal
      ? h('a', { href: '#/login' }, 'Customer login')
      : ['New here? ', h('a', { href: '#/signup' }, 'Create an account'), ' · ', h('a', { href: '#/operator' }, 'Operator login'), ' · ', h('a', { href: '#/postal' }, 'Postal authority')]);
  clear(main, title(signup ? 'Create an account' : operator ? 'Operator login' : postal ? 'Postal authority login' : 'Log in'), form, other);
  form.querySelector('input').focus();
}
