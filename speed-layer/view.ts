/**
 * The speed layer's Redis round trips (layout: lib/contract/views.ts header, docs/CONTRACT.md Redis):
 * - `loadPatients`: one pipeline reading, for the patients of a batch, their band overrides (every
 *   batch, so an override applies from the next reading) and, for patients not cached yet, their
 *   latest hash, open alerts and device state; plus the epoch sentinel that reveals a wiped Redis.
 * - `writeBatch`: one call of write-batch.lua (atomic, one round trip) with everything a batch changed (a few calls of whole patients for a batch too large for one).
 * Every write is idempotent: series members are pure functions of the reading, hashes are
 * overwritten with full values, so replaying the same offsets leaves the same state.
 */
import { readFileSync } from 'node:fs'
import { DEFAULT_BANDS, mergeBands, overridesFromHash, type Status } from '../lib/bands.ts'
import type { RedisKeys } from '../lib/contract/keys.ts'
import type { RedisClient } from '../lib/redis.ts'
import type { AlertEvent, PatientState, Update, VitalState } from '../lib/contract/views.ts'
import { VITALS, type Vital } from '../lib/contract/schema.ts'
import type { VitalAlertState } from './alerts.ts'
import { parseDevice, serializeDevice } from './devices.ts'
import { emptyPatient, patientState, type BatchOutcome, type PatientRuntime } from './patients.ts'

/** The key holding the view's epoch: a random id set when the view is (re)built; gone after a wipe. */
export function epochKey(keys: RedisKeys): string {
  return keys.other('speed', 'epoch')
}

/**
 * Hash partition -> the epoch whose rebuild of that partition is done (its rewind committed). A
 * partition whose field does not hold the current epoch is rebuilt by whichever instance owns it,
 * so an instance killed between setting a new epoch and committing its rewinds leaves no hole.
 */
export function rebuiltKey(keys: RedisKeys): string {
  return keys.other('speed', 'rebuilt')
}

/** The latest hash's fields (docs/CONTRACT.md Redis): `<vital>`, `<vital>:status`, `<vital>:ts`, `status`, `news2`, `news2Risk`, `ts`. */
export function latestFields(state: PatientState, only?: ReadonlySet<Vital>): Record<string, string> {
  const h: Record<string, string> = {
    status: state.status,
    news2: String(state.news2.score),
    news2Risk: state.news2.risk,
    ts: String(state.ts),
  }
  for (const [vital, v] of Object.entries(state.vitals) as [Vital, VitalState][]) {
    if (only !== undefined && !only.has(vital)) continue
    h[vital] = String(v.value)
    h[`${vital}:status`] = v.status
    h[`${vital}:ts`] = String(v.ts)
  }
  return h
}

function runtimeFrom(patientId: string, latest: Record<string, string>, alerts: Record<string, string>, devices: Record<string, string>): PatientRuntime {
  const p = emptyPatient(patientId)
  p.ts = Number(latest.ts ?? 0) || 0
  for (const vital of VITALS) {
    const value = latest[vital]
    const status = latest[`${vital}:status`]
    const ts = latest[`${vital}:ts`]
    if (value !== undefined && status !== undefined && ts !== undefined) p.latest[vital] = { value: Number(value), status: status as Status, ts: Number(ts) }
    const alert = alerts[vital]
    if (alert !== undefined) p.alerts[vital] = JSON.parse(alert) as VitalAlertState
  }
  for (const [deviceId, text] of Object.entries(devices)) {
    const d = parseDevice(text)
    if (d !== undefined) p.devices.set(deviceId, d)
  }
  return p
}

export interface Loaded {
  /** The epoch stored in Redis (null: none, i.e. a fresh or wiped Redis). */
  epoch: string | null
  /** Per requested partition, the epoch its rebuild was done for (null: none). */
  rebuilt: (string | null)[]
  /** Patients read in full (were not cached). */
  loaded: Map<string, PatientRuntime>
  /** Every requested patient's band table. */
  tables: Map<string, ReturnType<typeof mergeBands>>
}

