// charts.js - bar and line charts drawn as SVG by the page itself: no
// library, no canvas, nothing from the network. Each chart has a title and
// a description for screen readers, and the numbers stay in a table next
// to it (the pages add that).

const NS = 'http://www.w3.org/2000/svg';
const W = 640;
const H = 260;
const PAD = { l: 64, r: 16, t: 16, b: 40 };
const COLORS = ['#1d4ed8', '#b91c1c', '#15803d', '#a16207', '#7e22ce', '#0e7490', '#be185d', '#4d7c0f'];

function s(tag, attrs, ...kids) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const k of kids) el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return el;
}

// A round step for an axis from 0 to max with about n ticks.
function niceStep(max, n) {
  if (max <= 0) return 1;
  const raw = max / n;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 2.5, 5, 10]) if (raw <= m * p) return m * p;
  return 10 * p;
}

function frame(label, description, yMax, fmt) {
  const id = 'c' + Math.random().toString(36).slice(2, 8);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-labelledby': `${id}-t ${id}-d` },
    s('title', { id: `${id}-t` }, label), s('desc', { id: `${id}-d` }, description));
  const step = niceStep(yMax, 4);
  const top = Math.max(step, Math.ceil(yMax / step) * step);
  const y = (v) => PAD.t + (H - PAD.t - PAD.b) * (1 - v / top);
  for (let v = 0; v <= top + step / 2; v += step) {
    svg.append(s('line', { x1: PAD.l, x2: W - PAD.r, y1: y(v), y2: y(v), class: 'grid' }),
      s('text', { x: PAD.l - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, fmt(v)));
  }
  return { svg, y };
}

function xLabels(svg, dates, x) {
  const every = Math.max(1, Math.ceil(dates.length / 6));
  dates.forEach((d, i) => {
    if (i % every === 0 || i === dates.length - 1) {
      svg.append(s('text', { x: x(i), y: H - PAD.b + 18, 'text-anchor': 'middle', class: 'tick' }, d.slice(5)));
    }
  });
}

// barChart('Postage sold per day', [{date, value}], fmt) -> SVGElement
export function barChart(label, points, fmt) {
  const max = Math.max(0, ...points.map((p) => p.value));
  const total = points.reduce((a, p) => a + p.value, 0);
  const { svg, y } = frame(label, `${points.length} days from ${points[0]?.date} to ${points.at(-1)?.date}; total ${fmt(total)}`, max, fmt);
  const bw = (W - PAD.l - PAD.r) / Math.max(1, points.length);
  const x = (i) => PAD.l + bw * (i + 0.5);
  points.forEach((p, i) => {
    const r = s('rect', { x: PAD.l + bw * i + bw * 0.15, width: Math.max(1, bw * 0.7), y: y(p.value), height: Math.max(0, y(0) - y(p.value)), class: 'bar', fill: COLORS[0] },
      s('title', {}, `${p.date}: ${fmt(p.value)}`));
    r.dataset.value = p.value;
    svg.append(r);
  });
  xLabels(svg, points.map((p) => p.date), x);
  return svg;
}

// lineChart('Descending registers', [{name, points: [{date, value}]}], fmt) -> SVGElement
export function lineChart(label, series, fmt) {
  const all = series.flatMap((se) => se.points.map((p) => p.value));
  const max = Math.max(0, ...all);
  const n = Math.max(1, ...series.map((se) => se.points.length));
  const dates = series[0] ? series[0].points.map((p) => p.date) : [];
  const { svg, y } = frame(label, `${series.length} series over ${n} days`, max, fmt);
  const x = (i) => PAD.l + (W - PAD.l - PAD.r) * (n === 1 ? 0.5 : i / (n - 1));
  series.forEach((se, k) => {
    const color = COLORS[k % COLORS.length];
    const d = se.points.map((p, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(p.value).toFixed(1)}`).join(' ');
    svg.append(s('path', { d, class: 'line', stroke: color, fill: 'none', 'data-series': se.name }, s('title', {}, se.name)));
    const last = se.points.at(-1);
    if (last) svg.append(s('circle', { cx: x(se.points.length - 1), cy: y(last.value), r: 3.5, fill: color }, s('title', {}, `${se.name} ${last.date}: ${fmt(last.value)}`)));
  });
  xLabels(svg, dates, x);
  return svg;
}

// The legend as HTML, so it wraps on a phone.
export function legend(names) {
  const ul = document.createElement('ul');
  ul.className = 'legend';
  names.forEach((name, k) => {
    const li = document.createElement('li');
    const sw = document.createElement('span');
    sw.className = `swatch swatch-${k % COLORS.length}`;
    sw.setAttribute('aria-hidden', 'true');
    li.append(sw, name);
    ul.append(li);
  });
  return ul;
}

// hBarChart('Labels remaining per affiliate', [{name, value, mark, low}], fmt)
// -> SVGElement: one horizontal bar per item, so long names fit; mark
// draws a tick (a threshold) on the item's row, low colours the bar red.
export function hBarChart(label, items, fmt) {
  const rowH = 30;
  const padL = 170;
  const height = PAD.t + rowH * Math.max(1, items.length) + PAD.b;
  const max = Math.max(0, ...items.map((i) => Math.max(i.value, i.mark || 0)));
  const step = niceStep(max, 4);
  const top = Math.max(step, Math.ceil(max / step) * step);
  const x = (v) => padL + (W - padL - PAD.r) * (v / top);
  const id = 'c' + Math.random().toString(36).slice(2, 8);
  const low = items.filter((i) => i.low).length;
  const svg = s('svg', { viewBox: `0 0 ${W} ${height}`, class: 'chart', role: 'img', 'aria-labelledby': `${id}-t ${id}-d` },
    s('title', { id: `${id}-t` }, label),
    s('desc', { id: `${id}-d` }, `${items.length} bars; ${low} below their threshold. ` + items.map((i) => `${i.name}: ${fmt(i.value)}`).join('; ')));
  for (let v = 0; v <= top + step / 2; v += step) {
    svg.append(s('line', { x1: x(v), x2: x(v), y1: PAD.t, y2: height - PAD.b, class: 'grid' }),
      s('text', { x: x(v), y: height - PAD.b + 18, 'text-anchor': 'middle', class: 'tick' }, fmt(v)));
  }
  items.forEach((it, k) => {
    const y = PAD.t + rowH * k;
    const name = it.name.length > 24 ? it.name.slice(0, 23) + '…' : it.name;
    svg.append(s('text', { x: padL - 8, y: y + rowH / 2 + 4, 'text-anchor': 'end', class: 'tick name' }, name));
    const r = s('rect', { x: x(0), y: y + 5, width: Math.max(0, x(it.value) - x(0)), height: rowH - 10, class: it.low ? 'bar low' : 'bar', fill: it.low ? COLORS[1] : COLORS[0] },
      s('title', {}, `${it.name}: ${fmt(it.value)}${it.low ? ' (below its threshold)' : ''}`));
    r.dataset.name = it.name;
    r.dataset.value = it.value;
    svg.append(r, s('text', { x: x(it.value) + 4, y: y + rowH / 2 + 4, class: 'tick value' }, fmt(it.value)));
    if (it.mark > 0) {
      svg.append(s('line', { x1: x(it.mark), x2: x(it.mark), y1: y + 2, y2: y + rowH - 2, class: 'mark' }, s('title', {}, `${it.name}: threshold ${fmt(it.mark)}`)));
    }
  });
  return svg;
}
