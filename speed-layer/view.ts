/**
 * The speed layer's Redis round trips (layout: lib/views.ts header, DESIGN.md Redis):
 * - `loadPatients`: one pipeline reading, for the patients of a batch, their band overrides (every
 *   batch, so an override applies from the next reading) and, for patients not cached yet, their
 *   latest hash, open alerts and device state; plus the epoch sentinel that reveals a wiped Redis.
 * - `writeBatch`: one MULTI/EXEC (atomic, one round trip) with everything a batch changed.
 * Every write is idempotent: series members are pure functions of the reading, hashes are
 * overwritten with full values, so replaying the same offsets leaves the same state.
 */
import { DEFAULT_BANDS, mergeBands, overridesFromHash, type Status } from '../lib/bands.ts'
import type { RedisKeys } from '../lib/keys.ts'
import type { RedisClient } from '../lib/redis.ts'
import type { AlertEvent, PatientState, Update, VitalState } from '../lib/views.ts'
import { VITALS, type Vital } from '../ingestion/schema.ts'
import type { VitalAlertState } from './alerts.ts'
import { parseDevice, serializeDevice } from './devices.ts'
import { emptyPatient, patientState, type BatchOutcome, type PatientRuntime } from './patients.ts'

/** The key holding the view's epoch: a random id set when the view is (re)built; gone after a wipe. */
export function epochKey(keys: RedisKeys): string {
  return keys.other('speed', 'epoch')
}

/** The latest hash's fields (DESIGN.md Redis): `<vital>`, `<vital>:status`, `<vital>:ts`, `status`, `news2`, `news2Risk`, `ts`. */
export function latestFields(state: PatientState): Record<string, string> {
  const h: Record<string, string> = {
    status: state.status,
    news2: String(state.news2.score),
    news2Risk: state.news2.risk,
    ts: String(state.ts),
  }
  for (const [vital, v] of Object.entries(state.vitals) as [Vital, VitalState][]) {
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
  /** Patients read in full (were not cached). */
  loaded: Map<string, PatientRuntime>
  /** Every requested patient's band table. */
  tables: Map<string, ReturnType<typeof mergeBands>>
}

/** One pipeline: the epoch, every patient's bands, and the full state of the `uncached` ones. */
export async function loadPatients(redis: RedisClient, keys: RedisKeys, ids: readonly string[], uncached: ReadonlySet<string>): Promise<Loaded> {
  const m = redis.multi()
  m.get(epochKey(keys))
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
  return { epoch, loaded, tables }
}

export interface PatientChange {
  runtime: PatientRuntime
  outcome: BatchOutcome
}

export interface WriteOptions {
  seriesWindowMs: number
  alertStreamMaxLen: number
}

/**
 * Everything one batch changed, as one MULTI/EXEC. `events` are the batch's alert events (also in
 * the outcomes) in order; they are appended to the alert stream and announced on `updates`.
 */
export async function writeBatch(redis: RedisClient, keys: RedisKeys, changes: readonly PatientChange[], events: readonly AlertEvent[], options: WriteOptions): Promise<void> {
  const m = redis.multi()
  const patients: { score: number; value: string }[] = []
  const updates: string[] = []
  for (const { runtime: p, outcome: o } of changes) {
    const id = p.patientId
    if (o.entries.length > 0) {
      // Each entry is serialised once, for the series and for the update (an `Update` of type 'readings').
      const members = o.entries.map((e) => ({ score: e.ts, value: JSON.stringify(e) }))
      m.zAdd(keys.series(id), members)
      m.zRemRangeByScore(keys.series(id), '-inf', `(${p.ts - options.seriesWindowMs}`)
      const state = patientState(p)
      m.hSet(keys.latest(id), latestFields(state))
      patients.push({ score: p.ts, value: id })
      updates.push(`{"type":"readings","patient":${JSON.stringify(state)},"entries":[${members.map((x) => x.value).join(',')}]}`)
    }
    if (o.changedDevices.size > 0) {
      const h: Record<string, string> = {}
      for (const d of o.changedDevices) {
        const dev = p.devices.get(d)
        if (dev !== undefined) h[d] = serializeDevice(dev)
      }
      m.hSet(keys.dedup(id), h)
    }
    if (o.changedAlerts.size > 0) {
      const set: Record<string, string> = {}
      const del: string[] = []
      for (const v of o.changedAlerts) {
        const a = p.alerts[v]
        if (a === undefined) del.push(v)
        else set[v] = JSON.stringify(a)
      }
      if (Object.keys(set).length > 0) m.hSet(keys.alertState(id), set)
      if (del.length > 0) m.hDel(keys.alertState(id), del)
    }
  }
  if (patients.length > 0) m.zAdd(keys.patients, patients, { GT: true })
  for (const e of events) {
    m.xAdd(keys.alerts, '*', { event: JSON.stringify(e) }, { TRIM: { strategy: 'MAXLEN', strategyModifier: '~', threshold: options.alertStreamMaxLen } })
    const update: Update = { type: 'alert', alert: e }
    updates.push(JSON.stringify(update))
  }
  for (const u of updates) m.publish(keys.updates, u)
  if (patients.length === 0 && updates.length === 0 && !changes.some((c) => c.outcome.changedDevices.size > 0 || c.outcome.changedAlerts.size > 0)) return
  await m.exec()
}

/** Device state changes of the stale check (no readings involved). */
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
