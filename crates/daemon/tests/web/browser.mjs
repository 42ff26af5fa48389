#!/usr/bin/env node
// Browser test of the pmacct-rs web page, driven through headless Chromium.
//
//   node browser.mjs --url http://127.0.0.1:PORT --out DIR --expect FILE.json [--user U --password P]
//                    [--rename DEVICE=NAME]
//
// FILE.json: {"from":"2024-03-01","to":"2024-03-03",
//             "devices":{"192.168.1.10":{"download_bytes":1,"upload_bytes":2}, ...},
//             "device":"192.168.1.10","days":3}      (days: a count, or the list of days)
// --rename (needs read_only false in /api/v1/config): names DEVICE NAME from the Usage page,
// checks the page and /api/v1/devices, then gives DEVICE its previous name back the same way.
// Uses the system Chromium (/usr/bin/chromium, or $CHROMIUM); playwright-core never downloads one.
// Writes DIR/result.json and screenshots, prints a one-line JSON summary, exits 0 only if all passed.

import { chromium } from 'playwright-core';
import fs from 'node:fs/promises';
import path from 'node:path';

const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };

function parseArgs(argv) {
  const a = {};
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (!k.startsWith('--')) throw new Error(`unexpected argument ${k}`);
    a[k.slice(2)] = argv[++i];
  }
  for (const k of ['url', 'out', 'expect']) if (!a[k]) throw new Error(`--${k} is required`);
  if (!!a.user !== !!a.password) throw new Error('--user and --password go together');
  a.url = a.url.replace(/\/+$/, '');
  if (a.rename != null) {
    const i = a.rename.indexOf('=');
    if (i < 1) throw new Error('--rename takes DEVICE=NAME (NAME may be empty: no name)');
    a.rename = { device: a.rename.slice(0, i), name: a.rename.slice(i + 1) };
  }
  return a;
}

const checks = [];
function check(name, ok, detail = '') {
  checks.push({ name, ok: !!ok, detail: typeof detail === 'string' ? detail : JSON.stringify(detail) });
  return !!ok;
}
// run a step; an exception fails it instead of ending the run
async function step(name, fn) {
  try { await fn(); } catch (e) { check(name, false, `exception: ${e.message.split('\n')[0]}`); }
}

