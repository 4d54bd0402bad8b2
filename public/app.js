// Vigil dashboard. Plain ES module, no bundler; the Socket.io client comes from the server's
// own /socket.io/ path and Chart.js from /vendor/, so the page works with no internet.
// Every piece of data is written with textContent (never innerHTML): a patient id or a user name
// such as `<img src=x onerror=alert(1)>` shows as those characters. Who is signed in comes from
// GET /api/me (public/session.js, with the session's end); the server decides what each role may
// do, the page only hides what it would refuse.

import { io } from '/socket.io/socket.io.esm.min.js'
import {
  ACVPU_TEXT,
  NEWS2_LABELS,
  agoText,
  alertStyle,
  canAcknowledge,
  canRunBatch,
  isOld,
  news2MissingText,
  news2Text,
  oxygenText,
  patientUrgency,
  riskMeaningText,
  riskModelText,
  riskPercentText,
  riskThresholdText,
  riskTrendText,
  showsRisk,
  tileClass,
  topContributionTexts,
  trendText,
} from '/page-rules.js'
import { checkSession, currentUser, isCheckingSession, isSignedOut, isSigningOut, loadMe, startSession } from '/session.js'

/** @typedef {import('../serving/events.ts').ServerToClientEvents} ServerToClientEvents */
/** @typedef {import('../serving/events.ts').ClientToServerEvents} ClientToServerEvents */
/** @typedef {import('../serving/events.ts').Snapshot} Snapshot */
/** @typedef {import('../serving/events.ts').ReadingPush} ReadingPush */
/** @typedef {import('../serving/events.ts').AlertView} AlertView */
/** @typedef {import('../serving/events.ts').BatchProgress} BatchProgress */
/** @typedef {import('../lib/contract/views.ts').PatientState} PatientState */
/** @typedef {import('../lib/contract/views.ts').SeriesEntry} SeriesEntry */
/** @typedef {import('../lib/contract/views.ts').RiskModelInfo} RiskModelInfo */
/** @typedef {import('../serving/open-alerts.ts').OpenAlertView} OpenAlertView */
/** @typedef {import('./session.js').Me} Me */

const VITAL_LABELS = {
  heartRate: 'Heart rate',
  spo2: 'SpO₂',
  glucose: 'Glucose',
  systolic: 'Systolic BP',
  diastolic: 'Diastolic BP',
  respRate: 'Resp. rate',
  temperature: 'Temperature',
}
const STATUS_TEXT = { NORMAL: 'Normal', WARNING: 'Warning', CRITICAL_LOW: 'Critical low', CRITICAL_HIGH: 'Critical high', STALE: 'No data' }
const STATUS_CLASS = { NORMAL: 'normal', WARNING: 'warning', CRITICAL_LOW: 'critical', CRITICAL_HIGH: 'critical' }
const SEVERITY = { NORMAL: 0, WARNING: 1, CRITICAL_LOW: 2, CRITICAL_HIGH: 2 }
/** What an alert is about, beyond the vitals. */
const SUBJECT_LABELS = { device: 'Device', news2: 'NEWS2', glucoseForecast: 'Glucose in 20 min', risk: 'Early-warning risk' }
/** The charts: one per vital, blood pressure draws systolic and diastolic together (bands: systolic's). */
const CHARTS = [
  { id: 'heartRate', title: 'Heart rate', vitals: ['heartRate'], min: 30, max: 170, decimals: 0 },
  { id: 'spo2', title: 'SpO₂', vitals: ['spo2'], min: 85, max: 100, decimals: 0 },
  { id: 'glucose', title: 'Glucose', vitals: ['glucose'], min: 40, max: 300, decimals: 0 },
  { id: 'bp', title: 'Blood pressure', vitals: ['systolic', 'diastolic'], min: 40, max: 200, decimals: 0 },
  { id: 'respRate', title: 'Respiratory rate', vitals: ['respRate'], min: 5, max: 35, decimals: 0 },
  { id: 'temperature', title: 'Temperature', vitals: ['temperature'], min: 34, max: 41, decimals: 1 },
]
const LINE_COLORS = {
  heartRate: '#1f5fa8',
  spo2: '#1f5fa8',
  glucose: '#1f5fa8',
  systolic: '#1f5fa8',
  diastolic: '#7a4fb5',
  respRate: '#1f5fa8',
  temperature: '#1f5fa8',
}
const BAND_FILL = {
  NORMAL: 'rgba(46, 125, 50, 0.07)',
  WARNING: 'rgba(230, 145, 0, 0.16)',
  CRITICAL_LOW: 'rgba(198, 40, 40, 0.13)',
  CRITICAL_HIGH: 'rgba(198, 40, 40, 0.13)',
}
const TIR_SEGMENTS = [
  { key: 'lt54', label: '<54', cls: 'tir-vlow' },
  { key: 'r54_69', label: '54–69', cls: 'tir-low' },
  { key: 'r70_180', label: '70–180', cls: 'tir-in' },
  { key: 'r181_250', label: '181–250', cls: 'tir-high' },
  { key: 'gt250', label: '>250', cls: 'tir-vhigh' },
]
/** The risk panel's line: the calm slate-violet of the experimental panel, never a status colour. */
const RISK_LINE = '#5b4b8a'
/**
 * What every live chart of the page shares: no animation (a new point each second), the box's
 * size, and points given as {x, y} already sorted (Chart.js skips parsing and sorting them).
 */
const LIVE_CHART = { animation: false, responsive: true, maintainAspectRatio: false, parsing: false, normalized: true }
/** Only a series' newest point is drawn as a dot, `r` px: a sparse series (a CGM every 5 min) stays visible. */
const newestPointRadius = (/** @type {number} */ r) => (/** @type {any} */ ctx) => (ctx.dataIndex === ctx.dataset.data.length - 1 ? r : 0)
const RISK_WINDOW_MS = 60 * 60_000
const MAX_WINDOW_MS = 15 * 60_000
const MAX_ALERTS = 200

// ---------------------------------------------------------------- state

