#!/usr/bin/env node
// gen-zip-data.mjs - derive stampd's ZIP data (data/zip/) from the npm package
// `zipcodes` 8.0.0 (BSD licence; its US data is the "free-zipcode-database"
// of federalgovernmentzipcodes.us merged with GeoNames' US postal codes).
//
// Run by hand, never at build time; the outputs are committed:
//   mkdir /tmp/z && cd /tmp/z && npm install zipcodes@8.0.0
//   node scripts/gen-zip-data.mjs /tmp/z/node_modules/zipcodes data/zip
//
// Writes
//   zip3.tsv   one line per 3-digit ZIP prefix that has at least one ZIP code
//              in the source: prefix, state (the state most of its ZIPs are
//              in), centroid latitude and longitude (mean of its ZIPs', 4
//              decimals), number of ZIPs. A prefix not listed was never issued.
//   zones.txt  a zone matrix in the shape of USPS's own "zone chart matrix":
//              one line per origin prefix, "OOO " and 1000 characters, the
//              zone (1-9) to destination prefix 000..999, '-' where either
//              prefix has no zone. Derived here from the distance between the
//              two prefixes' centroids with USPS's distance bands (zone 1 up
//              to 50 miles, 2: 150, 3: 300, 4: 600, 5: 1000, 6: 1400, 7: 1800,
//              8 beyond, 9 to or from the Pacific territories and freely
//              associated states). USPS measures from the sectional center
//              facility of each prefix, not from a centroid, so a pair near a
//              band's edge can be one zone off the official chart; an official
//              matrix can be converted to this file (same layout) instead.
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

const [pkgDir, outDir] = process.argv.slice(2);
if (!pkgDir || !outDir) {
  console.error('usage: gen-zip-data.mjs PATH/node_modules/zipcodes OUTDIR');
  process.exit(2);
}
const require = createRequire(import.meta.url);
const { codes } = require(path.resolve(pkgDir, 'lib/codes.js'));
const STATES = new Set(('AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS ' +
  'MO MT NE NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY ' +
  'PR VI GU AS MP FM MH PW AA AE AP').split(' '));
const PACIFIC = new Set(['GU', 'AS', 'MP', 'FM', 'MH', 'PW']);

const byPrefix = new Map();
for (const z of Object.values(codes)) {
  if (!/^[0-9]{5}$/.test(z.zip) || !STATES.has(z.state)) continue;
  const p = z.zip.slice(0, 3);
  if (!byPrefix.has(p)) byPrefix.set(p, { states: new Map(), lat: 0, lon: 0, n: 0, zips: 0 });
  const e = byPrefix.get(p);
  e.zips++;
  e.states.set(z.state, (e.states.get(z.state) || 0) + 1);
  if (typeof z.latitude === 'number' && typeof z.longitude === 'number' &&
      !(z.latitude === 0 && z.longitude === 0)) {
    e.lat += z.latitude; e.lon += z.longitude; e.n++;
  }
}
const prefixes = [...byPrefix.keys()].sort();
const info = new Map();
let tsv = '# prefix\tstate\tlatitude\tlongitude\tzips\n' +
  '# from npm zipcodes 8.0.0 by scripts/gen-zip-data.mjs: do not edit by hand\n';
for (const p of prefixes) {
  const e = byPrefix.get(p);
  const state = [...e.states.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0][0];
  const lat = e.n ? e.lat / e.n : null, lon = e.n ? e.lon / e.n : null;
  info.set(p, { state, lat, lon });
  tsv += `${p}\t${state}\t${lat === null ? '' : lat.toFixed(4)}\t${lon === null ? '' : lon.toFixed(4)}\t${e.zips}\n`;
}
writeFileSync(path.join(outDir, 'zip3.tsv'), tsv);

const rad = (d) => (d * Math.PI) / 180;
function miles(a, b) {
  const dlat = rad(b.lat - a.lat), dlon = rad(b.lon - a.lon);
  const h = Math.sin(dlat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dlon / 2) ** 2;
  return 3958.8 * 2 * Math.asin(Math.min(1, Math.sqrt(h)));
}
const BANDS = [50, 150, 300, 600, 1000, 1400, 1800];
function zone(a, b) {
  if (a.lat === null || b.lat === null) return '-';
  if (a.state !== b.state && (PACIFIC.has(a.state) || PACIFIC.has(b.state))) return '9';
  const d = miles(a, b);
  for (let i = 0; i < BANDS.length; i++) if (d <= BANDS[i]) return String(i + 1);
  return '8';
}
let zones = '';
for (const o of prefixes) {
  const a = info.get(o);
  let row = '';
  for (let d = 0; d < 1000; d++) {
    const b = info.get(String(d).padStart(3, '0'));
    row += b ? zone(a, b) : '-';
  }
  zones += `${o} ${row}\n`;
}
writeFileSync(path.join(outDir, 'zones.txt'), zones);
console.log(`${prefixes.length} prefixes`);