/** One pipeline: the epoch, the rebuild marks of `partitions`, every patient's bands, and the full state of the `uncached` ones. */
export async function loadPatients(redis: RedisClient, keys: RedisKeys, ids: readonly string[], uncached: ReadonlySet<string>, partitions: readonly number[] = []): Promise<Loaded> {
  const m = redis.multi()
  m.get(epochKey(keys))
  if (partitions.length > 0) m.hmGet(rebuiltKey(keys), partitions.map(String))
  for (const id of ids) {
    m.hGetAll(keys.bands(id))
    if (uncached.has(id)) {
      m.hGetAll(keys.latest(id))
      m.hGetAll(keys.alertState(id))
      m.hGetAll(keys.dedup(id))
    }
  }
  const replies = (await m.execAsPipeline()) as unknown[]
  let i = 0
  const epoch = (replies[i++] as string | null) ?? null
  const rebuilt = partitions.length > 0 ? (replies[i++] as (string | null)[]) : []
  const loaded = new Map<string, PatientRuntime>()
  const tables = new Map<string, ReturnType<typeof mergeBands>>()
  for (const id of ids) {
    const bands = replies[i++] as Record<string, string>
    let table = DEFAULT_BANDS
    try {
      table = mergeBands(overridesFromHash(bands))
    } catch {
      // A malformed override is ignored (defaults apply) rather than stopping the patient's classification;
      // `vigil patient set` only ever writes valid ones.
    }
    tables.set(id, table)
    if (uncached.has(id)) {
      const p = runtimeFrom(id, replies[i] as Record<string, string>, replies[i + 1] as Record<string, string>, replies[i + 2] as Record<string, string>)
      i += 3
      loaded.set(id, p)
    }
  }
  return { epoch, rebuilt, loaded, tables }
}

export interface PatientChange {
  runtime: PatientRuntime
  outcome: BatchOutcome
}

export interface WriteOptions {
  seriesWindowMs: number
  alertStreamMaxLen: number
}

/** How often (event time) a patient's series is trimmed to the window. */
const SERIES_TRIM_EVERY_MS = 60_000

/** The batch script (header in the file); EVAL caches it by digest on the server after the first call. */
const WRITE_BATCH_LUA = readFileSync(new URL('./write-batch.lua', import.meta.url), 'utf8')

/**
 * Everything one batch changed, as one call of write-batch.lua: one command, so one round trip
 * and one reply for the whole batch, atomic like a MULTI/EXEC, with far less client-side work
 * than thousands of queued commands. `events` are the batch's alert events in order; they are
 * appended to the alert stream and announced on `updates`.
 */
/**
 * Writes the batch against `epoch` (the view's epoch its state was read under). Returns false,
 * having written nothing more, when Redis no longer holds that epoch (wiped meanwhile).
 */
export async function writeBatch(
  redis: RedisClient,
  keys: RedisKeys,
  changes: readonly PatientChange[],
  events: readonly AlertEvent[],
  options: WriteOptions,
  epoch: string,
): Promise<boolean> {
  // The client spreads a command's arguments into one function call: past ~100 000 of them (a
  // batch touching a few thousand patients) that overflows the stack and the batch could never be
  // written. Large batches go in several calls of whole patients, events with the last; every
  // write is idempotent and the offsets are committed after the last call, so a crash between
  // calls replays the batch like any other.
  let from = 0
  while (from < changes.length) {
    let to = from
    let estimate = 0
    do {
      const o = changes[to]!.outcome
      estimate += 64 + 2 * (o.entries.length + o.changedDevices.size + o.changedAlerts.size)
      to++
    } while (to < changes.length && estimate < MAX_ARGS_PER_CALL)
    if (!(await writeBatchCall(redis, keys, changes.slice(from, to), to === changes.length ? events : [], options, epoch))) return false
    from = to
  }
  if (changes.length === 0) return writeBatchCall(redis, keys, changes, events, options, epoch)
  return true
}

