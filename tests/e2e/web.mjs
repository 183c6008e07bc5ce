// web.mjs - the stampd web UI in a real browser (Debian's chromium driven
// by playwright-core). Run by tests/integration/test_web.py:
//
//   node tests/e2e/web.mjs BASE_URL OUTDIR
//
// A new customer signs up, logs out and in again (by keyboard), saves a
// sandbox card, sees a bad card number and a declined card refused next to
// the right field, adds funds, sets auto-refill, makes and revokes an API
// key, sees the live price, buys stamps, downloads label PDFs in two layouts
// (start position and offsets), browses and filters the history and gets a
// refund. An operator watches the PSD registers move, sees the charts, the
// servers and the ledger check. Then media: the operator adds an affiliate
// (the customer's own, with a high threshold) and an unpaid batch, downloads
// its CSV and blank-media PDF and looks a serial up; the customer buys on a
// label, meets medium_payment_required and adds the sheet to the purchase,
// is refused the same label again, buys sheet 2 first and then prints on it;
// the operator sees the label used, the chart of labels remaining and ships
// the resupply order the purchase opened. Along the way: the security headers, the
// cookie flags, a POST without the CSRF token, labels on every input, no CSP
// violations, a phone-sized screen. Screenshots and the PDFs go to OUTDIR;
// OUTDIR/result.json tells test_web.py what to decode and verify.

import { startRun } from './run.mjs';
import fs from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';

const [base, outdir] = process.argv.slice(2);
if (!base || !outdir) {
  console.error('usage: node web.mjs BASE_URL OUTDIR');
  process.exit(2);
}
const result = { screenshots: [], labels: [], checks: [] };
const { browser, dialogs, step, watch, shot, assertLabelled, finish } = await startRun(outdir, result);

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const sumPieces = (page) => page.$$eval('#registers td.pieces', (tds) => tds.reduce((a, td) => a + Number(td.textContent), 0));
const descOf = (page, psd) => page.textContent(`#registers tr[data-psd="${psd}"] td.desc`);

