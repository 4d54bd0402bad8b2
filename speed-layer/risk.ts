/**
 * The experimental early-warning risk on the speed layer's hot path (docs/CLINICAL.md, Serving the
 * risk model): the model of `vigil model train` (lib/risk/model.ts) scored on the features of
 * lib/risk/features.ts, kept per patient from each reading as it is applied.
 *
 * - Each applied reading's vitals go into the patient's PatientFeatures (VitalWindow.add), the
 *   nurse's observations are the patient's newest (patients.ts keeps them).
 * - When a reading opens a new minute of the patient's event time, the minute just ended is closed:
 *   its risk, at the patient's newest time before that reading, becomes the minute's point of
 *   `recent` and one step of the RISK_HIGH alert. Minute closes depend on the readings' sequence
 *   alone, not on how the stream was cut into batches, so a replay decides the alert as the first
 *   run did (patients.ts: replay determinism), and the alert is stepped once a minute per patient,
 *   not once a reading.
 * - After each batch, the patient's current risk (at their newest event time, the minute so far) is
 *   the view's `risk`, with its three largest contributions and the last hour of minute points.
 *
 * RISK_HIGH (subject `risk`) uses the machinery of every alert (persistence.ts, alerts.ts): raised
 * once `risk >= threshold.raise` is confirmed with warningPersistenceMs (at once when the previous
 * minute close is that long ago), kept open while the risk stays at or above `threshold.clear`,
 * cleared once it has stayed below for the hold-down. NEWS2 and the bands stay primary: the risk
 * never touches another subject's alert.
 *
 * A restart rebuilds the features from what Redis holds (`restoreFeatures`): the `{p}:series`
 * entries (at least the 15 minutes the features look at: every reading that was fed), and each
 * vital's latest value and time (the `last` of a vital measured before the series window); the
 * minute points from the latest hash's `riskRecent`. A rebuild from Kafka replays the readings,
 * which feed the features by construction.
 */
import { FEATURE_NAMES, PatientFeatures, RISK_VITALS, describeFeature, MINUTE_MS, WINDOW_MIN } from '../lib/risk/features.ts'
import { riskLogit, sigmoid, topContributions, type RiskModel } from '../lib/risk/model.ts'
import type { AlertEvent, AlertKind, OpenAlertState, RiskContribution, RiskModelInfo, RiskState, SeriesEntry, VitalState } from '../lib/contract/views.ts'
import type { Consciousness, Vital } from '../lib/contract/schema.ts'
import { riskClearedText, riskNotServedText, riskText } from './alert-text.ts'
import { alertId, type AlertTiming, type StepResult, type SubjectState } from './alerts.ts'
import { isConfirmed, nextPending } from './persistence.ts'

/** Contributions shown with a risk: the dashboard's three. */
export const TOP_CONTRIBUTIONS = 3
/** Span of `recent`: the last hour of minute points. */
export const RECENT_MS = 3_600_000

/** The name of the model's own row in the model file's `metrics.test`. */
const MODEL_ROW = 'risk model'

/** The model the speed layer serves, with the thresholds it alerts at. */
export interface RiskServing {
  model: RiskModel
  threshold: { raise: number; clear: number }
}

/** The model's thresholds, or `raise` over them with `clear` in the file's ratio (hysteresis kept). */
export function riskServing(model: RiskModel, raise?: number): RiskServing {
  const t = model.file.threshold
  if (raise === undefined) return { model, threshold: { raise: t.raise, clear: t.clear } }
  return { model, threshold: { raise, clear: t.raise > 0 ? (raise * t.clear) / t.raise : raise } }
}

/** What `risk:model` says about the model served (RiskModelInfo, lib/contract/views.ts): the cohort in words gets the patient count and the days unless its words give them. */
export function riskModelInfo(s: RiskServing): RiskModelInfo {
  const f = s.model.file
  // The model's row of the comparison (`vigil model train` names it 'risk model' and lists it first).
  const row = f.metrics.test.find((m) => m.name === MODEL_ROW) ?? f.metrics.test[0]
  const days = Math.round((f.training.to - f.training.from) / 86_400_000)
  const patients = f.training.trainPatients + f.training.testPatients
  return {
    version: f.version,
    cohort: `${f.training.cohort}${/\bpatients\b/.test(f.training.cohort) ? '' : `, ${patients} patients`}${days > 0 && !/\bdays?\b/.test(f.training.cohort) ? `, ${days} day${days === 1 ? '' : 's'}` : ''}`,
    horizonMinutes: f.horizonMinutes,
    testAuroc: row?.auroc ?? null,
    testAurocWithinPatients: row?.withinPatientAuroc ?? null,
    threshold: { ...s.threshold },
  }
}

