// pmacct-rs web page. One ES module, no build step, no framework.
// It talks only to its own origin (the daemon sends CSP default-src 'self'):
// the JSON API under api/v1/ (see the API contract) and the vendored uPlot.
// Styles are set only through the CSSOM (el.style.x), never as attributes.

const API = 'api/v1/';
const $ = (sel, root = document) => root.querySelector(sel);

// ---------------------------------------------------------------- DOM helper

// h('td', {class: 'num', dataset: {bytes: 5}}, 'text', node, [more]) -> element
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c != null && c !== false) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

// ------------------------------------------------------- preferences & state

const prefs = {
  get(key, dflt, allowed) {
    try {
      const v = localStorage.getItem('pmacct.' + key);
      return allowed.includes(v) ? v : dflt;
    } catch { return dflt; } // storage disabled: defaults
  },
  set(key, v) {
    try { localStorage.setItem('pmacct.' + key, v); } catch { /* keep in memory only */ }
  },
};

const state = {
  config: null,
  units: prefs.get('units', 'bytes', ['bytes', 'bits']),
  theme: prefs.get('theme', 'system', ['system', 'light', 'dark']),
  liveWindow: prefs.get('liveWindow', '10', ['10', '60']),
  period: null, // {preset, from, to}, shared by the Usage and Device pages
  page: null,   // {destroy(), redraw()} of the page shown
  gen: 0,       // bumped on every navigation; late answers for older pages are dropped
};

// ------------------------------------------------------------------ banner

let bannerKey = null;
function showBanner(msg, key = 'page') {
  bannerKey = key;
  $('#banner-text').textContent = msg;
  $('#banner').hidden = false;
}
function clearBanner(key = null) {
  if (key && key !== bannerKey) return;
  $('#banner').hidden = true;
  bannerKey = null;
}

// ----------------------------------------------------------------- the API

class ApiError extends Error {}

// fetch, then the JSON answer; a non-2xx answer throws its {"error"} text after `what: `
async function call(url, init, what) {
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    throw new ApiError(`Cannot reach the daemon (${e.message}).`);
  }
  let body = null;
  try { body = await res.json(); } catch { /* not JSON: reported below */ }
  if (!res.ok) {
    const why = body && body.error ? body.error : `${res.status} ${res.statusText}`;
    throw new ApiError(`${what}: ${why}`);
  }
  if (body == null) throw new ApiError(`${what}: the answer is not JSON.`);
  return body;
}

// fresh: revalidate with the daemon (after a change made from the page)
function api(path, params = null, { fresh = false } = {}) {
  const url = API + path + (params ? '?' + new URLSearchParams(params) : '');
  const init = { headers: { Accept: 'application/json' } };
  if (fresh) init.cache = 'no-cache';
  return call(url, init, path.split('/')[0]);
}

// PUT api/v1/names/{device} with the name as a text/plain body ('' removes
// the name). Answers {"device","name"}; 400 (a bad name) and 403 (read-only)
// carry {"error"}.
function putName(device, name) {
  return call(API + 'names/' + encodeURIComponent(device), {
    method: 'PUT',
    headers: { 'Content-Type': 'text/plain; charset=utf-8', Accept: 'application/json' },
    body: name,
  }, `Cannot rename ${device}`);
}

// ------------------------------------------------------------------- units

const BYTE_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
const BIT_UNITS = ['b', 'kb', 'Mb', 'Gb', 'Tb', 'Pb', 'Eb'];
const bitsMode = () => state.units === 'bits';
const unitFactor = () => (bitsMode() ? 8 : 1);

// Decimal prefixes, about three significant digits: 999 B, 1.23 kB, 45.6 MB.
function human(n, units, trim = false) {
  if (!Number.isFinite(n)) return '—';
  let v = Math.abs(n), i = 0;
  for (;;) {
    const digits = i === 0 ? 0 : v < 10 ? 2 : v < 100 ? 1 : 0;
    let s = v.toFixed(digits);
    if (Number(s) >= 1000 && i < units.length - 1) { v /= 1000; i++; continue; }
    if (trim && s.includes('.')) s = s.replace(/\.?0+$/, '');
    return (n < 0 ? '-' : '') + s + ' ' + units[i];
  }
}
// a value already multiplied by unitFactor() (chart axes)
const fmtScaled = (v, trim = true) => human(v, bitsMode() ? BIT_UNITS : BYTE_UNITS, trim);
const fmtVolume = (bytes) => fmtScaled(bytes * unitFactor(), false);
// the API gives rates in bits per second
const fmtRate = (bps) => human(bitsMode() ? bps : bps / 8, bitsMode() ? BIT_UNITS : BYTE_UNITS) + '/s';
const unitWord = () => (bitsMode() ? 'bits' : 'bytes');
const exact = (bytes) => `${Number(bytes).toLocaleString('en')} bytes`;

// -------------------------------------------------------------------- dates
// Days are 'YYYY-MM-DD' strings; arithmetic goes through Date.UTC so that the
// browser's time zone never shifts a day. Month arguments may overflow (0, 13).

function dayStr(y, m, d) { return new Date(Date.UTC(y, m - 1, d)).toISOString().slice(0, 10); }
function parseDay(s) { const [y, m, d] = s.split('-').map(Number); return { y, m, d }; }
function addDays(s, n) { const t = parseDay(s); return dayStr(t.y, t.m, t.d + n); }
const lastOfMonth = (y, m) => dayStr(y, m + 1, 0);
const isDay = (s) => typeof s === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(s);

// First day of the billing cycle that starts in month (y, m): the billing day,
// or the month's last day when the month is shorter (billing_day 31 in April).
function cycleStart(y, m, billingDay) {
  const first = parseDay(dayStr(y, m, 1));
  const len = parseDay(lastOfMonth(first.y, first.m)).d;
  return dayStr(first.y, first.m, Math.min(billingDay, len));
}

const PRESETS = [
  ['today', 'Today'], ['yesterday', 'Yesterday'], ['cycle', 'This cycle'],
  ['lastcycle', 'Last cycle'], ['month', 'This month'], ['lastmonth', 'Last month'],
  ['custom', 'Custom'],
];