const state = {
  /** @type {Map<string, PatientState>} */
  patients: new Map(),
  /** @type {AlertView[]} newest first */
  alerts: [],
  /** server clock minus this page's clock (ms) */
  clockSkew: 0,
  staleAfterMs: 30_000,
  /** @type {Map<string, number>} per patient, the server time its newest push arrived (stale is judged on arrival, as the speed layer judges it) */
  heardAt: new Map(),
  filter: 'all',
  /** @type {string | null} */
  selected: null,
  windowSeconds: 60,
  /** @type {SeriesEntry[]} the selected patient's entries, oldest first */
  series: [],
  /** @type {Record<string, Array<{max: number | null, status: string}>> | null} */
  bands: null,
  units: /** @type {Record<string, string>} */ ({}),
  batchRunning: false,
  /** @type {OpenAlertView[]} the selected patient's open alerts, most urgent first */
  openAlerts: [],
  /** @type {RiskModelInfo | null} the risk model the speed layer serves (snapshot, `risk:model`); null: no risk panel */
  riskModel: null,
}

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id))

/** Creates an element; string children become text nodes (never parsed as HTML). */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue
    if (k === 'class') node.className = String(v)
    else if (k === 'text') node.textContent = String(v)
    else if (k === 'hidden') node.hidden = Boolean(v)
    // Event handler attributes are never set from here: listeners are added in code.
    else if (!k.toLowerCase().startsWith('on')) node.setAttribute(k, String(v))
  }
  for (const c of children) {
    if (c === null || c === undefined) continue
    node.append(typeof c === 'string' ? document.createTextNode(c) : c)
  }
  return node
}

const serverNow = () => Date.now() + state.clockSkew
const fmtTime = (/** @type {number} */ ts) => new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false })
const fmtDateTime = (/** @type {number} */ ts) => `${new Date(ts).toISOString().slice(0, 10)} ${fmtTime(ts)}`
const fmtAgo = (/** @type {number} */ ts) => agoText(serverNow() - ts)
function fmtNum(/** @type {number | null | undefined} */ v, decimals = 1) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—'
  return v.toLocaleString(undefined, { minimumFractionDigits: decimals, maximumFractionDigits: decimals })
}
const decimalsOf = (/** @type {string} */ vital) => (vital === 'temperature' ? 1 : 0)
// A device whose clock lags, or a replay of old readings, is not stale while its readings keep arriving.
const isStale = (/** @type {PatientState} */ p) => serverNow() - Math.max(p.ts, state.heardAt.get(p.patientId) ?? 0) > state.staleAfterMs

async function api(path, init) {
  const res = await fetch(path, { credentials: 'same-origin', headers: { 'content-type': 'application/json' }, ...init })
  if (res.status === 401) {
    // No credential the server accepts: this session is gone, whatever the request was (a newer one may have replaced it).
    checkSession('unauthorized')
    throw new Error('not signed in')
  }
  const body = res.status === 204 ? null : await res.json().catch(() => null)
  if (!res.ok) throw Object.assign(new Error(body?.message ?? `HTTP ${res.status}`), { status: res.status, body })
  return body
}

// ---------------------------------------------------------------- connection state

let offlineSince = /** @type {number | null} */ (null)
let connMode = 'connecting'
function setConnection(/** @type {'live'|'connecting'|'reconnecting'|'offline'|'signedout'} */ mode) {
  // Signed out stays until the user signs in again (a new page): no retry can fix it.
  if (connMode === 'signedout') return
  connMode = mode
  const box = $('conn')
  box.className = `conn conn-${mode}`
  const text = $('conn-text')
  if (mode === 'live') {
    offlineSince = null
    text.textContent = 'Live'
  } else if (mode === 'connecting') {
    text.textContent = 'Connecting…'
  } else if (mode === 'signedout') {
    text.textContent = 'Signed out'
  } else {
    offlineSince ??= Date.now()
    text.textContent = `${mode === 'offline' ? 'Offline' : 'Reconnecting…'} since ${fmtTime(offlineSince)}`
  }
  document.body.classList.toggle('not-live', mode !== 'live')
}

// ---------------------------------------------------------------- patient grid

/** @type {Map<string, {li: HTMLLIElement, button: HTMLButtonElement, status: HTMLElement, news: HTMLElement, seen: HTMLElement, stale: HTMLElement, key: string}>} */
const tiles = new Map()
let gridDirty = true

function tileFor(/** @type {string} */ id) {
  let t = tiles.get(id)
  if (t !== undefined) return t
  const status = el('span', { class: 'tile-status' })
  const news = el('span', { class: 'tile-news' })
  const seen = el('span', { class: 'tile-seen' })
  const stale = el('span', { class: 'stale-badge', text: 'STALE', hidden: true })
  const button = /** @type {HTMLButtonElement} */ (
    el(
      'button',
      { type: 'button', class: 'tile' },
      el('span', { class: 'tile-id', text: id, title: id }),
      status,
      news,
      el('span', { class: 'tile-foot' }, seen, stale),
    )
  )
  button.addEventListener('click', () => select(id))
  const li = /** @type {HTMLLIElement} */ (el('li', {}, button))
  t = { li, button, status, news, seen, stale, key: '' }
  tiles.set(id, t)
  return t
}

function matchesFilter(/** @type {PatientState} */ p) {
  switch (state.filter) {
    case 'critical':
    case 'warning':
    case 'normal':
      return tileClass(p) === state.filter
    case 'stale':
      return isStale(p)
    default:
      return true
  }
}

function renderGrid() {
  gridDirty = false
  const list = [...state.patients.values()]
  // Most urgent first: NEWS2 ≥ 7, then a critical vital, NEWS2 5-6, a warning (page-rules.js, patientUrgency).
  list.sort((a, b) => patientUrgency(b) - patientUrgency(a) || b.news2.score - a.news2.score || (a.patientId < b.patientId ? -1 : 1))
  const grid = $('grid')
  const shown = []
  for (const p of list) {
    const t = tileFor(p.patientId)
    const stale = isStale(p)
    const news2 = news2Text(p.news2)
    const key = `${p.status}|${news2.text}|${p.news2.risk}|${stale}|${state.selected === p.patientId}`
    if (key !== t.key) {
      t.key = key
      t.button.className = `tile status-${tileClass(p)}${stale ? ' is-stale' : ''}`
      t.status.textContent = STATUS_TEXT[p.status] ?? p.status
      t.news.textContent = news2.text
      t.news.className = `tile-news${news2.partial ? ' is-partial' : ''} risk-${p.news2.risk ?? 'none'}`
      t.stale.hidden = !stale
      t.button.setAttribute('aria-pressed', String(state.selected === p.patientId))
    }
    t.seen.textContent = `Seen ${fmtAgo(p.ts)}`
    if (matchesFilter(p)) shown.push(t.li)
  }
  // Reorder only when the order changed: moving 1,000 nodes on every push would stall the page.
  const current = grid.children
  let same = current.length === shown.length
  for (let i = 0; same && i < shown.length; i++) same = current[i] === shown[i]
  if (!same) grid.replaceChildren(...shown)
  $('patient-count').textContent = `${shown.length}${shown.length === list.length ? '' : ` of ${list.length}`}`
  $('grid-empty').hidden = list.length > 0
  $('grid-empty').textContent = list.length === 0 ? 'Waiting for the first readings…' : ''
}

