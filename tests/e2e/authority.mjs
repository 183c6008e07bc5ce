// authority.mjs - the postal authority's web pages in a real browser
// (Debian's chromium driven by playwright-core). Run by
// tests/integration/test_authority_web.py, which prepares the data first:
//
//   node tests/e2e/authority.mjs BASE_URL OUTDIR SETUP_JSON
//
// SETUP_JSON: {"name", "password", "devices", "duplicate": "PSD-SERIAL",
// "hold_serial", "hold_psd", "claims": N, "report_date" (or null)}.
//
// The authority logs in by name; sees every device with its registers,
// suspends one with a reason and reads it in the device's history, resumes
// it; locks and unlocks resets; credits the deposit and sees the balance and
// the signed resets; downloads a day's report in both formats; accepts one
// refund claim and rejects another with a reason; orders a hold on the
// customer of a piece and lifts it; sees the duplicate its scanner found.
// Its session cannot reach the vendor's pages or API. Along the way: labels
// on every input, no console errors or CSP violations, a phone-sized screen.
// Screenshots and downloads go to OUTDIR; OUTDIR/result.json says what ran.

import { startRun } from './run.mjs';
import fs from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';

const [base, outdir, setupText] = process.argv.slice(2);
if (!base || !outdir || !setupText) {
  console.error('usage: node authority.mjs BASE_URL OUTDIR SETUP_JSON');
  process.exit(2);
}
const setup = JSON.parse(setupText);
const result = { screenshots: [], downloads: [], checks: [] };
const { browser, step, watch, shot, assertLabelled, finish } = await startRun(outdir, result);

const money = (s) => Number(s.replace(/[^0-9.]/g, ''));

