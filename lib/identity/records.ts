/**
 * The identity registry's changes as pure functions (docs/SECURITY.md, The identity registry):
 * each checks its input against the record as it stands and returns the new record, or throws a
 * VigilError naming the fix. lib/identity/registry.ts stores what they return; the views without
 * secrets (`publicDevice`, `publicUser`) are what the audit trail and the APIs show.
 */
import { idProblem } from '../contract/schema.ts'
import { VigilError } from '../errors.ts'
import {
  type Assignment,
  DEVICE_KINDS,
  type DeviceKind,
  type DeviceRecord,
  MAX_REASON_LENGTH,
  ROLES,
  type RegistryRecord,
  type Role,
  type UserRecord,
  currentPatient,
  usernameProblem,
} from './model.ts'
import { passwordProblem } from './passwords.ts'

/** A device without its credential hash: what the audit trail and the admin API show. */
type PublicDevice = Omit<DeviceRecord, 'credentialHash'>
/** A user without the password hash. */
type PublicUser = Omit<UserRecord, 'passwordHash'>

export function publicDevice(d: DeviceRecord): PublicDevice {
  return { type: d.type, id: d.id, kind: d.kind, createdAt: d.createdAt, revokedAt: d.revokedAt, assignments: d.assignments.map((a) => ({ ...a })) }
}

export function publicUser(u: UserRecord): PublicUser {
  return {
    type: u.type,
    username: u.username,
    role: u.role,
    credentialVersion: u.credentialVersion,
    disabled: u.disabled,
    createdAt: u.createdAt,
    updatedAt: u.updatedAt,
  }
}

function invalid(message: string): VigilError {
  return new VigilError('INPUT_INVALID', message)
}

/** The reason as kept: trimmed, null when empty; refused when `required` and missing, or too long. */
export function checkReason(reason: string | null | undefined, required = false): string | null {
  const r = reason?.trim() ?? ''
  if (r === '') {
    if (required) throw invalid('A reason is required: say why in a few words.')
    return null
  }
  if (r.length > MAX_REASON_LENGTH) throw invalid(`A reason has at most ${MAX_REASON_LENGTH} characters; got ${r.length}: shorten it.`)
  return r
}

function checkDeviceId(id: string): void {
  const problem = idProblem('deviceId', id)
  if (problem !== undefined) throw invalid(`${problem}.`)
}

function checkPatientId(id: string): void {
  const problem = idProblem('patientId', id)
  if (problem !== undefined) throw invalid(`${problem}.`)
}

function checkTime(ms: number, what: string): void {
  if (!Number.isSafeInteger(ms) || ms < 0) throw invalid(`${what} must be a time in epoch milliseconds; got ${ms}.`)
}

function checkKind(kind: string): asserts kind is DeviceKind {
  if (!(DEVICE_KINDS as readonly string[]).includes(kind)) throw invalid(`"${kind}" is not a device kind: use one of ${DEVICE_KINDS.join(', ')}.`)
}

export function checkRole(role: string): asserts role is Role {
  if (!(ROLES as readonly string[]).includes(role)) throw invalid(`"${role}" is not a role: use one of ${ROLES.join(', ')}.`)
}

export function checkUsername(name: string): void {
  const problem = usernameProblem(name)
  if (problem !== undefined) throw invalid(`${sentence(problem)}.`)
}

export function checkPassword(password: string): void {
  const problem = passwordProblem(password)
  if (problem !== undefined) throw invalid(`${sentence(problem)}.`)
}

