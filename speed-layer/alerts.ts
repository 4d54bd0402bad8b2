/**
 * Alerts are state, not noise (docs/CONTRACT.md, Classification). Per patient and vital an alert is
 * raised when the vital leaves NORMAL, escalated when it gets worse than the alert's level, and
 * cleared only once the vital has stayed NORMAL for the hold-down time, in event time. A value
 * jittering on a band edge therefore raises one alert, which stays open while the jitter lasts.
 * An open alert keeps its worst level until it clears (a CRITICAL that improves to WARNING stays
 * a CRITICAL alert), so the feed never shows an alert being quietly downgraded.
 *
 * Every event's id is a pure function of (patient, vital, event time, kind): replaying the same
 * readings yields the same ids, which is what lets consumers of `vitals.alerts` drop duplicates.
 */
import { STATUS_SEVERITY, type Status } from '../lib/bands.ts'
import { VITAL_UNITS, type Vital } from '../lib/contract/schema.ts'
import type { AlertEvent, AlertKind, AlertLevel } from '../lib/contract/views.ts'

export type OpenLevel = Exclude<Status, 'NORMAL'>

/** The state of one vital's open alert (absent when none is open). */
export interface VitalAlertState {
  /** The open alert's level: the worst status since it was raised. */
  level: OpenLevel
  /** Event time of the raise. */
  raisedTs: number
  /** Event time since which the vital has been NORMAL without interruption, or null while it is not. */
  normalSince: number | null
}

export interface VitalInput {
  patientId: string
  vital: Vital
  value: number
  status: Status
  /** Event time of the reading (ms). */
  ts: number
}

export function alertId(patientId: string, vital: Vital | 'device', ts: number, kind: AlertKind, extra = ''): string {
  return `${patientId}|${vital}${extra === '' ? '' : `:${extra}`}|${ts}|${kind}`
}

const NAMES: Readonly<Record<Vital, string>> = {
  heartRate: 'heart rate',
  spo2: 'SpO2',
  glucose: 'glucose',
  systolic: 'systolic BP',
  diastolic: 'diastolic BP',
  respRate: 'respiratory rate',
  temperature: 'temperature',
}

function vitalEvent(input: VitalInput, kind: AlertKind, level: AlertLevel): AlertEvent {
  const what = `${NAMES[input.vital]} ${input.value} ${VITAL_UNITS[input.vital]}`
  const message =
    kind === 'cleared'
      ? `${input.patientId}: ${what}, back to normal (alert ${level} cleared)`
      : `${input.patientId}: ${what} is ${level}${kind === 'escalated' ? ' (escalated)' : ''}`
  return {
    id: alertId(input.patientId, input.vital, input.ts, kind),
    patientId: input.patientId,
    vital: input.vital,
    kind,
    level,
    value: input.value,
    ts: input.ts,
    message,
  }
}

/**
 * One step of a vital's alert state machine. The caller feeds readings in event-time order
 * (older, out-of-order values are not fed: they never change "latest").
 */
export function stepVitalAlert(
  state: VitalAlertState | undefined,
  input: VitalInput,
  holdDownMs: number,
): { state: VitalAlertState | undefined; event?: AlertEvent } {
  const { status, ts } = input
  if (state === undefined) {
    if (status === 'NORMAL') return { state: undefined }
    return { state: { level: status, raisedTs: ts, normalSince: null }, event: vitalEvent(input, 'raised', status) }
  }
  if (status === 'NORMAL') {
    const normalSince = state.normalSince ?? ts
    if (ts - normalSince >= holdDownMs) return { state: undefined, event: vitalEvent(input, 'cleared', state.level) }
    return { state: state.normalSince === normalSince ? state : { ...state, normalSince } }
  }
  const worse = STATUS_SEVERITY[status] > STATUS_SEVERITY[state.level] || (STATUS_SEVERITY[status] === 2 && status !== state.level)
  if (worse) return { state: { level: status, raisedTs: state.raisedTs, normalSince: null }, event: vitalEvent(input, 'escalated', status) }
  return { state: state.normalSince === null ? state : { ...state, normalSince: null } }
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
    ts,
    message: `${patientId}: device ${deviceId} is sending data again`,
  }
}
