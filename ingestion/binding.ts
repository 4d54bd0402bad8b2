/**
 * Who may send which readings through the gateway (docs/SECURITY.md, Devices bound to their
 * patients), as pure decisions: whose a request's credential is, then whether every reading of
 * the request is that device's own, timed no further ahead of the gateway's clock than it allows,
 * for the patient it was assigned to at the reading's time, and, for a patient it has left, sent
 * within the grace after the handover.
 */
import { assignmentAt, type DeviceRecord } from '../lib/identity/model.ts'
import type { RegistryReader } from '../lib/identity/registry.ts'
import type { LocatedReading } from './bodies.ts'
import type { DeviceTokens } from './device-tokens.ts'
import { MAX_FIELD_ERRORS, type FieldError } from './fhir.ts'

/** Why a request was refused, each counted: 401 for an unknown credential, 403 for the others. */
export const REFUSALS = ['unknown-credential', 'revoked', 'device-mismatch', 'not-assigned', 'clock'] as const
export type Refusal = (typeof REFUSALS)[number]

/** Who sends a request: a registered device, bound to its patients, or a development token, bound to none. */
export type Sender = { kind: 'device'; device: DeviceRecord } | { kind: 'development' }

/** What a request's credential is worth. */
export type Identity =
  | { outcome: 'sender'; sender: Sender }
  /** No credential (`missing`), or one neither the registry nor VIGIL_DEVICE_TOKENS holds: 401. */
  | { outcome: 'unknown-credential'; missing: boolean }
  /** A registered device that was revoked: 403. */
  | { outcome: 'revoked'; device: DeviceRecord }
  /** The registry is not read yet (Kafka unreachable since start): 503, and the device retries. */
  | { outcome: 'registry-unavailable' }

/**
 * Whose `credential` is: a registered device first (so that a device registered while development
 * tokens are set is bound all the same), then a development token. `registry` is undefined until
 * the gateway has read it.
 */
export function identify(credential: string | undefined, tokens: DeviceTokens, registry: RegistryReader | undefined): Identity {
  if (credential === undefined) return { outcome: 'unknown-credential', missing: true }
  // The registry finds a device by the SHA-256 of its credential: how long the lookup takes says
  // nothing about a credential, since the caller cannot choose the hash it looks up.
  const device = registry?.deviceByCredential(credential)
  if (device !== undefined) return device.revokedAt === null ? { outcome: 'sender', sender: { kind: 'device', device } } : { outcome: 'revoked', device }
  if (tokens.accepts(credential)) return { outcome: 'sender', sender: { kind: 'development' } }
  if (registry === undefined) return { outcome: 'registry-unavailable' }
  return { outcome: 'unknown-credential', missing: false }
}

/**
 * How far the gateway trusts a device's clock and its buffer (its options, ingestion/config.ts).
 */
export interface BindingLimits {
  /** How far ahead of the gateway's clock a reading may be timed, ms. */
  maxClockAheadMs: number
  /** How long after an assignment ended the device may still send that patient's readings, ms. */
  reassignedUploadGraceMs: number
}

/** Why the readings of a request are not its sender's to send: the reason counted, and each offending reading. */
export interface BindingRefusal {
  /** The gravest reason among the offending readings (BINDING_REASONS). */
  reason: BindingReason
  /** The offending readings (the first MAX_FIELD_ERRORS), each pointed at by its bad field. */
  errors: FieldError[]
  /** How many readings offend, all of them counted. */
  count: number
}

/**
 * Why a reading is not its device's to send, gravest first: another device's reading, then a
 * reading for a patient the device may not write to, then a device clock running ahead (a fault,
 * not a trespass). A request is refused for the gravest reason among its readings.
 */
const BINDING_REASONS = ['device-mismatch', 'not-assigned', 'clock'] as const satisfies readonly Refusal[]
export type BindingReason = (typeof BINDING_REASONS)[number]

const HOUR_MS = 3_600_000
const DAY_MS = 24 * HOUR_MS

/** A span of time for a person, exact: "24 h", "5 min", "90 s", "250 ms". For a configured limit. */
export function span(ms: number): string {
  if (ms > 0 && ms % HOUR_MS === 0) return `${ms / HOUR_MS} h`
  if (ms > 0 && ms % 60_000 === 0) return `${ms / 60_000} min`
  if (ms > 0 && ms % 1_000 === 0) return `${ms / 1_000} s`
  return `${ms} ms`
}

