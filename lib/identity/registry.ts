/**
 * The identity registry (docs/SECURITY.md): devices and users, kept in the compacted Kafka topic
 * `vitals.registry` and read into memory by every process that needs it.
 */
import { withTimeout } from '../backoff.ts'
import type { Config } from '../config.ts'
import { type IdentityTopics, identityTopics } from '../contract/topics.ts'
import { VigilError } from '../errors.ts'
import { kafkaUnreachable } from '../kafka.ts'
import type { Logger } from '../log.ts'
import { type AuditInput, auditEvent, auditKey } from './audit.ts'
import {
  type AuditAction,
  type DeviceKind,
  type DeviceRecord,
  type Principal,
  type RegistryRecord,
  type Role,
  type UserRecord,
  credentialHash,
  currentPatient,
  newDeviceCredential,
} from './model.ts'
import { type PartitionRecord, PartitionReader } from './partition-reader.ts'
import { hashPassword } from './passwords.ts'
import {
  assigned,
  checkNoUndo,
  checkPassword,
  checkReason,
  checkRole,
  checkUsername,
  disabled,
  newDevice,
  newUser,
  patientsOfMove,
  publicDevice,
  publicUser,
  revoked,
  withPassword,
  withRole,
} from './records.ts'
import { type HeldLock, RegistryLocks } from './registry-lock.ts'
import { RegistryState, deviceKey, userKey } from './registry-state.ts'
import { IdentityWriter, ensureIdentityTopics } from './writer.ts'

/** What a process that only checks credentials needs (the gateway, the serving layer's sign-in). */
export interface RegistryReader {
  device(id: string): DeviceRecord | undefined
  /** The device whose credential this is (looked up by its SHA-256), revoked or not. */
  deviceByCredential(credential: string): DeviceRecord | undefined
  devices(): DeviceRecord[]
  user(username: string): UserRecord | undefined
  users(): UserRecord[]
}

export interface Registry extends RegistryReader {
  /**
   * Registers a device and returns its credential (shown once; only its hash is kept). With a
   * patient, the device is assigned to it from `from` (default now).
   */
  addDevice(
    input: { id: string; kind: DeviceKind; patientId?: string | null; from?: number },
    actor: Principal,
    reason?: string | null,
  ): Promise<{ device: DeviceRecord; credential: string }>
  /** Ends the device's open assignment at `from` and, unless `patientId` is null, opens one to that patient. */
  assignDevice(id: string, patientId: string | null, from: number, actor: Principal, reason?: string | null): Promise<DeviceRecord>
  revokeDevice(id: string, actor: Principal, reason: string): Promise<DeviceRecord>
  addUser(input: { username: string; role: Role; password: string }, actor: Principal, reason?: string | null): Promise<UserRecord>
  setRole(username: string, role: Role, actor: Principal, reason?: string | null): Promise<UserRecord>
  setPassword(username: string, password: string, actor: Principal): Promise<UserRecord>
  disableUser(username: string, actor: Principal, reason?: string | null): Promise<UserRecord>
  /** Resolves once every write acknowledged anywhere before the call is applied here. */
  sync(): Promise<void>
  close(): Promise<void>
}

export interface RegistryDeps {
  log: Logger
  /** The Kafka client id, e.g. `vigil-gateway-registry`. */
  clientId: string
}

/** Longest a write waits to read its own record back, in milliseconds, after Kafka acknowledged it. */
const READ_BACK_TIMEOUT_MS = 30_000
/**
 * Longest one fetch of the follow loop waits when nothing new is written, in milliseconds. A
 * write is answered as soon as it lands (the broker returns a fetch at once when it has a record),
 * so this bounds only the idle poll, not the follow latency (docs/SECURITY.md, The identity registry).
 */
const FOLLOW_MAX_WAIT_MS = 200

/**
 * Opens the registry: creates its topic if needed, reads it to its end, then follows it. Only
 * `vitals.registry` is needed to read (the gateway's Kafka rights: docs/SECURITY.md); the audit
 * topic, the producer and the Redis lock connection come with the first write.
 */
