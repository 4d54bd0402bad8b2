/**
 * The patient-level alerts (docs/CLINICAL.md, NEWS2 aggregate alerts; Glucose trend and "urgent low
 * soon"), with the same discipline as a vital's: raised once confirmed by the persistence rule
 * (persistence.ts), escalated when the level rises, cleared after the hold-down below every trigger.
 *
 * NEWS2 (subject `news2`), from the patient's News2State after each reading (Royal College of
 * Physicians, "National Early Warning Score (NEWS) 2", 2017, Chart 2 and Chart 3): an aggregate
 * of 7 or more is NEWS2_HIGH, 5-6 NEWS2_MEDIUM, a single parameter scoring 3 NEWS2_SINGLE_3. A partial
 * score is a lower bound and triggers too: a danger is never hidden because a parameter is
 * missing. NEWS2_HIGH is confirmed with criticalPersistenceMs, the others with warningPersistenceMs;
 * an open alert escalates to NEWS2_MEDIUM at once, to NEWS2_HIGH once that is confirmed.
 *
 * URGENT_LOW_SOON (subject `glucoseForecast`): the CGM trend predicts less than 55 mg/dL within 20
 * minutes (trend.ts forecastGlucose), evaluated on each glucose value.
 */
import type { AlertEvent, AlertKind, News2Parameter, News2State, OpenAlertState, PendingAlertState } from '../lib/contract/views.ts'
import { forecastText, news2ClearedText, news2Text, urgentLowSoonText, type News2AlertLevel } from './alert-text.ts'
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
  /** The effective cadence of the device of the reading that produced this state. */
  cadenceMs: number
  /** Parameters whose vital has an open CRITICAL alert (news2AlertLevel). */
  covered?: ReadonlySet<News2Parameter>
}

/** Without an open alert: the level the runs confirm (NEWS2_HIGH after criticalPersistenceMs, else the level capped at MEDIUM after warningPersistenceMs). */
function confirmedNews2(pending: PendingAlertState | undefined, level: News2AlertLevel | undefined, s: News2Sample, t: AlertTiming) {
  if (pending === undefined || level === undefined) return undefined
  if (level === 'NEWS2_HIGH' && isConfirmed(pending.criticalSince, s.ts, t.criticalPersistenceMs, s.cadenceMs)) return level
  if (isConfirmed(pending.outSince, s.ts, t.warningPersistenceMs, s.cadenceMs)) return level === 'NEWS2_HIGH' ? 'NEWS2_MEDIUM' : level
  return undefined
}

/** With an open alert: the level it may move to (MEDIUM at once, HIGH once confirmed). */
function escalatedNews2(pending: PendingAlertState | undefined, level: News2AlertLevel | undefined, s: News2Sample, t: AlertTiming) {
  if (pending === undefined || level === undefined) return undefined
  if (level === 'NEWS2_HIGH' && !isConfirmed(pending.criticalSince, s.ts, t.criticalPersistenceMs, s.cadenceMs)) return 'NEWS2_MEDIUM'
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

function news2Open(
  s: News2Sample,
  level: News2AlertLevel,
  current: News2AlertLevel | undefined,
  raisedTs: number,
  worst: number,
  normalSince: number | null,
): OpenAlertState {
  const score = Math.max(worst, s.news2.score)
  return { level, raisedTs, normalSince, value: s.news2.score, score, ts: s.ts, message: news2Text(s.patientId, s.news2, current, level) }
}

/** One step of the NEWS2 aggregate alert. */
export function stepNews2Alert(state: SubjectState, s: News2Sample, t: AlertTiming): StepResult {
  const current = news2AlertLevel(s.news2, s.covered)
  const pending = nextPending(state.pending, current !== undefined, current === 'NEWS2_HIGH', s.ts)
  const open = state.open
  if (open === undefined) {
    const level = confirmedNews2(pending, current, s, t)
    if (level === undefined) return { state: { pending } }
    return { state: { open: news2Open(s, level, current, s.ts, s.news2.score, null), pending }, event: news2Event(s, 'raised', level, current) }
  }
  const openLevel = open.level as News2AlertLevel
  if (current === undefined) {
    const normalSince = open.normalSince ?? s.ts
    if (s.ts - normalSince >= t.holdDownMs) return { state: { pending }, event: news2Event(s, 'cleared', openLevel, current) }
    return { state: { open: news2Open(s, openLevel, current, open.raisedTs, open.score ?? 0, normalSince), pending } }
  }
  const target = escalatedNews2(pending, current, s, t)
  if (target === undefined || RANK[target] <= RANK[openLevel]) {
    return { state: { open: news2Open(s, openLevel, current, open.raisedTs, open.score ?? 0, null), pending } }
  }
  return { state: { open: news2Open(s, target, current, open.raisedTs, open.score ?? 0, null), pending }, event: news2Event(s, 'escalated', target, current) }
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
  cadenceMs: number
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
 * threshold is confirmed (warningPersistenceMs; a CGM's cadence confirms it at once), cleared once
 * the forecast has been at or above it (or absent) for the hold-down.
 */
export function stepForecastAlert(state: SubjectState, s: ForecastSample, t: AlertTiming): StepResult {
  const low = s.forecast !== undefined && s.forecast < s.thresholdMgDl
  const pending = nextPending(state.pending, low, false, s.ts)
  const open = state.open
  if (open === undefined) {
    if (!low || !isConfirmed(pending?.outSince ?? null, s.ts, t.warningPersistenceMs, s.cadenceMs)) return { state: { pending } }
    return { state: { open: forecastOpen(s, s.ts, null), pending }, event: forecastEvent(s, 'raised') }
  }
  if (low) return { state: { open: forecastOpen(s, open.raisedTs, null), pending } }
  const normalSince = open.normalSince ?? s.ts
  if (s.ts - normalSince >= t.holdDownMs) return { state: { pending }, event: forecastEvent(s, 'cleared') }
  return { state: { open: forecastOpen(s, open.raisedTs, normalSince), pending } }
}
