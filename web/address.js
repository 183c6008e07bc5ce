// address.js - the buy form's return and delivery addresses: the fields
// (name, company, street 1 and 2, city, state, ZIP), checked in the browser
// and composed into the API's text block (1-6 lines of at most 60
// characters, the last `CITY ST ZIP`, capitals without punctuation as USPS
// Publication 28 asks), the return address remembered per customer in this
// browser, and the server's field errors and address corrections shown at
// the fields they name.

import { h, field, errorSlot } from './ui.js';

export const STATES = ['AL', 'AK', 'AZ', 'AR', 'CA', 'CO', 'CT', 'DE', 'DC', 'FL', 'GA', 'HI', 'ID', 'IL', 'IN', 'IA', 'KS', 'KY',
  'LA', 'ME', 'MD', 'MA', 'MI', 'MN', 'MS', 'MO', 'MT', 'NE', 'NV', 'NH', 'NJ', 'NM', 'NY', 'NC', 'ND', 'OH', 'OK', 'OR', 'PA',
  'RI', 'SC', 'SD', 'TN', 'TX', 'UT', 'VT', 'VA', 'WA', 'WV', 'WI', 'WY', 'AS', 'GU', 'MP', 'PR', 'VI', 'UM', 'AA', 'AE', 'AP'];

// The parts of an address, in the order they are printed.
const PARTS = [
  { key: 'name', label: 'Name', attrs: { autocomplete: 'name', maxlength: 60 } },
  { key: 'company', label: 'Company (optional)', attrs: { autocomplete: 'organization', maxlength: 60 } },
  { key: 'street1', label: 'Street address', attrs: { autocomplete: 'address-line1', maxlength: 60 } },
  { key: 'street2', label: 'Apartment, suite, unit (optional)', attrs: { autocomplete: 'address-line2', maxlength: 60 } },
  { key: 'city', label: 'City', attrs: { autocomplete: 'address-level2', maxlength: 40 } },
  { key: 'state', label: 'State', attrs: { autocomplete: 'address-level1', maxlength: 2, tag: 'select' } },
  { key: 'zip', label: 'ZIP Code', attrs: { autocomplete: 'postal-code', inputmode: 'numeric', maxlength: 10 } },
];

const LINE_MAX = 60;
const storeKey = (customerId) => `stampd.return_address.${customerId}`;

// The remembered return address of this customer in this browser, or {}.
export function rememberedReturn(customerId) {
  try {
    const v = JSON.parse(localStorage.getItem(storeKey(customerId)) || '{}');
    return v && typeof v === 'object' ? v : {};
  } catch {
    return {};
  }
}

export function rememberReturn(customerId, parts) {
  if (parts) localStorage.setItem(storeKey(customerId), JSON.stringify(parts));
  else localStorage.removeItem(storeKey(customerId));
}

// A fieldset of the address fields named `${prefix}.name` ... `${prefix}.zip`,
// prefilled from initial ({name, company, ...}); legend for people.
export function addressFieldset(prefix, legend, initial = {}, extra = null) {
  const stateOpts = [{ value: '', label: '—' }, ...STATES.map((s) => ({ value: s, label: s, selected: initial.state === s }))];
  const f = (p) => field(p.label, { ...p.attrs, name: `${prefix}.${p.key}`, value: p.key === 'state' ? undefined : (initial[p.key] || ''), options: p.key === 'state' ? stateOpts : undefined });
  const [name, company, street1, street2, city, state, zip] = PARTS.map(f);
  return h('fieldset', { class: 'address', id: prefix.replace('_', '-') },
    h('legend', {}, legend),
    h('div', { class: 'row' }, name, company),
    h('div', { class: 'row' }, street1, street2),
    h('div', { class: 'row' }, city, state, zip),
    errorSlot(prefix), extra);
}

// The parts of prefix's address from the form's values: null when all are empty.
export function addressParts(v, prefix) {
  const out = {};
  let any = false;
  for (const p of PARTS) {
    out[p.key] = (v[`${prefix}.${p.key}`] || '').trim();
    if (out[p.key]) any = true;
  }
  return any ? out : null;
}

// USPS style: capitals, no periods or commas, single spaces.
const clean = (s) => s.toUpperCase().replace(/[.,]/g, ' ').replace(/\s+/g, ' ').trim();

