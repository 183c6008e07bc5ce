// run.mjs - what the browser tests (web.mjs, authority.mjs) share: Debian's
// chromium started through playwright-core, the page watch that makes every
// console error, uncaught exception and CSP report a failure, screenshots,
// the check that every input has a label, and the end of a run (result.json
// in OUTDIR, the screenshots listed, exit 1 with the problems).

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';

// startRun(outdir, result) -> the run's browser and helpers; result (an
// object with a screenshots and a checks array) is written to
// OUTDIR/result.json by finish().
export async function startRun(outdir, result) {
  fs.mkdirSync(outdir, { recursive: true });
  const problems = [];
  const dialogs = []; // the messages of confirm()/prompt() dialogs, all accepted
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const step = (what) => { console.log('- ' + what); result.checks.push(what); };

  // Every page: console errors, uncaught exceptions and CSP reports are failures.
  function watch(page, who) {
    page.on('console', (m) => {
      // A 503 of GET /readyz is the answer the registers page asks for, not a failure.
      const notReady = /status of 503/.test(m.text()) && /\/readyz$/.test(m.location().url || '');
      if (m.type() === 'error' && !/status of 4\d\d/.test(m.text()) && !notReady) problems.push(`${who} console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`${who} page error: ${e.message}`));
    page.on('dialog', (d) => { dialogs.push(d.message()); d.accept(); });
  }

  async function shot(page, name, opts = {}) {
    const file = path.join(outdir, name + '.png');
    await page.screenshot({ path: file, fullPage: opts.fullPage !== false });
    result.screenshots.push(file);
  }

  // Every input, select and textarea on the page has an accessible name from a <label>.
  async function assertLabelled(page, where) {
    const bad = await page.evaluate(() => Array.from(document.querySelectorAll('input, select, textarea'))
      .filter((el) => el.type !== 'hidden' && el.labels.length === 0 && !el.getAttribute('aria-label'))
      .map((el) => el.name || el.id || el.outerHTML.slice(0, 60)));
    assert.deepEqual(bad, [], `${where}: inputs without a label`);
  }

  // The end of the run: err (a caught exception, or null) is a problem too.
  async function finish(err, okText) {
    if (err) problems.push(err.stack || String(err));
    fs.writeFileSync(path.join(outdir, 'result.json'), JSON.stringify(result, null, 2));
    await browser.close();
    for (const s of result.screenshots) console.log('screenshot: ' + s);
    if (problems.length) {
      console.error('FAILED:\n' + problems.join('\n'));
      process.exit(1);
    }
    console.log(okText);
  }

  return { browser, problems, dialogs, step, watch, shot, assertLabelled, finish };
}