// The grid is re-sorted at most twice a second; last-seen times tick every second.
setInterval(() => {
  if (gridDirty) renderGrid()
}, 500)
setInterval(() => {
  gridDirty = true
  if (state.selected !== null) {
    renderDetailHeader()
    // The "old · 6 h ago" tags age with the clock.
    renderCurrent()
  }
}, 1000)

for (const b of document.querySelectorAll('.filter')) {
  b.addEventListener('click', () => {
    state.filter = b.getAttribute('data-filter') ?? 'all'
    for (const o of document.querySelectorAll('.filter')) o.setAttribute('aria-pressed', String(o === b))
    renderGrid()
  })
}

// ---------------------------------------------------------------- selected patient

function renderDetailHeader() {
  const p = state.selected === null ? undefined : state.patients.get(state.selected)
  const title = $('detail-title')
  const status = $('detail-status')
  const news = $('detail-news')
  const missing = $('detail-missing')
  if (state.selected === null) {
    title.textContent = 'Select a patient'
    status.hidden = true
    news.hidden = true
    missing.hidden = true
    return
  }
  title.textContent = state.selected
  if (p === undefined) return
  const stale = isStale(p)
  status.hidden = false
  status.className = `status-label status-${STATUS_CLASS[p.status] ?? 'normal'}`
  status.textContent = `${STATUS_TEXT[p.status] ?? p.status}${stale ? ' · STALE' : ''}`
  const news2 = news2Text(p.news2)
  news.hidden = false
  news.className = `news${news2.partial ? ' is-partial' : ''} risk-${p.news2.risk ?? 'none'}`
  news.textContent = `${news2.text}${p.news2.scale === 2 ? ' · SpO₂ scale 2' : ''} · last reading ${fmtAgo(p.ts)}`
  const missingText = news2MissingText(p.news2)
  missing.hidden = missingText === ''
  missing.textContent = missingText
}

/** The NEWS2 score of a counted parameter that adds to the aggregate, as a small tag (nothing for 0 or not counted). */
function scoreTag(/** @type {PatientState} */ p, /** @type {string} */ param) {
  const score = p.news2.scores?.[param]
  return score === undefined || score === 0 ? null : el('span', { class: 'vital-score', text: `NEWS2 ${score}`, title: 'NEWS2 parameter score (RCP 2017)' })
}

/** "old · 6 h ago" on a value older than its freshness window (page-rules.js, isOld). */
function oldTag(/** @type {PatientState} */ p, /** @type {string} */ key, /** @type {number} */ ts) {
  return isOld(key, ts, p) ? el('span', { class: 'old-tag', text: `old · ${fmtAgo(ts)}`, title: `measured at ${fmtDateTime(ts)}` }) : null
}

/** A card's last line: the NEWS2 parameter score and the old tag, when there are any. */
function vitalFoot(/** @type {PatientState} */ p, /** @type {string} */ key, /** @type {number} */ ts) {
  const score = scoreTag(p, key)
  const old = oldTag(p, key, ts)
  return score === null && old === null ? null : el('span', { class: 'vital-foot' }, score, old)
}

function emptyCard(/** @type {string} */ name, /** @type {string} */ unit) {
  return el(
    'div',
    { class: 'vital status-none' },
    el('span', { class: 'vital-name' }, name, el('span', { class: 'unit', text: unit })),
    el('span', { class: 'vital-value', text: '—' }),
    el('span', { class: 'vital-status', text: 'No data' }),
  )
}

function vitalCard(/** @type {PatientState} */ p, /** @type {string} */ v) {
  const vs = p.vitals[v]
  if (vs === undefined) return emptyCard(VITAL_LABELS[v], state.units[v] ?? '')
  const old = isOld(v, vs.ts, p)
  const trend = v === 'glucose' ? trendText(p.glucoseTrend) : ''
  return el(
    'div',
    { class: `vital status-${STATUS_CLASS[vs.status] ?? 'normal'}${old ? ' is-old' : ''}`, title: `at ${fmtDateTime(vs.ts)}`, 'data-vital': v },
    el('span', { class: 'vital-name' }, VITAL_LABELS[v], el('span', { class: 'unit', text: state.units[v] ?? '' })),
    el('span', { class: 'vital-value', text: fmtNum(vs.value, decimalsOf(v)) }),
    trend === '' ? null : el('span', { class: 'vital-trend', text: trend, title: 'CGM trend over the last 15 minutes' }),
    el('span', { class: 'vital-status', text: STATUS_TEXT[vs.status] ?? vs.status }),
    vitalFoot(p, v, vs.ts),
  )
}

/** Air/O₂ and ACVPU, the two NEWS2 parameters that are observations rather than vitals. */
function assessmentCard(/** @type {PatientState} */ p, /** @type {'onOxygen' | 'consciousness'} */ key) {
  const a = p[key]
  const name = NEWS2_LABELS[key]
  if (a === undefined) return emptyCard(name, '')
  const text = key === 'onOxygen' ? oxygenText(a.value) : a.value
  const meaning = key === 'onOxygen' ? (a.value ? 'Supplemental oxygen' : 'Room air') : (ACVPU_TEXT[a.value] ?? '')
  const flagged = p.news2.scores?.[key] ?? 0
  const old = isOld(key, a.ts, p)
  return el(
    'div',
    { class: `vital ${flagged > 0 ? 'status-warning' : 'status-normal'}${old ? ' is-old' : ''}`, title: `at ${fmtDateTime(a.ts)}`, 'data-vital': key },
    el('span', { class: 'vital-name', text: name }),
    el('span', { class: 'vital-value', text }),
    el('span', { class: 'vital-status', text: meaning }),
    vitalFoot(p, key, a.ts),
  )
}

