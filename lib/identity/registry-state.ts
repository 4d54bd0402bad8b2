/**
 * The identity registry in memory: the newest record of each key of `vitals.registry`
 * (`device:<id>`, `user:<name>`), as every process holds it after reading the topic
 * (lib/identity/registry.ts). Pure: the records go in one at a time, in offset order.
 */
import { z } from 'zod'
import { DEVICE_KINDS, type DeviceRecord, ROLES, type UserRecord, credentialHash } from './model.ts'

const time = z.number().int().nonnegative()

// Loose: a field a newer release adds is kept, so that this process's next write of the record does not drop it.

const deviceSchema = z.looseObject({
  type: z.literal('device'),
  id: z.string(),
  kind: z.enum(DEVICE_KINDS),
  credentialHash: z.string().regex(/^[0-9a-f]{64}$/),
  createdAt: time,
  revokedAt: time.nullable(),
  assignments: z.array(z.object({ patientId: z.string(), from: time, to: time.nullable() })),
})

const userSchema = z.looseObject({
  type: z.literal('user'),
  username: z.string(),
  role: z.enum(ROLES),
  passwordHash: z.string(),
  credentialVersion: z.number().int().positive(),
  disabled: z.boolean(),
  createdAt: time,
  updatedAt: time,
})

/** The record key of a device or user on `vitals.registry` (docs/CONTRACT.md, Topics). */
export function deviceKey(id: string): string {
  return `device:${id}`
}

export function userKey(username: string): string {
  return `user:${username}`
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}

/** What `apply` did with a record: kept it, deleted the key (a tombstone), or skipped it with the reason why. */
export type ApplyResult = { ok: true } | { ok: false; problem: string }

export class RegistryState {
  readonly #devices = new Map<string, DeviceRecord>()
  readonly #users = new Map<string, UserRecord>()
  /** SHA-256 of a credential -> the device's id: the gateway's lookup per request. */
  readonly #byCredential = new Map<string, string>()

  /**
   * Takes one record of the topic. A record that is not one Vigil wrote (bad JSON, wrong shape, a
   * key that does not match its record) is skipped and the key keeps its previous record: a
   * stray write must not unregister a device or let one in.
   */
  apply(key: string | undefined, value: Buffer | undefined): ApplyResult {
    if (key === undefined) return { ok: false, problem: 'a record without a key' }
    if (value === undefined) return this.#delete(key)
    let json: unknown
    try {
      json = JSON.parse(value.toString('utf8'))
    } catch {
      return { ok: false, problem: `${key}: the value is not JSON` }
    }
    if (key.startsWith('device:')) {
      const d = deviceSchema.safeParse(json)
      if (!d.success || deviceKey(d.data.id) !== key) return { ok: false, problem: `${key}: not a device record` }
      this.#setDevice(deepFreeze(d.data))
      return { ok: true }
    }
    if (key.startsWith('user:')) {
      const u = userSchema.safeParse(json)
      if (!u.success || userKey(u.data.username) !== key) return { ok: false, problem: `${key}: not a user record` }
      this.#users.set(u.data.username, deepFreeze(u.data))
      return { ok: true }
    }
    return { ok: false, problem: `${key}: an unknown key` }
  }

  #setDevice(d: DeviceRecord): void {
    const old = this.#devices.get(d.id)
    if (old !== undefined) this.#byCredential.delete(old.credentialHash)
    this.#devices.set(d.id, d)
    this.#byCredential.set(d.credentialHash, d.id)
  }

  #delete(key: string): ApplyResult {
    if (key.startsWith('device:')) {
      const old = this.#devices.get(key.slice('device:'.length))
      if (old !== undefined) {
        this.#byCredential.delete(old.credentialHash)
        this.#devices.delete(old.id)
      }
    } else if (key.startsWith('user:')) this.#users.delete(key.slice('user:'.length))
    return { ok: true }
  }

  /** Forgets everything (the topic was recreated and is read again from its start). */
  clear(): void {
    this.#devices.clear()
    this.#users.clear()
    this.#byCredential.clear()
  }

  device(id: string): DeviceRecord | undefined {
    return this.#devices.get(id)
  }

  deviceByCredential(credential: string): DeviceRecord | undefined {
    const id = this.#byCredential.get(credentialHash(credential))
    return id === undefined ? undefined : this.#devices.get(id)
  }

  devices(): DeviceRecord[] {
    return [...this.#devices.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  }

  user(username: string): UserRecord | undefined {
    return this.#users.get(username)
  }

  users(): UserRecord[] {
    return [...this.#users.values()].sort((a, b) => (a.username < b.username ? -1 : a.username > b.username ? 1 : 0))
  }
}
