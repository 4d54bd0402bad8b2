/**
 * The gateway's error answers (docs/CONTRACT.md, The gateway): application/problem+json (RFC 9457)
 * with a `type` URN, a title, the status, a detail that says what to do, and for bad input an
 * `errors` array naming every bad field (the first MAX_FIELD_ERRORS: collecting stops there).
 */
import type { FastifyReply } from 'fastify'
import type { DeviceRecord } from '../lib/identity/model.ts'
import { span, type BindingLimits, type BindingRefusal } from './binding.ts'
import { MAX_FIELD_ERRORS, type FieldError } from './fhir.ts'

export const PROBLEM = 'application/problem+json'

export interface Problem {
  status: number
  title: string
  detail: string
  errors?: FieldError[]
  /** Extra members (RFC 9457 extensions). */
  [key: string]: unknown
}

/** Status to the slug of its type URN and its title; any other status answers as 500. */
const TITLES: Record<number, [string, string]> = {
  400: ['invalid-input', 'The request holds invalid input'],
  401: ['unauthorized', 'A valid device credential is required'],
  403: ['forbidden', 'The device may not send this'],
  404: ['not-found', 'No such endpoint'],
  405: ['method-not-allowed', 'Method not allowed'],
  413: ['body-too-large', 'The request body is too large'],
  415: ['unsupported-media-type', 'Unsupported content type'],
  503: ['kafka-unavailable', 'The broker is unavailable'],
  500: ['internal', 'Internal error'],
}

/** True for a status the gateway has a problem type for. */
export function hasProblemType(status: number): boolean {
  return status in TITLES
}

export function problem(status: number, detail: string, extra: Record<string, unknown> = {}): Problem {
  const [slug, title] = TITLES[status] ?? TITLES[500]!
  return { type: `urn:vigil:problem:${slug}`, title, status, detail, ...extra }
}

export function sendProblem(reply: FastifyReply, p: Problem): FastifyReply {
  return reply.code(p.status).type(PROBLEM).send(p)
}

/** The 400 answer naming the bad fields of `source` ("this request", "the Bundle"). */
export function invalidFields(errors: readonly FieldError[], source: string): Problem {
  const count = errors.length >= MAX_FIELD_ERRORS ? `${MAX_FIELD_ERRORS} or more` : String(errors.length)
  const detail = `${count} invalid field${errors.length === 1 ? '' : 's'}: nothing from ${source} was stored; fix them and send it again.`
  return problem(400, detail, { errors: errors.slice(0, MAX_FIELD_ERRORS) })
}

/** The 400 answer to a body that is not JSON; `what` names it ("The reading", "The Bundle"). */
export function unreadable(what: string, detail: string): Problem {
  return problem(400, `${what} could not be read: ${detail}.`, { errors: [{ pointer: '/', detail }] })
}

/** The 401 answer to a request without a Bearer credential (`missing`) or with one the gateway does not know. */
export function unknownCredential(missing: boolean): Problem {
  const detail = missing
    ? 'Send the device credential as "Authorization: Bearer <credential>": register the device with `vigil device add` (it prints the credential once) or, in development, set VIGIL_DEVICE_TOKENS.'
    : 'The credential is not one the gateway accepts: register the device with `vigil device add` and send the credential it prints, or, in development, set VIGIL_DEVICE_TOKENS.'
  return problem(401, detail, { reason: 'unknown-credential' })
}

/** The 403 answer to a revoked device. */
export function revokedDevice(device: DeviceRecord): Problem {
  const when = device.revokedAt === null ? '' : ` on ${new Date(device.revokedAt).toISOString()}`
  const detail = `Device "${device.id}" was revoked${when}: nothing was stored; register its replacement with \`vigil device add\` and send the new credential.`
  return problem(403, detail, { reason: 'revoked' })
}

/**
 * The 403 answer to readings that are not the device's to send, each named in `errors`; the
 * detail speaks of the request's reason (its gravest).
 */
export function notTheDevicesReadings(device: DeviceRecord, refusal: BindingRefusal, limits: BindingLimits): Problem {
  const count = refusal.count === 1 ? '1 reading is' : `${refusal.count} readings are`
  const detail =
    refusal.reason === 'clock'
      ? `${count} timed more than ${span(limits.maxClockAheadMs)} ahead of the gateway's clock: nothing from this request was stored; the clock of device "${device.id}" is ahead: set it (NTP) and send the readings again with their true times.`
      : `${count} not this device's to send: nothing from this request was stored; device "${device.id}" sends only readings with its own deviceId, for the patient it is assigned to at each reading's time, and for a patient it has left only within ${span(limits.reassignedUploadGraceMs)} of the handover (an admin assigns it with \`vigil device assign\`).`
  return problem(403, detail, { reason: refusal.reason, errors: refusal.errors })
}