/** One patient's risk state in the speed layer: its features and the closed minutes' risks (oldest first). */
export interface PatientRisk {
  features: PatientFeatures
  /** One point per closed minute of the last hour: [event time it was computed at, risk]. */
  minutes: Array<readonly [ts: number, risk: number]>
}

export function emptyRisk(): PatientRisk {
  return { features: new PatientFeatures(), minutes: [] }
}

/** The observations the features see: the patient's newest (undefined: never observed). */
export interface Observed {
  onOxygen?: { value: boolean }
  consciousness?: { value: Consciousness }
}

/** A reading's vitals into the features (only the vitals the model looks at). */
export function feedVitals(r: PatientRisk, vitals: Readonly<Partial<Record<Vital, number>>>, ts: number): void {
  for (const v of RISK_VITALS) {
    const value = vitals[v]
    if (value !== undefined) r.features.vitals[v].add(value, ts)
  }
}

/** Scratch vectors of the hot path: one scoring at a time (the layer is single-threaded). */
const X = new Float64Array(FEATURE_NAMES.length)
const C = new Float64Array(FEATURE_NAMES.length)

/** The risk as of `t`, and (when `explain`) its largest contributions in words. */
export function scoreAt(s: RiskServing, r: PatientRisk, observed: Observed, t: number, explain: boolean): { risk: number; top: RiskContribution[] } {
  const obs = r.features.observations
  obs.onOxygen = observed.onOxygen?.value
  obs.consciousness = observed.consciousness?.value
  r.features.vector(t, X)
  const risk = sigmoid(riskLogit(s.model, X, explain ? C : undefined))
  if (!explain) return { risk, top: [] }
  const top = topContributions(X, C, TOP_CONTRIBUTIONS).map((c) => ({ ...c, text: describeFeature(c.feature, c.value) }))
  return { risk, top }
}

/** Keeps the points of the last hour before `ts`. */
function pruneMinutes(points: Array<readonly [number, number]>, ts: number): Array<readonly [number, number]> {
  let k = 0
  while (k < points.length && points[k]![0] <= ts - RECENT_MS) k++
  return k === 0 ? points : points.slice(k)
}

/**
 * Closes the patient's current minute when a reading at `nextTs` opens a later one: the risk at
 * `ts` (the patient's newest time, before the reading) becomes the minute's point, and its sample
 * for the alert is returned. Undefined when the reading stays in the minute (or there is no time yet).
 */
export function closeMinute(s: RiskServing, r: PatientRisk, observed: Observed, ts: number, nextTs: number): RiskSample | undefined {
  if (ts <= 0 || Math.floor(nextTs / MINUTE_MS) <= Math.floor(ts / MINUTE_MS)) return undefined
  const { risk, top } = scoreAt(s, r, observed, ts, true)
  const previous = r.minutes[r.minutes.length - 1]?.[0]
  r.minutes = pruneMinutes([...r.minutes, [ts, risk]], ts)
  return { risk, top, ts, previousTs: previous, model: s.model.version }
}

/** The view's risk at the patient's newest time `ts`: the minute so far, with the closed minutes of the last hour. */
export function currentRisk(s: RiskServing, r: PatientRisk, observed: Observed, ts: number): RiskState {
  const { risk, top } = scoreAt(s, r, observed, ts, true)
  const recent = pruneMinutes(r.minutes, ts)
  return { risk, ts, model: s.model.version, top, recent: [...recent, [ts, risk] as const] }
}

/**
 * The features and closed minutes of a patient loaded from Redis: the series entries (every reading
 * fed while they were in the window) and each vital's latest value and time; the minute points of
 * the stored `riskRecent` before the patient's current minute (its own point was provisional).
 */