function renderCurrent() {
  const box = $('current')
  const p = state.selected === null ? undefined : state.patients.get(state.selected)
  if (p === undefined) {
    box.replaceChildren()
    return
  }
  const cards = Object.keys(VITAL_LABELS).map((v) => vitalCard(p, v))
  cards.push(assessmentCard(p, 'onOxygen'), assessmentCard(p, 'consciousness'))
  box.replaceChildren(...cards)
  renderRisk()
}

// ---------------------------------------------------------------- the experimental risk panel

/** @type {any} the risk panel's sparkline (Chart.js), made on first use */
let riskChart = null
/** What the panel shows now, so that the clock's once-a-second render redraws nothing. */
let riskKey = ''

/**
 * The selected patient's early-warning risk (page-rules.js, showsRisk): only while a model is
 * served and the patient has a risk; otherwise the panel is not there at all.
 */
function renderRisk() {
  const box = $('risk')
  const model = state.riskModel
  const p = state.selected === null ? undefined : state.patients.get(state.selected)
  if (model === null || p === undefined || !showsRisk(model, p)) {
    box.hidden = true
    riskKey = ''
    return
  }
  const risk = /** @type {NonNullable<PatientState['risk']>} */ (p.risk)
  const key = JSON.stringify([model, risk.ts, risk.risk, risk.model, risk.top, risk.recent.length, risk.recent.at(-1)])
  box.hidden = false
  if (key === riskKey) return
  riskKey = key
  $('risk-meaning').textContent = riskMeaningText(model)
  $('risk-value').textContent = riskPercentText(risk.risk)
  $('risk-value').title = `computed for the reading of ${fmtDateTime(risk.ts)}`
  $('risk-threshold').textContent = riskThresholdText(risk.risk, model)
  const trend = riskTrendText(risk.recent)
  $('risk-trend').textContent = trend
  $('risk-chart').setAttribute('aria-label', trend === '' ? 'Risk over the last hour: no values yet' : `Risk over the ${trend.toLowerCase()}`)
  $('risk-top').replaceChildren(
    ...topContributionTexts(risk.top).map((c) =>
      el('li', {}, el('span', { class: 'risk-panel-why-text', text: c.text }), ': ', el('strong', { text: c.logOdds })),
    ),
  )
  $('risk-model').textContent = riskModelText(model, risk)
  drawRiskSpark(risk, model)
}

/** The last hour's risks as a small line, in percent, with the model's alert threshold dashed. */
function drawRiskSpark(/** @type {NonNullable<PatientState['risk']>} */ risk, /** @type {RiskModelInfo} */ model) {
  const Chart = /** @type {any} */ (globalThis).Chart
  if (Chart === undefined) return
  riskChart ??= new Chart($('risk-chart'), {
    type: 'line',
    data: {
      datasets: [
        {
          label: 'Risk',
          data: [],
          borderColor: RISK_LINE,
          backgroundColor: RISK_LINE,
          borderWidth: 2,
          pointRadius: newestPointRadius(2.5),
          tension: 0,
        },
        { label: 'Alert threshold', data: [], borderColor: '#8a93a3', borderWidth: 1, borderDash: [4, 3], pointRadius: 0 },
      ],
    },
    options: {
      ...LIVE_CHART,
      scales: {
        x: { type: 'linear', display: false },
        y: {
          min: 0,
          grid: { display: false },
          border: { display: false },
          ticks: { maxTicksLimit: 3, color: '#5b6472', font: { size: 10 }, callback: (v) => `${v} %` },
        },
      },
      plugins: {
        legend: { display: false },
        tooltip: {
          callbacks: {
            title: (items) => (items[0] ? fmtTime(items[0].parsed.x) : ''),
            label: (item) => `${item.dataset.label} ${Math.round(item.parsed.y)} %`,
          },
        },
      },
    },
  })
  const points = risk.recent.length > 0 ? risk.recent : [[risk.ts, risk.risk]]
  const to = Math.max(risk.ts, points[points.length - 1][0])
  const from = to - RISK_WINDOW_MS
  const line = points.filter(([ts]) => ts >= from).map(([x, r]) => ({ x, y: r * 100 }))
  const threshold = model.threshold.raise * 100
  riskChart.data.datasets[0].data = line
  riskChart.data.datasets[1].data = [
    { x: from, y: threshold },
    { x: to, y: threshold },
  ]
  riskChart.options.scales.x.min = from
  riskChart.options.scales.x.max = to
  // Room above the threshold and the highest risk, in steps of 10 %, so that a low risk is not drawn as a steep climb.
  const top = Math.max(threshold, ...line.map((pt) => pt.y))
  riskChart.options.scales.y.max = Math.min(100, Math.max(10, Math.ceil((top * 1.25) / 10) * 10))
  riskChart.update('none')
}

/** The selected patient's open alerts, each with its current text (GET /api/patients/:id, openAlerts). */
function renderOpenAlerts() {
  const box = $('open-alerts')
  const items = state.openAlerts.map((a) => {
    const style = alertStyle(a)
    const subject = SUBJECT_LABELS[a.subject] ?? VITAL_LABELS[a.subject] ?? a.subject
    return el(
      'li',
      { class: `open-alert level-${style.cls}` },
      el('span', { class: 'alert-level', text: style.text }),
      el('span', { class: 'open-msg', text: a.message !== '' ? a.message : subject }),
      el('time', { class: 'alert-time', text: `since ${fmtTime(a.raisedTs)}`, title: `raised ${fmtDateTime(a.raisedTs)}, value at ${fmtDateTime(a.ts)}` }),
    )
  })
  box.replaceChildren(...items)
  box.hidden = items.length === 0
}

let openAlertsTimer = 0
let openAlertsLoaded = 0
/** Loads the selected patient's open alerts, at most every 2 s (their text follows each reading). */
function scheduleOpenAlerts() {
  if (openAlertsTimer !== 0) return
  const wait = Math.max(0, openAlertsLoaded + 2_000 - Date.now())
  openAlertsTimer = window.setTimeout(() => {
    openAlertsTimer = 0
    openAlertsLoaded = Date.now()
    loadOpenAlerts().catch(showError)
  }, wait)
}