// [from, to] (both included) of a preset, from the daemon's "today".
function presetRange(name, today, billingDay) {
  const t = parseDay(today);
  switch (name) {
    case 'today': return [today, today];
    case 'yesterday': return [addDays(today, -1), addDays(today, -1)];
    case 'month': return [dayStr(t.y, t.m, 1), lastOfMonth(t.y, t.m)];
    case 'lastmonth': return [dayStr(t.y, t.m - 1, 1), lastOfMonth(t.y, t.m - 1)];
    case 'cycle':
    case 'lastcycle': {
      // the running cycle began this month, unless this month's billing day is still ahead
      let k = today >= cycleStart(t.y, t.m, billingDay) ? 0 : -1;
      if (name === 'lastcycle') k -= 1;
      return [cycleStart(t.y, t.m + k, billingDay), addDays(cycleStart(t.y, t.m + k + 1, billingDay), -1)];
    }
    default: return null;
  }
}

function setPreset(name) {
  const cfg = state.config;
  const r = presetRange(name, cfg.today, Math.min(Math.max(cfg.billing_day || 1, 1), 31));
  if (r) state.period = { preset: name, from: r[0], to: r[1] };
}

// #/page?p=month or #/page?from=..&to=..  (so a period can be bookmarked)
function periodFromParams(params) {
  const p = params.get('p'), from = params.get('from'), to = params.get('to');
  if (isDay(from) && isDay(to)) state.period = { preset: 'custom', from: from <= to ? from : to, to: from <= to ? to : from };
  else if (p && p !== 'custom' && PRESETS.some(([k]) => k === p)) setPreset(p);
  if (!state.period) setPreset('month');
}
function periodQuery() {
  const p = state.period;
  return p.preset === 'custom' ? `from=${p.from}&to=${p.to}` : `p=${p.preset}`;
}
function syncHash() {
  const path = location.hash.replace(/^#/, '').split('?')[0] || '/usage';
  history.replaceState(null, '', `#${path}?${periodQuery()}`);
}
const deviceHref = (dev) => `#/device/${encodeURIComponent(dev)}?${periodQuery()}`;

// The period picker used by the Usage and Device pages; onChange() reloads.
function periodPicker(onChange) {
  const sel = h('select', { id: 'period' }, PRESETS.map(([v, l]) => h('option', { value: v }, l)));
  const from = h('input', { type: 'date', id: 'period-from' });
  const to = h('input', { type: 'date', id: 'period-to' });
  const custom = h('span', { class: 'custom' },
    h('label', { for: 'period-from' }, 'From'), from, h('label', { for: 'period-to' }, 'to'), to);
  const shown = h('span', { class: 'range muted', 'aria-live': 'polite' });
  function sync() {
    const p = state.period;
    sel.value = p.preset;
    from.value = p.from;
    to.value = p.to;
    custom.hidden = p.preset !== 'custom';
    shown.textContent = p.from === p.to ? p.from : `${p.from} – ${p.to}`;
  }
  function changed() { sync(); syncHash(); onChange(); }
  sel.addEventListener('change', () => {
    if (sel.value === 'custom') { state.period = { ...state.period, preset: 'custom' }; sync(); syncHash(); return; }
    setPreset(sel.value);
    changed();
  });
  // a start after the end moves the other end along (typing from, then to, always works)
  const onDate = (moved) => {
    if (!isDay(from.value) || !isDay(to.value)) return; // half-typed date
    let a = from.value, b = to.value;
    if (a > b) { if (moved === from) b = a; else a = b; }
    state.period = { preset: 'custom', from: a, to: b };
    changed();
  };
  from.addEventListener('change', () => onDate(from));
  to.addEventListener('change', () => onDate(to));
  sync();
  return h('div', { class: 'picker' }, h('label', { for: 'period' }, 'Period'), sel, custom, shown);
}

// ----------------------------------------------------------------- tables
// dataTable({id, cols, sort: {key, dir}, rowAttrs(row), filter(row), footer(rows), empty})
// cols: {key, label, cls, num, sort(row) -> value, bytes(row) | bps(row) | render(row)}
// Every header is a sort button; aria-sort marks the sorted column.

function compare(a, b) {
  if (a == null || b == null) return a == null ? (b == null ? 0 : -1) : 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b), 'en', { numeric: true, sensitivity: 'base' });
}

function cell(col, row) {
  const td = h('td', { class: col.cls, dataset: { label: col.label } }); // data-label: phone card layout
  if (col.bytes) {
    const b = col.bytes(row);
    td.dataset.bytes = String(b);
    td.textContent = fmtVolume(b);
    td.title = exact(b);
  } else if (col.bps) {
    const r = col.bps(row);
    td.dataset.bps = String(r);
    td.textContent = fmtRate(r);
  } else {
    td.append(...[col.render ? col.render(row) : String(row[col.key] ?? '')].flat());
  }
  return td;
}

function dataTable(opts) {
  const sort = { ...opts.sort };
  let rows = [], shown = [];
  const headers = opts.cols.map((c) => h('th', { scope: 'col', class: c.cls },
    h('button', { type: 'button', onclick: () => toggleSort(c) }, c.label)));
  const tbody = h('tbody'), tfoot = h('tfoot');
  const el = h('table', { class: 'data', id: opts.id },
    opts.caption ? h('caption', { class: 'sr-only' }, opts.caption) : null,
    h('thead', {}, h('tr', {}, headers)), tbody, tfoot);

  function toggleSort(c) {
    if (sort.key === c.key) sort.dir = sort.dir === 'asc' ? 'desc' : 'asc';
    else Object.assign(sort, { key: c.key, dir: c.num ? 'desc' : 'asc' });
    draw();
  }
  function draw() {
    opts.cols.forEach((c, i) => {
      if (c.key === sort.key) headers[i].setAttribute('aria-sort', sort.dir === 'asc' ? 'ascending' : 'descending');
      else headers[i].removeAttribute('aria-sort');
    });
    shown = opts.filter ? rows.filter(opts.filter) : rows.slice();
    const col = opts.cols.find((c) => c.key === sort.key);
    if (col) {
      const key = col.sort || ((r) => (col.bytes || col.bps || ((x) => x[col.key]))(r));
      const sign = sort.dir === 'asc' ? 1 : -1;
      shown.sort((a, b) => sign * compare(key(a), key(b)));
    }
    tbody.replaceChildren(...shown.map((r) =>
      h('tr', opts.rowAttrs ? opts.rowAttrs(r) : {}, opts.cols.map((c) => cell(c, r)))));
    if (!shown.length) {
      tbody.append(h('tr', {}, h('td', { colspan: opts.cols.length, class: 'empty' }, opts.empty || 'Nothing to show.')));
    }
    tfoot.replaceChildren(opts.footer && shown.length ? opts.footer(shown) : '');
    return shown;
  }
  return { el, draw, shown: () => shown, set(r) { rows = r; return draw(); } };
}

