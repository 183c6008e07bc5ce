// webhooks.js - the customer's Webhooks page (docs/webhooks.md): the
// endpoints of the session's account, adding one (its signing secret shown
// once), enabling/disabling, rotating the secret, removing, the delivery
// log of each endpoint, and the "send test event" button.

import { get, post, del } from './api.js';
import { h, clear, field, formError, onSubmit, when, toast, title, table } from './ui.js';

const types = [
  ['indicium.created', 'A stamp was bought'],
  ['refund.decided', 'A refund was decided'],
  ['funds.added', 'Funds were added'],
  ['auto_refill.failed', 'An auto-refill failed'],
  ['balance.low', 'The balance ran low'],
  ['batch.completed', 'A bulk purchase finished'],
];

// The secret, once: with a copy button, focused so a screen reader says it.
function secretBox(box, ep, what) {
  const code = h('code', { id: 'webhook-secret' }, ep.secret);
  const copy = h('button', { type: 'button', class: 'small' }, 'Copy');
  copy.addEventListener('click', () => navigator.clipboard.writeText(ep.secret).then(() => toast('Copied')));
  clear(box, h('p', { class: 'notice', tabindex: '-1' },
    `${what} — copy the signing secret now, it will not be shown again: `, code, ' ', copy));
  box.querySelector('.notice').focus();
}

function outcomeText(a) {
  if (a.outcome === 'delivered') return `delivered (${a.status_code})`;
  return `${a.outcome}: ${a.error || (a.status_code ? `HTTP ${a.status_code}` : 'no answer')}`;
}

async function showLog(slot, ep) {
  const log = await get(`/v1/webhooks/${encodeURIComponent(ep.id)}/deliveries`, { limit: 50 });
  const rows = log.data.map((a) => h('tr', { dataset: { event: a.event_id } },
    h('td', {}, when(a.created)), h('td', {}, a.event_type), h('td', {}, h('code', {}, a.event_id)),
    h('td', { class: 'num' }, String(a.attempt)), h('td', { class: 'outcome' }, outcomeText(a)),
    h('td', { class: 'num' }, `${a.latency_ms} ms`), h('td', {}, h('code', {}, a.response || ''))));
  slot.hidden = false;
  const again = h('button', { type: 'button', class: 'small', id: 'refresh-log' }, 'Refresh');
  again.addEventListener('click', () => showLog(slot, ep));
  clear(slot, h('h2', { tabindex: '-1', id: 'log-title' }, `Deliveries to ${ep.url}`),
    table(`Deliveries to ${ep.url}, newest first`, ['When', 'Event', 'Id', 'Attempt', 'Outcome', 'Latency', 'Answer'], rows,
      { empty: 'Nothing sent yet.', class: 'delivery-log' }), again);
}

export async function webhooksPage(main) {
  const eps = (await get('/v1/webhooks')).data;
  const secret = h('div', { id: 'new-secret', 'aria-live': 'polite' });
  const detail = h('section', { id: 'webhook-log', class: 'card', 'aria-live': 'polite', hidden: true });
  const rows = eps.map((ep) => {
    const test = h('button', { type: 'button', class: 'small', 'aria-label': `Send a test event to ${ep.url}` }, 'Send test event');
    test.addEventListener('click', async () => {
      const ev = await post(`/v1/webhooks/${encodeURIComponent(ep.id)}/test`, {});
      toast(`Test event ${ev.id} on its way`);
      setTimeout(() => showLog(detail, ep), 1500);
    });
    const logBtn = h('button', { type: 'button', class: 'small', 'aria-label': `Deliveries to ${ep.url}` }, 'Deliveries');
    logBtn.addEventListener('click', async () => { await showLog(detail, ep); detail.querySelector('h2').focus(); });
    const toggle = h('button', { type: 'button', class: 'small', 'aria-label': `${ep.status === 'enabled' ? 'Disable' : 'Enable'} ${ep.url}` },
      ep.status === 'enabled' ? 'Disable' : 'Enable');
    toggle.addEventListener('click', async () => {
      await post(`/v1/webhooks/${encodeURIComponent(ep.id)}`, { disabled: ep.status === 'enabled' });
      await webhooksPage(main);
    });
    const rotate = h('button', { type: 'button', class: 'small', 'aria-label': `New secret for ${ep.url}` }, 'New secret');
    rotate.addEventListener('click', async () => {
      if (!confirm('A new signing secret replaces the old one at once. Go on?')) return;
      const r = await post(`/v1/webhooks/${encodeURIComponent(ep.id)}/rotate-secret`, {});
      secretBox(document.getElementById('new-secret'), r, 'New secret');
    });
    const rm = h('button', { type: 'button', class: 'small', 'aria-label': `Remove ${ep.url}` }, 'Remove');
    rm.addEventListener('click', async () => {
      if (!confirm(`Remove ${ep.url}? It gets no more events.`)) return;
      await del(`/v1/webhooks/${encodeURIComponent(ep.id)}`);
      toast('Endpoint removed');
      await webhooksPage(main);
    });
    return h('tr', { dataset: { id: ep.id } },
      h('td', {}, h('code', {}, ep.url), ep.description ? h('div', { class: 'hint' }, ep.description) : null),
      h('td', {}, ep.enabled_events.join(', ')), h('td', { class: 'status' }, ep.status),
      h('td', { class: 'actions' }, test, logBtn, toggle, rotate, rm));
  });
  const form = h('form', { class: 'card', novalidate: true, 'aria-labelledby': 'add-h' },
    h('h2', { id: 'add-h' }, 'Add an endpoint'),
    field('URL', { name: 'url', type: 'url', required: true, placeholder: 'https://shop.example/stampd-hooks', maxlength: 511 },
      'https only; stampd POSTs signed events here'),
    field('Description (optional)', { name: 'description', maxlength: 255 }),
    h('fieldset', { class: 'events' }, h('legend', {}, 'Events'),
      field('Every event', { name: 'all', type: 'checkbox', checked: true }),
      types.map(([t, label]) => field(`${label} (${t})`, { name: 'ev.' + t, type: 'checkbox' })),
      h('p', { class: 'field-error group-error', dataset: { errorFor: 'enabled_events' }, role: 'alert' })),
    formError(),
    h('button', { type: 'submit', class: 'primary', id: 'add-webhook' }, 'Add endpoint'));
  onSubmit(form, async (v) => {
    const events = v.all ? ['*'] : types.map(([t]) => t).filter((t) => v['ev.' + t]);
    const body = { url: v.url, enabled_events: events };
    if (v.description) body.description = v.description;
    const ep = await post('/v1/webhooks', body);
    await webhooksPage(main);
    secretBox(document.getElementById('new-secret'), ep, `Endpoint ${ep.url} added`);
  });
  clear(main, title('Webhooks'),
    h('p', {}, 'Your shop software hears about stamps, refunds and money as it happens. Each event is signed with the endpoint\'s secret (Stampd-Signature) and retried for three days until your endpoint answers 2xx; see docs/webhooks.md.'),
    secret,
    h('section', { class: 'card' }, h('h2', {}, 'Endpoints'),
      table('Webhook endpoints', ['URL', 'Events', 'Status', ''], rows, { empty: 'No endpoints yet.' })),
    detail, form);
}