/**
 * A measured span of time for a person: exact under an hour (near a limit of minutes, the excess
 * is what the reader needs), rounded beyond ("about 2.5 h", "about 3650 days"): a clock ten years
 * ahead reads as such, not as a twelve-digit count of milliseconds.
 */
export function measuredSpan(ms: number): string {
  if (ms < HOUR_MS || span(ms).endsWith(' h')) return span(ms)
  const [size, unit] = ms < DAY_MS ? [HOUR_MS, 'h'] : [DAY_MS, 'days']
  const value = ms / size
  return `about ${value < 10 ? value.toFixed(1) : Math.round(value)} ${unit}`
}

/**
 * Whether `device` may write a reading timed `ts` for `patientId` at `now`: it was assigned to
 * that patient at `ts`, and that assignment is still open or ended no more than the grace ago
 * (a device uploads the buffer it kept for the patient it has just left; a reassigned or stolen
 * device does not write into its past patients' records for ever).
 */
function mayWriteFor(device: DeviceRecord, patientId: string, ts: number, now: number, limits: BindingLimits): boolean {
  const assignment = assignmentAt(device, ts)
  if (assignment?.patientId !== patientId) return false
  return assignment.to === null || now - assignment.to <= limits.reassignedUploadGraceMs
}

/**
 * The reason one reading is not `device`'s to send at `now` (the gateway's clock, epoch ms), with
 * its error, or undefined when it is.
 */
export function readingRefusal(
  device: DeviceRecord,
  located: LocatedReading,
  limits: BindingLimits,
  now: number,
): { reason: BindingReason; error: FieldError } | undefined {
  const { reading, pointer, line } = located
  const at = line === undefined ? {} : { line }
  if (reading.deviceId !== device.id) {
    const detail = `deviceId "${reading.deviceId}" is not "${device.id}", the device this credential belongs to`
    return { reason: 'device-mismatch', error: { pointer: `${pointer}/deviceId`, detail, ...at } }
  }
  // Checked before the assignment, which a reading timed in the future would pass against the
  // device's open assignment. Refused here, the device hears at once that its clock is wrong;
  // stored, the reading would be set aside downstream (the speed layer's FUTURE_TS) where no
  // device looks, and kept in the lake under a date that has not come.
  const ahead = reading.ts - now
  if (ahead > limits.maxClockAheadMs) {
    const detail = `ts ${new Date(reading.ts).toISOString()} is ${measuredSpan(ahead)} ahead of the gateway's clock (${new Date(now).toISOString()}; at most ${span(limits.maxClockAheadMs)} allowed): the device's clock is ahead; set it (NTP) and send the readings again with their true times`
    return { reason: 'clock', error: { pointer: `${pointer}/ts`, detail, ...at } }
  }
  if (mayWriteFor(device, reading.patientId, reading.ts, now, limits)) return undefined
  // One detail whether the device was never assigned to the patient then or left it more than the
  // grace ago: the patients a device had are not confirmed to a credential that guesses their ids.
  const grace = span(limits.reassignedUploadGraceMs)
  const detail = `device "${device.id}" may not send readings for patient "${reading.patientId}" timed ${new Date(reading.ts).toISOString()}: it was not assigned to that patient then, or that assignment ended more than ${grace} ago (a device's readings for a patient it left are taken for ${grace} after the handover)`
  return { reason: 'not-assigned', error: { pointer: `${pointer}/patientId`, detail, ...at } }
}

/**
 * Why `device` may not send `readings` at `now` (the gateway's clock, epoch ms), or undefined when
 * it may send them all: a device sends only its own readings (deviceId), timed no more than
 * `maxClockAheadMs` ahead of `now`, each for the patient it was assigned to at the reading's `ts`
 * (any time from the assignment's start: a device uploads its buffer), and for a patient it has
 * left only within `reassignedUploadGraceMs` of the handover. (A development token may send any
 * reading: it is not checked here.)
 */
export function bindingRefusal(device: DeviceRecord, readings: readonly LocatedReading[], limits: BindingLimits, now: number): BindingRefusal | undefined {
  const errors: FieldError[] = []
  let count = 0
  let gravest: BindingReason | undefined
  for (const located of readings) {
    const refusal = readingRefusal(device, located, limits, now)
    if (refusal === undefined) continue
    count++
    if (gravest === undefined || BINDING_REASONS.indexOf(refusal.reason) < BINDING_REASONS.indexOf(gravest)) gravest = refusal.reason
    if (errors.length < MAX_FIELD_ERRORS) errors.push(refusal.error)
  }
  return gravest === undefined ? undefined : { reason: gravest, errors, count }
}