const textCol = (key, label, cls, render) => ({ key, label, cls, render });
const bytesCol = (key, label, cls, bytes) => ({ key, label, cls: cls + ' num', num: true, bytes });
const rateCol = (key, label, cls, bps) => ({ key, label, cls: cls + ' num', num: true, bps });

// ------------------------------------------------------------------ charts

function themeColors() {
  const cs = getComputedStyle(document.documentElement);
  const v = (n) => cs.getPropertyValue(n).trim();
  return { text: v('--muted'), grid: v('--grid'), down: v('--down'), up: v('--up') };
}

// tick steps 1, 2, 5 x 10^n (n >= 0): no fractional bytes on the axis
const Y_INCRS = Array.from({ length: 19 }, (_, e) => [1, 2, 5].map((m) => m * 10 ** e)).flat();

function yAxis(c, label) {
  return {
    incrs: Y_INCRS,
    stroke: c.text, label, labelSize: 18, size: 72,
    grid: { stroke: c.grid, width: 1 }, ticks: { stroke: c.grid, width: 1 },
    values: (u, splits) => splits.map((v) => fmtScaled(v)),
  };
}
const yFromZero = { range: (u, min, max) => uPlot.rangeNum(0, Math.max(max, 1), 0.1, true) };

// Stacked bars on an index x axis (one slot per label). uPlot does not stack,
// so "Download" is drawn with the height down+up and "Upload" is drawn over
// its lower part; the legend shows the real (unstacked) values.
function stackedBars(labels, tickLabel, down, up, { xLabel, yLabel, onPick, empty }) {
  if (!labels.length) return { empty };
  const c = themeColors(), k = unitFactor();
  const bars = uPlot.paths.bars({ size: [0.7, 64], align: 0 });
  // the legend shows the hovered slot, or the sum when the cursor is off the chart
  const sum = (arr) => arr.reduce((a, x) => a + x, 0);
  const legendVal = (arr) => (u, v, si, i) => fmtVolume(i == null ? sum(arr) : arr[i] ?? 0);
  const opts = {
    legend: { show: true },
    cursor: { drag: { x: false, y: false, setScale: false }, points: { show: false } },
    scales: { x: { time: false, range: () => [-0.5, Math.max(labels.length, 1) - 0.5] }, y: yFromZero },
    series: [
      { label: xLabel, value: (u, v) => (v == null || labels[v] == null ? 'all' : labels[v]) },
      { label: 'Download', stroke: c.down, fill: c.down, paths: bars, points: { show: false }, value: legendVal(down) },
      { label: 'Upload', stroke: c.up, fill: c.up, paths: bars, points: { show: false }, value: legendVal(up) },
    ],
    axes: [
      {
        stroke: c.text, label: xLabel, labelSize: 18, grid: { show: false }, ticks: { stroke: c.grid },
        space: 44, incrs: [1, 2, 3, 4, 6, 7, 12, 14, 24, 30, 60, 100],
        values: (u, splits) => splits.map((i) => (Number.isInteger(i) && labels[i] != null ? tickLabel(labels[i]) : '')),
      },
      yAxis(c, yLabel),
    ],
    hooks: onPick ? {
      ready: [(u) => u.over.addEventListener('click', () => { if (u.cursor.idx != null) onPick(u.cursor.idx); })],
    } : {},
  };
  const data = [labels.map((_, i) => i), down.map((d, i) => (d + up[i]) * k), up.map((x) => x * k)];
  return { opts, data };
}

