/**
 * The patient-level alerts (docs/CLINICAL.md, NEWS2 aggregate alerts; Glucose trend and "urgent low
 * soon"), with the same discipline as a vital's: raised once confirmed by the persistence rule
 * (persistence.ts), escalated when the level rises, cleared after the hold-down below every trigger.
 *
 * NEWS2 (subject `news2`), from the patient's News2State after each reading (Royal College of
 * Physicians, "National Early Warning Score (NEWS) 2", 2017, Chart 2 and "Clinical response to NEWS2 trigger thresholds"): an aggregate
 * of 7 or more is NEWS2_HIGH, 5-6 NEWS2_MEDIUM, a single parameter scoring 3 NEWS2_SINGLE_3. A partial
 * score is a lower bound and triggers too: a danger is never hidden because a parameter is
 * missing. NEWS2_HIGH is confirmed with criticalPersistenceMs, the others with warningPersistenceMs
 * (at once when the evaluation follows the patient's previous one by at least that long); an open
 * alert escalates to NEWS2_MEDIUM at once, to NEWS2_HIGH once that is confirmed. An open alert
 * never clears on missing data: it remembers every parameter that scored above 0 while it was open
 * and clears only once each of them is counted again and the score has stayed below every trigger
 * for the hold-down; until then its text names what has not been observed again, and since when.
 *
 * URGENT_LOW_SOON (subject `glucoseForecast`): the CGM trend predicts less than 55 mg/dL within 20
 * minutes (trend.ts forecastGlucose), evaluated on each glucose value.
 */
import type { AlertEvent, AlertKind, News2Parameter, News2State, OpenAlertState, PendingAlertState } from '../lib/contract/views.ts'
import { NEWS2_PARAMETERS } from '../lib/contract/views.ts'
import { forecastText, news2ClearedText, news2Text, news2WaitingText, urgentLowSoonText, type News2AlertLevel } from './alert-text.ts'
import { alertId, type AlertTiming, type StepResult, type SubjectState } from './alerts.ts'
import { isConfirmed, nextPending } from './persistence.ts'

const RANK: Readonly<Record<News2AlertLevel, number>> = { NEWS2_SINGLE_3: 1, NEWS2_MEDIUM: 2, NEWS2_HIGH: 3 }

/**
 * The RCP trigger a NEWS2 state reaches (a partial score's lower bound included), or undefined below
 * every trigger. A parameter scoring 3 whose vital already has an open CRITICAL alert (`covered`)
 * does not raise NEWS2_SINGLE_3 as well: that alert names the same value and carries the same RCP
 * response (alert-text.ts), and one event sounding twice is the alarm burden persistence removes.
 * A 3 with no CRITICAL alert of its own (new confusion, a value an override calls normal) raises it.
 */
export function news2AlertLevel(s: News2State, covered: ReadonlySet<News2Parameter> = NONE): News2AlertLevel | undefined {
  if (s.score >= 7) return 'NEWS2_HIGH'
  if (s.score >= 5) return 'NEWS2_MEDIUM'
  if (s.counted.some((p) => s.scores[p] === 3 && !covered.has(p))) return 'NEWS2_SINGLE_3'
  return undefined
}

const NONE: ReadonlySet<News2Parameter> = new Set()

export interface News2Sample {
  patientId: string
  news2: News2State
  /** Event time the state was computed at (the patient's newest reading). */
  ts: number
  /** Event time since the patient's previous evaluation (the newest reading before this one; NO_PREVIOUS_SAMPLE for the first). */
  gapMs: number
  /** Parameters whose vital has an open CRITICAL alert (news2AlertLevel). */
  covered?: ReadonlySet<News2Parameter>
  /** Event time of each parameter's newest observation, fresh or old (for the text of an alert waiting for one). */
  observedAt?: Partial<Record<News2Parameter, number>>
}

