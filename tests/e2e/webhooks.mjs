// webhooks.mjs - the customer's Webhooks page in a real browser (Debian's
// chromium driven by playwright-core). Run by
// tests/integration/test_webhooks_web.py, which runs the receiver:
//
//   node tests/e2e/webhooks.mjs BASE_URL OUTDIR SETUP_JSON
//
// SETUP_JSON: {"receiver": "http://127.0.0.1:PORT/hooks"}.
//
// A new customer signs up, opens Webhooks from the navigation, is refused an
// http:// URL elsewhere (the server's error next to the URL field), adds an
// endpoint for every event and sees its signing secret once (written to
// OUTDIR/secret.txt for the test to verify the delivery with), presses
// "Send test event" and sees the delivery in the log as delivered (200);
// the secret is not on the page after a reload; disabling and enabling the
// endpoint show in its row. Labels on every input, no console errors or
// CSP violations. Screenshots go to OUTDIR; OUTDIR/result.json says what ran.

import { startRun } from './run.mjs';
import fs from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';

const [base, outdir, setupText] = process.argv.slice(2);
if (!base || !outdir || !setupText) {
  console.error('usage: node webhooks.mjs BASE_URL OUTDIR SETUP_JSON');
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

  await page.goto(base + '/#/signup');
  await page.waitForSelector('form[aria-label="Create an account"]');
  await page.getByLabel('Email').fill(`hooks-${Date.now()}@example.test`);
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL(/#\/buy/);
  step('signed up');

  await page.getByRole('link', { name: 'Webhooks' }).click();
  await page.waitForSelector('h1:has-text("Webhooks")');
  assert.equal(await page.getAttribute('#nav a[href="#/webhooks"]', 'aria-current'), 'page');
  await page.waitForSelector('td.empty:has-text("No endpoints yet")');
  await assertLabelled(page, 'webhooks');
  step('the Webhooks page from the navigation: no endpoints yet, every input labelled');

  // A URL stampd will not call: the server's error next to the field.
  await page.getByLabel('URL').fill('http://shop.example/hooks');
  await page.getByRole('button', { name: 'Add endpoint' }).click();
  const urlErr = page.locator('[name="url"] ~ .field-error');
  await urlErr.waitFor();
  assert.match(await urlErr.textContent(), /https/);
  assert.equal(await page.getAttribute('[name="url"]', 'aria-invalid'), 'true');
  step('an http:// URL elsewhere refused: webhook_url_refused next to the URL field');

  await page.getByLabel('URL').fill(setup.receiver);
  await page.getByLabel('Description (optional)').fill('order system');
  await page.getByRole('button', { name: 'Add endpoint' }).click();
  await page.waitForSelector('#webhook-secret');
  const secret = (await page.textContent('#webhook-secret')).trim();
  assert.match(secret, /^whsec_[0-9a-f]{64}$/);
  fs.writeFileSync(path.join(outdir, 'secret.txt'), secret);
  const row = page.locator('tr[data-id]');
  assert.equal(await row.count(), 1);
  assert.match(await row.textContent(), /order system/);
  assert.equal((await row.locator('td.status').textContent()).trim(), 'enabled');
  await shot(page, 'webhooks-added');
  step('endpoint added: the secret shown once, the endpoint listed as enabled');

  await page.getByRole('button', { name: /Send a test event/ }).click();
  // The log shows itself a moment later; refresh until the delivery is there.
  await page.waitForSelector('#webhook-log h2');
  for (let i = 0; i < 60; i++) {
    const txt = await page.locator('#webhook-log tbody').textContent();
    if (/delivered \(200\)/.test(txt)) break;
    await page.waitForTimeout(500);
    await page.click('#refresh-log');
  }
  const log = await page.locator('#webhook-log tbody tr').first().textContent();
  assert.match(log, /webhook\.test/);
  assert.match(log, /delivered \(200\)/);
  await shot(page, 'webhooks-delivered');
  step('"Send test event": the delivery log shows webhook.test delivered (200)');

  await page.reload();
  await page.waitForSelector('tr[data-id]');
  assert.equal(await page.locator('#webhook-secret').count(), 0);
  assert.equal((await page.content()).includes(secret), false, 'the secret is shown once only');
  step('after a reload the secret is nowhere on the page');

  await page.getByRole('button', { name: /^Disable / }).click();
  await page.waitForSelector('tr[data-id] td.status:has-text("disabled")');
  await page.getByRole('button', { name: /^Enable / }).click();
  await page.waitForSelector('tr[data-id] td.status:has-text("enabled")');
  step('disable and enable the endpoint');

  // A phone-sized screen.
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, 'webhooks-phone');
  await ctx.close();
} catch (err) {
  failure = err;
}
await finish(failure, 'webhooks.mjs: ok');
