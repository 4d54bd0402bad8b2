/**
 * Alerts are state, not noise (docs/CLINICAL.md, Alerts: persistence, escalation, text; docs/CONTRACT.md,
 * Classification). Per patient and vital, in event time:
 * - raised once the vital's departure from NORMAL is confirmed by the persistence rule
 *   (persistence.ts): WARNING after warningPersistenceMs, CRITICAL after criticalPersistenceMs, at
 *   once on a sample that follows the vital's previous one by at least that long (a first value, a
 *   spot check, a cuff); a critical run survives brief returns shorter than persistenceResetMs. A single
 *   artefact sample among a continuous source's readings raises nothing;
 * - escalated when it gets worse: a confirmed CRITICAL (from WARNING, or the other CRITICAL side),
 *   inside WARNING a NEWS2 parameter score above the alert's worst, or a change of side (low to
 *   high or back) at any level, at once, the alert being open already;
 * - cleared once the vital has stayed NORMAL for the hold-down time.
 * An open alert keeps its worst level and worst NEWS2 score (a CRITICAL that improves to WARNING
 * stays a CRITICAL alert: the feed never shows an alert quietly downgraded); its value, side, event
 * time and text follow the current reading.
 *
 * Every event's id is a pure function of (patient, subject, event time, kind): replaying the same
 * readings from the same stored state (open alerts and pending runs) yields the same ids, which is
 * what lets consumers of `vitals.alerts` drop duplicates.
 */
import type { Band, Status } from '../lib/bands.ts'
import type { Vital } from '../lib/contract/schema.ts'
import type { AlertEvent, AlertKind, AlertLevel, AlertSubject, OpenAlertState, PendingAlertState, Side } from '../lib/contract/views.ts'
import { noSignalText, signalBackText, vitalClearedText, vitalText, type VitalText } from './alert-text.ts'
import { isConfirmed, nextPending, type RunTiming } from './persistence.ts'

export type OpenLevel = Exclude<Status, 'NORMAL'>

/** The subjects with an open-alert state in `{p}:alerts` (a device's alerts live in its device state). */
export type PatientAlertSubject = Vital | 'news2' | 'glucoseForecast' | 'risk'

/** One subject's alert state: its open alert and its pending persistence runs (each absent when none). */
export interface SubjectState {
  open?: OpenAlertState
  pending?: PendingAlertState
}

export interface AlertTiming extends RunTiming {
  holdDownMs: number
}

export interface StepResult {
  state: SubjectState
  event?: AlertEvent
}

export function alertId(patientId: string, subject: AlertSubject, ts: number, kind: AlertKind, extra = ''): string {
  return `${patientId}|${subject}${extra === '' ? '' : `:${extra}`}|${ts}|${kind}`
}

/** Below the (first) NORMAL band of the patient's table: low; above it: high; undefined for a NORMAL value. */
export function sideOf(bands: readonly Band[], band: Band): Side | undefined {
  if (band.status === 'NORMAL') return undefined
  for (const b of bands) {
    if (b === band) return 'low'
    if (b.status === 'NORMAL') return 'high'
  }
  return 'high'
}

const isCritical = (s: Status | AlertLevel): boolean => s === 'CRITICAL_LOW' || s === 'CRITICAL_HIGH'

export interface VitalSample extends VitalText {
  /** Event time of the reading (ms). */
  ts: number
  /** Event time since the vital's previous value (persistence.ts gapSince; NO_PREVIOUS_SAMPLE for its first). */
  gapMs: number
}

/** The level the sample's runs confirm: its CRITICAL status after criticalPersistenceMs, WARNING after warningPersistenceMs. */
function confirmedLevel(pending: PendingAlertState | undefined, s: VitalSample, t: AlertTiming): OpenLevel | undefined {
  if (pending === undefined || s.status === 'NORMAL') return undefined
  if (isCritical(s.status) && isConfirmed(pending.criticalSince, s.ts, t.criticalPersistenceMs, s.gapMs)) return s.status
  if (isConfirmed(pending.outSince, s.ts, t.warningPersistenceMs, s.gapMs)) return 'WARNING'
  return undefined
}

function vitalEvent(s: VitalSample, kind: AlertKind, level: AlertLevel): AlertEvent {
  const message = kind === 'cleared' ? vitalClearedText(s, level) : `${vitalText(s, level)}${kind === 'escalated' ? ' (escalated)' : ''}`
  const event: AlertEvent = {
    id: alertId(s.patientId, s.vital, s.ts, kind),
    patientId: s.patientId,
    vital: s.vital,
    kind,
    level,
    value: s.value,
    ts: s.ts,
    message,
  }
  if (s.side !== undefined) event.side = s.side
  if (s.score !== undefined) event.score = s.score
  return event
}

/** The open alert after a sample: level and worst score as given, value, side, ts and text the sample's. */
function openState(s: VitalSample, level: AlertLevel, raisedTs: number, score: number | undefined, normalSince: number | null): OpenAlertState {
  const open: OpenAlertState = { level, raisedTs, normalSince, value: s.value, ts: s.ts, message: vitalText(s, level) }
  if (s.side !== undefined) open.side = s.side
  if (score !== undefined) open.score = score
  return open
}

const maxScore = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined ? b : b === undefined ? a : Math.max(a, b))