/** Without an open alert: the level the runs confirm (NEWS2_HIGH after criticalPersistenceMs, else the level capped at MEDIUM after warningPersistenceMs). */
function confirmedNews2(pending: PendingAlertState | undefined, level: News2AlertLevel | undefined, s: News2Sample, t: AlertTiming) {
  if (pending === undefined || level === undefined) return undefined
  if (level === 'NEWS2_HIGH' && isConfirmed(pending.criticalSince, s.ts, t.criticalPersistenceMs, s.gapMs)) return level
  if (isConfirmed(pending.outSince, s.ts, t.warningPersistenceMs, s.gapMs)) return level === 'NEWS2_HIGH' ? 'NEWS2_MEDIUM' : level
  return undefined
}

/** With an open alert: the level it may move to (MEDIUM at once, HIGH once confirmed). */
function escalatedNews2(pending: PendingAlertState | undefined, level: News2AlertLevel | undefined, s: News2Sample, t: AlertTiming) {
  if (pending === undefined || level === undefined) return undefined
  if (level === 'NEWS2_HIGH' && !isConfirmed(pending.criticalSince, s.ts, t.criticalPersistenceMs, s.gapMs)) return 'NEWS2_MEDIUM'
  return level
}

function news2Event(s: News2Sample, kind: AlertKind, level: News2AlertLevel, current: News2AlertLevel | undefined): AlertEvent {
  const message = kind === 'cleared' ? news2ClearedText(s.patientId, s.news2, level) : news2Text(s.patientId, s.news2, current, level)
  return {
    // The level in an escalation's id: two readings judged at the same newest time may escalate twice (MEDIUM, then HIGH).
    id: alertId(s.patientId, 'news2', s.ts, kind, kind === 'escalated' ? level : ''),
    patientId: s.patientId,
    vital: 'news2',
    kind,
    level,
    value: s.news2.score,
    score: s.news2.score,
    ts: s.ts,
    message: kind === 'escalated' ? `${message} (escalated)` : message,
  }
}

/** The parameters an open alert waits for: those it had, and those scoring above 0 now, chart order. */
function news2Parameters(had: readonly News2Parameter[] | undefined, s: News2State): News2Parameter[] {
  const scoring = new Set<News2Parameter>(had ?? [])
  for (const p of s.counted) if ((s.scores[p] ?? 0) > 0) scoring.add(p)
  return NEWS2_PARAMETERS.filter((p) => scoring.has(p))
}

/** The alert's parameters not counted in the current state (not observed again within their freshness window). */
function unobserved(parameters: readonly News2Parameter[], s: News2State): News2Parameter[] {
  return parameters.filter((p) => !s.counted.includes(p))
}

interface News2Open {
  level: News2AlertLevel
  current: News2AlertLevel | undefined
  raisedTs: number
  worst: number
  normalSince: number | null
  parameters: News2Parameter[]
}

function news2Open(s: News2Sample, o: News2Open): OpenAlertState {
  const score = Math.max(o.worst, s.news2.score)
  const waiting = o.current === undefined ? unobserved(o.parameters, s.news2) : []
  const message =
    waiting.length === 0
      ? news2Text(s.patientId, s.news2, o.current, o.level)
      : news2WaitingText(s.patientId, s.news2, o.level, waiting, s.observedAt ?? {}, s.ts)
  return { level: o.level, raisedTs: o.raisedTs, normalSince: o.normalSince, value: s.news2.score, score, ts: s.ts, message, parameters: o.parameters }
}

/** One step of the NEWS2 aggregate alert. */
export function stepNews2Alert(state: SubjectState, s: News2Sample, t: AlertTiming): StepResult {
  const current = news2AlertLevel(s.news2, s.covered)
  const pending = nextPending(state.pending, { out: current !== undefined, critical: current === 'NEWS2_HIGH', ts: s.ts, gapMs: s.gapMs }, t)
  const open = state.open
  if (open === undefined) {
    const level = confirmedNews2(pending, current, s, t)
    if (level === undefined) return { state: { pending } }
    const raised = news2Open(s, { level, current, raisedTs: s.ts, worst: s.news2.score, normalSince: null, parameters: news2Parameters([], s.news2) })
    return { state: { open: raised, pending }, event: news2Event(s, 'raised', level, current) }
  }
  const base = { level: open.level as News2AlertLevel, current, raisedTs: open.raisedTs, worst: open.score ?? 0 }
  const parameters = news2Parameters(open.parameters, s.news2)
  if (current === undefined) {
    // Back below every trigger counts only once every parameter that scored is observed again: missing data is no improvement.
    const back = unobserved(parameters, s.news2).length === 0
    const normalSince = back ? (open.normalSince ?? s.ts) : null
    if (back && s.ts - (normalSince as number) >= t.holdDownMs) return { state: { pending }, event: news2Event(s, 'cleared', base.level, current) }
    return { state: { open: news2Open(s, { ...base, normalSince, parameters }), pending } }
  }
  const target = escalatedNews2(pending, current, s, t)
  if (target === undefined || RANK[target] <= RANK[base.level]) {
    return { state: { open: news2Open(s, { ...base, normalSince: null, parameters }), pending } }
  }
  const escalated = news2Open(s, { ...base, level: target, normalSince: null, parameters })
  return { state: { open: escalated, pending }, event: news2Event(s, 'escalated', target, current) }
}

