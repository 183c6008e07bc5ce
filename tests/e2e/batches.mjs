// batches.mjs - the Batches page in a real browser (Debian's chromium driven
// by playwright-core). Run by tests/integration/test_batches_web.py, which
// makes the customer and writes the CSV first:
//
//   node tests/e2e/batches.mjs BASE_URL OUTDIR SETUP_JSON
//
// SETUP_JSON: {"email", "password", "csv": path of the orders file,
// "orders": N, "bad": M (rows that cannot be bought), "bad_ref": a bad row's
// reference}.
//
// The customer logs in, opens Batches from the navigation, uploads a file
// with a broken header (refused next to the file input, nothing bought),
// then the orders: sees the progress end with every order bought or failed,
// the failed rows with their error, downloads the label file (a PDF), and
// finds the batch in the list. Labels on every input, no console errors,
// a phone-sized screen. OUTDIR/result.json says what ran and where the
// download went.

import { startRun } from './run.mjs';
import fs from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';

const [base, outdir, setupText] = process.argv.slice(2);
if (!base || !outdir || !setupText) {
  console.error('usage: node batches.mjs BASE_URL OUTDIR SETUP_JSON');
  process.exit(2);
}
const setup = JSON.parse(setupText);
const result = { screenshots: [], downloads: [], checks: [] };
const { browser, step, watch, shot, assertLabelled, finish } = await startRun(outdir, result);

let failure = null;
try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await ctx.newPage();
  watch(page, 'customer');

  await page.goto(base + '/#/login');
  await page.getByLabel('Email').fill(setup.email);
  await page.getByLabel('Password').fill(setup.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForSelector('#nav a[href="#/batches"]');
  await page.click('#nav a[href="#/batches"]');
  await page.waitForSelector('h1:has-text("Batches")');
  await assertLabelled(page, 'batches');
  assert.match(await page.textContent('#batch-list'), /No batches yet/);
  step('the Batches page is in the navigation, with an empty list');

  // A file that is not an orders file: refused at the file input, nothing sent.
  const broken = path.join(outdir, 'broken.csv');
  fs.writeFileSync(broken, 'order,colour\nA,red\n');
  await page.setInputFiles('#batch-file', broken);
  await page.click('#batch-buy');
  await page.waitForSelector('[data-field="file"] .field-error:has-text("unknown column")');
  step('a CSV with an unknown column is refused next to the file input');

  await page.setInputFiles('#batch-file', setup.csv);
  await page.click('#batch-buy');
  await page.waitForSelector('#batch-progress');
  await shot(page, 'batch-running');
  await page.waitForSelector('#batch-summary[data-status="completed"]', { timeout: 120000 });
  const summary = await page.textContent('#batch-summary');
  const good = setup.orders - setup.bad;
  assert.match(summary, new RegExp(`${setup.orders} of ${setup.orders} done — ${good} bought, ${setup.bad} failed`));
  assert.equal(await page.getAttribute('#batch-progress', 'value'), String(setup.orders));
  const failedRows = await page.$$('#batch-items tr[data-status="failed"]');
  assert.equal(failedRows.length, setup.bad);
  const badText = await page.textContent(`#batch-items tr[data-status="failed"]`);
  assert.match(badText, new RegExp(setup.bad_ref));
  assert.match(badText, /invalid_zip/);
  assert.equal((await page.$$('#batch-items tr[data-status="bought"]')).length, good);
  const batchId = new URL(page.url()).hash.split('id=')[1];
  result.batch = decodeURIComponent(batchId);
  await shot(page, 'batch-done');
  step('the progress ends with every order bought or failed, the failed rows with their error');

  await assertLabelled(page, 'batch');
  await page.selectOption('#batch-layout', 'avery-5160');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#batch-labels')]);
  const file = path.join(outdir, download.suggestedFilename());
  await download.saveAs(file);
  result.downloads.push(file);
  assert.equal(fs.readFileSync(file).subarray(0, 5).toString(), '%PDF-');
  assert.match(download.suggestedFilename(), /avery-5160\.pdf$/);
  step('the labels download as one PDF');

  await page.click('a[href="#/batches"]');
  await page.waitForSelector(`#batch-list tr[data-batch="${result.batch}"]`);
  step('the batch is in the list');

  await page.setViewportSize({ width: 390, height: 800 });
  await page.goto(base + `/#/batches?id=${encodeURIComponent(result.batch)}`);
  await page.waitForSelector('#batch-summary[data-status="completed"]');
  await shot(page, 'batch-phone');
  step('the batch page on a phone-sized screen');
} catch (err) {
  failure = err;
}
await finish(failure, 'batches.mjs: ok');
