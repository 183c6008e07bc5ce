// metadata.mjs - the history's Reference search (a purchase's metadata,
// GET /v1/indicia?metadata[key]=value) in a real browser (Debian's chromium
// driven by playwright-core). Run by tests/integration/test_metadata.py,
// which buys the pieces first:
//
//   node tests/e2e/metadata.mjs BASE_URL OUTDIR SETUP_JSON
//
// SETUP_JSON: {"email", "password", "reference": "order=...", "match": ID,
// "total": N}: the customer's login, the one piece with that metadata pair
// among N. The customer logs in, sees each piece's metadata in the history,
// searches by reference and finds exactly that piece (the filter kept in the
// address), and a malformed reference is refused next to the field.

import { startRun } from './run.mjs';
import assert from 'node:assert/strict';

const [base, outdir, setupText] = process.argv.slice(2);
if (!base || !outdir || !setupText) {
  console.error('usage: node metadata.mjs BASE_URL OUTDIR SETUP_JSON');
  process.exit(2);
}
const setup = JSON.parse(setupText);
const result = { screenshots: [], checks: [] };
const { browser, step, watch, shot, assertLabelled, finish } = await startRun(outdir, result);

let failure = null;
try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  watch(page, 'customer');

  await page.goto(base + '/#/login');
  await page.waitForSelector('form[aria-label="Log in"]');
  await page.getByLabel('Email').fill(setup.email);
  await page.getByLabel('Password').fill(setup.password);
  await page.keyboard.press('Enter');
  await page.waitForURL(/#\/buy/);
  step('logged in');

  await page.goto(base + '/#/history');
  await page.waitForSelector('#history-list tbody tr[data-id]');
  await assertLabelled(page, 'history');
  assert.equal(await page.locator('#history-list tbody tr[data-id]').count(), setup.total);
  assert.match(await page.textContent(`#history-list tr[data-id="${setup.match}"]`), new RegExp(setup.reference));
  step('history: every piece, each with its metadata');

  await page.getByRole('searchbox', { name: 'Reference' }).fill(setup.reference);
  await page.click('#apply-filters');
  await page.waitForFunction(() => location.hash.includes('metadata='));
  await page.waitForFunction(() => document.querySelectorAll('#history-list tbody tr[data-id]').length === 1);
  assert.equal(await page.getAttribute('#history-list tbody tr[data-id]', 'data-id'), setup.match);
  await shot(page, 'customer-history-reference');
  step('Reference ' + setup.reference + ': exactly its piece');

  // Reloaded from the address: the same search.
  await page.reload();
  await page.waitForSelector(`#history-list tr[data-id="${setup.match}"]`);
  assert.equal(await page.locator('#history-list tbody tr[data-id]').count(), 1);
  assert.equal(await page.inputValue('[name="metadata"]'), setup.reference);
  step('the search is kept in the address');

  // Another value: nothing.
  await page.getByRole('searchbox', { name: 'Reference' }).fill(setup.reference + '-none');
  await page.click('#apply-filters');
  await page.waitForSelector('td.empty');
  step('a reference nobody used: an empty list');

  // Malformed: refused next to the field (here and by the server).
  for (const bad of ['no-equals-sign', 'Bad Key=1']) {
    await page.goto(base + '/#/history?metadata=' + encodeURIComponent(bad));
    const err = page.locator('[name="metadata"] ~ .field-error');
    await page.waitForFunction(() => (document.querySelector('[name="metadata"] ~ .field-error')?.textContent || '') !== '');
    assert.match(await err.textContent(), /key/i);
    assert.equal(await page.getAttribute('[name="metadata"]', 'aria-invalid'), 'true');
  }
  await shot(page, 'customer-history-reference-error');
  step('a malformed reference: the error next to the field');
} catch (err) {
  failure = err;
}
await finish(failure, 'history reference search end-to-end: ok');