export async function openRegistry(config: Config, deps: RegistryDeps): Promise<Registry> {
  const topics = identityTopics(config.topicPrefix)
  await ensureIdentityTopics(config, [topics.registry], deps.clientId)
  const registry = new KafkaRegistry(config, deps, topics)
  try {
    await registry.start()
  } catch (error) {
    await registry.close()
    throw error instanceof VigilError ? error : kafkaUnreachable(config, error)
  }
  return registry
}

/** A change to write: the new record and the audit events that explain it (one per patient it concerns). */
interface Change<R extends RegistryRecord> {
  record: R
  audits: AuditInput[]
}

/** The record a write changes: its key on the topic, and its name in messages ("device wear-7"). */
interface Target {
  key: string
  what: string
}

function deviceTarget(id: string): Target {
  return { key: deviceKey(id), what: `device ${id}` }
}

function userTarget(username: string): Target {
  return { key: userKey(username), what: `user ${username}` }
}

class KafkaRegistry implements Registry {
  readonly #state = new RegistryState()
  readonly #topics: IdentityTopics
  readonly #log: Logger
  readonly #config: Config
  readonly #clientId: string
  readonly #reader: PartitionReader
  /** Made by the first write (with the audit topic), so that a reader needs no Write right and no audit topic. */
  #writer: Promise<IdentityWriter> | undefined
  /** One writer per record across processes; connects to Redis on the first write. */
  readonly #locks: RegistryLocks
  /** The offset after the last record applied. */
  #applied = 0n
  #waiters: Array<{ offset: bigint; resolve: () => void }> = []
  /** Writes run one at a time: each checks its input against the state the previous one left. */
  #writes: Promise<unknown> = Promise.resolve()
  #closed = false

  constructor(config: Config, deps: RegistryDeps, topics: IdentityTopics) {
    this.#topics = topics
    this.#log = deps.log
    this.#config = config
    this.#clientId = deps.clientId
    this.#reader = new PartitionReader(config, { topic: topics.registry.name, clientId: deps.clientId, maxWaitMs: FOLLOW_MAX_WAIT_MS, log: deps.log })
    this.#locks = new RegistryLocks(config, deps.log, `${deps.clientId}-locks`)
  }