// differences between two {device: {download_bytes, upload_bytes}} maps, as readable lines
function diffMaps(got, want, gotName, wantName) {
  const out = [];
  for (const k of new Set([...Object.keys(got), ...Object.keys(want)])) {
    const g = got[k], w = want[k];
    if (!w) out.push(`${k}: in ${gotName} only`);
    else if (!g) out.push(`${k}: missing from ${gotName}`);
    else if (g.download_bytes !== w.download_bytes || g.upload_bytes !== w.upload_bytes) {
      out.push(`${k}: ${gotName} ${g.download_bytes}/${g.upload_bytes}, ${wantName} ${w.download_bytes}/${w.upload_bytes}`);
    }
  }
  return out;
}
const cssStr = (s) => JSON.stringify(s); // a quoted CSS string for attribute selectors

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const expect = JSON.parse(await fs.readFile(args.expect, 'utf8'));
  await fs.mkdir(args.out, { recursive: true });
  const origin = new URL(args.url).origin;
  const log = { requests: [], puts: [], foreign: [], console: [], pageErrors: [], httpErrors: [], failedRequests: [], screenshots: [] };

  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox'], // the tests run as root
    headless: true,
  });
  const context = await browser.newContext({
    viewport: DESKTOP, colorScheme: 'light', acceptDownloads: true,
    ...(args.user ? { httpCredentials: { username: args.user, password: args.password } } : {}),
  });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);

  page.on('request', (r) => {
    const u = r.url();
    log.requests.push(u);
    if (r.method() !== 'GET') log.puts.push(`${r.method()} ${u}`);
    let o = 'null';
    try { o = new URL(u).origin; } catch { /* unparsable: foreign */ }
    if (o !== origin) log.foreign.push(u); // blob: URLs made by the page have the page's origin
  });
  page.on('response', (r) => { if (r.status() >= 400) log.httpErrors.push(`${r.status()} ${r.url()}`); });
  page.on('requestfailed', (r) => log.failedRequests.push(`${r.failure()?.errorText} ${r.url()}`));
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') {
      const loc = m.location();
      log.console.push(`${m.type()}: ${m.text()} (${loc.url}:${loc.lineNumber})`);
    }
  });
  page.on('pageerror', (e) => log.pageErrors.push(String(e.stack || e)));

  const shot = async (name) => {
    const file = path.join(args.out, name);
    await page.screenshot({ path: file, fullPage: true });
    log.screenshots.push(name);
  };
  const ready = (pg) => page.waitForSelector(`#main[data-page="${pg}"][data-state="ready"]`);
  const goto = async (hash, pg) => {
    await page.evaluate((hh) => { location.hash = hh; }, hash);
    await ready(pg);
    await page.waitForTimeout(250); // charts resize in the next animation frame
  };
  const setTheme = async (t) => {
    await page.selectOption('#theme', t);
    return page.evaluate(() => document.documentElement.dataset.theme);
  };
  const period = `${expect.from}..${expect.to}`;
  const periodQuery = `from=${expect.from}&to=${expect.to}`;
  const devHash = (d) => `#/device/${encodeURIComponent(d)}?${periodQuery}`;
  const noHScroll = () => page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
  }));

  // ---------------------------------------------------------------- Usage
  await step('usage page loads', async () => {
    await page.goto(`${args.url}/#/usage`);
    await ready('usage');
    const footer = await page.textContent('#footer');
    check('footer shows the version', /\d+\.\d+/.test(footer || ''), footer);
  });

  // nothing else can work when the page did not even load
  if (checks.some((c) => !c.ok)) return finish(browser, args, log);
  const config = await page.evaluate(async () => (await fetch('api/v1/config')).json());
  const readOnly = config.read_only !== false; // renaming is offered only on an explicit false
  const renameButtons = (scope) => page.locator(scope).getByRole('button', { name: /^Rename / }).count();

  await step('usage custom period', async () => {
    await page.selectOption('#period', 'custom');
    await page.fill('#period-from', expect.from);
    await page.fill('#period-to', expect.to);
    await page.waitForSelector(`#usage-table[data-period="${period}"]`);
    await ready('usage');
    const rows = await page.$$eval('#usage-table tbody tr[data-device]', (trs) => trs.map((tr) => ({
      device: tr.dataset.device,
      down: tr.querySelector('td.col-down').dataset.bytes,
      up: tr.querySelector('td.col-up').dataset.bytes,
      total: tr.querySelector('td.col-total').dataset.bytes,
    })));
    const table = Object.fromEntries(rows.map((r) => [r.device, { download_bytes: Number(r.down), upload_bytes: Number(r.up) }]));
    check('usage table has one row per device', rows.length === Object.keys(table).length, `${rows.length} rows`);
    const d1 = diffMaps(table, expect.devices, 'table', 'expected');
    check('usage table equals expect.devices', d1.length === 0, d1.join('; '));
    check('usage total column = down + up', rows.every((r) => Number(r.total) === Number(r.down) + Number(r.up)));

    const api = await page.evaluate(async (q) => {
      const r = await fetch(`api/v1/usage?by=all&${q}`);
      return { status: r.status, body: await r.json() };
    }, periodQuery);
    const fromApi = {};
    for (const rec of Array.isArray(api.body) ? api.body : []) {
      const e = fromApi[rec.device] || (fromApi[rec.device] = { download_bytes: 0, upload_bytes: 0 });
      e.download_bytes += rec.download_bytes;
      e.upload_bytes += rec.upload_bytes;
    }
    const d2 = diffMaps(table, fromApi, 'table', 'api');
    check('usage table equals /api/v1/usage', api.status === 200 && d2.length === 0, `status ${api.status}; ${d2.join('; ')}`);

    const total = await page.$eval('#usage-total', (tr) => ({
      down: Number(tr.querySelector('.col-down').dataset.bytes), up: Number(tr.querySelector('.col-up').dataset.bytes),
    }));
    const sum = (k) => rows.reduce((a, r) => a + Number(r[k]), 0);
    check('usage totals row = sum of rows', total.down === sum('down') && total.up === sum('up'), { total, down: sum('down'), up: sum('up') });
  });

  await step('usage sorting', async () => {
    const order = async () => page.$$eval('#usage-table tbody tr[data-device] td.col-total', (tds) => tds.map((td) => Number(td.dataset.bytes)));
    const th = '#usage-table thead th.col-total';
    await page.click(`${th} button`);
    const dir1 = await page.getAttribute(th, 'aria-sort');
    const o1 = await order();
    await page.click(`${th} button`);
    const dir2 = await page.getAttribute(th, 'aria-sort');
    const o2 = await order();
    const sorted = (o, dir) => o.every((v, i) => i === 0 || (dir === 'ascending' ? o[i - 1] <= v : o[i - 1] >= v));
    check('usage sort by Total toggles aria-sort', dir1 && dir2 && dir1 !== dir2, `${dir1} then ${dir2}`);
    check('usage rows follow aria-sort', sorted(o1, dir1) && sorted(o2, dir2), { o1, o2 });
  });

  await step('usage search', async () => {
    const dev = expect.device || Object.keys(expect.devices)[0];
    await page.fill('#usage-search', dev);
    const shown = await page.$$eval('#usage-table tbody tr[data-device]', (trs) => trs.map((tr) => tr.dataset.device));
    const total = await page.$eval('#usage-total', (tr) => Number(tr.querySelector('.col-down').dataset.bytes)).catch(() => null);
    const down = await page.$$eval('#usage-table tbody tr[data-device] td.col-down', (tds) => tds.reduce((a, td) => a + Number(td.dataset.bytes), 0));
    check('usage search filters rows', shown.includes(dev) && shown.length <= Object.keys(expect.devices).length, shown);
    check('usage totals follow the search', total === down, { total, down });
    await page.fill('#usage-search', '');
  });

  await step('usage CSV download', async () => {
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#usage-csv')]);
    const text = await fs.readFile(await dl.path(), 'utf8');
    const lines = text.trim().split('\n');
    check('CSV header', lines[0] === 'device,name,mac,addresses,download_bytes,upload_bytes,total_bytes,vendor', lines[0]);
    const shown = await page.$$eval('#usage-table tbody tr[data-device]', (trs) => trs.map((tr) => tr.dataset.device));
    // device is the first field; the three byte counts come before the vendor, which is last
    // (empty here: the test network's MACs are locally administered; names may be quoted)
    const csvRows = lines.slice(1).map((l) => { const f = l.split(','); return { device: f[0], n: f.slice(-4, -1).map(Number) }; });
    check('CSV has the shown rows in order', JSON.stringify(csvRows.map((r) => r.device)) === JSON.stringify(shown), { csv: csvRows.map((r) => r.device), shown });
    const bad = csvRows.filter((r) => {
      const e = expect.devices[r.device];
      return !e || r.n[0] !== e.download_bytes || r.n[1] !== e.upload_bytes || r.n[2] !== e.download_bytes + e.upload_bytes;
    });
    check('CSV bytes equal expect.devices', bad.length === 0, bad.map((r) => `${r.device}: ${r.n.join('/')}`).join('; '));
  });

  await step('rename buttons', async () => {
    const rows = await page.$$eval('#usage-table tbody tr[data-device]', (trs) => trs.length);
    const n = await renameButtons('#usage-table');
    if (readOnly) check('read-only: no rename button on Usage', n === 0, `${n} buttons`);
    else check('rename button on every Usage row', n === rows, `${n} buttons, ${rows} rows`);
  });

  if (args.rename && readOnly) check('rename', false, 'the daemon is read-only (config.read_only is not false)');
  if (args.rename && !readOnly) await step('rename', () => renameTest(page, args, log, periodQuery));

  await step('usage screenshots', async () => {
    check('theme light', (await setTheme('light')) === 'light');
    await shot('usage-light.png');
    check('theme dark', (await setTheme('dark')) === 'dark');
    await page.waitForTimeout(100);
    await shot('usage-dark.png');
  });

  // ---------------------------------------------------------------- Device
  if (expect.device) {
    await step('device page', async () => {
      const link = `#usage-table tr[data-device=${cssStr(expect.device)}] td.col-device a`;
      if (await page.$(link)) await page.click(link); // the period carries over from Usage
      else await page.evaluate((hh) => { location.hash = hh; }, devHash(expect.device));
      await ready('device');
      await page.waitForSelector(`#device-days[data-period="${period}"]`);
      const bars = Number(await page.getAttribute('#device-days', 'data-bars'));
      const want = Array.isArray(expect.days) ? expect.days.length : Number(expect.days);
      check('device day bars = expect.days', bars === want, `${bars} bars, expected ${want}`);
      if (Array.isArray(expect.days)) {
        const opts = await page.$$eval('#device-day option', (os) => os.map((o) => o.value));
        check('device day list = expect.days', JSON.stringify(opts) === JSON.stringify(expect.days), opts);
      }
      const rb = await renameButtons('#device-title');
      if (readOnly) check('read-only: no rename button on Device', rb === 0, `${rb} buttons`);
      else check('rename button on Device', rb === 1, `${rb} buttons`);
      const legends = await page.$$eval('.chart .u-legend', (ls) => ls.length);
      check('device charts have legends', legends >= 2, `${legends} legends`);
      if (bars > 0) {
        const first = await page.$eval('#device-day option', (o) => o.value);
        await page.selectOption('#device-day', first);
        await page.waitForSelector(`#device-hours[data-day="${first}"]`);
        const hb = Number(await page.getAttribute('#device-hours', 'data-bars'));
        check('device hour chart for a chosen day', hb > 0 && hb <= 25, `${hb} hour bars on ${first}`);
      }
      await page.waitForTimeout(200);
      await shot('device-dark.png');
    });
  }

  // ---------------------------------------------------------------- Live and Caps
  const liveCount = () => log.requests.filter((u) => u.includes('/api/v1/live')).length;
  await step('live page', async () => {
    await goto('#/live', 'live');
    const hasTable = await page.$('#live-talkers');
    const off = await page.$('#live-unavailable');
    check('live shows talkers or the reason', hasTable || off);
    if (hasTable) {
      check('live interfaces table', await page.$('#live-interfaces'));
      const before = liveCount();
      await page.waitForTimeout(3600);
      check('live polls every 3 s', liveCount() > before, `${liveCount() - before} polls in 3.6 s`);
    }
    await shot('live-dark.png');
    await goto('#/caps', 'caps');
    const n = liveCount();
    await page.waitForTimeout(3600);
    check('live polling stops on leaving', liveCount() === n, `${liveCount() - n} polls after leaving`);
  });

  await step('caps page', async () => {
    check('caps shows caps or says none', (await page.$('#caps-list')) || (await page.$('#caps-unavailable')));
    await shot('caps-dark.png');
  });

  // ---------------------------------------------------------------- phone
  // the rename form fits the card layout (opened, measured, then closed with Escape)
  async function phoneRenameForm() {
    const btn = page.locator('#usage-table tbody tr[data-device]').first().getByRole('button', { name: /^Rename / });
    if (!(await btn.count())) { check('phone: rename form fits 390 px', false, 'no rename button'); return; }
    await btn.click();
    const input = page.locator('#usage-table .rename-form input');
    await input.waitFor();
    const box = await input.boundingBox();
    const form = await page.$eval('#usage-table .rename-form', (f) => {
      const r = f.getBoundingClientRect();
      return { left: r.left, right: r.right, buttons: [...f.querySelectorAll('button')].map((b) => b.getBoundingClientRect().right) };
    });
    const m = await noHScroll();
    check('phone: rename form fits 390 px', m.scrollWidth <= m.innerWidth && box && box.x >= 0 && box.x + box.width <= m.innerWidth &&
      form.right <= m.innerWidth && form.buttons.every((r) => r <= m.innerWidth), { ...m, input: box, form });
    await shot('usage-phone-rename.png');
    await input.press('Escape');
    check('phone: Escape closes the rename form', (await page.locator('#usage-table .rename-form').count()) === 0);
  }

  await step('phone layout', async () => {
    await page.setViewportSize(PHONE);
    const pages = [['usage', `#/usage?${periodQuery}`]];
    if (expect.device) pages.push(['device', devHash(expect.device)]);
    pages.push(['live', '#/live'], ['caps', '#/caps']);
    for (const theme of ['light', 'dark']) {
      await setTheme(theme);
      for (const [pg, hash] of pages) {
        await goto('#/none', 'none'); // a new hash each time, so the page is built at phone size
        await goto(hash, pg);
        const m = await noHScroll();
        check(`no horizontal scroll: ${pg} ${theme} 390x844`, m.scrollWidth <= m.innerWidth, m);
        if (theme === 'light' && pg === 'usage') await shot('usage-phone.png');
        if (theme === 'light' && pg === 'usage' && !readOnly) await phoneRenameForm();
        if (theme === 'dark') await shot(`${pg}-phone-dark.png`);
      }
    }
  });

  return finish(browser, args, log);
}

