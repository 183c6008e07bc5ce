// addresses.mjs - the buy form's addresses in a real browser (Debian's
// chromium driven by playwright-core). Run by
// tests/integration/test_web_addresses.py, which prepares the data first:
//
//   node tests/e2e/addresses.mjs BASE_URL OUTDIR SETUP_JSON
//
// SETUP_JSON: {"email", "password", "label3": a label serial (label 3 of a
// free avery-5160 sheet)}.
//
// The customer logs in and buys with a return and a delivery address typed
// into the fields: a ZIP Code of 4 digits and a missing state are refused at
// their fields before anything is sent; the composed blocks (last line
// `CITY ST ZIP`) come back in the answer and the result; the From/To ZIP
// follow the addresses' ZIP Codes. The return address is remembered in this
// browser for this customer (the next visit starts with it), and forgotten
// when unticked. Errors the server names by address part ("to_address.zip",
// several at once) and address corrections in the answer are shown where
// they belong (answers shaped as the address checking of issue 17 sends them,
// given by a route). A stamp bought on label 3 of a sheet says so, and its
// PDF on the sheet's layout is downloaded (OUTDIR/medium-label3.pdf) for the
// runner to decode. Labels on every input, no console errors.
// OUTDIR/result.json says what ran and what was bought.

import { startRun } from './run.mjs';
import path from 'node:path';
import assert from 'node:assert/strict';

const [base, outdir, setupText] = process.argv.slice(2);
if (!base || !outdir || !setupText) {
  console.error('usage: node addresses.mjs BASE_URL OUTDIR SETUP_JSON');
  process.exit(2);
}
const setup = JSON.parse(setupText);
const result = { screenshots: [], checks: [], bought: {} };
const { browser, step, watch, shot, assertLabelled, finish } = await startRun(outdir, result);

const FROM = { name: 'Jane Sender', company: 'Sender Goods, LLC', street1: '1 Main St.', street2: 'Ste 200', city: 'San Francisco', state: 'CA', zip: '94107' };
const FROM_TEXT = 'JANE SENDER\nSENDER GOODS LLC\n1 MAIN ST\nSTE 200\nSAN FRANCISCO CA 94107';
const TO = { name: 'John Receiver', street1: '200 Broadway', street2: 'Apt 5', city: 'New York', state: 'NY', zip: '10001-1234' };
const TO_TEXT = 'JOHN RECEIVER\n200 BROADWAY\nAPT 5\nNEW YORK NY 10001-1234';

const LABELS = { name: 'Name', company: 'Company (optional)', street1: 'Street address', street2: 'Apartment, suite, unit (optional)', city: 'City', state: 'State', zip: 'ZIP Code' };

async function fillAddress(group, a) {
  for (const [k, label] of Object.entries(LABELS)) {
    const input = group.getByLabel(label, { exact: true });
    if (k === 'state') await input.selectOption(a[k] || '');
    else await input.fill(a[k] || '');
  }
}