// Mount a uPlot chart in box. build() returns {opts, data}; it is called again
// by redraw() (theme or units changed). The width follows the box.
function mountChart(box, build, height = 240) {
  let plot = null, width = 0;
  const draw = () => {
    if (plot) plot.destroy();
    box.replaceChildren();
    if (typeof uPlot === 'undefined') { box.append(h('p', { class: 'notice' }, 'The chart library did not load.')); return; }
    const { opts, data, empty } = build();
    if (empty) { plot = null; box.append(h('p', { class: 'notice' }, empty)); return; }
    width = Math.max(box.clientWidth, 200);
    plot = new uPlot({ ...opts, width, height }, data, box);
  };
  // resize in the next frame: resizing inside the observer callback can loop
  const ro = new ResizeObserver(() => requestAnimationFrame(() => {
    const w = box.clientWidth;
    if (plot && w > 0 && w !== width) { width = w; plot.setSize({ width: w, height }); }
  }));
  ro.observe(box);
  draw();
  return {
    redraw: draw,
    update: (data) => (plot ? plot.setData(data) : draw()),
    destroy() { ro.disconnect(); if (plot) plot.destroy(); plot = null; },
  };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const shortDay = (s) => `${MONTHS[Number(s.slice(5, 7)) - 1]} ${Number(s.slice(8, 10))}`;
// "2024-03-03T13:00:00+01:00" -> "13": the daemon's local hour, whatever the browser's zone
const hourOf = (s) => s.slice(11, 13);

// ------------------------------------------------------------------ pages

// Each page mounts into <main> and returns {destroy(), redraw()}.
// alive() is false once the user went to another page.
function pageToken() { const g = state.gen; return () => g === state.gen; }
function ready(main) { main.dataset.state = 'ready'; }
function failed(main, alive, err) {
  if (!alive()) return;
  showBanner(err instanceof ApiError ? err.message : `Page error: ${err.message}`);
  main.dataset.state = 'error';
}
function noHistory(main) {
  main.append(h('p', { class: 'notice' },
    'This daemon keeps no usage history (no sqlite3 or memory plugin is configured). See the ',
    h('a', { href: '#/live' }, 'Live'), ' page.'));
  ready(main);
  return {};
}

// -------- naming devices (only when /config says read_only: false)

const canRename = () => !!state.config && state.config.read_only === false;
const NAME_MAX = 64;
let editorIds = 0;

// What the page refuses before asking (the daemon checks again and has the last word).
function nameProblem(name) {
  if (/\s/.test(name)) return 'A name cannot contain spaces or other whitespace.';
  const n = [...name].length;
  if (n > NAME_MAX) return `A name has at most ${NAME_MAX} characters, this one has ${n}.`;
  if (/^[#!]/.test(name)) return 'A name cannot start with # or !.';
  return '';
}

// A device's name followed by a rename button ("Rename DEVICE"); the button
// turns it into a text field with Save and Cancel (Enter saves, Escape cancels).
// opts: {device, name, view(name) -> node(s) shown before the button,
//        editView(name) -> node(s) kept before the form (default none),
//        drafts: Map device -> text, so an open form survives a redraw of its table,
//        alive() -> false once the page was left, onSaved(name) after a 200}
function nameEditor(opts) {
  const { device, drafts = new Map(), alive = () => true } = opts;
  let name = opts.name || '';
  const host = h('div', { class: 'rename' });

  function showView(focus) {
    drafts.delete(device);
    const btn = h('button', {
      type: 'button', class: 'rename-btn', 'aria-label': `Rename ${device}`, title: `Rename ${device}`,
      onclick: () => showForm(name, true),
    }, '✎');
    host.replaceChildren(...[opts.view(name)].flat(), btn);
    if (focus) btn.focus();
  }

  function showForm(value, focus) {
    drafts.set(device, value);
    const msgId = `rename-msg-${++editorIds}`;
    const input = h('input', {
      type: 'text', class: 'rename-input', value, placeholder: 'no name', 'aria-label': `Name of ${device}`,
      'aria-describedby': msgId, autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false',
    });
    const save = h('button', { type: 'submit', class: 'rename-save' }, 'Save');
    const cancel = h('button', { type: 'button', class: 'rename-cancel', onclick: () => showView(true) }, 'Cancel');
    const msg = h('span', { class: 'rename-msg', id: msgId, role: 'status' });
    const say = (text, bad = false) => {
      msg.textContent = text;
      msg.classList.toggle('bad', bad);
      if (bad) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid');
    };
    const busy = (on) => {
      for (const el of [input, save, cancel]) el.disabled = on;
      form.setAttribute('aria-busy', String(on));
    };
    const check = () => { const bad = nameProblem(input.value.trim()); say(bad, !!bad); return !bad; };
    const form = h('form', { class: 'rename-form', novalidate: true }, input, save, cancel, msg);
    input.addEventListener('input', () => { drafts.set(device, input.value); check(); });
    form.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') { ev.preventDefault(); showView(true); }
    });
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const wanted = input.value.trim();
      if (!check()) { input.focus(); return; }
      if (wanted === name) { showView(true); return; }
      busy(true);
      say('Saving…');
      try {
        const answer = await putName(device, wanted);
        name = typeof answer.name === 'string' ? answer.name : wanted;
        clearBanner('rename');
        if (!alive()) return;
        showView(host.contains(document.activeElement) || document.activeElement === document.body);
        if (opts.onSaved) opts.onSaved(name);
      } catch (e) {
        if (!alive()) return;
        busy(false);
        say('Not saved.', true);
        showBanner(e instanceof ApiError ? e.message : `Cannot rename ${device}: ${e.message}`, 'rename');
        input.focus();
      }
    });
    host.replaceChildren(...[opts.editView ? opts.editView(name) : []].flat(), form);
    check();
    if (focus) { input.focus(); input.select(); }
  }

  if (drafts.has(device)) showForm(drafts.get(device), false); else showView(false);
  return host;
}

// -------- Usage

function usageColumns(capsRef, nameCell) {
  const share = (r) => capShares(r, capsRef.caps);
  return [
    textCol('name', 'Name', 'col-name', nameCell),
    textCol('device', 'Device', 'col-device', (r) => h('a', { href: deviceHref(r.device) }, r.device)),
    { ...textCol('mac', 'MAC', 'col-mac', macCell), sort: (r) => r.macs.join(' ') },
    { ...textCol('addr', 'Addresses', 'col-addr', (r) => r.addresses.join(' ') || '—'), sort: (r) => r.addresses.join(' ') },
    bytesCol('down', 'Down', 'col-down', (r) => r.down),
    bytesCol('up', 'Up', 'col-up', (r) => r.up),
    bytesCol('total', 'Total', 'col-total', (r) => r.total),
    {
      key: 'cap', label: 'Share of cap', cls: 'col-cap num', num: true,
      sort: (r) => Math.max(-1, ...share(r).map((s) => s.pct)),
      render: (r) => capCell(share(r)),
    },
  ];
}

// The device's bytes in the shown period (in the cap's direction) as a share of each cap on it.
function capShares(row, caps) {
  return caps.filter((c) => c.device === row.device && c.limit_bytes > 0).map((c) => {
    const dir = String(c.direction || '').toLowerCase();
    const used = /^(down|in)/.test(dir) ? row.down : /^(up|out)/.test(dir) ? row.up : row.total;
    return { cap: c, pct: (100 * used) / c.limit_bytes };
  });
}
function capCell(shares) {
  if (!shares.length) return '—';
  const span = h('span', {}, shares.map((s) => `${s.pct.toFixed(1)} %` + (shares.length > 1 ? ` ${s.cap.name}` : '')).join(', '));
  span.title = shares.map((s) => `cap "${s.cap.name}" (${s.cap.direction}): limit ${fmtVolume(s.cap.limit_bytes)}, ` +
    `${s.cap.percent}% used in its period from ${s.cap.period_start}`).join('\n');
  return span;
}

// a device's MAC addresses, and below them the vendor (IEEE registry) when known
function macCell(r) {
  const macs = r.macs.join(' ') || '—';
  return r.vendor ? [macs, h('span', { class: 'vendor' }, r.vendor)] : macs;
}

// one row per device of /usage (by=all), with names, MACs and addresses from /devices
function joinUsage(usage, devices) {
  const info = new Map(devices.map((d) => [d.device, d]));
  const rows = new Map();
  for (const u of usage) {
    const r = rows.get(u.device);
    if (r) { r.down += u.download_bytes; r.up += u.upload_bytes; r.total = r.down + r.up; continue; }
    const d = info.get(u.device) || {};
    rows.set(u.device, {
      device: u.device, name: u.name || d.name || '', macs: d.macs || [], addresses: d.addresses || [],
      vendor: u.vendor || '', down: u.download_bytes, up: u.upload_bytes, total: u.download_bytes + u.upload_bytes,
    });
  }
  return [...rows.values()];
}