  /** The writer, made on first use with the audit topic it writes; a failure is tried again by the next write. */
  #writerNow(): Promise<IdentityWriter> {
    this.#writer ??= ensureIdentityTopics(this.#config, [this.#topics.audit], this.#clientId).then(
      () => new IdentityWriter(this.#config, this.#clientId, this.#log),
      (error: unknown) => {
        this.#writer = undefined
        throw error
      },
    )
    return this.#writer
  }

  /** Reads the topic to the end it had when called, then follows it. */
  async start(): Promise<void> {
    const end = await this.#reader.endOffset()
    await this.#reader.readTo(end, this.#apply, this.#reset)
    this.#reader.follow(this.#apply, this.#reset)
    this.#log.debug(`identity registry read: ${this.#state.devices().length} devices, ${this.#state.users().length} users`)
  }

  readonly #apply = (r: PartitionRecord): void => {
    const result = this.#state.apply(r.key, r.value)
    if (!result.ok) this.#log.warn(`${this.#topics.registry.name} offset ${r.offset} skipped: ${result.problem}`)
    this.#applied = r.offset + 1n
    if (this.#waiters.length > 0) {
      const ready = this.#waiters.filter((w) => w.offset < this.#applied)
      this.#waiters = this.#waiters.filter((w) => w.offset >= this.#applied)
      for (const w of ready) w.resolve()
    }
  }

  readonly #reset = (): void => {
    this.#state.clear()
    this.#applied = 0n
  }

  /** Resolves once the record at `offset` is applied here. */
  #appliedPast(offset: bigint): Promise<void> {
    if (offset < this.#applied) return Promise.resolve()
    const wait = new Promise<void>((resolve) => this.#waiters.push({ offset, resolve }))
    return withTimeout(
      wait,
      READ_BACK_TIMEOUT_MS,
      `Kafka acknowledged the change but it was not read back within ${READ_BACK_TIMEOUT_MS / 1000} s: check that Kafka is reachable, then list the devices or users to see it.`,
    ).catch((error: unknown) => {
      throw new VigilError('KAFKA_UNREACHABLE', (error as Error).message)
    })
  }

  device(id: string): DeviceRecord | undefined {
    return this.#state.device(id)
  }

  deviceByCredential(credential: string): DeviceRecord | undefined {
    return this.#state.deviceByCredential(credential)
  }

  devices(): DeviceRecord[] {
    return this.#state.devices()
  }

  user(username: string): UserRecord | undefined {
    return this.#state.user(username)
  }

  users(): UserRecord[] {
    return this.#state.users()
  }

  async sync(): Promise<void> {
    const end = await this.#reader.endOffset()
    if (end > 0n) await this.#appliedPast(end - 1n)
  }

  /**
   * Runs one write of `target`'s record. Within this process writes run one at a time; across
   * processes, the record's Redis lock (lib/identity/registry-lock.ts) keeps any other write of
   * it out from before this one reads the topic's end until its record is applied. Under the
   * lock it catches up with every write acknowledged anywhere before (so that a change made by
   * another process is seen here), builds the change from that state, writes the audit events
   * and the record in one send, and resolves with the record once applied here.
   */
  #write<R extends RegistryRecord>(target: Target, build: () => Change<R>): Promise<R> {
    const run = async (): Promise<R> => {
      if (this.#closed) throw new VigilError('STAGE_FAILED', 'The identity registry is closed: open it again.')
      const writer = await this.#writerNow()
      const lock = await this.#locks.acquire(target.key, target.what)
      try {
        return await this.#writeLocked(writer, lock, target, build)
      } finally {
        await lock.release()
      }
    }
    const result = this.#writes.then(run, run)
    this.#writes = result.catch(() => undefined)
    return result
  }

  async #writeLocked<R extends RegistryRecord>(writer: IdentityWriter, lock: HeldLock, target: Target, build: () => Change<R>): Promise<R> {
    await this.sync()
    const change = build()
    checkNoUndo(this.#current(change.record), change.record)
    const at = Date.now()
    const events = change.audits.map((a) => auditEvent({ ...a, at }))
    await lock.confirm()
    const offsets = await writer.send([
      ...events.map((e) => ({ topic: this.#topics.audit.name, key: auditKey(e), value: JSON.stringify(e) })),
      { topic: this.#topics.registry.name, key: target.key, value: JSON.stringify(change.record) },
    ])
    const offset = offsets.get(this.#topics.registry.name)
    if (offset === undefined) await this.sync()
    else await this.#appliedPast(offset)
    await this.#warnIfLockLost(lock, target)
    return change.record
  }

  /**
   * The lock has no fencing token: a write whose lock expired during its send (Redis or this
   * process stalled for longer than the lock lives) may have raced another write of the record.
   * Nothing can be undone then; the operator is told to check the record.
   */
  async #warnIfLockLost(lock: HeldLock, target: Target): Promise<void> {
    if (await lock.held()) return
    this.#log.warn(
      `the write lock of ${target.what} was not held to the end of its change (it expired, or Redis did not answer); another change to it may have run at the same time: check it with \`vigil ${target.key.startsWith('device:') ? 'device' : 'user'} list\``,
    )
  }

  /** The record as it stands of the one `next` replaces, if any. */
  #current(next: RegistryRecord): RegistryRecord | undefined {
    return next.type === 'device' ? this.#state.device(next.id) : this.#state.user(next.username)
  }

  #existingDevice(id: string): DeviceRecord {
    const d = this.#state.device(id)
    if (d === undefined) throw new VigilError('NOT_FOUND', `No device "${id}" is registered: check the id with \`vigil device list\`.`)
    return d
  }

  #existingUser(username: string): UserRecord {
    const u = this.#state.user(username)
    if (u === undefined) throw new VigilError('NOT_FOUND', `No user "${username}" exists: check the name with \`vigil user list\`.`)
    return u
  }

  async addDevice(
    input: { id: string; kind: DeviceKind; patientId?: string | null; from?: number },
    actor: Principal,
    reason?: string | null,
  ): Promise<{ device: DeviceRecord; credential: string }> {
    const credential = newDeviceCredential()
    const record = newDevice(input, credentialHash(credential), Date.now())
    const device = await this.#write(deviceTarget(record.id), () => {
      if (this.#state.device(record.id) !== undefined)
        throw new VigilError('CONFLICT', `Device "${record.id}" is already registered: choose another id, or move it with \`vigil device assign\`.`)
      const after = publicDevice(record)
      return {
        record,
        audits: [{ actor, action: 'device.add', patientId: currentPatient(record), subject: record.id, before: null, after, reason: reason ?? null }],
      }
    })
    return { device, credential }
  }

  assignDevice(id: string, patientId: string | null, from: number, actor: Principal, reason?: string | null): Promise<DeviceRecord> {
    return this.#write(deviceTarget(id), () => {
      const before = this.#existingDevice(id)
      const record = assigned(before, patientId, from)
      // A move is in the trail of each patient it concerns: the one the device leaves and the one it joins.
      const event = { actor, action: 'device.assign', subject: id, before: publicDevice(before), after: publicDevice(record), reason: reason ?? null } as const
      return { record, audits: patientsOfMove(before, patientId).map((p) => ({ ...event, patientId: p })) }
    })
  }

  async revokeDevice(id: string, actor: Principal, reason: string): Promise<DeviceRecord> {
    const why = checkReason(reason, true)
    return this.#write(deviceTarget(id), () => {
      const before = this.#existingDevice(id)
      const record = revoked(before, Date.now())
      return {
        record,
        audits: [
          {
            actor,
            action: 'device.revoke',
            patientId: currentPatient(before),
            subject: id,
            before: publicDevice(before),
            after: publicDevice(record),
            reason: why,
          },
        ],
      }
    })
  }

  async addUser(input: { username: string; role: Role; password: string }, actor: Principal, reason?: string | null): Promise<UserRecord> {
    checkUsername(input.username)
    checkRole(input.role)
    checkPassword(input.password)
    // Hashed before the lock is taken: scrypt takes a few hundred ms, the lock should not.
    const record = newUser({ username: input.username, role: input.role, passwordHash: await hashPassword(input.password) }, Date.now())
    return this.#write(userTarget(record.username), () => {
      if (this.#state.user(input.username) !== undefined)
        throw new VigilError(
          'CONFLICT',
          `User "${input.username}" already exists: choose another name, or change theirs with \`vigil user role\` or \`vigil user passwd\`.`,
        )
      return { record, audits: [this.#userAudit(actor, 'user.add', null, record, reason)] }
    })
  }

  setRole(username: string, role: Role, actor: Principal, reason?: string | null): Promise<UserRecord> {
    return this.#write(userTarget(username), () => {
      const before = this.#existingUser(username)
      const record = withRole(before, role, Date.now())
      return { record, audits: [this.#userAudit(actor, 'user.role', before, record, reason)] }
    })
  }

  async setPassword(username: string, password: string, actor: Principal): Promise<UserRecord> {
    checkPassword(password)
    const passwordHash = await hashPassword(password)
    return this.#write(userTarget(username), () => {
      const before = this.#existingUser(username)
      const record = withPassword(before, passwordHash, Date.now())
      return { record, audits: [this.#userAudit(actor, 'user.password', before, record, null)] }
    })
  }

  disableUser(username: string, actor: Principal, reason?: string | null): Promise<UserRecord> {
    return this.#write(userTarget(username), () => {
      const before = this.#existingUser(username)
      const record = disabled(before, Date.now())
      return { record, audits: [this.#userAudit(actor, 'user.disable', before, record, reason)] }
    })
  }

  #userAudit(actor: Principal, action: AuditAction, before: UserRecord | null, after: UserRecord, reason: string | null | undefined): AuditInput {
    return {
      actor,
      action,
      patientId: null,
      subject: after.username,
      before: before === null ? null : publicUser(before),
      after: publicUser(after),
      reason: reason ?? null,
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#writes
    await this.#reader.close()
    const writer = await this.#writer?.catch(() => undefined)
    await writer?.close()
    await this.#locks.close()
  }
}