async function loadOpenAlerts() {
  const id = state.selected
  if (id === null) return
  const body = await api(`/api/patients/${encodeURIComponent(id)}`).catch((error) => {
    if (error.status === 404) return null
    throw error
  })
  if (state.selected !== id) return
  state.openAlerts = body?.openAlerts ?? []
  renderOpenAlerts()
}

/** @type {Map<string, {chart: any, value: HTMLElement, def: typeof CHARTS[number]}>} */
const charts = new Map()

/** Shaded band edges behind the lines (from GET /api/bands). */
const bandPlugin = {
  id: 'vigilBands',
  beforeDatasetsDraw(chart) {
    const bands = chart.options.plugins.vigilBands?.bands
    if (!bands) return
    const { ctx, chartArea, scales } = chart
    const y = scales.y
    ctx.save()
    let lower = -Infinity
    for (const b of bands) {
      const upper = b.max === null ? Infinity : b.max
      const top = Math.max(chartArea.top, upper === Infinity ? chartArea.top : y.getPixelForValue(upper))
      const bottom = Math.min(chartArea.bottom, lower === -Infinity ? chartArea.bottom : y.getPixelForValue(lower))
      if (bottom > top) {
        ctx.fillStyle = BAND_FILL[b.status] ?? 'transparent'
        ctx.fillRect(chartArea.left, top, chartArea.right - chartArea.left, bottom - top)
      }
      lower = upper
    }
    ctx.restore()
  },
}

function buildCharts() {
  const box = $('charts')
  const Chart = /** @type {any} */ (globalThis).Chart
  if (charts.size > 0 || Chart === undefined || state.bands === null) return
  for (const def of CHARTS) {
    const value = el('span', { class: 'chart-value' })
    const canvas = el('canvas', { role: 'img', 'aria-label': `${def.title} over the chart window` })
    // Blood pressure shades the systolic bands (NEWS2 scores systolic only).
    const unit = `${state.units[def.vitals[0]] ?? ''}${def.vitals.length > 1 ? ' · bands: systolic' : ''}`
    const card = el(
      'figure',
      { class: 'chart-card' },
      el('figcaption', {}, el('span', { class: 'chart-title', text: def.title }), el('span', { class: 'unit', text: unit }), value),
      el('div', { class: 'chart-box' }, canvas),
    )
    box.append(card)
    const chart = new Chart(canvas, {
      type: 'line',
      data: {
        datasets: def.vitals.map((v) => ({
          label: VITAL_LABELS[v],
          data: [],
          borderColor: LINE_COLORS[v],
          backgroundColor: LINE_COLORS[v],
          borderWidth: 2,
          pointRadius: newestPointRadius(3),
          pointHitRadius: 6,
          spanGaps: 5_000,
          tension: 0,
        })),
      },
      options: {
        ...LIVE_CHART,
        interaction: { mode: 'nearest', axis: 'x', intersect: false },
        scales: {
          x: {
            type: 'linear',
            ticks: { maxTicksLimit: 5, callback: (v) => fmtTime(Number(v)), color: '#5b6472', font: { size: 11 } },
            grid: { color: 'rgba(0,0,0,0.05)' },
          },
          y: { min: def.min, max: def.max, ticks: { maxTicksLimit: 5, color: '#5b6472', font: { size: 11 } }, grid: { color: 'rgba(0,0,0,0.06)' } },
        },
        plugins: {
          legend: { display: def.vitals.length > 1, position: 'bottom', labels: { boxWidth: 12, boxHeight: 2, font: { size: 11 } } },
          tooltip: { callbacks: { title: (items) => (items[0] ? fmtTime(items[0].parsed.x) : '') } },
          vigilBands: { bands: state.bands[def.vitals[0]] },
        },
      },
      plugins: [bandPlugin],
    })
    charts.set(def.id, { chart, value, def })
  }
}

let chartsDirty = false
function scheduleCharts() {
  if (chartsDirty) return
  chartsDirty = true
  // At most one redraw per frame, however many pushes arrived.
  requestAnimationFrame(() => {
    chartsDirty = false
    drawCharts()
  })
}

function drawCharts() {
  buildCharts()
  const entries = state.series
  const newest = entries.length > 0 ? entries[entries.length - 1].ts : serverNow()
  const from = newest - state.windowSeconds * 1000
  const p = state.selected === null ? undefined : state.patients.get(state.selected)
  for (const { chart, value, def } of charts.values()) {
    def.vitals.forEach((v, i) => {
      const data = []
      for (const e of entries) {
        const y = e.vitals[v]
        if (e.ts >= from && y !== undefined) data.push({ x: e.ts, y })
      }
      chart.data.datasets[i].data = data
    })
    chart.options.scales.x.min = from
    chart.options.scales.x.max = newest
    // The usual range of the vital, widened to the data so that an extreme value stays on screen.
    let lo = def.min
    let hi = def.max
    for (const ds of chart.data.datasets)
      for (const pt of ds.data) {
        if (pt.y < lo) lo = pt.y
        if (pt.y > hi) hi = pt.y
      }
    const pad = def.decimals > 0 ? 0.5 : 5
    chart.options.scales.y.min = lo === def.min ? def.min : Math.floor(lo - pad)
    chart.options.scales.y.max = hi === def.max ? def.max : Math.ceil(hi + pad)
    chart.update('none')
    const parts = def.vitals.map((v) => p?.vitals[v])
    if (parts.every((x) => x === undefined)) {
      value.textContent = '—'
      value.className = 'chart-value'
    } else {
      // The value of an old measurement (a cuff six hours ago) is marked old, as on its card.
      const oldest = def.vitals.find((v) => p?.vitals[v] !== undefined && isOld(v, p.vitals[v].ts, p))
      value.textContent = `${parts.map((x) => (x === undefined ? '—' : fmtNum(x.value, def.decimals))).join('/')}${oldest === undefined ? '' : ' (old)'}`
      const worst = parts.reduce((w, x) => (x !== undefined && (SEVERITY[x.status] ?? 0) > (SEVERITY[w] ?? 0) ? x.status : w), 'NORMAL')
      value.className = `chart-value status-${STATUS_CLASS[worst] ?? 'normal'}${oldest === undefined ? '' : ' is-old'}`
      const age = oldest === undefined ? '' : `, measured ${fmtAgo(p.vitals[oldest].ts)}`
      value.setAttribute('title', `${STATUS_TEXT[worst] ?? worst}${age}`)
    }
  }
}