/** A rule's text as the start of a sentence ("a password has..." -> "A password has..."). */
function sentence(text: string): string {
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}`
}

export function newDevice(input: { id: string; kind: string; patientId?: string | null; from?: number }, credentialHash: string, now: number): DeviceRecord {
  checkDeviceId(input.id)
  checkKind(input.kind)
  const from = input.from ?? now
  checkTime(from, 'The assignment start')
  const patientId = input.patientId ?? null
  if (patientId !== null) checkPatientId(patientId)
  return {
    type: 'device',
    id: input.id,
    kind: input.kind,
    credentialHash,
    createdAt: now,
    revokedAt: null,
    assignments: patientId === null ? [] : [{ patientId, from, to: null }],
  }
}

/**
 * The assignments with the open one (if any) ended at `at`. One that would end where it began
 * covered no instant ([from, from) is empty): it is dropped rather than kept as an empty period.
 */
function closeOpen(assignments: readonly Assignment[], at: number): Assignment[] {
  const out = assignments.map((a) => ({ ...a }))
  const last = out.at(-1)
  if (last === undefined || last.to !== null) return out
  if (at <= last.from) out.pop()
  else last.to = at
  return out
}

/**
 * The device assigned to `patientId` from `from` (or to nobody, with null): its open assignment
 * ends at `from`. Assignments never overlap, so `from` cannot be before the last one began (or,
 * when none is open, ended).
 */
export function assigned(device: DeviceRecord, patientId: string | null, from: number): DeviceRecord {
  checkTime(from, 'The assignment start')
  if (patientId !== null) checkPatientId(patientId)
  if (device.revokedAt !== null)
    throw new VigilError(
      'CONFLICT',
      `Device "${device.id}" was revoked at ${new Date(device.revokedAt).toISOString()}: register a new device with \`vigil device add\`.`,
    )
  const last = device.assignments.at(-1)
  const floor = last === undefined ? undefined : (last.to ?? last.from)
  if (floor !== undefined && from < floor)
    throw invalid(
      `Device "${device.id}" has an assignment ${last!.to === null ? 'open since' : 'that ended at'} ${new Date(floor).toISOString()}: assignments cannot overlap, give a start at or after it.`,
    )
  if (patientId === null && (last === undefined || last.to !== null))
    throw invalid(`Device "${device.id}" is assigned to no patient: there is no assignment to end.`)
  const assignments = closeOpen(device.assignments, from)
  if (patientId !== null) assignments.push({ patientId, from, to: null })
  return { ...device, assignments }
}

/**
 * The patients whose trails a move of the device to `to` (null: to no one) concerns, each getting
 * its own audit event: the one it leaves, then the one it joins; one when it stays with its
 * patient or had none.
 */
export function patientsOfMove(device: DeviceRecord, to: string | null): Array<string | null> {
  const from = currentPatient(device)
  const patients = [...new Set([from, to].filter((p) => p !== null))]
  // Never no event: assigned() refuses a move from no one to no one, but a change is always recorded.
  return patients.length > 0 ? patients : [null]
}

/** The device refused from `at` on: its open assignment ends then. */
export function revoked(device: DeviceRecord, at: number): DeviceRecord {
  if (device.revokedAt !== null)
    throw new VigilError('CONFLICT', `Device "${device.id}" was already revoked at ${new Date(device.revokedAt).toISOString()}: nothing to do.`)
  return { ...device, revokedAt: at, assignments: closeOpen(device.assignments, at) }
}

export function newUser(input: { username: string; role: string; passwordHash: string }, now: number): UserRecord {
  checkUsername(input.username)
  checkRole(input.role)
  return {
    type: 'user',
    username: input.username,
    role: input.role,
    passwordHash: input.passwordHash,
    credentialVersion: 1,
    disabled: false,
    createdAt: now,
    updatedAt: now,
  }
}

export function withRole(user: UserRecord, role: string, now: number): UserRecord {
  checkRole(role)
  return { ...user, role, updatedAt: now }
}

/** A new password: sessions opened with the old one end (credentialVersion moves on). */
export function withPassword(user: UserRecord, passwordHash: string, now: number): UserRecord {
  return { ...user, passwordHash, credentialVersion: user.credentialVersion + 1, updatedAt: now }
}

/** A user who can no longer sign in; their sessions end. The record stays, so the name keeps pointing at one person in the audit trail. */
export function disabled(user: UserRecord, now: number): UserRecord {
  if (user.disabled) throw new VigilError('CONFLICT', `User "${user.username}" is already disabled: nothing to do.`)
  return { ...user, disabled: true, credentialVersion: user.credentialVersion + 1, updatedAt: now }
}

/**
 * Refuses a change that would undo a revocation or a disable: neither has an undo (a new device or
 * user is added instead), so a record built from a version read before one of them must never
 * replace it. `current` is the record as it stands, undefined for a new one.
 */
export function checkNoUndo(current: RegistryRecord | undefined, next: RegistryRecord): void {
  if (current?.type === 'device' && next.type === 'device' && current.revokedAt !== null && next.revokedAt === null)
    throw new VigilError(
      'CONFLICT',
      `Device "${current.id}" was revoked at ${new Date(current.revokedAt).toISOString()}: register a new device with \`vigil device add\`.`,
    )
  if (current?.type === 'user' && next.type === 'user' && current.disabled && !next.disabled)
    throw new VigilError('CONFLICT', `User "${current.username}" is disabled and stays so: add a new user with \`vigil user add\`.`)
}