/** Arguments of one call of write-batch.lua, roughly: well below what the client can spread. */
const MAX_ARGS_PER_CALL = 20_000

async function writeBatchCall(
  redis: RedisClient,
  keys: RedisKeys,
  changes: readonly PatientChange[],
  events: readonly AlertEvent[],
  options: WriteOptions,
  epoch: string,
): Promise<boolean> {
  const scriptKeys: string[] = []
  const args: string[] = [keys.updates, String(options.alertStreamMaxLen), '0', epoch]
  const patients: string[] = []
  let n = 0
  for (const { runtime: p, outcome: o } of changes) {
    if (o.entries.length === 0 && o.changedDevices.size === 0 && o.changedAlerts.size === 0) continue
    const id = p.patientId
    n++
    scriptKeys.push(keys.latest(id), keys.series(id), keys.dedup(id), keys.alertState(id))
    let update = ''
    if (o.entries.length > 0) {
      const state = patientState(p)
      // Only the vitals this batch changed: the others' fields already hold their values.
      const fields = Object.entries(latestFields(state, o.changedVitals))
      args.push(String(fields.length))
      for (const [f, v] of fields) args.push(f, v)
      // Each entry is serialised once, for the series and for the update (an `Update` of type 'readings').
      const members = o.entries.map((e) => JSON.stringify(e))
      args.push(String(members.length))
      o.entries.forEach((e, k) => args.push(String(e.ts), members[k] as string))
      // Trimmed once per minute of event time, not every batch: the series then spans between the
      // window and the window plus a minute, always at least the window.
      if (p.ts - p.trimmedAt >= SERIES_TRIM_EVERY_MS) {
        args.push(`(${p.ts - options.seriesWindowMs}`)
        p.trimmedAt = p.ts
      } else {
        args.push('')
      }
      patients.push(String(p.ts), id)
      update = `{"type":"readings","patient":${JSON.stringify(state)},"entries":[${members.join(',')}]}`
    } else {
      args.push('0', '0', '')
    }
    args.push(String(o.changedDevices.size))
    for (const d of o.changedDevices) {
      const dev = p.devices.get(d)
      args.push(d, dev === undefined ? '' : serializeDevice(dev))
    }
    const set: string[] = []
    const del: string[] = []
    for (const v of o.changedAlerts) {
      const a = p.alerts[v]
      if (a === undefined) del.push(v)
      else set.push(v, JSON.stringify(a))
    }
    args.push(String(set.length / 2), ...set, String(del.length), ...del, update)
  }
  if (n === 0 && events.length === 0) return true
  args[2] = String(n)
  args.push(String(events.length))
  for (const e of events) {
    const update: Update = { type: 'alert', alert: e }
    args.push(JSON.stringify(e), JSON.stringify(update))
  }
  args.push(String(patients.length / 2), ...patients)
  scriptKeys.push(keys.patients, keys.alerts, epochKey(keys))
  return (await redis.eval(WRITE_BATCH_LUA, { keys: scriptKeys, arguments: args })) !== -1
}

/** Device state changes of the stale check (no readings involved; rare, so a plain MULTI/EXEC). */
export async function writeDevices(redis: RedisClient, keys: RedisKeys, changes: ReadonlyArray<{ patientId: string; deviceId: string; text: string }>, events: readonly AlertEvent[], alertStreamMaxLen: number): Promise<void> {
  const m = redis.multi()
  for (const c of changes) m.hSet(keys.dedup(c.patientId), c.deviceId, c.text)
  for (const e of events) {
    m.xAdd(keys.alerts, '*', { event: JSON.stringify(e) }, { TRIM: { strategy: 'MAXLEN', strategyModifier: '~', threshold: alertStreamMaxLen } })
    const update: Update = { type: 'alert', alert: e }
    m.publish(keys.updates, JSON.stringify(update))
  }
  await m.exec()
}
