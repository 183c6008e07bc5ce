// ui.js - small DOM helpers shared by the pages: element building without
// innerHTML (no markup from data, ever), labelled form fields, the API's
// errors shown next to the field they name, money and dates.

let uid = 0;

// h('p', {class: 'x', onclick: fn}, 'text', child, [more]) -> Element
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// A labelled input. name is the API's field name, so errors find it.
// field('Weight (oz)', {name: 'weight_oz', type: 'number', ...}, 'hint')
export function field(label, attrs, hint) {
  const id = attrs.id || `f${++uid}`;
  const tag = attrs.tag || 'input';
  const opts = attrs.options;
  const input = h(tag, { ...attrs, tag: undefined, options: undefined, id });
  if (opts) for (const o of opts) input.append(h('option', { value: o.value, selected: o.selected || undefined }, o.label));
  const hintEl = hint ? h('small', { id: id + '-hint', class: 'hint' }, hint) : null;
  const err = h('p', { id: id + '-error', class: 'field-error', 'aria-live': 'polite' });
  input.setAttribute('aria-describedby', [hintEl && hintEl.id, err.id].filter(Boolean).join(' '));
  const box = h('div', { class: 'field', dataset: { field: attrs.name || '' } });
  if (attrs.type === 'checkbox') append(box, [h('label', { class: 'check', for: id }, input, ' ', label), hintEl, err]);
  else append(box, [h('label', { for: id }, label), input, hintEl, err]);
  return box;
}

// A box that holds errors about a group of fields (the "payment" as a whole).
export function errorSlot(name) {
  return h('p', { class: 'field-error group-error', dataset: { errorFor: name }, role: 'alert' });
}

export function clearErrors(form) {
  for (const p of form.querySelectorAll('.field-error')) p.textContent = '';
  for (const i of form.querySelectorAll('[aria-invalid]')) i.removeAttribute('aria-invalid');
  const g = form.querySelector('.form-error');
  if (g) g.textContent = '';
}

// Show err (an ApiError) next to the input whose name is err.field (or the
// group slot for it), else at the form's foot. Focus goes to the field.
export function showError(form, err) {
  const msg = err.message + (err.declineCode && err.declineCode !== err.code ? ` (${err.declineCode.replaceAll('_', ' ')})` : '');
  let target = null;
  let input = null;
  if (err.field) {
    input = form.querySelector(`[name="${CSS.escape(err.field)}"]`);
    if (input) target = input.closest('.field').querySelector('.field-error');
    if (!target) target = form.querySelector(`[data-error-for="${CSS.escape(err.field)}"]`);
  }
  if (!target) target = form.querySelector('.form-error');
  if (target) target.textContent = msg;
  if (input) {
    input.setAttribute('aria-invalid', 'true');
    input.focus();
  } else if (target) {
    target.setAttribute('tabindex', '-1');
    target.focus();
  }
}

// Run fn on submit with the form's errors cleared, its button busy, and an
// ApiError shown where it belongs. fn gets the form's values by name.
export function onSubmit(form, fn) {
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const buttons = form.querySelectorAll('button[type="submit"]');
    buttons.forEach((b) => { b.disabled = true; b.setAttribute('aria-busy', 'true'); });
    try {
      await fn(values(form), ev.submitter);
    } catch (err) {
      if (err && err.code) showError(form, err);
      else { showError(form, { message: String(err && err.message ? err.message : err) }); console.error(err); }
    } finally {
      buttons.forEach((b) => { b.disabled = false; b.removeAttribute('aria-busy'); });
    }
  });
}

export function values(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name || el.matches(':disabled')) continue;
    if (el.type === 'checkbox') out[el.name] = el.checked;
    else if (el.type === 'radio') { if (el.checked) out[el.name] = el.value; }
    else out[el.name] = el.value.trim();
  }
  return out;
}

export function formError() {
  return h('p', { class: 'form-error field-error', role: 'alert' });
}

export function money(mills) {
  const neg = mills < 0;
  const cents = Math.round(Math.abs(mills) / 10);
  const s = `$${Math.floor(cents / 100).toLocaleString('en-US')}.${String(cents % 100).padStart(2, '0')}`;
  return neg ? '−' + s : s;
}

export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString('en-US', { dateStyle: 'medium', timeStyle: 'short' });
}

export function today() {
  return new Date().toISOString().slice(0, 10);
}

const classNames = { first_class_letter: 'First-Class letter', postcard: 'Postcard', large_envelope: 'Large envelope (flat)', ground_advantage: 'Ground Advantage (parcel)', priority_mail: 'Priority Mail (parcel)' };
export const mailClasses = Object.entries(classNames).map(([value, label]) => ({ value, label }));
export function className(c) {
  return classNames[c] || c;
}

export function toast(text) {
  const t = document.getElementById('toast');
  t.textContent = text;
  t.classList.add('show');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove('show'), 4000);
}

// A page heading that takes focus when the page changes, for screen readers.
export function title(text) {
  document.title = `${text} — stampd`;
  return h('h1', { tabindex: '-1', class: 'page-title' }, text);
}

export function table(caption, heads, rows, opts = {}) {
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption },
    h('table', { class: opts.class },
      h('caption', { class: opts.showCaption ? '' : 'sr-only' }, caption),
      h('thead', {}, h('tr', {}, heads.map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: heads.length, class: 'empty' }, opts.empty || 'Nothing here yet.')))));
}
