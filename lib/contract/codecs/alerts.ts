/**
 * The codecs of the alert views (docs/CONTRACT.md, Redis):
 * - the `alerts` stream: each entry has one field, `event`, holding an `AlertEvent` as JSON
 *   (write-batch.lua appends the encoded event under that field name);
 * - the `{p}:alerts` hash: field vital, value the vital's `OpenAlertState` as JSON;
 * - the `alerts:acks` hash: field alert id, value `{by, at}` as JSON (the serving layer's own).
 */
import type { AlertEvent, OpenAlertState } from '../views.ts'

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