export function restoreRisk(
  entries: readonly SeriesEntry[],
  latest: Readonly<Partial<Record<Vital, VitalState>>>,
  recent: ReadonlyArray<readonly [number, number]>,
  ts: number,
): PatientRisk {
  const r = emptyRisk()
  const from = (Math.floor(ts / MINUTE_MS) - WINDOW_MIN + 1) * MINUTE_MS
  for (const e of entries) if (e.ts >= from) feedVitals(r, e.vitals, e.ts)
  for (const v of RISK_VITALS) {
    const l = latest[v]
    const w = r.features.vitals[v]
    if (l !== undefined && l.ts >= w.lastTs) {
      w.lastValue = l.value
      w.lastTs = l.ts
    }
  }
  const minute = Math.floor(ts / MINUTE_MS)
  r.minutes = pruneMinutes(
    recent.filter(([t]) => Math.floor(t / MINUTE_MS) < minute),
    ts,
  )
  return r
}

/** One minute close as the RISK_HIGH alert sees it. */
export interface RiskSample {
  risk: number
  top: RiskContribution[]
  /** Event time of the close (the minute's newest reading). */
  ts: number
  /** Event time of the previous close (undefined: none in the last hour). */
  previousTs: number | undefined
  model: string
}

export interface RiskAlertInput extends RiskSample {
  patientId: string
  threshold: { raise: number; clear: number }
  /** persistence.ts gapSince of the previous close. */
  gapMs: number
}

function riskEvent(s: RiskAlertInput, kind: AlertKind): AlertEvent {
  return {
    id: alertId(s.patientId, 'risk', s.ts, kind),
    patientId: s.patientId,
    vital: 'risk',
    kind,
    level: 'RISK_HIGH',
    value: Number(s.risk.toFixed(4)),
    ts: s.ts,
    message: kind === 'cleared' ? riskClearedText(s.patientId, s.risk, s.model, s.threshold.clear) : riskText(s.patientId, s.risk, s.model, s.top),
  }
}

function riskOpen(s: RiskAlertInput, raisedTs: number, normalSince: number | null): OpenAlertState {
  const message = riskText(s.patientId, s.risk, s.model, s.top)
  return { level: 'RISK_HIGH', raisedTs, normalSince, value: Number(s.risk.toFixed(4)), ts: s.ts, message }
}

/**
 * A patient's RISK_HIGH state once the layer runs without a model (restarted without one, or with
 * one it refused): an open alert is cleared at the next reading (`ts`), saying why, rather than left
 * open with nothing to ever clear it; a pending run is dropped.
 */
export function riskNoLongerServed(p: { patientId: string; alerts: { risk?: OpenAlertState } }, ts: number): StepResult {
  const open = p.alerts.risk
  if (open === undefined) return { state: {} }
  const event: AlertEvent = {
    id: alertId(p.patientId, 'risk', ts, 'cleared'),
    patientId: p.patientId,
    vital: 'risk',
    kind: 'cleared',
    level: 'RISK_HIGH',
    ts,
    message: riskNotServedText(p.patientId),
  }
  return { state: {}, event }
}

/**
 * One step of the RISK_HIGH alert, on a minute close. Without an open alert the condition is
 * `risk >= raise`, confirmed as a WARNING is (warningPersistenceMs); with one it is `risk >= clear`,
 * and the alert clears once the risk has stayed below `clear` for the hold-down (hysteresis: a risk
 * hovering between the two thresholds neither raises nor clears).
 */
export function stepRiskAlert(state: SubjectState, s: RiskAlertInput, t: AlertTiming): StepResult {
  const open = state.open
  const high = s.risk >= (open === undefined ? s.threshold.raise : s.threshold.clear)
  const pending = nextPending(state.pending, { out: high, critical: false, ts: s.ts, gapMs: s.gapMs }, t)
  if (open === undefined) {
    if (!high || !isConfirmed(pending?.outSince ?? null, s.ts, t.warningPersistenceMs, s.gapMs)) return { state: { pending } }
    return { state: { open: riskOpen(s, s.ts, null), pending }, event: riskEvent(s, 'raised') }
  }
  if (high) return { state: { open: riskOpen(s, open.raisedTs, null), pending } }
  const normalSince = open.normalSince ?? s.ts
  if (s.ts - normalSince >= t.holdDownMs) return { state: { pending }, event: riskEvent(s, 'cleared') }
  return { state: { open: riskOpen(s, open.raisedTs, normalSince), pending } }
}