function csvField(v) { const s = String(v); return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s; }
function download(filename, mime, text) {
  const url = URL.createObjectURL(new Blob([text], { type: mime }));
  const a = h('a', { href: url, download: filename, class: 'sr-only' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30000);
}
function usageExport(rows) {
  return rows.map((r) => ({
    device: r.device, name: r.name, mac: r.macs.join(' '), addresses: r.addresses.join(' '),
    download_bytes: r.down, upload_bytes: r.up, total_bytes: r.total, vendor: r.vendor,
  }));
}

function usagePage(main) {
  const cfg = state.config, alive = pageToken();
  main.append(h('h1', {}, 'Usage'));
  if (cfg.source == null) return noHistory(main);
  const capsRef = { caps: [] };
  const search = h('input', { type: 'search', id: 'usage-search', placeholder: 'name, device, MAC, address', autocomplete: 'off' });
  const count = h('span', { class: 'muted', id: 'usage-count' });
  const haystack = (r) => [r.name, r.device, r.vendor, ...r.macs, ...r.addresses].join(' ').toLowerCase();
  // names can be changed from here unless the daemon is read-only
  const drafts = new Map();
  let refocus = null; // the device whose rename button gets the focus back after the reload
  const nameCell = (r) => (!canRename() ? r.name || '—' : nameEditor({
    device: r.device, name: r.name, drafts, alive,
    view: (n) => h('span', { class: 'name-text' }, n || '—'),
    onSaved: (n) => {
      for (const x of rows) if (x.device === r.device) x.name = n;
      if (document.activeElement && document.activeElement.classList.contains('rename-btn')) refocus = r.device;
      load(true);
    },
  }));
  const table = dataTable({
    id: 'usage-table', caption: 'Traffic per device', cols: usageColumns(capsRef, nameCell),
    sort: { key: 'total', dir: 'desc' }, empty: 'No traffic in this period.',
    rowAttrs: (r) => ({ dataset: { device: r.device } }),
    filter: (r) => { const q = search.value.trim().toLowerCase(); return !q || haystack(r).includes(q); },
    footer: totalRow,
  });
  let rows = [];
  const counted = (shown) => { count.textContent = `${shown.length} of ${rows.length} devices`; };
  const redraw = () => counted(table.draw());
  search.addEventListener('input', redraw);
  const fname = (ext) => `pmacct-usage-${state.period.from}_${state.period.to}.${ext}`;
  const csv = () => {
    const head = 'device,name,mac,addresses,download_bytes,upload_bytes,total_bytes,vendor';
    const lines = usageExport(table.shown()).map((r) => Object.values(r).map(csvField).join(','));
    download(fname('csv'), 'text/csv', [head, ...lines].join('\n') + '\n');
  };
  const json = () => download(fname('json'), 'application/json', JSON.stringify(usageExport(table.shown()), null, 2) + '\n');

  main.append(
    periodPicker(load),
    h('div', { class: 'toolbar' },
      h('label', { for: 'usage-search' }, 'Search'), search, count,
      h('span', { class: 'spacer' }),
      h('button', { type: 'button', id: 'usage-csv', onclick: csv }, 'CSV'),
      h('button', { type: 'button', id: 'usage-json', onclick: json }, 'JSON')),
    ...(cfg.has_bins === false ? [h('p', { class: 'notice' }, 'This memory table has no time bins (imt_history): the numbers are totals since the daemon started, whatever the period.')] : []),
    h('div', { class: 'table-wrap' }, table.el),
    h('p', { class: 'muted small' }, 'Down and up are seen from the device. Share of cap: the device\'s traffic in this period against the limit of each cap on it.'));

  // fresh: after a rename (the daemon's answers changed); data-loads counts the loads done
  let seq = 0, loads = 0;
  async function load(fresh = false) {
    // a memory table without imt_history has no time: its totals since the start, whatever the period
    const timeless = cfg.has_bins === false;
    const my = ++seq, { from, to } = state.period, q = timeless ? {} : { from, to }, o = { fresh: fresh === true };
    main.dataset.state = 'loading';
    table.el.setAttribute('aria-busy', 'true');
    try {
      const caps = cfg.has_caps ? api('caps', null, o).catch((e) => { showBanner(e.message); return null; }) : null;
      const [usage, devices, c] = await Promise.all([api('usage', { by: 'all', ...q }, o), api('devices', q, o), caps]);
      if (!alive() || my !== seq) return;
      rows = joinUsage(usage, devices);
      capsRef.caps = c && c.available ? c.caps : [];
      const keep = document.activeElement;
      counted(table.set(rows));
      table.el.dataset.period = `${from}..${to}`;
      table.el.dataset.loads = String(++loads);
      table.el.removeAttribute('aria-busy');
      // the rows were rebuilt: give the focus back to the rename button that had it
      if (refocus && (!keep || keep === document.body || !keep.isConnected)) {
        const btn = table.el.querySelector(`tr[data-device="${CSS.escape(refocus)}"] .rename-btn`);
        if (btn) btn.focus();
      }
      refocus = null;
      ready(main);
    } catch (e) { if (my === seq) failed(main, alive, e); }
  }
  load();
  return { redraw };
}

function totalRow(shown) {
  const sum = (f) => shown.reduce((a, r) => a + f(r), 0);
  const td = (cls, b) => h('td', { class: cls + ' num', dataset: { bytes: b }, title: exact(b) }, fmtVolume(b));
  return h('tr', { id: 'usage-total' },
    // the empty MAC/Addresses cells keep the columns aligned when those are hidden on phones
    h('th', { scope: 'row', colspan: 2 }, `Total (${shown.length})`),
    h('td', { class: 'col-mac' }), h('td', { class: 'col-addr' }),
    td('col-down', sum((r) => r.down)), td('col-up', sum((r) => r.up)), td('col-total', sum((r) => r.total)),
    h('td', { class: 'col-cap' }));
}

// -------- Device

// a peer: its name and address, or its address
const peerText = (r) => (r.name ? [r.name + ' ', h('span', { class: 'muted' }, `(${r.peer})`)] : r.peer);
// a peer's country and AS ('' when unknown)
const peerWhere = (r) => [r.country, r.as].filter(Boolean).join(' · ');

function devicePage(main, route) {
  const cfg = state.config, alive = pageToken(), dev = route.arg;
  // the title, with a rename button once the name is known (unless read-only)
  const head = h('div', { class: 'titlebar', id: 'device-title' }, h('h1', {}, dev));
  const drafts = new Map();
  let shownName = null;
  function showName(n, device) {
    if (n === shownName) return; // keeps an open rename form (and its focus)
    shownName = n;
    const heading = (x) => h('h1', {}, x ? `${x} (${device})` : device);
    head.replaceChildren(!canRename() ? heading(n) : nameEditor({
      device, name: n, drafts, alive, view: heading, editView: heading,
      onSaved: (saved) => { shownName = saved; load(data ? data.day : null, true); },
    }));
  }
  main.append(h('p', { class: 'crumb' }, h('a', { href: '#/usage' }, '← Usage')), head);
  if (cfg.source == null) return noHistory(main);
  const daysBox = h('div', { id: 'device-days', class: 'chart' });
  const hoursBox = h('div', { id: 'device-hours', class: 'chart' });
  const daySel = h('select', { id: 'device-day' });
  const hoursTitle = h('h2', {}, 'Per hour');
  // a peer is shown by the name the device used for it when the source has names
  // (`youtube.com (142.250.185.78)`), with its country and AS when known
  const peerCols = [
    { ...textCol('peer', 'Peer', 'col-peer', peerText), sort: (r) => r.name || r.peer },
    { ...textCol('where', 'Country · AS', 'col-pname', (r) => peerWhere(r) || '—'), sort: peerWhere },
    bytesCol('down', 'Down', 'col-down', (r) => r.download_bytes), bytesCol('up', 'Up', 'col-up', (r) => r.upload_bytes),
    bytesCol('total', 'Total', 'col-total', (r) => r.download_bytes + r.upload_bytes),
  ];
  const portCols = [
    { ...textCol('port', 'Port', 'col-port num'), num: true }, textCol('proto', 'Proto', 'col-proto'),
    ...peerCols.slice(2),
  ];
  const peers = dataTable({ id: 'device-peers', caption: 'Top peers', cols: peerCols, sort: { key: 'total', dir: 'desc' } });
  const ports = dataTable({ id: 'device-ports', caption: 'Top ports', cols: portCols, sort: { key: 'total', dir: 'desc' } });
  const portsBox = h('div', { class: 'table-wrap' });
  main.append(
    periodPicker(() => load(null)),
    h('h2', {}, 'Per day'), h('p', { class: 'muted small' }, 'Click a bar to see that day per hour.'), daysBox,
    h('div', { class: 'toolbar' }, hoursTitle, h('span', { class: 'spacer' }), h('label', { for: 'device-day' }, 'Day'), daySel),
    hoursBox,
    h('div', { class: 'two' },
      h('section', {}, h('h2', {}, 'Top peers'), h('div', { class: 'table-wrap' }, peers.el)),
      h('section', {}, h('h2', {}, 'Top ports'), portsBox)));

  let data = null, daysChart = null, hoursChart = null, seq = 0;
  daySel.addEventListener('change', () => load(daySel.value));

  const dayBuild = () => stackedBars(data.days.map((d) => d.period_start), shortDay,
    data.days.map((d) => d.download_bytes), data.days.map((d) => d.upload_bytes),
    { xLabel: 'Day', yLabel: `${unitWord()} per day`, onPick: (i) => load(data.days[i].period_start), empty: 'No traffic in this period.' });
  const hourBuild = () => stackedBars(data.hours.map((x) => x.period_start), hourOf,
    data.hours.map((x) => x.download_bytes), data.hours.map((x) => x.upload_bytes),
    { xLabel: 'Hour', yLabel: `${unitWord()} per hour`, empty: 'No hour to show.' });
  // the data-* attributes tell tests what was drawn
  function drawDays() {
    if (daysChart) daysChart.redraw(); else daysChart = mountChart(daysBox, dayBuild);
    daySel.replaceChildren(...data.days.map((d) => h('option', { value: d.period_start }, d.period_start)));
    daySel.disabled = !data.days.length;
    daysBox.dataset.bars = String(data.days.length);
  }
  function drawHours() {
    if (hoursChart) hoursChart.redraw(); else hoursChart = mountChart(hoursBox, hourBuild);
    daySel.value = data.day || '';
    hoursTitle.textContent = data.day ? `Per hour on ${data.day}` : 'Per hour';
    hoursBox.dataset.bars = String(data.hours.length);
    hoursBox.dataset.day = data.day || '';
  }
  function drawTables() {
    peers.set(data.peers || []);
    if (data.ports == null) portsBox.replaceChildren(h('p', { class: 'notice' }, 'This table has no port columns.'));
    else { portsBox.replaceChildren(ports.el); ports.set(data.ports); }
  }
  function redraw() {
    if (!data) return;
    daysChart.redraw(); hoursChart.redraw(); peers.draw(); if (data.ports) ports.draw();
  }
  // day == null: the whole period (new days, peers, ports); else only that day's hours,
  // unless whole (after a rename: everything again, keeping the day shown)
  async function load(day, whole = false) {
    const my = ++seq, { from, to } = state.period;
    main.dataset.state = 'loading';
    try {
      const d = await api('device/' + encodeURIComponent(dev), { from, to, top: 10, ...(day ? { day } : {}) }, { fresh: whole });
      if (!alive() || my !== seq) return;
      showName(d.name || '', d.device || dev);
      if (day && data && !whole) { data.day = d.day; data.hours = d.hours || []; drawHours(); }
      else {
        data = { ...d, hours: d.hours || [], days: d.days || [] };
        drawDays(); drawHours(); drawTables();
        daysBox.dataset.period = `${from}..${to}`;
      }
      ready(main);
    } catch (e) { if (my === seq) failed(main, alive, e); }
  }
  load(null);
  return {
    redraw,
    destroy() { if (daysChart) daysChart.destroy(); if (hoursChart) hoursChart.destroy(); },
  };
}

// -------- Live

function livePage(main) {
  const alive = pageToken();
  const radios = ['10', '60'].map((w) => {
    const id = `live-window-${w}`;
    const input = h('input', { type: 'radio', name: 'live-window', id, value: w, checked: state.liveWindow === w });
    input.addEventListener('change', () => { state.liveWindow = w; prefs.set('liveWindow', w); restart(); });
    return h('span', {}, input, h('label', { for: id }, w === '10' ? '10 s' : '1 min'));
  });
  const stamp = h('span', { class: 'muted', 'aria-live': 'off' });
  const body = h('div');
  const talkers = dataTable({
    id: 'live-talkers', caption: 'Top talkers', sort: { key: 'bytes', dir: 'desc' }, empty: 'No traffic in the window.',
    cols: [
      // the name is repeated under the host for phones, where the Name column is hidden
      textCol('host', 'Host', 'col-host', (r) => [h('a', { href: deviceHref(r.host) }, r.host),
        r.name ? h('span', { class: 'sub' }, r.name) : '']),
      textCol('name', 'Name', 'col-name', (r) => r.name || '—'),
      rateCol('down', 'Down rate', 'col-down', (r) => r.download_bps), rateCol('up', 'Up rate', 'col-up', (r) => r.upload_bps),
      bytesCol('bytes', 'Bytes', 'col-total', (r) => r.download_bytes + r.upload_bytes),
    ],
    rowAttrs: (r) => ({ dataset: { host: r.host } }),
  });
  const ifaces = dataTable({
    id: 'live-interfaces', caption: 'Interfaces', sort: { key: 'name', dir: 'asc' }, empty: 'No interface counters.',
    cols: [
      { ...textCol('name', 'Interface', 'col-if', (r) => `${r.name || '?'} (${r.ifindex})`), sort: (r) => r.name },
      rateCol('in', 'In rate', 'col-in', (r) => r.in_bps), rateCol('out', 'Out rate', 'col-out', (r) => r.out_bps),
      bytesCol('inb', 'In', 'col-inb', (r) => r.in_bytes), bytesCol('outb', 'Out', 'col-outb', (r) => r.out_bytes),
    ],
  });
  const chartBox = h('div', { id: 'live-chart', class: 'chart' });
  main.append(h('h1', {}, 'Live'),
    h('div', { class: 'toolbar' }, h('fieldset', { class: 'inline' }, h('legend', {}, 'Window'), radios), h('span', { class: 'spacer' }), stamp),
    body);

  let last = null, chart = null, timer = null, chain = 0, stopped = false;
  // series entries are one second each, so bytes per entry = bytes per second
  const seriesData = () => {
    const s = last.series || [], k = unitFactor();
    return [s.map((p) => p.t), s.map((p) => p.download_bytes * k), s.map((p) => p.upload_bytes * k)];
  };
  const buildChart = () => {
    const c = themeColors();
    // the legend shows the hovered second, or the latest one
    const val = (u, v, si, i) => {
      const y = i == null ? u.data[si][u.data[si].length - 1] : v;
      return y == null ? '—' : fmtScaled(y, false) + '/s';
    };
    const clock = (t) => new Date(t * 1000).toLocaleTimeString('en-GB', { hour12: false });
    return {
      opts: {
        legend: { show: true }, cursor: { drag: { x: false, y: false, setScale: false } },
        scales: { y: yFromZero },
        series: [{ label: 'Time', value: (u, t) => (t == null ? 'latest' : clock(t)) },
          { label: 'Download', stroke: c.down, width: 2, value: val, points: { show: false } },
          { label: 'Upload', stroke: c.up, width: 2, value: val, points: { show: false } }],
        axes: [{
          stroke: c.text, grid: { stroke: c.grid, width: 1 }, ticks: { stroke: c.grid, width: 1 }, space: 70,
          incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300], values: (u, splits) => splits.map(clock),
        },
          yAxis(c, `${unitWord()}/s`)],
      },
      data: seriesData(),
    };
  };
  function render() {
    if (!last) return;
    if (!last.available) {
      if (chart) { chart.destroy(); chart = null; }
      body.replaceChildren(h('p', { class: 'notice', id: 'live-unavailable' },
        `Live traffic is not available: ${last.reason || 'the daemon sees no live traffic'}.`));
      return;
    }
    if (!body.contains(talkers.el)) {
      body.replaceChildren(
        h('h2', {}, 'Traffic'), chartBox,
        h('h2', {}, 'Top talkers'), h('div', { class: 'table-wrap' }, talkers.el),
        h('h2', {}, 'Interfaces'), h('div', { class: 'table-wrap' }, ifaces.el));
    }
    talkers.set(last.talkers || []);
    ifaces.set(last.interfaces || []);
    if (chart) chart.update(seriesData()); else chart = mountChart(chartBox, buildChart, 200);
  }
  // one request at a time, then the next one 3 s later; chain drops a poll
  // that was overtaken by a window change
  async function poll(my) {
    try {
      const d = await api('live', { window: state.liveWindow });
      if (stopped || my !== chain || !alive()) return;
      last = d;
      render();
      stamp.textContent = `window ${d.window_seconds} s, updated ${new Date().toLocaleTimeString()}`;
      clearBanner('live');
      ready(main);
    } catch (e) {
      if (!stopped && my === chain) { showBanner(e.message, 'live'); main.dataset.state = 'error'; }
    } finally {
      if (!stopped && my === chain) timer = setTimeout(() => poll(my), 3000);
    }
  }
  function restart() { chain++; clearTimeout(timer); poll(chain); }
  restart();
  return {
    redraw() { if (chart) chart.redraw(); render(); },
    destroy() { stopped = true; clearTimeout(timer); if (chart) chart.destroy(); },
  };
}

