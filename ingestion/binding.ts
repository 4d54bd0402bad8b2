/**
 * Who may send which readings through the gateway (docs/SECURITY.md, Devices bound to their
 * patients), as pure decisions: whose a request's credential is, then whether every reading of
 * the request is that device's own, for the patient it was assigned to at the reading's time.
 */
import { patientAt, type DeviceRecord } from '../lib/identity/model.ts'
import type { RegistryReader } from '../lib/identity/registry.ts'
import type { LocatedReading } from './bodies.ts'
import type { DeviceTokens } from './device-tokens.ts'
import { MAX_FIELD_ERRORS, type FieldError } from './fhir.ts'

/** Why a request was refused, each counted: 401 for an unknown credential, 403 for the others. */
export const REFUSALS = ['unknown-credential', 'revoked', 'device-mismatch', 'not-assigned'] as const
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

/** Why the readings of a request are not its sender's to send: the reason counted, and each offending reading. */
export interface BindingRefusal {
  /** `device-mismatch` when any reading names another device, else `not-assigned`. */
  reason: 'device-mismatch' | 'not-assigned'
  /** The offending readings (the first MAX_FIELD_ERRORS), each pointed at by its bad field. */
  errors: FieldError[]
  /** How many readings offend, all of them counted. */
  count: number
}

/** The reason one reading is not `device`'s to send, with its error, or undefined when it is. */
export function readingRefusal(device: DeviceRecord, located: LocatedReading): { reason: BindingRefusal['reason']; error: FieldError } | undefined {
  const { reading, pointer, line } = located
  const at = line === undefined ? {} : { line }
  if (reading.deviceId !== device.id) {
    const detail = `deviceId "${reading.deviceId}" is not "${device.id}", the device this credential belongs to`
    return { reason: 'device-mismatch', error: { pointer: `${pointer}/deviceId`, detail, ...at } }
  }
  if (patientAt(device, reading.ts) === reading.patientId) return undefined
  // The patient the device was assigned to is not named: a credential does not learn patient ids.
  const detail = `device "${device.id}" was not assigned to patient "${reading.patientId}" at ${new Date(reading.ts).toISOString()}`
  return { reason: 'not-assigned', error: { pointer: `${pointer}/patientId`, detail, ...at } }
}

/**
 * Why `device` may not send `readings`, or undefined when it may send them all: a device sends
 * only its own readings (deviceId), each for the patient it was assigned to at the reading's `ts`.
 * (A development token may send any reading: it is not checked here.)
 */
export function bindingRefusal(device: DeviceRecord, readings: readonly LocatedReading[]): BindingRefusal | undefined {
  const errors: FieldError[] = []
  let count = 0
  let mismatch = false
  for (const located of readings) {
    const refusal = readingRefusal(device, located)
    if (refusal === undefined) continue
    count++
    mismatch ||= refusal.reason === 'device-mismatch'
    if (errors.length < MAX_FIELD_ERRORS) errors.push(refusal.error)
  }
  return count === 0 ? undefined : { reason: mismatch ? 'device-mismatch' : 'not-assigned', errors, count }
}