let failure = null;
try {
  // ---- the page itself: headers ----
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await ctx.newPage();
  watch(page, 'customer');
  const resp = await page.goto(base + '/');
  const hd = resp.headers();
  assert.equal(resp.status(), 200);
  assert.equal(hd['content-security-policy'].startsWith(CSP), true, 'CSP: ' + hd['content-security-policy']);
  assert.equal(hd['x-frame-options'], 'DENY');
  assert.equal(hd['referrer-policy'], 'no-referrer');
  assert.equal(hd['x-content-type-options'], 'nosniff');
  assert.match(hd['content-type'], /^text\/html/);
  step('security headers on / (CSP, X-Frame-Options, Referrer-Policy, nosniff)');
  const js = await ctx.request.get(base + '/app.js');
  assert.match(js.headers()['content-type'], /^text\/javascript/);
  assert.ok(js.headers()['etag']);
  const again = await ctx.request.get(base + '/app.js', { headers: { 'If-None-Match': js.headers()['etag'] } });
  assert.equal(again.status(), 304);
  assert.equal((await ctx.request.get(base + '/nope.js')).status(), 404);
  step('static files: types, ETag revalidation (304), unknown path 404');

  // ---- operator: the registers before the customer buys ----
  const octx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const op = await octx.newPage();
  watch(op, 'operator');
  await op.goto(base + '/#/operator');
  await op.getByLabel('Email').fill('operator@stampd.test');
  await op.getByLabel('Password').fill('stampd-demo-password');
  await op.getByRole('button', { name: 'Log in' }).click();
  await op.waitForSelector('#registers tr[data-psd]');
  await assertLabelled(op, 'operator registers');
  const piecesBefore = await sumPieces(op);
  const desc1Before = await descOf(op, 1);
  step(`operator logged in; PSD registers shown (${piecesBefore} pieces)`);

  // Suspend and resume a PSD from its row (the test PSD: the live sales below are untouched).
  const testPsd = await op.locator('#registers tr[data-psd]', { hasText: '(test)' }).getAttribute('data-psd');
  const statusIs = (id, text) => op.waitForFunction(([i, t]) => document.querySelector(`#registers tr[data-psd="${i}"] td.status`)?.textContent === t, [id, text]);
  await op.getByRole('button', { name: `Suspend PSD ${testPsd}` }).click();
  await statusIs(testPsd, 'suspended (operator)');
  await op.getByRole('button', { name: `Resume PSD ${testPsd}` }).click();
  await statusIs(testPsd, 'active');
  step(`operator: PSD ${testPsd} suspended and resumed from the registers table`);

  // The low-deposit threshold: above the deposit a banner says so; 0.00 takes it away.
  assert.equal(await op.$('#deposit-low'), null, 'no low-deposit banner without a threshold');
  await op.getByLabel('Warn when the postal deposit is below $').fill('1000000.00');
  await op.getByRole('button', { name: 'Save threshold' }).click();
  await op.waitForSelector('#deposit-low[role="alert"]');
  assert.match(await op.textContent('#deposit-low'), /below the threshold of \$1,?000,000\.00/);
  await shot(op, 'operator-deposit-low');
  await op.getByLabel('Warn when the postal deposit is below $').fill('0.00');
  await op.getByRole('button', { name: 'Save threshold' }).click();
  await op.waitForSelector('#deposit-low', { state: 'detached' });
  step('operator: a low-deposit threshold above the deposit shows the banner; 0.00 removes it');

  // ---- customer: sign up ----
  await page.waitForSelector('form[aria-label="Log in"]');
  await assertLabelled(page, 'login');
  await page.getByRole('link', { name: 'Create an account' }).click();
  const email = `web-${Date.now()}@example.test`;
  const password = 'correct horse battery';
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill('short');
  await page.getByRole('button', { name: 'Create account' }).click();
  const pwErr = page.locator('[name="password"] ~ .field-error');
  await pwErr.waitFor();
  assert.match(await pwErr.textContent(), /10 to 128/);
  assert.equal(await page.getAttribute('[name="password"]', 'aria-invalid'), 'true');
  step('weak password: the server\'s error next to the password field');
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL(/#\/buy/);
  await page.waitForSelector('#price');
  step('signed up: ' + email);

  const cookies = await ctx.cookies();
  const sess = cookies.find((c) => c.name === 'stampd_session');
  assert.ok(sess, 'session cookie');
  assert.equal(sess.httpOnly, true);
  assert.equal(sess.sameSite, 'Strict');
  assert.equal(sess.secure, false, 'plain HTTP: not Secure (Secure behind X-Forwarded-Proto: https)');
  assert.equal(await page.evaluate(() => document.cookie.includes('stampd_session')), false, 'scripts cannot read the session');
  step('session cookie: HttpOnly, SameSite=Strict, not readable by scripts');

  // A forged state change: the cookie rides along, the CSRF token does not.
  const forged = await ctx.request.post(base + '/v1/payment-methods', {
    headers: { Origin: 'https://evil.example', 'Content-Type': 'application/json' },
    data: { card: { number: '4242424242424242', exp_month: 12, exp_year: 2040, cvc: '123' } },
  });
  assert.equal(forged.status(), 403);
  assert.equal((await forged.json()).error.code, 'csrf_failed');
  const forged2 = await page.evaluate(async () => {
    const r = await fetch('/v1/logout', { method: 'POST', credentials: 'include' });
    return [r.status, (await r.json()).error.code];
  });
  assert.deepEqual(forged2, [403, 'csrf_failed']);
  step('POST with the session cookie but no X-CSRF-Token: 403 csrf_failed');

  // ---- log out, log in again by keyboard ----
  await page.click('#logout');
  await page.waitForSelector('form[aria-label="Log in"]');
  assert.equal((await ctx.cookies()).some((c) => c.name === 'stampd_session' && c.value), false, 'cookie cleared');
  await page.waitForFunction(() => document.activeElement && document.activeElement.name === 'email');
  await page.keyboard.type(email);
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.name), 'password');
  await page.keyboard.type(password);
  await page.keyboard.press('Enter');
  await page.waitForURL(/#\/buy/);
  step('logged out (cookie cleared) and in again with the keyboard only');

  // ---- account: cards, funds, auto-refill, API keys ----
  await page.goto(base + '/#/account');
  await page.waitForSelector('#balance');
  await assertLabelled(page, 'account');
  assert.equal(await page.textContent('#balance'), '$0.00');
  const cardForm = page.locator('form[aria-labelledby="card-h"]');
  await cardForm.getByLabel('Card number').fill('4242 4242 4242 4241');
  await cardForm.getByLabel('CVC').fill('123');
  await cardForm.getByLabel('Billing ZIP').fill('94107');
  await cardForm.getByRole('button', { name: 'Save card' }).click();
  const numErr = cardForm.locator('[name="card.number"] ~ .field-error');
  await numErr.waitFor();
  assert.ok((await numErr.textContent()).length > 0);
  assert.equal(await cardForm.locator('[name="card.number"]').getAttribute('aria-invalid'), 'true');
  step('invalid card number: card_invalid shown next to the card number');
  await cardForm.getByLabel('Card number').fill('4242 4242 4242 4242');
  await cardForm.getByRole('button', { name: 'Save card' }).click();
  await page.waitForSelector('td:text-is("•••• 4242")');
  step('sandbox card saved');

  const funds = page.locator('form[aria-labelledby="funds-h"]');
  await funds.getByLabel('Pay with').selectOption('new');
  await funds.getByLabel('Card number').fill('4000000000000002');
  await funds.getByLabel('CVC').fill('123');
  await funds.getByLabel('Billing ZIP').fill('94107');
  await funds.getByLabel('Amount ($)').fill('25.00');
  await funds.getByRole('button', { name: 'Add funds' }).click();
  const payErr = funds.locator('[data-error-for="payment"]');
  await payErr.waitFor({ state: 'visible' });
  assert.match(await payErr.textContent(), /declined/i);
  await shot(page, 'customer-declined-card');
  assert.equal(await page.textContent('#balance'), '$0.00');
  step('declined card: card_declined shown at the payment, balance unchanged');

  const cardId = await funds.getByLabel('Pay with').evaluate((s) => s.options[0].value);
  await funds.getByLabel('Pay with').selectOption(cardId);
  await funds.getByRole('button', { name: 'Add funds' }).click();
  await page.waitForURL(/funded=/);
  await page.waitForFunction(() => document.querySelector('#balance')?.textContent === '$25.00');
  step('added $25.00 with the saved card');

  const refill = page.locator('form[aria-labelledby="refill-h"]');
  await refill.getByLabel('Refill automatically').check();
  await refill.getByLabel('When the balance falls below ($)').fill('5.00');
  await refill.getByLabel('Add ($)').fill('20.00');
  await refill.getByRole('button', { name: 'Save auto-refill' }).click();
  await page.waitForFunction(() => document.querySelector('#refill-status')?.textContent === 'On: add 20.00 below 5.00');
  step('auto-refill on: add $20.00 below $5.00');

  const keys = page.locator('form[aria-labelledby="keys-h"]');
  await keys.getByLabel('Name').fill('e2e laptop');
  await keys.getByRole('button', { name: 'Create key' }).click();
  const secret = await page.waitForSelector('#new-key-secret');
  assert.match(await secret.textContent(), /^sk_live_/);
  await shot(page, 'customer-account');
  await page.getByRole('button', { name: 'Revoke key e2e laptop' }).click();
  await page.waitForSelector('text=/revoked /');
  assert.equal(await page.$('#new-key-secret'), null, 'the secret is shown once');
  step('API key created (shown once) and revoked');

  // ---- buy: live price, errors, two stamps ----
  await page.goto(base + '/#/buy');
  await page.waitForSelector('#price');
  await assertLabelled(page, 'buy');
  const buy = page.locator('form.buy-form');
  await buy.getByLabel('Mail class').selectOption('postcard');
  await buy.getByLabel('Weight (oz)').fill('5');
  const wErr = buy.locator('[name="weight_oz"] ~ .field-error');
  await page.waitForFunction(() => /at most 1\.0 oz/.test(document.querySelector('[name="weight_oz"] ~ .field-error')?.textContent || ''));
  step('live price: an overweight postcard is refused next to the weight: ' + (await wErr.textContent()));
  await buy.getByLabel('Weight (oz)').fill('1');
  const quote = await (await ctx.request.get(base + '/v1/rates/quote?mail_class=postcard&weight_oz=1')).json();
  const price = '$' + quote.postage;
  await page.waitForFunction((p) => document.querySelector('#price').textContent.startsWith(p), price);
  assert.equal(await page.textContent('#buy-button'), 'Buy postage for ' + price);
  step('live price shown before paying: ' + (await page.textContent('#price')));
  await buy.getByLabel('From ZIP').fill('94107');
  await buy.getByLabel('To ZIP').fill('1000');
  await buy.getByLabel('Pay with').selectOption('balance');
  await page.click('#buy-button');
  await buy.locator('[name="to_zip"] ~ .field-error').waitFor();
  assert.equal(await buy.locator('[name="to_zip"]').getAttribute('aria-invalid'), 'true');
  step('bad ZIP: invalid_zip next to To ZIP');
  await buy.getByLabel('To ZIP').fill('10001-1234');
  await page.click('#buy-button');
  await page.waitForSelector('#result .ind-id');
  const keepId = (await page.textContent('#result .ind-id')).trim();
  await page.waitForFunction(() => document.querySelector('img.preview')?.naturalWidth > 0);
  await shot(page, 'customer-bought');
  step('bought a postcard stamp: ' + keepId);

  // Download the label: 4x6 first, then a partly used Avery sheet with offsets.
  const downloads = [
    { layout: 'label-4x6', file: 'label-4x6.pdf' },
    { layout: 'avery-5160', start: ['3', '2'], offset: ['0.5', '-0.25'], file: 'label-avery-5160.pdf' },
  ];
  for (const d of downloads) {
    const pf = page.locator('form.print-form');
    await pf.getByLabel('Layout').selectOption(d.layout);
    if (d.start) {
      await pf.getByLabel('Start row').fill(d.start[0]);
      await pf.getByLabel('Start column').fill(d.start[1]);
    }
    await pf.getByLabel('Offset right (mm)').fill(d.offset ? d.offset[0] : '0');
    await pf.getByLabel('Offset down (mm)').fill(d.offset ? d.offset[1] : '0');
    const [dl] = await Promise.all([page.waitForEvent('download'), pf.getByRole('button', { name: 'Download PDF' }).click()]);
    const file = path.join(outdir, d.file);
    await dl.saveAs(file);
    assert.equal(dl.suggestedFilename(), `${keepId}-${d.layout}.pdf`);
    assert.equal(fs.readFileSync(file).subarray(0, 5).toString(), '%PDF-');
    result.labels.push({ file, indicium_id: keepId, layout: d.layout, start: d.start || null, offset: d.offset || null });
  }
  step('label PDFs downloaded: label-4x6, avery-5160 from row 3 column 2 with offsets 0.5,-0.25 mm');
  const pf = page.locator('form.print-form');
  await pf.getByLabel('Start row').fill('11');
  await pf.getByRole('button', { name: 'Download PDF' }).click();
  await pf.locator('[data-error-for="start"]').waitFor({ state: 'visible' });
  step('start row 11 on a 10-row sheet: ' + (await pf.locator('[data-error-for="start"]').textContent()));

  // The operator sees the registers move.
  await op.click('#refresh');
  await op.waitForFunction((n) => Array.from(document.querySelectorAll('#registers td.pieces')).reduce((a, td) => a + Number(td.textContent), 0) > n, piecesBefore);
  const movedPsd = await op.evaluate((before) => before, desc1Before);
  void movedPsd;
  step(`operator: registers moved after the purchase (${piecesBefore} -> ${await sumPieces(op)} pieces)`);

  // A second stamp, to refund: the Buy link starts the form afresh.
  await page.getByRole('link', { name: 'Buy', exact: true }).click();
  await page.waitForSelector('#result:empty', { state: 'attached' });
  await page.waitForSelector('#price');
  await buy.getByLabel('Mail class').selectOption('first_class_letter');
  await buy.getByLabel('Weight (oz)').fill('2');
  await buy.getByLabel('From ZIP').fill('94107');
  await buy.getByLabel('To ZIP').fill('60601');
  await buy.getByLabel('Pay with').selectOption('balance');
  await page.waitForFunction(() => /^Buy postage for/.test(document.querySelector('#buy-button').textContent));
  await page.click('#buy-button');
  await page.waitForSelector('#result .ind-id');
  const refundId = (await page.textContent('#result .ind-id')).trim();
  step('bought a letter stamp to refund: ' + refundId);

  // ---- history: filters, search, pagination, refund ----
  await page.goto(base + '/#/history');
  await page.waitForSelector('#history-list tbody tr[data-id]');
  await assertLabelled(page, 'history');
  assert.equal(await page.locator('#history-list tbody tr[data-id]').count(), 2);
  await page.getByLabel('Mode').selectOption('test');
  await page.click('#apply-filters');
  await page.waitForSelector('td.empty');
  await page.getByLabel('Mode').selectOption('live');
  await page.getByRole('searchbox', { name: 'Search' }).fill('10001');
  await page.click('#apply-filters');
  await page.waitForFunction(() => location.hash.includes('q=10001'));
  await page.waitForSelector(`#history-list tr[data-id="${keepId}"]`);
  assert.equal(await page.locator('#history-list tbody tr[data-id]').count(), 1);
  await shot(page, 'customer-history-filtered');
  step('history: mode=test shows nothing, live + search 10001 shows only the postcard');
  await page.goto(base + '/#/history');
  await page.waitForSelector(`#history-list tr[data-id="${refundId}"]`);
  await page.getByRole('button', { name: `Request a refund for ${refundId}` }).click();
  await page.waitForFunction((id) => /Refund approved/.test(document.getElementById('status-' + id).textContent), refundId);
  await page.getByRole('button', { name: `Refund status of ${refundId}` }).click();
  await page.waitForFunction((id) => /Refund approved: \$[0-9.]+ to your balance/.test(document.getElementById('status-' + id).textContent), refundId);
  step('refund requested and approved: ' + (await page.textContent('#status-' + refundId)));
  await page.goto(base + '/#/history?refunded=true');
  await page.waitForSelector(`#history-list tr[data-id="${refundId}"]`);
  assert.equal(await page.locator('#history-list tbody tr[data-id]').count(), 1);
  await page.getByRole('button', { name: `Reprint ${keepId}` }).count().then((n) => assert.equal(n, 0));
  await page.goto(base + '/#/history?refunded=false');
  await page.waitForSelector(`#history-list tr[data-id="${keepId}"]`);
  await page.getByRole('button', { name: `Reprint ${keepId}` }).click();
  await page.waitForFunction(() => document.querySelector('#history-detail img.preview')?.naturalWidth > 0);
  await shot(page, 'customer-history-reprint');
  step('history filter refunded=true/false; reprint preview');

  // ---- a phone ----
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  await phone.addCookies((await ctx.cookies()).filter((c) => c.name === 'stampd_session'));
  const pp = await phone.newPage();
  watch(pp, 'phone');
  await pp.goto(base + '/#/buy');
  await pp.waitForSelector('#price');
  const overflow = await pp.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `no sideways scrolling on a phone (overflow ${overflow}px)`);
  await shot(pp, 'phone-buy');
  await pp.goto(base + '/#/history');
  await pp.waitForSelector('#history-list tbody tr[data-id]');
  await shot(pp, 'phone-history');
  step('phone (390x844): buy and history pages fit the width');

  // ---- operator: charts, servers, ledger ----
  await op.click('#refresh');
  await op.waitForSelector('#chart-sales svg rect.bar', { state: 'attached' });
  const bars = await op.$$eval('#chart-sales svg rect.bar', (rs) => rs.map((r) => Number(r.dataset.value)));
  assert.equal(bars.length, 30);
  assert.ok(bars.at(-1) > 0, 'today has sales in the chart');
  const lines = await op.$$eval('#chart-registers svg path.line', (ps) => ps.map((p) => p.getAttribute('d')));
  assert.ok(lines.length >= 1 && lines.every((d) => d.split('L').length === 30), 'one 30-point line per live PSD');
  assert.ok(await op.$('#chart-sales svg title'), 'the chart has a title');
  await shot(op, 'operator-registers');
  step(`operator charts: ${bars.length} bars (today ${bars.at(-1)} mills), ${lines.length} register lines`);
  await op.getByRole('link', { name: 'Servers' }).click();
  await op.waitForSelector('#servers tr[data-server]');
  assert.match(await op.textContent('#servers tr[data-server]'), /healthy/);
  await shot(op, 'operator-servers');
  step('operator: servers with health and share of traffic');

  // Drain every processor: the last one asks first; the registers page then
  // says in red why nothing can be sold (GET /readyz), until one is back.
  const serverIds = await op.$$eval('#servers tr[data-server]', (rs) => rs.map((r) => r.dataset.server));
  const statusOf = (id, t) => op.waitForFunction(([i, s]) => document.querySelector(`#servers tr[data-server="${i}"] td:nth-child(3)`)?.textContent === s, [id, t]);
  for (const [i, id] of serverIds.entries()) {
    const asked = dialogs.length;
    await op.getByRole('button', { name: `Drain ${id}` }).click();
    await statusOf(id, 'draining');
    const last = i === serverIds.length - 1;
    assert.equal(dialogs.length - asked, last ? 1 : 0, `a confirmation only for the last active processor (${id})`);
    if (last) assert.match(dialogs.at(-1), /last active processor/);
  }
  await op.getByRole('link', { name: 'Registers' }).click();
  await op.waitForSelector('#not-ready[role="alert"] li[data-code="no_usable_psd"]');
  await shot(op, 'operator-not-ready');
  await op.getByRole('link', { name: 'Servers' }).click();
  for (const id of serverIds) {
    await op.getByRole('button', { name: `Activate ${id}` }).click();
    await statusOf(id, 'active');
  }
  await op.getByRole('link', { name: 'Registers' }).click();
  await op.waitForSelector('#registers tr[data-psd]');
  await op.waitForFunction(async () => (await fetch('/readyz')).status === 200);
  await op.click('#refresh');
  await op.waitForSelector('#not-ready', { state: 'detached' });
  step('operator: draining the last processor asks first; the registers page shows why nothing sells, until they are back');
  await op.getByRole('link', { name: 'Ledger' }).click();
  await op.waitForSelector('#ledger-verdict');
  assert.match(await op.textContent('#ledger-verdict'), /The books balance/);
  await shot(op, 'operator-ledger');
  step('operator: the ledger check passes');

  // ---- media: affiliates, batches, lookup, the customer's pay step, resupply ----
  const cusId = await page.evaluate(async () => (await (await fetch('/v1/account')).json()).id);
  const affName = 'E2E Print Shop';
  await op.getByRole('link', { name: 'Media', exact: true }).click();
  await op.waitForSelector('form[aria-labelledby="aff-h"]');
  await assertLabelled(op, 'media affiliates');
  const affForm = op.locator('form[aria-labelledby="aff-h"]');
  await affForm.getByLabel('Name').fill(affName);
  await affForm.getByLabel('Own customer id (optional)').fill('cus_nobody');
  await affForm.getByRole('button', { name: 'Add affiliate' }).click();
  await affForm.locator('[name="customer_id"] ~ .field-error').waitFor();
  assert.equal(await affForm.locator('[name="customer_id"]').getAttribute('aria-invalid'), 'true');
  step('affiliate with an unknown own customer: refused next to the customer id');
  await affForm.getByLabel('Own customer id (optional)').fill(cusId);
  // A threshold above the batch's labels: the first use opens a resupply order.
  await affForm.getByLabel('Threshold (labels)').fill('1000');
  await affForm.getByLabel('Resupply sheets').fill('2');
  await affForm.getByRole('button', { name: 'Add affiliate' }).click();
  const affRow = op.locator('tr[data-affiliate]', { hasText: affName });
  await affRow.waitFor();
  const affId = await affRow.getAttribute('data-affiliate');
  step(`operator added affiliate ${affName} (${affId}), the customer's own, threshold 1000 labels`);

  await op.getByRole('link', { name: 'Batches' }).click();
  await op.waitForSelector('form.batch-form');
  await assertLabelled(op, 'media batches');
  const bf = op.locator('form.batch-form');
  await bf.getByLabel('Product').selectOption('avery-5160');
  await bf.getByLabel('Sheets').fill('2');
  await bf.getByLabel('Affiliate').selectOption(affId);
  await bf.getByLabel('Payment').selectOption('unpaid');
  await bf.getByLabel('Price per sheet ($)').fill('0.75');
  await bf.getByRole('button', { name: 'Make batch' }).click();
  await op.waitForSelector('#batch-result tbody tr');
  const serialRows = op.locator('#batch-result tbody tr');
  assert.equal(await serialRows.count(), 62, 'two sheets of 30 labels: 62 serials');
  const label5 = (await serialRows.nth(5).locator('code').textContent()).trim();
  const sheet2 = (await serialRows.nth(31).locator('code').textContent()).trim();
  const batchNo = Number((await op.textContent('#batch-result h2')).replace(/\D/g, ''));
  assert.match(await op.textContent('#batch-facts .payment'), /unpaid, \$0\.75 a sheet/);
  await shot(op, 'operator-media-batch');
  const [csvDl] = await Promise.all([op.waitForEvent('download'), op.click('#download-csv')]);
  const csvFile = path.join(outdir, `media-batch-${batchNo}.csv`);
  await csvDl.saveAs(csvFile);
  const csv = fs.readFileSync(csvFile, 'utf8').trim().split('\n');
  assert.equal(csv[0], 'serial,batch,sheet,position');
  assert.equal(csv.length, 63);
  assert.equal(csv[6], `${label5},${batchNo},1,5`);
  assert.equal(csv[32], `${sheet2},${batchNo},2,0`);
  const [pdfDl] = await Promise.all([op.waitForEvent('download'), op.click('#download-pdf')]);
  const pdfFile = path.join(outdir, `media-batch-${batchNo}.pdf`);
  await pdfDl.saveAs(pdfFile);
  assert.equal(fs.readFileSync(pdfFile).subarray(0, 5).toString(), '%PDF-');
  step(`operator made unpaid batch ${batchNo} (2 sheets at $0.75): serials on the page, the CSV agrees, blank-media PDF downloaded`);

  await op.locator('#batch-result a.serial').nth(5).click();
  await op.waitForSelector('#record-facts');
  await assertLabelled(op, 'media lookup');
  assert.match(await op.textContent('#record-facts .payment'), /unpaid \(\$0\.75/);
  assert.match(await op.textContent('#record-facts .labels-used'), /^0 of 30/);
  assert.equal(await op.textContent('#record-facts .this-label'), 'not used yet');
  assert.match(await op.textContent('#record-facts .affiliate'), new RegExp(affName));
  step('operator looked up label 5: unpaid, 0 of 30 used, not used yet');

  // The customer prints on label 5: the sheet is unpaid, so the page offers to pay.
  await page.goto(base + '/#/buy');
  await page.waitForSelector('#price');
  await buy.getByLabel('Mail class').selectOption('first_class_letter');
  await buy.getByLabel('Weight (oz)').fill('1');
  await buy.getByLabel('From ZIP').fill('94107');
  await buy.getByLabel('To ZIP').fill('10001');
  await buy.getByLabel('Medium serial (optional)').fill(label5);
  await buy.getByLabel('Pay with').selectOption('balance');
  await page.waitForFunction(() => /^Buy postage for/.test(document.querySelector('#buy-button').textContent));
  await page.click('#buy-button');
  await page.waitForSelector('#medium-pay:not([hidden])');
  assert.match(await page.textContent('#medium-pay'), /costs \$0\.75/);
  assert.match(await buy.locator('[name="medium_serial"] ~ .field-error').textContent(), /\$0\.75/);
  assert.equal(await page.$('#result .ind-id'), null, 'nothing bought yet');
  await assertLabelled(page, 'buy with a medium');
  await shot(page, 'customer-medium-payment-required');
  step('customer: medium_payment_required on an unpaid sheet, with its price and two ways to pay');
  await page.click('#add-sheet');
  await page.waitForSelector('#result .ind-id');
  const mediumInd = (await page.textContent('#result .ind-id')).trim();
  const med = await page.textContent('#result dd.medium');
  assert.ok(med.includes(label5), med);
  assert.match(med, /label 5 of sheet 1; the sheet was bought with this stamp for \$0\.75/);
  assert.match(await page.textContent('#result .resupply'), /order rso_\w+ is open/i);
  const pf2 = page.locator('form.print-form');
  await pf2.getByLabel('Layout').selectOption('avery-5160');
  assert.deepEqual([await pf2.getByLabel('Start row').inputValue(), await pf2.getByLabel('Start column').inputValue()], ['2', '2'], 'label 5 is row 2, column 2');
  await shot(page, 'customer-medium-bought');
  step(`customer committed to buy the sheet with the stamp: ${mediumInd} on label 5, resupply notice shown, print start row 2 column 2`);

  await page.getByRole('link', { name: 'Buy', exact: true }).click();
  await page.waitForSelector('#result:empty', { state: 'attached' });
  await buy.getByLabel('From ZIP').fill('94107');
  await buy.getByLabel('To ZIP').fill('10001');
  await buy.getByLabel('Medium serial (optional)').fill(label5);
  await buy.getByLabel('Pay with').selectOption('balance');
  await page.click('#buy-button');
  const usedErr = buy.locator('[name="medium_serial"] ~ .field-error');
  await page.waitForFunction(() => /already printed/.test(document.querySelector('[name="medium_serial"] ~ .field-error')?.textContent || ''));
  assert.equal(await buy.locator('[name="medium_serial"]').getAttribute('aria-invalid'), 'true');
  step('same label again: medium_label_used next to the serial: ' + (await usedErr.textContent()));

  // Sheet 2's serial: its next free label; buy the sheet first, then the stamp.
  await buy.getByLabel('Medium serial (optional)').fill(sheet2);
  await page.click('#buy-button');
  await page.waitForSelector('#medium-pay:not([hidden])');
  await page.click('#buy-sheet');
  await page.waitForSelector('#result .ind-id');
  assert.match(await page.textContent('#result dd.medium'), /label 1 of sheet 2$/);
  step('sheet 2: bought the sheet from the balance, then the stamp went on its label 1');

  // The operator sees the label used, the chart, and ships the resupply order.
  await op.getByRole('link', { name: 'Serial lookup' }).click();
  await op.waitForSelector('form[aria-label="Look up a serial"]');
  await op.getByRole('searchbox', { name: 'Serial' }).fill(label5.toLowerCase().replaceAll('-', ''));
  await op.getByRole('button', { name: 'Look up' }).click();
  await op.waitForFunction(() => /^1 of 30/.test(document.querySelector('#record-facts .labels-used')?.textContent || ''));
  assert.match(await op.textContent('#record-facts .this-label'), new RegExp(`by ${cusId} for ${mediumInd}`));
  assert.match(await op.textContent('#record-facts .payment'), new RegExp(`paid by ${cusId}`));
  assert.match(await op.textContent('#record-facts .customers'), new RegExp(cusId));
  await shot(op, 'operator-media-lookup');
  step('operator: label 5 used by the customer for ' + mediumInd + ', sheet paid by them');
  await op.getByRole('link', { name: 'Affiliates' }).click();
  const bar = op.locator(`#chart-affiliates svg rect.bar[data-name="${affName}"]`);
  await bar.waitFor({ state: 'attached' });
  assert.equal(await bar.getAttribute('data-value'), '58', '60 labels, 2 used');
  assert.match(await bar.getAttribute('class'), /low/);
  assert.equal(await affRow.locator('td.remaining').textContent(), '58');
  await shot(op, 'operator-media-affiliates');
  step('chart of labels remaining per affiliate: ' + affName + ' at 58, below its threshold');
  await op.getByRole('link', { name: 'Resupply orders' }).click();
  const orderRow = op.locator('tr[data-order]', { hasText: affName });
  await orderRow.waitFor();
  assert.equal(await orderRow.locator('td.status').textContent(), 'open');
  const orderId = await orderRow.getAttribute('data-order');
  await op.getByRole('button', { name: `Mark ${orderId} shipped` }).click();
  await op.waitForFunction((id) => document.querySelector(`tr[data-order="${id}"] td.status`)?.textContent === 'shipped', orderId);
  assert.match(await op.textContent(`tr[data-order="${orderId}"]`), /batch \d+/);
  await shot(op, 'operator-media-resupply');
  step(`resupply order ${orderId} opened by the purchase and marked shipped`);

  const ophone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true });
  await ophone.addCookies((await octx.cookies()).filter((c) => c.name === 'stampd_session'));
  const opp = await ophone.newPage();
  watch(opp, 'operator phone');
  await opp.goto(base + '/#/ops');
  await opp.waitForSelector('#chart-registers svg');
  await shot(opp, 'phone-operator-registers');
  await opp.goto(base + '/#/ops/media');
  await opp.waitForSelector('#chart-affiliates svg');
  const opOverflow = await opp.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(opOverflow <= 1, `media page: no sideways scrolling on a phone (overflow ${opOverflow}px)`);
  await shot(opp, 'phone-operator-media');
  step('phone: operator registers, charts and the media page');

  result.indicium_ids = { keep: keepId, refunded: refundId };
  result.customer_email = email;
} catch (err) {
  failure = err;
}
await finish(failure, 'web UI end-to-end: ok');