/** The level an open alert escalates to on a sample out of NORMAL, or undefined when the sample is no escalation. */
function escalation(open: OpenAlertState, s: VitalSample, confirmed: OpenLevel | undefined): AlertLevel | undefined {
  const worse = confirmed !== undefined && isCritical(confirmed) && confirmed !== open.level
  if (worse) return confirmed
  const sideChanged = open.side !== undefined && s.side !== undefined && s.side !== open.side
  const scoreRose = s.status === 'WARNING' && open.level === 'WARNING' && s.score !== undefined && s.score > (open.score ?? 0)
  return sideChanged || scoreRose ? open.level : undefined
}

/**
 * One step of a vital's alert state machine. The caller feeds the vital's values in event-time
 * order (an older, out-of-order value is not fed: it never changes "latest").
 */
export function stepVitalAlert(state: SubjectState, s: VitalSample, t: AlertTiming): StepResult {
  const pending = nextPending(state.pending, { out: s.status !== 'NORMAL', critical: isCritical(s.status), ts: s.ts, gapMs: s.gapMs }, t)
  const confirmed = confirmedLevel(pending, s, t)
  const open = state.open
  if (open === undefined) {
    if (confirmed === undefined) return { state: { pending } }
    return { state: { open: openState(s, confirmed, s.ts, s.score, null), pending }, event: vitalEvent(s, 'raised', confirmed) }
  }
  if (s.status === 'NORMAL') {
    const normalSince = open.normalSince ?? s.ts
    if (s.ts - normalSince >= t.holdDownMs) return { state: { pending }, event: vitalEvent(s, 'cleared', open.level) }
    return { state: { open: openState(s, open.level, open.raisedTs, open.score, normalSince), pending } }
  }
  const level = escalation(open, s, confirmed)
  const score = maxScore(open.score, s.score)
  if (level === undefined) return { state: { open: openState(s, open.level, open.raisedTs, score, null), pending } }
  return { state: { open: openState(s, level, open.raisedTs, score, null), pending }, event: vitalEvent(s, 'escalated', level) }
}

/** A device's no-signal fields (devices.ts DeviceState). */
export interface NoSignalState {
  /** Event time of the first reading of the current run with a no-signal field, or null. */
  noSignalSince: number | null
  /** Event time of the open NO_SIGNAL alert, or null. */
  noSignalTs: number | null
}

export interface NoSignalSample {
  patientId: string
  deviceId: string
  /** The reading's no-signal fields (lib/plausibility.ts NO_SIGNAL_VALUES, found by validate.ts); empty for a reading with a signal. */
  noSignal: readonly Vital[]
  ts: number
  /** Event time since the device's previous reading (NO_PREVIOUS_SAMPLE for its first). */
  gapMs: number
}

/**
 * A device's NO_SIGNAL alert (subject `device`): raised when its run of readings with a no-signal
 * field (heart rate or SpO2 0: probe off, lost perfusion) is confirmed with noSignalPersistenceMs,
 * cleared by its next reading without one. A sensor problem, not a clinical CRITICAL.
 */
export function stepNoSignal(state: NoSignalState, s: NoSignalSample, persistenceMs: number): { state: NoSignalState; event?: AlertEvent } {
  if (s.noSignal.length === 0) {
    if (state.noSignalTs === null) return { state: state.noSignalSince === null ? state : { noSignalSince: null, noSignalTs: null } }
    return { state: { noSignalSince: null, noSignalTs: null }, event: deviceEvent(s, 'cleared', signalBackText(s.patientId, s.deviceId)) }
  }
  const since = state.noSignalSince ?? s.ts
  if (state.noSignalTs !== null || !isConfirmed(since, s.ts, persistenceMs, s.gapMs)) {
    return { state: since === state.noSignalSince ? state : { noSignalSince: since, noSignalTs: state.noSignalTs } }
  }
  return { state: { noSignalSince: since, noSignalTs: s.ts }, event: deviceEvent(s, 'raised', noSignalText(s.patientId, s.deviceId, s.noSignal)) }
}

function deviceEvent(s: NoSignalSample, kind: AlertKind, message: string): AlertEvent {
  return {
    id: alertId(s.patientId, 'device', s.ts, kind, `${s.deviceId}:signal`),
    patientId: s.patientId,
    vital: 'device',
    kind,
    level: 'NO_SIGNAL',
    deviceId: s.deviceId,
    ts: s.ts,
    message,
  }
}

/** A device's stale threshold: `staleCadences` of its cadence, never below `staleMinMs`. */
export function staleThresholdMs(cadenceMs: number | null, staleCadences: number, staleMinMs: number): number {
  return Math.max(staleMinMs, cadenceMs === null ? 0 : Math.round(cadenceMs * staleCadences))
}

/** The stale-data alert of a device silent since `lastTs`; its event time is the moment it became stale. */
export function staleRaised(patientId: string, deviceId: string, lastTs: number, thresholdMs: number): AlertEvent {
  const ts = lastTs + thresholdMs
  return {
    id: alertId(patientId, 'device', ts, 'raised', deviceId),
    patientId,
    vital: 'device',
    kind: 'raised',
    level: 'STALE',
    deviceId,
    ts,
    message: `${patientId}: no data from device ${deviceId} for ${Math.round(thresholdMs / 1000)} s`,
  }
}

/** The device is heard from again at `ts`. */
export function staleCleared(patientId: string, deviceId: string, ts: number): AlertEvent {
  return {
    id: alertId(patientId, 'device', ts, 'cleared', deviceId),
    patientId,
    vital: 'device',
    kind: 'cleared',
    level: 'STALE',
    deviceId,
    ts,
    message: `${patientId}: device ${deviceId} is sending data again`,
  }
}