function addEntries(/** @type {SeriesEntry[]} */ incoming) {
  if (incoming.length === 0 || isSignedOut()) return
  const byKey = new Map(state.series.map((e) => [`${e.deviceId}|${e.seq}`, e]))
  for (const e of incoming) byKey.set(`${e.deviceId}|${e.seq}`, e)
  const all = [...byKey.values()].sort((a, b) => a.ts - b.ts)
  const newest = all.length > 0 ? all[all.length - 1].ts : 0
  state.series = all.filter((e) => e.ts >= newest - MAX_WINDOW_MS)
  scheduleCharts()
}

async function loadSeries() {
  const id = state.selected
  if (id === null) return
  const body = await api(`/api/patients/${encodeURIComponent(id)}/series?seconds=${state.windowSeconds}`)
  if (state.selected !== id) return
  addEntries(body.entries)
  scheduleCharts()
}

function select(/** @type {string} */ id) {
  if (state.selected === id) return
  if (state.selected !== null) socket.emit('unsubscribe', { patientId: state.selected })
  state.selected = id
  state.series = []
  state.openAlerts = []
  renderOpenAlerts()
  history.replaceState(null, '', `#patient=${encodeURIComponent(id)}`)
  socket.emit('subscribe', { patientId: id })
  $('detail-empty').hidden = true
  $('current').hidden = false
  $('charts').hidden = false
  gridDirty = true
  renderGrid()
  renderDetailHeader()
  renderCurrent()
  scheduleCharts()
  renderAlerts()
  loadSeries().catch(showError)
  loadDaily(true).catch(showError)
  loadOpenAlerts().catch(showError)
}

for (const b of document.querySelectorAll('.range-btn')) {
  b.addEventListener('click', () => {
    state.windowSeconds = Number(b.getAttribute('data-seconds'))
    for (const o of document.querySelectorAll('.range-btn')) o.setAttribute('aria-pressed', String(o === b))
    loadSeries().catch(showError)
    scheduleCharts()
  })
}

// ---------------------------------------------------------------- alerts

function upsertAlerts(/** @type {AlertView[]} */ incoming) {
  if (isSignedOut()) return
  const byId = new Map(state.alerts.map((a) => [a.id, a]))
  for (const a of incoming) byId.set(a.id, { ...byId.get(a.id), ...a })
  if (state.selected !== null && incoming.some((a) => a.patientId === state.selected)) scheduleOpenAlerts()
  state.alerts = [...byId.values()].sort((a, b) => b.ts - a.ts || (b.streamId ?? '').localeCompare(a.streamId ?? '')).slice(0, MAX_ALERTS)
  renderAlerts()
}

function renderAlerts() {
  const mine = /** @type {HTMLInputElement} */ ($('alerts-mine')).checked && state.selected !== null
  const list = mine ? state.alerts.filter((a) => a.patientId === state.selected) : state.alerts
  const items = list.map((a) => {
    const style = alertStyle(a)
    const meta = alertMeta(a)
    let action = null
    if (a.ack) {
      // The acknowledger's name is a user name: any text, written as text.
      action = el('span', { class: 'acked', text: `✓ ${a.ack.by} · ${fmtTime(a.ack.at)}`, title: `acknowledged by ${a.ack.by} at ${fmtDateTime(a.ack.at)}` })
    } else if (a.kind !== 'cleared' && canAcknowledge(currentUser()?.role)) {
      const btn = el('button', { type: 'button', class: 'ack', text: 'Acknowledge' })
      btn.addEventListener('click', () => acknowledge(a, /** @type {HTMLButtonElement} */ (btn)))
      action = btn
    }
    const patient = el('button', { type: 'button', class: 'link', text: a.patientId })
    patient.addEventListener('click', () => select(a.patientId))
    return el(
      'li',
      { class: `alert level-${style.cls}${a.ack ? ' is-acked' : ''}`, 'data-level': a.level },
      el('span', { class: 'alert-level', text: `${style.text}${a.kind === 'escalated' ? ' ↑' : ''}` }),
      el('time', { class: 'alert-time', text: fmtTime(a.ts), title: fmtDateTime(a.ts) }),
      el('div', { class: 'alert-title' }, patient),
      el('div', { class: 'alert-msg', text: a.message }),
      el('span', { class: 'alert-meta', text: meta }),
      el('span', { class: 'alert-action' }, action),
    )
  })
  $('alert-feed').replaceChildren(...items)
  const open = list.filter((a) => !a.ack && a.kind !== 'cleared').length
  $('alert-count').textContent = open > 0 ? `${open} open` : ''
  $('alerts-empty').hidden = items.length > 0
}
$('alerts-mine').addEventListener('change', renderAlerts)

/** The feed's small line: what the alert is about and its value ("Heart rate 120 bpm · high", "NEWS2 7", "Device wrist-1", "Early-warning risk 34 %"). */
function alertMeta(/** @type {AlertView} */ a) {
  if (a.vital === 'device') return `Device${a.deviceId ? ` ${a.deviceId}` : ''}`
  if (a.vital === 'news2') {
    const score = a.score ?? a.value
    return score === undefined ? 'NEWS2' : `NEWS2 ${score}`
  }
  // The experimental model's risk, a probability (0-1) like the panel's: never a NEWS2 number.
  if (a.vital === 'risk') return `${SUBJECT_LABELS.risk}${a.value === undefined ? '' : ` ${riskPercentText(a.value)}`}`
  const unitOf = a.vital === 'glucoseForecast' ? 'glucose' : a.vital
  const label = SUBJECT_LABELS[a.vital] ?? VITAL_LABELS[a.vital] ?? a.vital
  const value = a.value === undefined ? '' : ` ${fmtNum(a.value, decimalsOf(unitOf))} ${state.units[unitOf] ?? ''}`.trimEnd()
  return `${label}${value}${a.side ? ` · ${a.side}` : ''}`
}