// ---------------------------------------------------------------- rename
// On the Usage page (period of the expect file): a bad name is refused on the page without a
// request, Escape cancels, NAME is saved through the form, then the previous name comes back.
async function renameTest(page, args, log, periodQuery) {
  const { device: dev, name } = args.rename;
  const row = page.locator(`#usage-table tbody tr[data-device=${cssStr(dev)}]`);
  if (!(await row.count())) { check('rename: DEVICE is a row of the Usage table', false, `${dev} is not shown`); return; }
  const button = row.getByRole('button', { name: `Rename ${dev}`, exact: true });
  const field = row.getByRole('textbox', { name: `Name of ${dev}`, exact: true });
  const shown = () => row.locator('td.col-name .name-text').textContent();
  const fromApi = () => page.evaluate(async ({ q, d }) => {
    const r = await fetch(`api/v1/devices?${q}`, { cache: 'no-store' });
    const b = await r.json();
    const e = Array.isArray(b) ? b.find((x) => x.device === d) : null;
    return { status: r.status, name: e ? e.name || '' : null };
  }, { q: periodQuery, d: dev });
  const focused = () => page.evaluate(() => document.activeElement && document.activeElement.getAttribute('aria-label'));
  const dash = (n) => n || '—';

  const before = await fromApi();
  const prev = before.name;
  if (!check('rename: DEVICE is in /api/v1/devices', before.status === 200 && prev != null, before)) return;
  check('rename: the row shows the current name', (await shown()) === dash(prev), { shown: await shown(), api: prev });
  if (!check('rename: NAME differs from the current name', name !== prev, `both are ${JSON.stringify(name)}`)) return;

  // refused on the page: no request is sent
  const puts = log.puts.length;
  await button.click();
  await field.waitFor();
  check('rename: the field has the focus and the current name', (await focused()) === `Name of ${dev}` && (await field.inputValue()) === prev,
    { focus: await focused(), value: await field.inputValue() });
  for (const [what, bad] of [['whitespace', 'two words'], ['over 64 characters', 'x'.repeat(65)]]) {
    await field.fill(bad);
    await field.press('Enter');
    const msg = (await row.locator('.rename-msg').textContent()) || '';
    check(`rename: a name with ${what} is refused on the page`, (await field.getAttribute('aria-invalid')) === 'true' && msg.length > 0 &&
      (await row.locator('.rename-msg').isVisible()), msg);
    if (what === 'whitespace') await page.screenshot({ path: path.join(args.out, 'usage-rename.png') }).then(() => log.screenshots.push('usage-rename.png'));
  }
  await field.fill('x'.repeat(64));
  check('rename: 64 characters are accepted on the page', (await field.getAttribute('aria-invalid')) !== 'true');
  await field.press('Escape');
  check('rename: Escape cancels', (await field.count()) === 0 && (await shown()) === dash(prev) && (await focused()) === `Rename ${dev}`,
    { shown: await shown(), focus: await focused() });
  check('rename: nothing was sent for refused or cancelled names', log.puts.length === puts, log.puts.slice(puts));

  // through the form, and back
  for (const [label, to, was] of [['rename', name, prev], ['rename back', prev, name]]) {
    await button.click();
    await field.waitFor();
    check(`${label}: the field starts with the current name`, (await field.inputValue()) === was, await field.inputValue());
    await field.fill(to);
    const loads = Number(await page.getAttribute('#usage-table', 'data-loads'));
    const answer = page.waitForResponse((r) => r.request().method() === 'PUT');
    await field.press('Enter');
    const res = await answer;
    const req = res.request();
    let body = null;
    try { body = await res.json(); } catch { /* checked below */ }
    const sent = { url: req.url(), type: req.headers()['content-type'], body: req.postData() ?? '' };
    check(`${label}: PUT api/v1/names/DEVICE with the name as text/plain`,
      sent.url === `${args.url}/api/v1/names/${encodeURIComponent(dev)}` && /^text\/plain\b/.test(sent.type || '') && sent.body === to, sent);
    check(`${label}: 200 {device, name}`, res.status() === 200 && body && body.device === dev && body.name === to, { status: res.status(), body });
    await page.waitForFunction((n) => Number(document.querySelector('#usage-table').dataset.loads) > n &&
      document.querySelector('#main').dataset.state === 'ready', loads);
    const now = await shown();
    check(`${label}: the row shows ${JSON.stringify(to)} after the reload`, now === dash(to), now);
    const api = await fromApi();
    check(`${label}: /api/v1/devices says ${JSON.stringify(to)}`, api.status === 200 && api.name === to, api);
    check(`${label}: the focus is back on the rename button`, (await focused()) === `Rename ${dev}`, await focused());
  }
}

