// The page's decisions, without the DOM (docs/CLINICAL.md, The page): how a NEWS2 aggregate is
// labelled (complete, or partial and never "low risk"), when a value is shown as old, how urgent a
// patient or an alert is, the texts of the trend, oxygen and consciousness, and of the experimental
// risk panel. Plain ES module,
// loaded by app.js and by the serving layer's unit tests (types in page-rules.d.ts).

/** The NEWS2 parameters' names on the page, in the RCP chart's order. */
export const NEWS2_LABELS = {
  respRate: 'Resp. rate',
  spo2: 'SpO₂',
  onOxygen: 'Air/O₂',
  systolic: 'Systolic BP',
  heartRate: 'Pulse',
  consciousness: 'ACVPU',
  temperature: 'Temperature',
}
const NEWS2_COUNT = Object.keys(NEWS2_LABELS).length

export const RISK_TEXT = { low: 'low risk', 'low-medium': 'low-medium risk', medium: 'medium risk', high: 'high risk' }

/**
 * How long a value stays current on the page when the NEWS2 state does not say (the vitals NEWS2
 * does not score, or a state without `old`): the speed layer's default NEWS2 freshness windows
 * (docs/CLINICAL.md, NEWS2); the diastolic as its cuff's systolic; glucose three CGM intervals
 * (5 min each), the trend's window.
 */
export const FRESHNESS_MS = {
  heartRate: 5 * 60_000,
  spo2: 5 * 60_000,
  respRate: 5 * 60_000,
  systolic: 30 * 60_000,
  diastolic: 30 * 60_000,
  temperature: 60 * 60_000,
  glucose: 15 * 60_000,
  onOxygen: 4 * 3_600_000,
  consciousness: 4 * 3_600_000,
}

/** ACVPU (RCP 2017): what each level means. */
export const ACVPU_TEXT = { A: 'Alert', C: 'New confusion', V: 'Responds to voice', P: 'Responds to pain', U: 'Unresponsive' }

/**
 * The NEWS2 line of a tile and of the detail header. A complete score: "NEWS2 6 · medium risk". A
 * partial one is a lower bound: "NEWS2 ≥ 3 · partial: 2 of 7", with the band that lower bound
 * already reaches ("· at least medium risk") when the state gives one, and never a risk word
 * otherwise: missing parameters could raise the score, so "low risk" would be a reassurance the
 * data does not support.
 * @param {import('../lib/contract/views.ts').News2State | undefined} news2
 * @returns {{ text: string, partial: boolean }}
 */
export function news2Text(news2) {
  if (news2 === undefined || news2 === null || typeof news2.score !== 'number') return { text: 'NEWS2 —', partial: true }
  if (news2.complete === true) return { text: `NEWS2 ${news2.score} · ${RISK_TEXT[news2.risk] ?? news2.risk}`, partial: false }
  const counted = Array.isArray(news2.counted) ? news2.counted.length : 0
  const bound = counted === 0 ? 'NEWS2 —' : `NEWS2 ≥ ${news2.score}`
  const risk = news2.risk === null || news2.risk === undefined || news2.risk === 'low' ? '' : ` · at least ${RISK_TEXT[news2.risk] ?? news2.risk}`
  return { text: `${bound} · partial: ${counted} of ${NEWS2_COUNT}${risk}`, partial: true }
}

/**
 * What a partial score does not count: "Missing: Resp. rate, Air/O₂, Systolic BP (old), …"; an
 * empty string for a complete one.
 * @param {import('../lib/contract/views.ts').News2State | undefined} news2
 */
export function news2MissingText(news2) {
  if (news2 === undefined || news2 === null || news2.complete === true) return ''
  const missing = Array.isArray(news2.missing) ? news2.missing : Object.keys(NEWS2_LABELS)
  const old = new Set(Array.isArray(news2.old) ? news2.old : [])
  if (missing.length === 0) return ''
  return `Missing: ${missing.map((p) => `${NEWS2_LABELS[p] ?? p}${old.has(p) ? ' (old)' : ''}`).join(', ')}`
}