let failure = null;
try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 1000 }, acceptDownloads: true });
  const page = await ctx.newPage();
  watch(page, 'customer');

  // ---- log in ----
  await page.goto(base + '/#/login');
  await page.waitForSelector('form[aria-label="Log in"]');
  await page.getByLabel('Email').fill(setup.email);
  await page.getByLabel('Password').fill(setup.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL(/#\/buy/);
  await page.waitForSelector('#price');
  const buy = page.locator('form.buy-form');
  const fromBox = buy.getByRole('group', { name: 'Return address (optional)' });
  const toBox = buy.getByRole('group', { name: 'Delivery address (optional)' });
  await assertLabelled(page, 'buy form with addresses');
  assert.equal(await fromBox.getByLabel('Name', { exact: true }).inputValue(), '');
  step('logged in: the buy form has a return and a delivery address, every field labelled');

  // ---- checked in the browser: nothing is sent ----
  let posts = 0;
  page.on('request', (r) => { if (r.method() === 'POST' && new URL(r.url()).pathname === '/v1/indicia') posts++; });
  await buy.getByLabel('Mail class').selectOption('first_class_letter');
  await buy.getByLabel('Weight (oz)').fill('1');
  await buy.getByLabel('Pay with').selectOption('balance');
  await fillAddress(fromBox, { ...FROM, zip: '9410' });
  await fillAddress(toBox, { ...TO, state: '' });
  assert.equal(await buy.getByLabel('From ZIP').inputValue(), '9410', 'From ZIP follows the return address');
  assert.equal(await buy.getByLabel('To ZIP').inputValue(), '10001-1234', 'To ZIP follows the delivery address');
  await buy.getByRole('button', { name: /^Buy postage/ }).click();
  const zipErr = fromBox.locator('[name="from_address.zip"] ~ .field-error');
  await zipErr.waitFor();
  assert.match(await zipErr.textContent(), /5 digits/);
  assert.equal(await fromBox.locator('[name="from_address.zip"]').getAttribute('aria-invalid'), 'true');
  assert.match(await toBox.locator('[name="to_address.state"] ~ .field-error').textContent(), /state/i);
  assert.equal(await toBox.locator('[name="to_address.state"]').getAttribute('aria-invalid'), 'true');
  assert.equal(posts, 0, 'nothing sent for a form with field errors');
  await shot(page, 'addresses-field-errors');
  step('a 4-digit ZIP Code and a missing state: errors at both fields, nothing sent');

  // ---- the server's field errors, by address part (issue 17's address checking) ----
  await fromBox.getByLabel('ZIP Code').fill('94107');
  await buy.getByLabel('From ZIP').fill('94107');
  await toBox.getByLabel('State').selectOption('NY');
  await page.route('**/v1/indicia', async (route) => {
    if (route.request().method() !== 'POST') return route.continue();
    await route.fulfill({
      status: 400, contentType: 'application/json',
      body: JSON.stringify({
        error: { code: 'address_invalid', field: 'to_address.zip', message: 'ZIP Code 10001 is not in NJ' },
        errors: [{ code: 'address_invalid', field: 'to_address.zip', message: 'ZIP Code 10001 is not in NJ' },
          { code: 'address_invalid', field: 'to_address.state', message: 'NJ does not have ZIP Code 10001' },
          { code: 'address_invalid', field: 'from_address', message: 'Check the return address' }],
      }),
    });
  });
  await buy.getByRole('button', { name: /^Buy postage/ }).click();
  await toBox.locator('[name="to_address.zip"] ~ .field-error:has-text("not in NJ")').waitFor();
  assert.match(await toBox.locator('[name="to_address.state"] ~ .field-error').textContent(), /NJ does not have/);
  assert.match(await fromBox.locator('[data-error-for="from_address"]').textContent(), /Check the return address/);
  assert.equal(await page.evaluate(() => document.activeElement.name), 'to_address.zip');
  await page.unroute('**/v1/indicia');
  step('the server\'s errors for several address parts: each at its field, the whole-address one at the address');

  // ---- bought, with the corrections the answer reports ----
  await page.route('**/v1/indicia', async (route) => {
    if (route.request().method() !== 'POST') return route.continue();
    const resp = await route.fetch();
    const body = await resp.json();
    body.address_corrections = [{ field: 'to_address.street1', from: '200 BROADWAY', to: '200 BROADWAY AVE' }];
    await route.fulfill({ response: resp, json: body });
  });
  const [req] = await Promise.all([
    page.waitForRequest((r) => r.method() === 'POST' && new URL(r.url()).pathname === '/v1/indicia'),
    buy.getByRole('button', { name: /^Buy postage/ }).click(),
  ]);
  const sent = req.postDataJSON();
  assert.equal(sent.from_address, FROM_TEXT);
  assert.equal(sent.to_address, TO_TEXT);
  assert.equal(sent.from_zip, '94107');
  assert.equal(sent.to_zip, '10001-1234');
  await page.waitForSelector('#result h2:has-text("Your stamp")');
  await page.unroute('**/v1/indicia');
  assert.equal(await page.locator('#result dd.from-address').innerText(), FROM_TEXT);
  assert.equal(await page.locator('#result dd.to-address').innerText(), TO_TEXT);
  assert.match(await page.textContent('#address-corrections'), /200 BROADWAY → 200 BROADWAY AVE/);
  result.bought.addressed = (await page.textContent('#result code.ind-id')).trim();
  await shot(page, 'addresses-bought');
  step('bought: the blocks composed as USPS wants them (capitals, CITY ST ZIP), shown with the corrections reported');

  // ---- the return address is remembered, per customer, in this browser ----
  await page.goto(base + '/#/history');
  await page.goto(base + '/#/buy');
  await page.waitForSelector('#price');
  for (const [k, label] of Object.entries(LABELS)) {
    const v = k === 'state' ? await fromBox.getByLabel(label, { exact: true }).inputValue() : await fromBox.getByLabel(label, { exact: true }).inputValue();
    assert.equal(v, FROM[k], `remembered ${k}`);
  }
  assert.equal(await toBox.getByLabel('Name', { exact: true }).inputValue(), '', 'the delivery address is not remembered');
  assert.equal(await buy.getByLabel('From ZIP').inputValue(), '94107');
  const stored = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('stampd.return_address.')));
  assert.equal(stored.length, 1, 'one remembered return address, under the customer: ' + stored);
  step('the return address is remembered for this customer (' + stored[0] + '); the delivery address is not');

  // ---- a stamp on label 3 of a sheet, printed on that label ----
  await buy.getByLabel('Remember this return address in this browser').uncheck();
  await buy.getByLabel('Medium serial (optional)').fill(setup.label3);
  await fillAddress(toBox, TO);
  await buy.getByRole('button', { name: /^Buy postage/ }).click();
  await page.waitForSelector('#result dd.medium');
  assert.match(await page.textContent('#result dd.medium'), /label 3 of sheet 1$/);
  assert.match(await page.textContent('#result dd.medium-position'), /^row 1, column 3 of avery-5160/);
  result.bought.medium = (await page.textContent('#result code.ind-id')).trim();
  const pf = page.locator('form.print-form');
  await pf.getByLabel('Layout').selectOption('avery-5160');
  const [dl] = await Promise.all([page.waitForEvent('download'), pf.getByRole('button', { name: 'Download PDF' }).click()]);
  await dl.saveAs(path.join(outdir, 'medium-label3.pdf'));
  await shot(page, 'addresses-medium');
  step('bought on label 3 of a sheet: the result says label 3, row 1, column 3; its avery-5160 PDF downloaded');

  // Unticked: forgotten.
  await page.goto(base + '/#/history');
  await page.goto(base + '/#/buy');
  await page.waitForSelector('#price');
  assert.equal(await fromBox.getByLabel('Name', { exact: true }).inputValue(), '');
  step('"Remember" unticked: the return address is forgotten');

  // ---- extra services and parcels, priced by the server's rate table ----
  await page.setViewportSize({ width: 1280, height: 1000 });
  await buy.getByLabel('Mail class').selectOption('first_class_letter');
  await buy.getByLabel('Weight (oz)').fill('1');
  await buy.getByLabel('To ZIP').fill('10001');
  await buy.getByLabel('Certified Mail', { exact: true }).check();
  await buy.getByLabel('Return Receipt (with Certified Mail)').check();
  await page.waitForFunction(() => /with Certified Mail, Return Receipt$/.test(document.querySelector('#price').textContent));
  const quoted = (await page.textContent('#price')).trim();
  assert.match(quoted, /^\$10\.44 for a first-class letter of 1 oz/, quoted);
  await buy.getByRole('button', { name: /^Buy postage/ }).click();
  await page.waitForSelector('#result dd.services');
  assert.equal((await page.textContent('#result dd.services')).trim(), 'Certified Mail, Return Receipt');
  assert.equal((await page.textContent('#result dd.postage')).trim(), '$10.44');
  result.bought.certified = (await page.textContent('#result code.ind-id')).trim();
  await buy.getByLabel('Certified Mail', { exact: true }).uncheck();
  await buy.getByLabel('Return Receipt (with Certified Mail)').uncheck();
  await buy.getByLabel('Mail class').selectOption('priority_mail');
  await buy.getByLabel('Weight (oz)').fill('32');
  await buy.getByLabel('To ZIP').fill('90001');
  await page.waitForFunction(() => /priority mail \(parcel\) of 32 oz mailed \S+, zone \d$/.test(document.querySelector('#price').textContent));
  step('Certified Mail and Return Receipt priced and bought (' + quoted + '); a Priority Mail parcel quoted by zone: ' + (await page.textContent('#price')).trim());

  // A phone-sized screen still shows the fields.
  await page.setViewportSize({ width: 390, height: 844 });
  await assertLabelled(page, 'buy form on a phone');
  await shot(page, 'addresses-phone');
} catch (err) {
  failure = err;
}
await finish(failure, 'addresses.mjs: all checks passed');
