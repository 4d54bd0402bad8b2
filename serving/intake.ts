/**
 * What comes in on the updates channel (docs/CONTRACT.md, Redis: `{type:"readings"|"alert"|"batch"}`
 * JSON), decoded with the channel's codec and checked before the push loop sees it, and the
 * readings-per-second window. Pure: no Redis, no Socket.io.
 */
import { decodeUpdate as parseUpdate } from '../lib/contract/codecs/updates.ts'
import { ALERT_KINDS, ALERT_LEVELS, UPDATE_TYPES, type AlertEvent, type BatchMeta, type PatientReadings } from '../lib/contract/views.ts'

/**
 * One message, as the push loop acts on it; `type` is its metric label ('unknown' for an unknown
 * type). `ignored`: an alert update without its id, a readings update without a list of patients,
 * or an unknown type: counted, then dropped. A readings update's parts without a patient id are
 * left out (`skipped` counts them).
 */
export type Intake =
  | { kind: 'malformed' }
  | ({ type: string } & (
      | { kind: 'ignored' }
      | { kind: 'readings'; patients: PatientReadings[]; skipped: number }
      | { kind: 'alert'; alert: AlertEvent; level: string; alertKind: string }
      | { kind: 'batch'; meta: BatchMeta | null }
    ))

/** A label value from a closed set, else 'unknown': a stray publisher must not grow a metric without bound. */
function label(known: readonly string[], value: unknown): string {
  return typeof value === 'string' && known.includes(value) ? value : 'unknown'
}

/** Decodes one message of the updates channel: the codec parses, the fields each kind needs are checked here. */
export function decodeUpdate(message: string): Intake {
  let update: unknown
  try {
    update = parseUpdate(message)
  } catch {
    return { kind: 'malformed' }
  }
  if (typeof update !== 'object' || update === null) return { kind: 'malformed' }
  const u = update as { type?: unknown; patients?: unknown; alert?: AlertEvent; meta?: BatchMeta | null }
  // One of the contract's update types, or undefined: a type the contract does not know is ignored.
  const known = UPDATE_TYPES.find((t) => t === u.type)
  const type = known ?? 'unknown'
  if (known === 'readings') {
    if (!Array.isArray(u.patients)) return { kind: 'ignored', type }
    const patients: PatientReadings[] = []
    for (const part of u.patients as Partial<PatientReadings>[]) {
      if (typeof part?.patient?.patientId !== 'string') continue
      patients.push({ patient: part.patient, entries: Array.isArray(part.entries) ? part.entries : [] })
    }
    return { kind: 'readings', type, patients, skipped: u.patients.length - patients.length }
  }
  if (known === 'alert') {
    if (typeof u.alert?.id !== 'string') return { kind: 'ignored', type }
    return { kind: 'alert', type, alert: u.alert, level: label(ALERT_LEVELS, u.alert.level), alertKind: label(ALERT_KINDS, u.alert.kind) }
  }
  if (known === 'batch') return { kind: 'batch', type, meta: u.meta as BatchMeta | null }
  return { kind: 'ignored', type }
}

/** Counts per second over a sliding window of whole seconds, one slot per second. */
export class RateWindow {
  private readonly slots: number[]
  private slot = 0

  constructor(seconds = 10) {
    this.slots = new Array<number>(seconds).fill(0)
  }

  add(n: number): void {
    this.slots[this.slot] = (this.slots[this.slot] ?? 0) + n
  }

  /** Called once a second: the mean per second over the window, then a fresh slot for the next second. */
  tick(): number {
    const rate = this.slots.reduce((a, b) => a + b, 0) / this.slots.length
    this.slot = (this.slot + 1) % this.slots.length
    this.slots[this.slot] = 0
    return rate
  }
}