export interface ForecastSample {
  patientId: string
  /** The glucose value (mg/dL) the forecast was made from. */
  glucose: number
  /** The trend's rate, mg/dL per minute (undefined: no trend). */
  rate: number | undefined
  /** The predicted glucose in `minutes` (undefined: no trend). */
  forecast: number | undefined
  minutes: number
  /** The urgent-low threshold, mg/dL (trend.ts URGENT_LOW_SOON_MG_DL). */
  thresholdMgDl: number
  ts: number
  /** Event time since the previous glucose value (NO_PREVIOUS_SAMPLE for the first). */
  gapMs: number
}

function forecastEvent(s: ForecastSample, kind: AlertKind): AlertEvent {
  const message =
    kind === 'cleared'
      ? `${forecastText(s.patientId, s.glucose, s.rate, s.forecast, s.minutes)} (URGENT_LOW_SOON cleared)`
      : urgentLowSoonText(s.patientId, s.glucose, s.rate, s.forecast, s.minutes)
  const event: AlertEvent = {
    id: alertId(s.patientId, 'glucoseForecast', s.ts, kind),
    patientId: s.patientId,
    vital: 'glucoseForecast',
    kind,
    level: 'URGENT_LOW_SOON',
    ts: s.ts,
    message,
  }
  if (s.forecast !== undefined) event.value = Math.round(s.forecast * 10) / 10
  return event
}

function forecastOpen(s: ForecastSample, raisedTs: number, normalSince: number | null): OpenAlertState {
  const message =
    normalSince === null
      ? urgentLowSoonText(s.patientId, s.glucose, s.rate, s.forecast, s.minutes)
      : `${forecastText(s.patientId, s.glucose, s.rate, s.forecast, s.minutes)}, URGENT_LOW_SOON (now no low predicted)`
  const open: OpenAlertState = { level: 'URGENT_LOW_SOON', raisedTs, normalSince, ts: s.ts, message }
  if (s.forecast !== undefined) open.value = Math.round(s.forecast * 10) / 10
  return open
}

/**
 * One step of the urgent-low-soon alert, on a glucose value: raised when the forecast below the
 * threshold is confirmed (warningPersistenceMs; a CGM's value 5 minutes after the previous one confirms it at once), cleared once
 * the forecast has been at or above it (or absent) for the hold-down.
 */
export function stepForecastAlert(state: SubjectState, s: ForecastSample, t: AlertTiming): StepResult {
  const low = s.forecast !== undefined && s.forecast < s.thresholdMgDl
  const pending = nextPending(state.pending, { out: low, critical: false, ts: s.ts, gapMs: s.gapMs }, t)
  const open = state.open
  if (open === undefined) {
    if (!low || !isConfirmed(pending?.outSince ?? null, s.ts, t.warningPersistenceMs, s.gapMs)) return { state: { pending } }
    return { state: { open: forecastOpen(s, s.ts, null), pending }, event: forecastEvent(s, 'raised') }
  }
  if (low) return { state: { open: forecastOpen(s, open.raisedTs, null), pending } }
  const normalSince = open.normalSince ?? s.ts
  if (s.ts - normalSince >= t.holdDownMs) return { state: { pending }, event: forecastEvent(s, 'cleared') }
  return { state: { open: forecastOpen(s, open.raisedTs, normalSince), pending } }
}