// -------- Caps

function capCard(c) {
  const pct = c.limit_bytes > 0 ? (100 * c.used_bytes) / c.limit_bytes : 0;
  const proj = c.limit_bytes > 0 ? (100 * c.projected_bytes) / c.limit_bytes : 0;
  const fill = h('div', { class: 'meter-fill' });
  fill.style.width = `${Math.min(pct, 100)}%`;
  const mark = h('div', { class: 'meter-proj', title: 'projected at the end of the period' });
  mark.style.left = `${Math.min(proj, 100)}%`;
  const over = proj > 100;
  const meter = h('div', {
    class: 'meter' + (pct >= 100 ? ' over' : over ? ' warn' : ''), role: 'progressbar',
    'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': Math.round(pct), 'aria-label': `${c.name} used`,
  }, fill, mark);
  const fired = (c.alerts_fired || []).map(thresholdText).join(', ') || 'none';
  return h('article', { class: 'card cap', dataset: { cap: c.name } },
    h('h2', {}, c.name),
    meter,
    h('p', { class: 'big' }, h('span', { dataset: { bytes: c.used_bytes }, title: exact(c.used_bytes) }, fmtVolume(c.used_bytes)),
      ' of ', h('span', { dataset: { bytes: c.limit_bytes }, title: exact(c.limit_bytes) }, fmtVolume(c.limit_bytes)),
      h('span', { class: 'pct' }, ` ${Number(c.percent).toFixed(1)} %`)),
    h('dl', {},
      h('dt', {}, 'Projected'), h('dd', { class: over ? 'warn-text' : '' },
        h('span', { dataset: { bytes: c.projected_bytes }, title: exact(c.projected_bytes) }, fmtVolume(c.projected_bytes)),
        ` (${proj.toFixed(0)} %)`, over ? ' — over the limit' : ''),
      h('dt', {}, 'Device'), h('dd', {}, h('a', { href: deviceHref(c.device) }, c.device)),
      h('dt', {}, 'Direction'), h('dd', {}, c.direction),
      h('dt', {}, 'Period'), h('dd', {}, `${c.period_start} – ${c.period_end}`),
      h('dt', {}, 'Alerts fired'), h('dd', {}, fired)));
}
const thresholdText = (t) => (/^\d+(\.\d+)?$/.test(String(t)) ? `${t} %` : String(t));