/**
 * Whether a value of the patient (a vital, onOxygen or consciousness) is old: for a NEWS2
 * parameter, the NEWS2 state's `old` list decides (the speed layer's configured windows); else
 * its age before the patient's newest reading exceeds FRESHNESS_MS (event time, as NEWS2 judges).
 * @param {string} key
 * @param {number} ts
 * @param {import('../lib/contract/views.ts').PatientState} p
 */
export function isOld(key, ts, p) {
  if (key in NEWS2_LABELS && Array.isArray(p.news2?.old)) return p.news2.old.includes(key)
  const window = FRESHNESS_MS[key]
  return window !== undefined && p.ts - ts > window
}

/** "45 s ago", "6 min ago", "6 h ago", "2 d ago". */
export function agoText(/** @type {number} */ ms) {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 60) return `${s} s ago`
  if (s < 3600) return `${Math.floor(s / 60)} min ago`
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`
  return `${Math.floor(s / 86_400)} d ago`
}

/**
 * The CGM trend: arrow and rate, "↘ −1.4 mg/dL/min" (a true minus sign; + for a rise; a no-break space after the arrow).
 * @param {import('../lib/contract/views.ts').GlucoseTrend | undefined} trend
 */
export function trendText(trend) {
  if (trend === undefined || trend === null || !Number.isFinite(trend.rate)) return ''
  const r = Math.round(trend.rate * 10) / 10
  const sign = r > 0 ? '+' : r < 0 ? '−' : ''
  // The arrow stays with its number when the line wraps (a no-break space between them).
  return `${trend.arrow}\u00a0${sign}${Math.abs(r).toFixed(1)} mg/dL/min`
}

/** "O₂" (supplemental oxygen, NEWS2 +2) or "Air". */
export function oxygenText(/** @type {boolean} */ onOxygen) {
  return onOxygen ? 'O₂' : 'Air'
}

const STATUS_SEVERITY = { NORMAL: 0, WARNING: 1, CRITICAL_LOW: 3, CRITICAL_HIGH: 3 }
const RISK_URGENCY = { high: 4, medium: 2, 'low-medium': 1 }

/**
 * How urgent a patient is, for the grid's order and colour: 4 NEWS2 ≥ 7 (complete, or a partial
 * lower bound already there: the RCP emergency-response threshold, ranked above any single vital),
 * 3 a vital in its critical band, 2 NEWS2 5-6, 1 a warning or a single NEWS2 parameter scoring 3,
 * 0 none of these.
 * @param {import('../lib/contract/views.ts').PatientState} p
 */
export function patientUrgency(p) {
  return Math.max(STATUS_SEVERITY[p.status] ?? 0, RISK_URGENCY[p.news2?.risk] ?? 0)
}

/** The tile's colour: red from a critical vital or NEWS2 ≥ 7, amber from a warning or a NEWS2 trigger, else green. */
export function tileClass(/** @type {import('../lib/contract/views.ts').PatientState} */ p) {
  const u = patientUrgency(p)
  return u >= 3 ? 'critical' : u >= 1 ? 'warning' : 'normal'
}

/**
 * Alert levels: the feed's class and badge text, most urgent first (NEWS2 ≥ 7 first, the technical
 * alarms last), the order serving/open-alerts.ts ALERT_URGENCY gives the API (page-rules.test.ts holds them equal).
 * The experimental risk model's alert is said to be one, in its own calm class: never a red of the bands or NEWS2.
 */
export const ALERT_LEVEL_VIEW = {
  NEWS2_HIGH: { cls: 'critical', text: 'NEWS2 ≥ 7' },
  CRITICAL_LOW: { cls: 'critical', text: 'Critical low' },
  CRITICAL_HIGH: { cls: 'critical', text: 'Critical high' },
  NEWS2_MEDIUM: { cls: 'urgent', text: 'NEWS2 5–6' },
  URGENT_LOW_SOON: { cls: 'urgent', text: 'Urgent low soon' },
  NEWS2_SINGLE_3: { cls: 'warning', text: 'NEWS2 single 3' },
  WARNING: { cls: 'warning', text: 'Warning' },
  RISK_HIGH: { cls: 'risk', text: 'Risk (experimental)' },
  NO_SIGNAL: { cls: 'technical', text: 'No signal' },
  STALE: { cls: 'stale', text: 'No data' },
}
const ALERT_ORDER = Object.keys(ALERT_LEVEL_VIEW)

/**
 * An alert's class and badge: a cleared one is "Cleared"; NO_SIGNAL is a technical alarm (check
 * the sensor), never styled as a critical value.
 * @param {{ level: string, kind?: string }} a
 */
export function alertStyle(a) {
  if (a.kind === 'cleared') return { cls: 'cleared', text: 'Cleared' }
  const v = ALERT_LEVEL_VIEW[a.level]
  return v === undefined ? { cls: 'critical', text: a.level } : { cls: v.cls, text: v.text }
}

/** A level's urgency rank, its place in ALERT_LEVEL_VIEW (0 the most urgent; an unknown level after every known one). */
export function alertRank(/** @type {string} */ level) {
  const i = ALERT_ORDER.indexOf(level)
  return i === -1 ? ALERT_ORDER.length : i
}

/**
 * The experimental early-warning risk (docs/CLINICAL.md, Early-warning risk model). The page shows
 * it only while the speed layer serves a model (the snapshot's `riskModel`) and the patient has a
 * risk, in a panel that says what it is, which model computed it and how well that model did on
 * held-out patients, and that NEWS2 and the vital bands remain the primary signal.
 */

/**
 * Whether the risk panel shows for a patient: a model served and a risk of the patient that reads
 * as a probability. A risk left in a patient's state after its model was dropped is not shown.
 * @param {import('../lib/contract/views.ts').RiskModelInfo | null | undefined} model
 * @param {import('../lib/contract/views.ts').PatientState | undefined} p
 */
export function showsRisk(model, p) {
  const r = p?.risk
  return model !== null && model !== undefined && r !== undefined && r !== null && Number.isFinite(r.risk) && r.risk >= 0 && r.risk <= 1
}

/**
 * A risk (0-1) as a whole percentage, "34 %"; "<1 %" and ">99 %" at the ends, so that no risk
 * reads as none or as certain.
 * @param {number} risk
 */
export function riskPercentText(risk) {
  if (!Number.isFinite(risk)) return '—'
  const pct = risk * 100
  if (pct < 0.5) return '<1 %'
  if (pct > 99.5) return '>99 %'
  return `${Math.round(pct)} %`
}

/**
 * A contribution's log-odds with its sign: "+0.8", "−0.3" (a true minus), two decimals below 0.1
 * so that a small one does not read as 0.
 * @param {number} logOdds
 */
export function logOddsText(logOdds) {
  if (!Number.isFinite(logOdds)) return '—'
  const a = Math.abs(logOdds)
  const digits = a < 0.1 ? 2 : 1
  const sign = logOdds > 0 ? '+' : logOdds < 0 ? '−' : '±'
  return `${sign}${a.toFixed(digits)}`
}

/**
 * The three largest contributions by magnitude, largest first, each in words with its signed
 * log-odds: { text: "SpO2 falling 2.0 %/10 min", logOdds: "+0.8" }.
 * @param {import('../lib/contract/views.ts').RiskContribution[] | undefined} top
 * @returns {Array<{ text: string, logOdds: string }>}
 */
export function topContributionTexts(top) {
  if (!Array.isArray(top)) return []
  return top
    .filter((c) => typeof c?.text === 'string' && Number.isFinite(c.contribution))
    .sort((a, b) => Math.abs(b.contribution) - Math.abs(a.contribution))
    .slice(0, 3)
    .map((c) => ({ text: c.text, logOdds: logOddsText(c.contribution) }))
}

/**
 * The risk's trend over the recent points ([[ts, risk], ...], oldest first): "Last hour: 12 % → 34 %
 * (highest 36 %)"; with one point "Last hour: 34 %"; '' with none.
 * @param {ReadonlyArray<readonly [number, number]> | undefined} recent
 */
export function riskTrendText(recent) {
  const risks = Array.isArray(recent) ? recent.map((p) => p?.[1]).filter((r) => Number.isFinite(r)) : []
  if (risks.length === 0) return ''
  const first = risks[0]
  const last = risks[risks.length - 1]
  if (risks.length === 1) return `Last hour: ${riskPercentText(last)}`
  const highest = Math.max(...risks)
  const peak = riskPercentText(highest) === riskPercentText(Math.max(first, last)) ? '' : ` (highest ${riskPercentText(highest)})`
  return `Last hour: ${riskPercentText(first)} → ${riskPercentText(last)}${peak}`
}

/**
 * What the risk is, with the model's horizon: "Risk of an episode within 60 min".
 * @param {import('../lib/contract/views.ts').RiskModelInfo} model
 */
export function riskMeaningText(model) {
  return `Risk of an episode within ${model.horizonMinutes} min`
}

/**
 * Where the risk stands against the model's alert threshold, in words (never in colour only):
 * "At or above the alert threshold (30 %)" or "Below the alert threshold (30 %)".
 * @param {number} risk
 * @param {import('../lib/contract/views.ts').RiskModelInfo} model
 */
export function riskThresholdText(risk, model) {
  const at = riskPercentText(model.threshold.raise)
  return risk >= model.threshold.raise ? `At or above the alert threshold (${at})` : `Below the alert threshold (${at})`
}

/**
 * The model line: "Model lr-0123456789ab · trained on simulator, 140 patients, 7 days · test AUROC 0.83 (0.74
 * within patients)" (the second figure, when the file has it, says whether it tells when, not only who)
 * ("test AUROC not computed" when the held-out patients had no episode to rank); and, when the
 * patient's risk came from another model than the one served now, which one.
 * @param {import('../lib/contract/views.ts').RiskModelInfo} model
 * @param {import('../lib/contract/views.ts').RiskState} [risk]
 */
export function riskModelText(model, risk) {
  const known = (x) => typeof x === 'number' && Number.isFinite(x)
  const within = known(model.testAurocWithinPatients) ? ` (${model.testAurocWithinPatients.toFixed(2)} within patients)` : ''
  const auroc = known(model.testAuroc) ? `test AUROC ${model.testAuroc.toFixed(2)}${within}` : 'test AUROC not computed'
  const other = risk !== undefined && risk.model !== model.version ? ` · this risk is from model ${risk.model}` : ''
  return `Model ${model.version} · trained on ${model.cohort} · ${auroc}${other}`
}

/** The roles, least to most privileged, as lib/identity/model.ts ROLES (page-rules.test.ts holds them equal). */
export const ROLES = ['viewer', 'clinician', 'admin']
export const ROLE_TEXT = { viewer: 'Viewer', clinician: 'Clinician', admin: 'Admin' }

/**
 * Whether `role` holds the rights of `required`, as lib/identity/model.ts roleAllows. The page
 * only hides what the server would refuse: the server's guard decides (docs/SECURITY.md).
 * An unknown role holds none.
 * @param {string | undefined} role
 * @param {string} required
 */
export function roleAllows(role, required) {
  if (required === 'public') return true
  const have = ROLES.indexOf(role ?? '')
  return have !== -1 && have >= ROLES.indexOf(required)
}

/** Acknowledging an alert takes a clinician (docs/SECURITY.md, Every route's role: POST /api/alerts/:alertId/ack). */
export function canAcknowledge(/** @type {string | undefined} */ role) {
  return roleAllows(role, 'clinician')
}

/** Starting the batch job takes a clinician (POST /api/batch/runs). */
export function canRunBatch(/** @type {string | undefined} */ role) {
  return roleAllows(role, 'clinician')
}

/**
 * Why a session ended, in words: the reasons of 'session:end' (serving/events.ts, SessionEndReason)
 * and `unauthorized`, the page's own for an API answer 401. An unknown reason shows as it came.
 */
const SESSION_END_TEXT = {
  'signed-out': 'signed out in another window',
  expired: 'the session expired',
  revoked: 'the sign-in was withdrawn (user disabled or removed, or password changed)',
  unauthorized: 'the server no longer accepts this session',
}

/**
 * The signed-out screen's detail line: "The session expired. Patient data is hidden until you sign in again."
 * @param {unknown} reason
 */
export function sessionEndText(reason) {
  const known = typeof reason === 'string' ? SESSION_END_TEXT[reason] : undefined
  const why =
    known ?? (typeof reason === 'string' && reason.trim() !== '' ? `reason: ${reason.trim().slice(0, 120)}` : 'the server no longer accepts this session')
  return `${why[0].toUpperCase()}${why.slice(1)}. Patient data is hidden until you sign in again.`
}

/**
 * How long before a session's absolute end (serving option sessionTtlMs: using the page does not
 * prolong it) the page warns, and from when the warning is urgent. Thirty minutes leave time to
 * sign in again between two rounds; the last five are when the station is about to go dark.
 */
export const SESSION_WARNING_MS = 30 * 60_000
export const SESSION_URGENT_MS = 5 * 60_000

/**
 * The user a session opened with the bootstrap token's link (`GET /login?token=<VIGIL_TOKEN>`)
 * acts as: a name no registered user may take (lib/identity/model.ts, usernameProblem).
 */
const TOKEN_USER = 'VIGIL_TOKEN'

/**
 * How the signed-in user gets a new session: `token-link` for the bootstrap token's user, who has
 * no name and password for the sign-in form and opens the token link again; `form` for everyone else.
 * @param {unknown} user the signed-in user (GET /api/me)
 * @returns {'token-link' | 'form'}
 */
export function signInAgainWay(user) {
  return user === TOKEN_USER ? 'token-link' : 'form'
}

/** The end of the banner's sentence: what to do to keep watching, for each way of signing in again. */
const SIGN_IN_AGAIN_TEXT = {
  form: 'sign in again to keep watching',
  'token-link': 'reopen the token link (/login?token=…) to keep watching',
}

/**
 * The warning before a session ends: null for a credential that does not expire (a Bearer token:
 * expiresAt null) or while more than SESSION_WARNING_MS are left; else "Your session ends at
 * 19:42 (in 12 min): sign in again to keep watching" (for the token link's session: "reopen the
 * token link (/login?token=…) to keep watching"), urgent in the last SESSION_URGENT_MS. The
 * minutes are rounded up, so the last minute reads "in 1 min", never "in 0 min" while the session
 * still runs; past its end it reads "ended at".
 * @param {number | null | undefined} expiresAt the session's end, epoch ms (GET /api/me)
 * @param {number} now the server's time, epoch ms
 * @param {string} endsAt expiresAt as the page writes a time of day ("19:42")
 * @param {'token-link' | 'form'} [way] how the user signs in again (signInAgainWay)
 * @returns {{ text: string, urgent: boolean } | null}
 */
export function sessionWarning(expiresAt, now, endsAt, way = 'form') {
  if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) return null
  const left = expiresAt - now
  if (left > SESSION_WARNING_MS) return null
  const todo = SIGN_IN_AGAIN_TEXT[way] ?? SIGN_IN_AGAIN_TEXT.form
  if (left <= 0) return { text: `Your session ended at ${endsAt}: ${todo}`, urgent: true }
  const minutes = Math.ceil(left / 60_000)
  return { text: `Your session ends at ${endsAt} (in ${minutes} min): ${todo}`, urgent: left <= SESSION_URGENT_MS }
}