let failure = null;
try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await ctx.newPage();
  watch(page, 'authority');

  // ---- log in by name ----
  await page.goto(base + '/#/login');
  await page.getByRole('link', { name: 'Postal authority' }).click();
  await page.waitForSelector('h1:has-text("Postal authority login")');
  await assertLabelled(page, 'authority login');
  await page.getByLabel('Account name').fill(setup.name);
  await page.getByLabel('Password').fill('not-the-password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForSelector('.form-error:has-text("name or password is wrong")');
  await page.getByLabel('Password').fill(setup.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForSelector('#devices tr[data-device]');
  assert.equal(new URL(page.url()).hash, '#/authority');
  assert.match(await page.textContent('#nav .who'), new RegExp(setup.name));
  step('logged in by account name (a wrong password refused next to the form)');

  // ---- devices ----
  const rows = await page.$$('#devices tr[data-device]');
  assert.equal(rows.length, setup.devices, 'one row per device');
  await assertLabelled(page, 'devices');
  await shot(page, 'authority-devices');
  const dev = await rows[0].getAttribute('data-device');
  await page.getByRole('button', { name: `Suspend device ${dev}` }).click();
  await page.waitForSelector('#toast:has-text("Give a reason first")');
  await page.getByLabel('Reason', { exact: true }).fill('seal broken on inspection');
  await page.getByRole('button', { name: `Suspend device ${dev}` }).click();
  await page.waitForSelector(`#devices tr[data-device="${dev}"] td.status:has-text("suspended by authority")`);
  await page.waitForSelector('#device-history td:has-text("seal broken on inspection")');
  await shot(page, 'authority-device-suspended');
  await page.getByRole('button', { name: `Resume device ${dev}` }).click();
  await page.waitForSelector(`#devices tr[data-device="${dev}"] td.status:text-is("active")`);
  const events = await page.$$eval('#device-history tbody tr', (trs) => trs.map((tr) => tr.children[1].textContent));
  assert.ok(events.includes('suspended') && events.includes('resumed'), 'history: ' + events.join(', '));
  step(`device ${dev} suspended with a reason, in its history with registers, and resumed`);

  await page.getByLabel('Reason', { exact: true }).fill('deposit under review');
  await page.click('#lock-resets');
  await page.waitForSelector('#resets-locked[role="alert"]');
  await page.click('#unlock-resets');
  await page.waitForSelector('#resets-locked', { state: 'detached' });
  step('resets locked (a banner says so) and unlocked');

  // ---- deposit ----
  await page.getByRole('link', { name: 'Deposit' }).click();
  await page.waitForSelector('#deposit-balance');
  await assertLabelled(page, 'deposit');
  const before = money(await page.textContent('#deposit-balance'));
  await page.getByLabel('Amount ($)').fill('12.34');
  await page.getByLabel('Transfer reference').fill('WIRE-WEB-1');
  await page.getByRole('button', { name: 'Credit' }).click();
  await page.waitForSelector('#deposit td:has-text("WIRE-WEB-1")');
  const after = money(await page.textContent('#deposit-balance'));
  assert.equal(Math.round((after - before) * 100), 1234, `deposit ${before} -> ${after}`);
  const signed = await page.$$eval('#resets td.ok', (tds) => tds.length);
  assert.ok(signed >= 1, 'at least one reset signed by the authority');
  assert.equal(await page.$$eval('#resets td.bad', (tds) => tds.length), 0, 'no unverified reset');
  await shot(page, 'authority-deposit');
  step(`deposit credited $12.34 (${before} -> ${after}); ${signed} resets verified`);

  // ---- reports ----
  await page.getByRole('link', { name: 'Reports' }).click();
  await page.waitForSelector('#reports table');
  if (setup.report_date) {
    const row = `#reports tr[data-date="${setup.report_date}"]`;
    await page.waitForSelector(row);
    for (const [label, ext] of [['JSON Lines', 'jsonl'], ['CSV', 'csv']]) {
      const [dl] = await Promise.all([page.waitForEvent('download'), page.click(`${row} a:has-text("${label}")`)]);
      const file = path.join(outdir, `report-${setup.report_date}.${ext}`);
      await dl.saveAs(file);
      const text = fs.readFileSync(file, 'utf8');
      assert.ok(text.length > 0, file + ' is empty');
      if (ext === 'jsonl') for (const line of text.trim().split('\n')) JSON.parse(line);
      result.downloads.push(file);
    }
    step(`report of ${setup.report_date} downloaded as JSON Lines and CSV`);
  }
  await shot(page, 'authority-reports');

  // ---- claims ----
  await page.getByRole('link', { name: 'Claims' }).click();
  await page.waitForSelector('#claims table');
  await assertLabelled(page, 'claims');
  const claims = await page.$$eval('#claims tr[data-claim]', (trs) => trs.map((tr) => tr.dataset.claim));
  assert.equal(claims.length, setup.claims, 'pending claims: ' + claims.join(', '));
  await page.getByRole('button', { name: `Accept claim ${claims[0]}` }).click();
  await page.waitForSelector(`#claims tr[data-claim="${claims[0]}"]`, { state: 'detached' });
  await page.getByRole('button', { name: `Reject claim ${claims[1]}` }).click();
  await page.waitForSelector('#toast:has-text("Give a reason to reject")');
  await page.getByLabel('Reason', { exact: true }).fill('piece was presented at Denver P&DC');
  await page.getByRole('button', { name: `Reject claim ${claims[1]}` }).click();
  await page.waitForSelector(`#claims tr[data-claim="${claims[1]}"]`, { state: 'detached' });
  await page.selectOption('#claim-status', '');
  await page.waitForSelector(`#claims tr[data-claim="${claims[1]}"] td.status:text-is("rejected")`);
  await page.waitForSelector(`#claims tr[data-claim="${claims[0]}"] td.status:text-is("accepted")`);
  await shot(page, 'authority-claims');
  result.claims = { accepted: claims[0], rejected: claims[1] };
  step(`refund claim ${claims[0]} accepted, ${claims[1]} rejected with a reason`);

  // ---- holds ----
  await page.getByRole('link', { name: 'Holds' }).click();
  await page.waitForSelector('#holds table');
  await assertLabelled(page, 'holds');
  await page.getByLabel('Serial of one of their pieces').fill(String(setup.hold_serial));
  await page.getByLabel('Device (PSD)').fill(String(setup.hold_psd));
  await page.getByLabel('Reason', { exact: true }).fill('suspected fraud, case 77');
  await page.getByRole('button', { name: 'Order the hold' }).click();
  await page.waitForSelector('#holds td.status:text-is("in force")');
  const hold = await page.getAttribute('#holds tr[data-hold]', 'data-hold');
  result.hold = hold;
  await shot(page, 'authority-hold');
  fs.writeFileSync(path.join(outdir, 'hold.json'), JSON.stringify({ hold }));
  // The test checks the customer is refused while the hold stands: it waits for this file.
  const flag = path.join(outdir, 'hold-checked');
  for (let i = 0; i < 300 && !fs.existsSync(flag); i++) await page.waitForTimeout(100);
  assert.ok(fs.existsSync(flag), 'the test did not check the hold');
  await page.getByRole('button', { name: `Lift hold ${hold}` }).click();
  await page.waitForSelector(`#holds tr[data-hold="${hold}"] td.status:has-text("lifted")`);
  step(`hold ${hold} ordered by a piece's serial, then lifted`);

  // ---- duplicates ----
  await page.getByRole('link', { name: 'Duplicates' }).click();
  await page.waitForSelector(`#duplicates tr[data-piece="${setup.duplicate}"]`);
  assert.equal(await page.textContent(`#duplicates tr[data-piece="${setup.duplicate}"] td.num`), '2');
  await shot(page, 'authority-duplicates');
  step('duplicate ' + setup.duplicate + ' listed, presented twice');

  // ---- the vendor's side stays closed ----
  await page.goto(base + '/#/ops');
  await page.waitForFunction(() => location.hash === '#/authority');
  const st = await page.evaluate(async () => (await fetch('/v1/psds')).status);
  assert.equal(st, 403, 'GET /v1/psds with the authority session');
  step('the operator pages send the authority home; /v1/psds is 403 to its session');

  // ---- phone ----
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
  await phone.addCookies((await ctx.cookies()).filter((c) => c.name === 'stampd_session'));
  const pp = await phone.newPage();
  watch(pp, 'authority phone');
  await pp.goto(base + '/#/authority');
  await pp.waitForSelector('#devices tr[data-device]');
  const overflow = await pp.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `devices page: no sideways scrolling on a phone (overflow ${overflow}px)`);
  await shot(pp, 'phone-authority-devices');
  step('phone: the devices page fits the width');

  // ---- log out ----
  await page.goto(base + '/#/authority');
  await page.click('#logout');
  await page.waitForFunction(() => location.hash === '#/login');
  step('logged out');
} catch (err) {
  failure = err;
}
await finish(failure, 'authority web pages end-to-end: ok');