function capsPage(main) {
  const alive = pageToken();
  main.append(h('h1', {}, 'Caps'));
  const body = h('div');
  main.append(body);
  let data = null;
  const alerts = dataTable({
    id: 'caps-alerts', caption: 'Alert log', sort: { key: 'time', dir: 'desc' }, empty: 'No alert has fired.',
    cols: [
      // date and time each unbroken: "2024-03-03 11:40" may wrap only at the space
      textCol('time', 'Time', 'col-time', (r) => String(r.time).split(' ').map((x) => h('span', { class: 'nw' }, x + ' '))),
      textCol('name', 'Cap', 'col-name'),
      textCol('device', 'Device', 'col-device', (r) => h('a', { href: deviceHref(r.device) }, r.device)),
      { ...textCol('threshold', 'Threshold', 'col-th', (r) => thresholdText(r.threshold)), sort: (r) => Number(r.threshold) },
      bytesCol('used', 'Used', 'col-total', (r) => r.used_bytes),
    ],
  });
  function render() {
    if (!data) return;
    if (!data.available) {
      body.replaceChildren(h('p', { class: 'notice', id: 'caps-unavailable' },
        'No quota plugin is configured, so there are no caps.', data.reason ? ` (${data.reason})` : ''));
      return;
    }
    const caps = data.caps || [];
    body.replaceChildren(
      h('div', { class: 'cards', id: 'caps-list' }, caps.length ? caps.map(capCard) : h('p', { class: 'notice' }, 'No cap is defined.')),
      h('h2', {}, 'Alert log'), h('div', { class: 'table-wrap' }, alerts.el));
    alerts.set(data.alerts || []);
  }
  api('caps').then((d) => {
    if (!alive()) return;
    data = d;
    render();
    ready(main);
  }).catch((e) => failed(main, alive, e));
  return { redraw: render };
}

