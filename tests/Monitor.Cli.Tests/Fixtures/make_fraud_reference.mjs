// make_fraud_reference.mjs — generates fraud_reference.parquet and fraud_reference.csv (same 1,200 records).
//
// The Parquet file is written by hyparquet-writer (pure JavaScript), NOT by Parquet.Net, so tests read a file
// from an independent implementation. Regenerate (outside the repo, so no node_modules lands here):
//
//   mkdir -p /tmp/pqfixture && cd /tmp/pqfixture && npm init -y && npm install hyparquet-writer@0.17.0
//   cp <repo>/tests/Monitor.Cli.Tests/Fixtures/make_fraud_reference.mjs /tmp/pqfixture/
//   node /tmp/pqfixture/make_fraud_reference.mjs <repo>/tests/Monitor.Cli.Tests/Fixtures
//
// (ESM resolves the bare import 'hyparquet-writer' relative to the script's own location and ignores NODE_PATH,
// so the script is run from the directory holding node_modules and given the output directory as its argument;
// with no argument it writes next to itself.) Tested with node v20.
//
// Deterministic: fixed seed, own PRNG (mulberry32), no Date/Math.random. Output is identical on every run.
// Row groups: hyparquet-writer supports rowGroupSize; 500 rows per group is used → 3 row groups (500, 500, 200).
// Compression: SNAPPY (hyparquet-writer's default codec).
//
// Schema (Parquet physical type / logical):
//   amount            DOUBLE, OPTIONAL  — every 97th row (index % 97 == 96) null → empty CSV cell
//   account_age_days  INT32, REQUIRED   — 0..4000
//   tx_per_hour       FLOAT, REQUIRED   — k/8 for integer k in 0..160 (exact in single precision, 0..20)
//   distance_km       DOUBLE, REQUIRED  — 0..500
//   hour_of_day       INT64, REQUIRED   — 0..23
//   merchant_risk     DOUBLE, REQUIRED  — 0..1
//   merchant_category BYTE_ARRAY UTF8, REQUIRED
//   country           BYTE_ARRAY UTF8, REQUIRED
//   channel           BYTE_ARRAY UTF8, REQUIRED
//   memo              BYTE_ARRAY UTF8, OPTIONAL — nulls → empty CSV cell (no memo is ever the empty string);
//                     includes commas, double quotes, a newline (LF) and non-ASCII text
//   score.legitimate  DOUBLE, REQUIRED  — 1 - score.fraud
//   score.fraud       DOUBLE, REQUIRED  — 1/(1+exp(-z)), z linear in the features
//   request_id        BYTE_ARRAY UTF8, REQUIRED — "req-000000".."req-001199"
//
// CSV: UTF-8 without BOM, header row, records end in LF, RFC 4180 quoting (a field containing a comma, quote,
// CR or LF is quoted and inner quotes doubled). Numbers use JavaScript's default Number→string, which is the
// shortest text that round-trips the double (and the FLOAT values k/8 are exact, so their text is exact too).

import { writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parquetWriteBuffer } from 'hyparquet-writer'

const ROWS = 1200
const ROW_GROUP_SIZE = 500
const outDir = process.argv[2] ? resolve(process.argv[2]) : dirname(fileURLToPath(import.meta.url))

function mulberry32(seed) {
  let a = seed >>> 0
  return function () {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const rand = mulberry32(20240611)
const randInt = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1)) // inclusive
const pick = arr => arr[Math.floor(rand() * arr.length)]
function gaussian() {
  // Box–Muller; 1 - rand() is in (0, 1] so log is finite
  const u = 1 - rand()
  const v = rand()
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
}
const round = (x, digits) => Math.round(x * 10 ** digits) / 10 ** digits