/** Acknowledges as the signed-in user: the server takes who from the session, never from the page. */
async function acknowledge(/** @type {AlertView} */ a, /** @type {HTMLButtonElement} */ btn) {
  btn.disabled = true
  try {
    upsertAlerts([await api(`/api/alerts/${encodeURIComponent(a.id)}/ack`, { method: 'POST', body: '{}' })])
  } catch (error) {
    btn.disabled = false
    showError(error)
    // 403: the user's role changed since the page loaded (the registry holds the current one).
    if (error.status === 403) loadMe().catch(showError)
  }
}

// ---------------------------------------------------------------- daily analysis (the Lambda merge)

const dateInput = /** @type {HTMLInputElement} */ ($('daily-date'))
let dailyUserDate = false
dateInput.addEventListener('change', () => {
  dailyUserDate = dateInput.value !== ''
  loadDaily(false).catch(showError)
})

async function loadDaily(resetDate) {
  const id = state.selected
  if (id === null) return
  if (resetDate) dailyUserDate = false
  const q = new URLSearchParams({ patientId: id })
  if (dailyUserDate && dateInput.value !== '') q.set('date', dateInput.value)
  const body = await api(`/api/stats/daily?${q}`)
  if (state.selected !== id) return
  dateInput.value = body.date
  renderDaily(body)
}

function renderDaily(body) {
  const merged = body.merged
  const meta = body.batch
  const sources = $('daily-sources')
  sources.replaceChildren()
  const cutoff = merged?.cutoffTs ?? null
  const batchPart = el(
    'span',
    { class: 'src src-batch' },
    el('strong', { text: 'Batch' }),
    cutoff === null ? 'no batch run yet' : `readings before ${fmtDateTime(cutoff)} · job finished ${meta ? fmtTime(meta.finishedAt) : '?'}`,
  )
  const livePart = el(
    'span',
    { class: 'src src-live' },
    el('strong', { text: 'Live' }),
    cutoff === null ? 'every reading the real-time view holds' : `readings since ${fmtDateTime(merged.live.from)}, from the real-time view`,
  )
  sources.append(batchPart, livePart)
  if (merged?.live.partial)
    sources.append(
      el('span', {
        class: 'src-note',
        text: `Live figures cover only the readings the real-time view still keeps (the last minutes), not the whole time since ${cutoff === null ? 'midnight' : 'the cutoff'}.`,
      }),
    )
  const rows = merged?.vitals ?? []
  $('daily-empty').hidden = rows.length > 0
  $('daily-empty').textContent = rows.length > 0 ? '' : 'No statistics for this day yet. Run the batch job, or wait for readings.'
  $('daily-table').hidden = rows.length === 0
  $('daily-body').replaceChildren(
    ...rows.map((r) => {
      const d = decimalsOf(r.vital)
      const f = r.merged
      const count = el('td', { class: 'num' }, (f?.count ?? 0).toLocaleString())
      count.append(
        el(
          'span',
          { class: 'split' },
          el('span', { class: 'chip chip-batch', text: `batch ${(r.batch?.count ?? 0).toLocaleString()}` }),
          el('span', { class: 'chip chip-live', text: `live ${(r.live?.count ?? 0).toLocaleString()}` }),
        ),
      )
      return el(
        'tr',
        {},
        el('th', { scope: 'row' }, VITAL_LABELS[r.vital] ?? r.vital, el('span', { class: 'unit', text: ` ${state.units[r.vital] ?? ''}` })),
        el('td', { class: 'num', text: fmtNum(f?.mean, d + 1) }),
        el('td', { class: 'num', text: fmtNum(f?.min, d) }),
        el('td', { class: 'num', text: fmtNum(f?.max, d) }),
        count,
      )
    }),
  )
  const g = rows.find((r) => r.vital === 'glucose')
  const tir = g?.tir?.merged ?? null
  $('tir').hidden = tir === null
  if (tir !== null) {
    const bar = $('tir-bar')
    bar.replaceChildren()
    const legend = $('tir-legend')
    legend.replaceChildren()
    const described = []
    for (const s of TIR_SEGMENTS) {
      const pct = (tir[s.key] ?? 0) * 100
      const seg = el('span', { class: `tir-seg ${s.cls}` })
      seg.style.width = `${pct}%`
      if (pct >= 7) seg.textContent = `${Math.round(pct)}%`
      bar.append(seg)
      legend.append(el('li', {}, el('span', { class: `swatch ${s.cls}` }), `${s.label} mg/dL `, el('strong', { text: `${pct.toFixed(1)}%` })))
      described.push(`${s.label}: ${pct.toFixed(1)}%`)
    }
    bar.setAttribute('aria-label', `Glucose time in range, ${described.join(', ')}`)
  }
}

$('run-batch').addEventListener('click', async () => {
  const btn = /** @type {HTMLButtonElement} */ ($('run-batch'))
  btn.disabled = true
  showBatch({ jobId: '', phase: 'starting', done: 0, total: 0, state: 'running' })
  try {
    const body = dateInput.value !== '' ? { date: dateInput.value } : {}
    await api('/api/batch/runs', { method: 'POST', body: JSON.stringify(body) })
  } catch (error) {
    if (error.status === 409) showBatch({ jobId: error.body?.jobId ?? '', phase: 'already running', done: 0, total: 0, state: 'running' })
    else {
      btn.disabled = false
      showBatch({ jobId: '', phase: 'failed', done: 0, total: 0, state: 'failed', message: error.message })
    }
  }
})

function showBatch(/** @type {BatchProgress} */ p) {
  $('batch-progress').hidden = false
  const bar = /** @type {HTMLProgressElement} */ ($('batch-bar'))
  const btn = /** @type {HTMLButtonElement} */ ($('run-batch'))
  $('batch-progress').className = `batch-progress state-${p.state}`
  if (p.state === 'running') {
    btn.disabled = true
    if (p.total > 0) {
      bar.max = p.total
      bar.value = p.done
    } else bar.removeAttribute('value')
    $('batch-text').textContent = `Batch job: ${p.phase}${p.total > 0 ? ` ${p.done}/${p.total}` : ''}${p.message ? ` · ${p.message}` : ''}`
  } else {
    btn.disabled = false
    bar.max = 1
    bar.value = p.state === 'succeeded' ? 1 : 0
    $('batch-text').textContent = p.state === 'succeeded' ? `Batch job finished: ${p.message ?? ''}` : `Batch job failed: ${p.message ?? 'unknown error'}`
  }
}

