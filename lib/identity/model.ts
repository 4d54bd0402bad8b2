/**
 * Who may do what (docs/SECURITY.md): the records of the identity registry (devices bound to their
 * patients, named users with roles), the principal a request acts as, and the audit event every
 * clinical or identity action leaves behind. Pure types and rules; the registry that stores them
 * is lib/identity/registry.ts, the audit trail lib/identity/audit.ts.
 */
import { createHash, randomBytes } from 'node:crypto'

/**
 * The roles, least to most privileged; each holds every right of the ones before it.
 * viewer: sees patients; clinician: also acknowledges alerts and sets a patient's SpO2 scale and
 * alert bands; admin: also manages devices and users.
 */
export const ROLES = ['viewer', 'clinician', 'admin'] as const
export type Role = (typeof ROLES)[number]

/** What a route asks for: no one (`public`) or at least a role. */
export type Requirement = 'public' | Role

/** True when `role` holds the rights of `required`. */
export function roleAllows(role: Role, required: Requirement): boolean {
  return required === 'public' || ROLES.indexOf(role) >= ROLES.indexOf(required)
}

/** The kinds of device the registry knows (the gateway treats them alike; the kind is for people). */
export const DEVICE_KINDS = ['wearable', 'cgm', 'cuff', 'bedside'] as const
export type DeviceKind = (typeof DEVICE_KINDS)[number]

/**
 * One period during which a device was assigned to a patient: from `from` (epoch ms, inclusive)
 * until `to` (exclusive), or open (`to` null) while it still is. A device's assignments never
 * overlap; the newest is last.
 */
export interface Assignment {
  patientId: string
  from: number
  to: number | null
}

export interface DeviceRecord {
  type: 'device'
  /** The device id readings carry (`deviceId`), under the reading schema's id policy. */
  id: string
  kind: DeviceKind
  /** SHA-256 (hex) of the device's credential; the credential itself is shown once and never stored. */
  credentialHash: string
  createdAt: number
  /** When the device was revoked (epoch ms), or null. A revoked device stays in the registry, refused. */
  revokedAt: number | null
  assignments: Assignment[]
}

export interface UserRecord {
  type: 'user'
  /** The sign-in name: 1-64 characters, no control characters, no leading or trailing space. */
  username: string
  role: Role
  /** scrypt hash of the password (lib/identity/passwords.ts), with its parameters and salt. */
  passwordHash: string
  /** Bumped by every password change and disable: sessions opened before it are refused. */
  credentialVersion: number
  disabled: boolean
  createdAt: number
  updatedAt: number
}

export type RegistryRecord = DeviceRecord | UserRecord

/** Who acts: a signed-in user, the bootstrap token (VIGIL_TOKEN), or an operator at the CLI. */
export interface Principal {
  /** The user name; `VIGIL_TOKEN` for the bootstrap token; `cli:<os user>@<host>` at the CLI. */
  user: string
  role: Role
  via: 'session' | 'token' | 'cli'
}

/** The principal of the bootstrap credential (VIGIL_TOKEN): an admin. */
export const TOKEN_PRINCIPAL: Principal = Object.freeze({ user: 'VIGIL_TOKEN', role: 'admin', via: 'token' })

/** Every action the audit trail records. */
export const AUDIT_ACTIONS = [
  'alert.acknowledge',
  'event.record',
  'patient.bands',
  'device.add',
  'device.assign',
  'device.revoke',
  'user.add',
  'user.role',
  'user.password',
  'user.disable',
  'user.unlock',
] as const
export type AuditAction = (typeof AUDIT_ACTIONS)[number]

/**
 * One entry of the audit trail (`vitals.audit`, docs/CONTRACT.md): who did what, when, to which
 * patient, the state before and after, and why. Never holds a credential or a password hash.
 */
export interface AuditEvent {
  v: 1
  /** A random UUID. */
  id: string
  /** When it was done, epoch ms. */
  at: number
  actor: Principal
  action: AuditAction
  /** The patient it concerns, or null (a user change). */
  patientId: string | null
  /** What it acted on: the alert id, the device id, the user name. */
  subject: string
  before: unknown
  after: unknown
  /** The free-text reason given, or null. */
  reason: string | null
}

/** Longest free-text reason kept, in characters. */
export const MAX_REASON_LENGTH = 500

/** Why a user name is not acceptable, or undefined when it is. */
export function usernameProblem(name: string): string | undefined {
  if (name.length === 0 || name.length > 64) return `a user name has 1 to 64 characters; got ${name.length}`
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused here
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return 'a user name holds no control characters'
  if (name.trim() !== name) return 'a user name neither starts nor ends with a space'
  // The audit trail's other actors: a user so named could pass for the bootstrap token or the CLI.
  if (name === TOKEN_PRINCIPAL.user || name.startsWith('cli:'))
    return `"${TOKEN_PRINCIPAL.user}" and names starting with "cli:" are reserved for the audit trail`
  return undefined
}

/** SHA-256 of `text` (UTF-8), as lowercase hex: how credentials, session ids and names are kept or keyed. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

/** SHA-256 (hex) of a device credential: the only form the registry keeps. */
export function credentialHash(credential: string): string {
  return sha256Hex(credential)
}

/**
 * The credential of an `Authorization: Bearer <credential>` header, or undefined for any other
 * header. The scheme name is case-insensitive (RFC 6750 section 2.1, RFC 9110 section 11.1).
 */
export function bearerToken(authorization: string | undefined): string | undefined {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '')
  return m === null ? undefined : m[1]!
}

/**
 * A new device credential: 32 random bytes (256 bits), base64url, behind a `vgd_` prefix that
 * secret scanners can match. High-entropy secrets need no slow hash: SHA-256 is enough.
 */
export function newDeviceCredential(): string {
  return `vgd_${randomBytes(32).toString('base64url')}`
}

/** The device's assignment that covers `ts` (epoch ms; from inclusive, to exclusive), or undefined. */
export function assignmentAt(device: DeviceRecord, ts: number): Assignment | undefined {
  return device.assignments.findLast((a) => a.from <= ts && (a.to === null || ts < a.to))
}

/** The patient `device` was assigned to at `ts` (epoch ms), or null. */
export function patientAt(device: DeviceRecord, ts: number): string | null {
  return assignmentAt(device, ts)?.patientId ?? null
}

/** The patient the device is assigned to now (its open assignment), or null. */
export function currentPatient(device: DeviceRecord): string | null {
  const last = device.assignments.at(-1)
  return last !== undefined && last.to === null ? last.patientId : null
}