const CATEGORIES = ['grocery', 'fuel', 'electronics', 'travel', 'restaurants', 'online', 'jewelry']
const CATEGORY_RISK = { grocery: -0.6, fuel: -0.3, electronics: 0.5, travel: 0.3, restaurants: -0.4, online: 0.6, jewelry: 0.9 }
const COUNTRIES = ['US', 'GB', 'DE', 'FR', 'NL', 'BR', 'IN']
const COUNTRY_RISK = { US: 0, GB: -0.1, DE: -0.2, FR: -0.1, NL: -0.2, BR: 0.4, IN: 0.3 }
const CHANNELS = ['web', 'mobile', 'pos']
const CHANNEL_RISK = { web: 0.4, mobile: 0.2, pos: -0.5 }
const MEMOS = [
  'monthly subscription',
  'refund, partial',
  'gift for "Mom"',
  'line one\nline two',
  'naïve café ✓',
  'Zahlung für Bücher',
  'São Paulo, pedido 42',
  '東京 order',
  'he said "hi", then left',
  'plain memo',
]

const cols = {
  amount: [], account_age_days: [], tx_per_hour: [], distance_km: [], hour_of_day: [], merchant_risk: [],
  merchant_category: [], country: [], channel: [], memo: [], 'score.legitimate': [], 'score.fraud': [], request_id: [],
}

for (let i = 0; i < ROWS; i++) {
  const amountValue = round(Math.exp(3.8 + 1.1 * gaussian()), 2) // lognormal-ish, median ≈ 45
  const amount = i % 97 === 96 ? null : Math.max(amountValue, 0.01)
  const accountAge = randInt(0, 4000)
  const txPerHour = Math.fround(randInt(0, 160) / 8) // exact in single precision
  const distance = round(rand() * 500, 3)
  const hour = randInt(0, 23)
  const merchantRisk = round(rand(), 4)
  const category = pick(CATEGORIES)
  const country = pick(COUNTRIES)
  const channel = pick(CHANNELS)
  const memo = rand() < 0.15 ? null : pick(MEMOS)

  const z = -5.0
    + 0.35 * Math.log1p(amount ?? 45)
    - 0.0006 * accountAge
    + 0.12 * txPerHour
    + 0.003 * distance
    + (hour < 6 ? 0.8 : 0)
    + 2.0 * merchantRisk
    + CATEGORY_RISK[category] + COUNTRY_RISK[country] + CHANNEL_RISK[channel]
  const fraud = 1 / (1 + Math.exp(-z))

  cols.amount.push(amount)
  cols.account_age_days.push(accountAge)
  cols.tx_per_hour.push(txPerHour)
  cols.distance_km.push(distance)
  cols.hour_of_day.push(BigInt(hour)) // INT64 values are bigint in hyparquet-writer
  cols.merchant_risk.push(merchantRisk)
  cols.merchant_category.push(category)
  cols.country.push(country)
  cols.channel.push(channel)
  cols.memo.push(memo)
  cols['score.legitimate'].push(1 - fraud)
  cols['score.fraud'].push(fraud)
  cols.request_id.push('req-' + String(i).padStart(6, '0'))
}

const TYPES = {
  amount: ['DOUBLE', true], account_age_days: ['INT32', false], tx_per_hour: ['FLOAT', false],
  distance_km: ['DOUBLE', false], hour_of_day: ['INT64', false], merchant_risk: ['DOUBLE', false],
  merchant_category: ['STRING', false], country: ['STRING', false], channel: ['STRING', false],
  memo: ['STRING', true], 'score.legitimate': ['DOUBLE', false], 'score.fraud': ['DOUBLE', false],
  request_id: ['STRING', false],
}
const names = Object.keys(cols)

const buffer = parquetWriteBuffer({
  columnData: names.map(name => ({ name, data: cols[name], type: TYPES[name][0], nullable: TYPES[name][1] })),
  rowGroupSize: ROW_GROUP_SIZE,
  codec: 'SNAPPY',
  createdBy: 'hyparquet-writer 0.17.0 (make_fraud_reference.mjs)',
})
writeFileSync(join(outDir, 'fraud_reference.parquet'), new Uint8Array(buffer))

function csvField(v) {
  if (v === null || v === undefined) return ''
  const s = String(v) // Number → shortest round-trip text; bigint → decimal digits
  return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s
}
const lines = [names.map(csvField).join(',')]
for (let i = 0; i < ROWS; i++) lines.push(names.map(n => csvField(cols[n][i])).join(','))
writeFileSync(join(outDir, 'fraud_reference.csv'), lines.join('\n') + '\n', 'utf8')

console.log(`wrote ${ROWS} rows to ${outDir}`)