// ---------------------------------------------------------------- the session (public/session.js)

/** What the signed-in user's role may do, shown (the server refuses the rest); public/session.js calls it whenever GET /api/me is read. */
function showRole(/** @type {Me} */ me) {
  $('ack-hint').hidden = canAcknowledge(me.role)
  $('run-batch').hidden = !canRunBatch(me.role)
  renderAlerts()
}

/** The session ended (public/session.js): values that no longer update must not stay on a monitor looking live. */
function clearPatientData() {
  state.patients = new Map()
  state.heardAt = new Map()
  state.alerts = []
  state.series = []
  state.openAlerts = []
  state.selected = null
  tiles.clear()
  for (const { chart } of charts.values()) chart.destroy()
  charts.clear()
  state.riskModel = null
  riskChart?.destroy()
  riskChart = null
  renderRisk()
  for (const id of ['grid', 'alert-feed', 'open-alerts', 'current', 'charts', 'daily-body', 'daily-sources', 'tir-bar', 'tir-legend']) $(id).replaceChildren()
  renderDetailHeader()
  renderAlerts()
  renderGrid()
}

// ---------------------------------------------------------------- errors

let errorTimer = 0
function showError(error) {
  if (error?.message === 'not signed in') return
  let box = document.getElementById('toast')
  if (box === null) {
    box = el('div', { class: 'toast', role: 'alert' })
    box.id = 'toast'
    document.body.append(box)
  }
  box.textContent = String(error?.message ?? error)
  box.hidden = false
  clearTimeout(errorTimer)
  errorTimer = window.setTimeout(() => {
    if (box) box.hidden = true
  }, 6000)
}

// ---------------------------------------------------------------- socket

/** @type {import('socket.io-client').Socket<ServerToClientEvents, ClientToServerEvents>} */
const socket = io({ transports: ['websocket', 'polling'], withCredentials: true })

socket.on('connect', () => {
  setConnection('live')
  // Rooms do not survive a reconnect: join the selected patient's again.
  if (state.selected !== null) socket.emit('subscribe', { patientId: state.selected })
})
socket.on('disconnect', (reason) => {
  if (isSignedOut() || isSigningOut()) return
  setConnection('reconnecting')
  // After a server-side disconnect Socket.io does not retry by itself; a monitor must. A session
  // that ended was announced first ('session:end'): its check reconnects if the browser holds a
  // newer one. Otherwise this is a restart or an eviction.
  if (reason === 'io server disconnect')
    setTimeout(() => {
      if (!isSignedOut() && !isCheckingSession()) socket.connect()
    }, 2_000)
})
// Sent before the server closes the socket of a session that ended (logout, expiry, user disabled,
// or a sign-in in another tab, which replaces it).
socket.on('session:end', (end) => checkSession(end?.reason))
let lastProbe = 0
socket.on('connect_error', () => {
  setConnection(navigator.onLine ? 'reconnecting' : 'offline')
  // A refused handshake looks like any network error: ask the API whether the session is gone.
  if (Date.now() - lastProbe > 10_000) {
    lastProbe = Date.now()
    checkSession('unauthorized', false)
  }
})
socket.io.on('reconnect_failed', () => setConnection('offline'))
window.addEventListener('offline', () => setConnection('offline'))

// A role changed while the page was away shows once it is back.
socket.io.on('reconnect', () => loadMe().catch(showError))

socket.on('snapshot', (s) => {
  if (isSignedOut()) return
  state.clockSkew = s.serverTime - Date.now()
  state.staleAfterMs = s.staleAfterMs
  state.patients = new Map(s.patients.map((p) => [p.patientId, p]))
  state.riskModel = s.riskModel ?? null
  state.alerts = []
  upsertAlerts(s.alerts)
  gridDirty = true
  renderGrid()
  if (state.selected !== null) {
    renderDetailHeader()
    renderCurrent()
    // Whatever was missed while offline comes back from the series.
    loadSeries().catch(showError)
    loadDaily(false).catch(showError)
    loadOpenAlerts().catch(showError)
  }
})

socket.on('reading', (push) => {
  if (isSignedOut()) return
  state.clockSkew = push.serverTime - Date.now()
  for (const p of push.patients) {
    state.patients.set(p.patientId, p)
    state.heardAt.set(p.patientId, push.serverTime)
  }
  gridDirty = true
  if (state.selected !== null && push.patients.some((p) => p.patientId === state.selected)) {
    renderDetailHeader()
    renderCurrent()
    // An open alert's text follows the current value.
    scheduleOpenAlerts()
  }
  for (const s of push.series) if (s.patientId === state.selected) addEntries(s.entries)
})

socket.on('alert', (alerts) => upsertAlerts(alerts))
socket.on('batch:progress', (p) => showBatch(p))
socket.on('risk:model', (notice) => {
  if (isSignedOut()) return
  state.riskModel = notice?.model ?? null
  renderRisk()
})
socket.on('stats', () => {
  loadDaily(false).catch(showError)
})

// ---------------------------------------------------------------- start

async function init() {
  setConnection('connecting')
  await loadMe()
  const bands = await api('/api/bands')
  state.bands = bands.bands
  state.units = bands.units
  const m = /^#patient=(.+)$/.exec(location.hash)
  if (m) select(decodeURIComponent(m[1]))
  const patients = await api('/api/patients')
  for (const p of patients) if (!state.patients.has(p.patientId)) state.patients.set(p.patientId, p)
  gridDirty = true
  renderGrid()
  if (state.selected !== null) {
    renderDetailHeader()
    renderCurrent()
  }
}

// The session's hooks into this page; before init, whose first request may already find the session gone.
startSession({
  api,
  serverNow,
  fmtDateTime,
  showError,
  onUser: showRole,
  reconnect: () => {
    if (!socket.connected) socket.connect()
  },
  disconnect: () => {
    socket.disconnect()
    setConnection('signedout')
  },
  clearPatientData,
})

// Chart.js is a classic deferred script: it has run once the DOM is parsed, like this module.
init().catch(showError)