// {text, errors}: the API's text block of parts, and the field errors
// ([{field, message}], field names as the inputs') found on the way.
export function composeAddress(parts, prefix) {
  const errors = [];
  const need = (key, msg) => { if (!parts[key]) errors.push({ field: `${prefix}.${key}`, message: msg }); };
  if (!parts.name && !parts.company) errors.push({ field: `${prefix}.name`, message: 'Give a name or a company' });
  need('street1', 'Give the street address');
  need('city', 'Give the city');
  need('state', 'Choose the state');
  need('zip', 'Give the ZIP Code');
  if (parts.state && !STATES.includes(parts.state.toUpperCase())) errors.push({ field: `${prefix}.state`, message: 'Choose a US state or territory' });
  const digits = parts.zip.replace(/[\s-]/g, '');
  if (parts.zip && !/^\d{5}(\d{4})?$/.test(digits)) errors.push({ field: `${prefix}.zip`, message: 'A ZIP Code is 5 digits, or ZIP+4 as 12345-6789' });
  const zip = digits.length === 9 ? `${digits.slice(0, 5)}-${digits.slice(5)}` : digits;
  const lines = [parts.name, parts.company, parts.street1, parts.street2].map(clean).filter(Boolean);
  lines.push(`${clean(parts.city)} ${parts.state.toUpperCase()} ${zip}`);
  const keys = ['name', 'company', 'street1', 'street2'].filter((k) => clean(parts[k]));
  lines.forEach((l, i) => {
    if (l.length > LINE_MAX) errors.push({ field: `${prefix}.${i < keys.length ? keys[i] : 'city'}`, message: `At most ${LINE_MAX} characters on one line` });
  });
  return { text: lines.join('\n'), errors, zip: digits.slice(0, 5) };
}

// Show errors ([{field, message}]) at their fields in form; an error naming
// the whole address (`to_address`) or a part the form does not have goes to
// the address's own slot. Returns whether any was shown; the first field is
// focused.
export function showFieldErrors(form, errors) {
  let first = null;
  for (const e of errors) {
    let target = null;
    const input = e.field ? form.querySelector(`[name="${CSS.escape(e.field)}"]`) : null;
    if (input) {
      target = input.closest('.field').querySelector('.field-error');
      input.setAttribute('aria-invalid', 'true');
      if (!first) first = input;
    } else if (e.field) {
      const base = e.field.split(/[.[]/)[0];
      target = form.querySelector(`[data-error-for="${CSS.escape(base)}"]`);
      if (target && !first) first = target;
    }
    if (target) target.textContent = target.textContent ? `${target.textContent} ${e.message}` : e.message;
  }
  if (first) {
    if (first.matches('.field-error')) first.setAttribute('tabindex', '-1');
    first.focus();
  }
  return first !== null;
}

// A server's name for a part of an address, as the form names it
// ("to_address.postal_code" -> "to_address.zip"); others unchanged.
const ALIASES = { postal_code: 'zip', zip_code: 'zip', zip5: 'zip', line1: 'street1', address1: 'street1', street: 'street1',
  line2: 'street2', address2: 'street2', region: 'state', state_code: 'state', organization: 'company' };
export function formField(name) {
  const m = /^(from_address|to_address)[.[]([a-z_0-9]+)\]?$/.exec(name || '');
  return m ? `${m[1]}.${ALIASES[m[2]] || m[2]}` : name;
}

// Every field error of an API error: the list (`errors`) when the answer
// has one, else the one error.
export function apiFieldErrors(err) {
  const list = (err && (err.errors || (err.details && err.details.errors))) || null;
  if (Array.isArray(list) && list.length) return list.map((e) => ({ field: formField(e.field) || null, message: e.message || e.code }));
  return err && err.field ? [{ field: formField(err.field), message: err.message }] : [];
}

// The corrections the server reports having made to the addresses
// (`address_corrections`, when the answer has them) as lines of text.
export function correctionLines(ind) {
  const c = ind && ind.address_corrections;
  if (!c) return [];
  const one = (x) => {
    if (typeof x === 'string') return x;
    if (!x || typeof x !== 'object') return String(x);
    const where = x.field || x.part || '';
    const from = x.from ?? x.original ?? x.was;
    const to = x.to ?? x.corrected ?? x.now ?? x.value;
    if (from !== undefined || to !== undefined) return `${where ? where + ': ' : ''}${from ?? ''} → ${to ?? ''}`;
    return x.message || JSON.stringify(x);
  };
  if (Array.isArray(c)) return c.map(one);
  if (typeof c === 'object') return Object.entries(c).flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => `${k}: ${one(x)}`) : [`${k}: ${one(v)}`]));
  return [String(c)];
}
