/**
 * The codecs of the alert views (docs/CONTRACT.md, Redis):
 * - the `alerts` stream: each entry has one field, `event`, holding an `AlertEvent` as JSON
 *   (write-global.lua appends the encoded event under that field name);
 * - the `{p}:alerts` hash: field `<subject>` (a vital, `news2`, `glucoseForecast` or `risk`), value the subject's
 *   `OpenAlertState` as JSON (a `news2` alert also with the `parameters` it waits for); field
 *   `<subject>:pending`, value its `PendingAlertState` as JSON (the persistence runs the speed layer
 *   decides with, with the first sample back of each; absent when none; a run stored without
 *   `inSince`/`belowCriticalSince` reads them as null);
 * - the `alerts:acks` hash: field alert id, value `{by, at}` as JSON (the serving layer's own).
 */
import { VITALS } from '../schema.ts'
import type { AlertEvent, AlertSubject, OpenAlertState, PendingAlertState } from '../views.ts'

/** The stream entry's one field. */
export const ALERT_EVENT_FIELD = 'event'

export function encodeAlertEvent(event: AlertEvent): string {
  return JSON.stringify(event)
}

/** A stream entry's fields, as node-redis's xAdd takes them. */
export function alertEntry(event: AlertEvent): Record<string, string> {
  return { [ALERT_EVENT_FIELD]: encodeAlertEvent(event) }
}

/** The event of a stream entry; null when it is missing, not JSON, or lacks its id or patient. */
export function decodeAlertEntry(message: Readonly<Record<string, string>>): AlertEvent | null {
  const raw = message[ALERT_EVENT_FIELD]
  if (raw === undefined) return null
  try {
    const a = JSON.parse(raw) as AlertEvent
    return typeof a.id === 'string' && typeof a.patientId === 'string' ? a : null
  } catch {
    return null
  }
}

export function encodeAlertState(state: OpenAlertState): string {
  return JSON.stringify(state)
}

/** Throws on a value that is not JSON: only the speed layer writes it. */
export function decodeAlertState(text: string): OpenAlertState {
  return JSON.parse(text) as OpenAlertState
}

/** The subjects whose alerts the `{p}:alerts` hash holds (a device's live in its device state). */
export type AlertHashSubject = Exclude<AlertSubject, 'device'>
export const ALERT_HASH_SUBJECTS: readonly AlertHashSubject[] = [...VITALS, 'news2', 'glucoseForecast', 'risk']

const PENDING_SUFFIX = ':pending'

/** The hash field of a subject's pending persistence runs. */
export function pendingField(subject: AlertHashSubject): string {
  return `${subject}${PENDING_SUFFIX}`
}

export function encodePending(state: PendingAlertState): string {
  return JSON.stringify(state)
}

/** A stored run's start, or null when missing or not a number. */
const since = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null)

/** The pending runs of a value; undefined when it is not JSON or holds no run. */
export function decodePending(text: string): PendingAlertState | undefined {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof raw !== 'object' || raw === null) return undefined
  const r = raw as Record<string, unknown>
  const state = {
    outSince: since(r.outSince),
    criticalSince: since(r.criticalSince),
    inSince: since(r.inSince),
    belowCriticalSince: since(r.belowCriticalSince),
  }
  return state.outSince === null && state.criticalSince === null ? undefined : state
}

/**
 * A whole `{p}:alerts` hash: the open alerts and the pending runs by subject. Unknown fields are
 * ignored; an open alert that is not JSON is dropped (only the speed layer writes the hash).
 */
export function decodeAlertHash(hash: Readonly<Record<string, string>>): {
  open: Partial<Record<AlertHashSubject, OpenAlertState>>
  pending: Partial<Record<AlertHashSubject, PendingAlertState>>
} {
  const open: Partial<Record<AlertHashSubject, OpenAlertState>> = {}
  const pending: Partial<Record<AlertHashSubject, PendingAlertState>> = {}
  for (const subject of ALERT_HASH_SUBJECTS) {
    const a = hash[subject]
    if (a !== undefined) {
      try {
        open[subject] = decodeAlertState(a)
      } catch {
        // Not JSON: no alert is open for this subject (the next reading decides afresh).
      }
    }
    const p = hash[pendingField(subject)]
    const runs = p === undefined ? undefined : decodePending(p)
    if (runs !== undefined) pending[subject] = runs
  }
  return { open, pending }
}

export interface AlertAck {
  by: string
  /** When it was acknowledged (epoch ms). */
  at: number
}

export function encodeAck(ack: AlertAck): string {
  return JSON.stringify(ack)
}

/** The acknowledgement, or undefined when the value is missing or not JSON (the alert shows as unacknowledged). */
export function decodeAck(raw: string | null | undefined): AlertAck | undefined {
  if (typeof raw !== 'string') return undefined
  try {
    const ack = JSON.parse(raw) as AlertAck
    return { by: String(ack.by), at: Number(ack.at) }
  } catch {
    return undefined
  }
}