// ---------------------------------------------------------------- verdict
async function finish(browser, args, log) {
  await browser.close();
  check('no request outside the origin', log.foreign.length === 0, log.foreign);
  check('no console error or warning', log.console.length === 0, log.console);
  check('no page error', log.pageErrors.length === 0, log.pageErrors);
  check('no HTTP error answer', log.httpErrors.length === 0, log.httpErrors);
  check('no failed request', log.failedRequests.length === 0, log.failedRequests);

  const failures = checks.filter((c) => !c.ok);
  const result = { ok: failures.length === 0, url: args.url, passed: checks.length - failures.length, failed: failures.length,
    failures, checks, requests: log.requests.length, ...log };
  await fs.writeFile(path.join(args.out, 'result.json'), JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify({ ok: result.ok, passed: result.passed, failed: result.failed,
    failures: failures.map((f) => `${f.name}: ${f.detail}`.slice(0, 300)), out: args.out }));
  return result.ok ? 0 : 1;
}

// a hung browser must not hang the test suite
const watchdog = setTimeout(() => {
  console.log(JSON.stringify({ ok: false, failures: ['timeout: the browser test took over 240 s'] }));
  process.exit(1);
}, 240000);
watchdog.unref();

main().then((code) => process.exit(code), (e) => {
  console.log(JSON.stringify({ ok: false, failures: [`error: ${e.message}`] }));
  process.exit(1);
});