function notFoundPage(main) {
  main.append(h('h1', {}, 'Not found'), h('p', {}, 'No such page. Go to ', h('a', { href: '#/usage' }, 'Usage'), '.'));
  ready(main);
  return {};
}

// ------------------------------------------------------------------ router

const PAGES = { usage: usagePage, device: devicePage, live: livePage, caps: capsPage };

function parseHash() {
  const [path, query = ''] = location.hash.replace(/^#\/?/, '').split('?');
  const parts = path.split('/');
  let arg = '';
  try { arg = decodeURIComponent(parts[1] || ''); } catch { arg = parts[1] || ''; }
  return { page: parts[0] || 'usage', arg, params: new URLSearchParams(query) };
}

function route() {
  if (state.page && state.page.destroy) state.page.destroy();
  state.gen++;
  if (bannerKey !== 'config') clearBanner();
  const r = parseHash();
  periodFromParams(r.params);
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === r.page) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  const main = $('#main');
  main.replaceChildren();
  main.dataset.page = r.page;
  main.dataset.state = 'loading';
  const mount = (r.page === 'device' && !r.arg) ? notFoundPage : PAGES[r.page] || notFoundPage;
  document.title = `pmacct-rs · ${r.page}`;
  try { state.page = mount(main, r) || {}; } catch (e) { state.page = {}; failed(main, () => true, e); }
}

function redrawPage() {
  try { if (state.page && state.page.redraw) state.page.redraw(); } catch (e) { showBanner(`Page error: ${e.message}`); }
}

// ------------------------------------------------------------------ theme

const darkQuery = window.matchMedia('(prefers-color-scheme: dark)');
// data-theme on <html> is always "light" or "dark" (the choice resolved); the
// stylesheet also follows the system before this script runs.
function applyTheme() {
  const dark = state.theme === 'dark' || (state.theme === 'system' && darkQuery.matches);
  document.documentElement.dataset.theme = dark ? 'dark' : 'light';
  document.documentElement.dataset.themeChoice = state.theme;
}

function setupPrefs() {
  const units = $('#units'), theme = $('#theme');
  units.value = state.units;
  theme.value = state.theme;
  units.addEventListener('change', () => { state.units = units.value; prefs.set('units', units.value); redrawPage(); });
  theme.addEventListener('change', () => { state.theme = theme.value; prefs.set('theme', theme.value); applyTheme(); redrawPage(); });
  darkQuery.addEventListener('change', () => { if (state.theme === 'system') { applyTheme(); redrawPage(); } });
  $('#banner-close').addEventListener('click', () => clearBanner());
}

function footer(cfg) {
  const bits = [`pmacct-rs ${cfg.program || ''} ${cfg.version || ''}`.replace(/\s+/g, ' ').trim()];
  if (cfg.read_only) bits.push('read-only');
  if (cfg.time_zone) bits.push(`time zone ${cfg.time_zone}`);
  if (cfg.today) bits.push(`today is ${cfg.today}`);
  $('#footer').textContent = bits.join(' · ');
}

// A bug must not end up as an uncaught error in the console: show it instead.
window.addEventListener('unhandledrejection', (ev) => {
  ev.preventDefault();
  showBanner(`Page error: ${ev.reason && ev.reason.message ? ev.reason.message : ev.reason}`);
});

async function start() {
  applyTheme();
  setupPrefs();
  try {
    state.config = await api('config');
  } catch (e) {
    showBanner(e.message, 'config');
    // keep the page usable with the browser's date
    state.config = { today: new Date().toISOString().slice(0, 10), billing_day: 1, source: 'unknown', has_caps: false };
  }
  footer(state.config);
  window.addEventListener('hashchange', route);
  route();
}

start();
