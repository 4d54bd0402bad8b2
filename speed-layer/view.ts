/**
 * The speed layer's Redis round trips (layout: lib/contract/views.ts header, docs/CONTRACT.md Redis):
 * - `loadPatients`: one pipeline reading, for the patients of a batch, their band overrides (every
 *   batch, so an override applies from the next reading) and, for patients not cached yet, their
 *   latest hash, open alerts and device state; plus the epoch sentinel that reveals a wiped Redis.
 * - `writeBatch`: one call of write-batch.lua (atomic, one round trip) with everything a batch changed
 *   (a few calls of whole patients for a batch too large for one); the script is called by its
 *   digest (EVALSHA), its text sent again only when the server lost it (`LuaScript`).
 * Every value is encoded by the view's codec in lib/contract/codecs/ (one module per view).
 * Every write is idempotent: series members are pure functions of the reading, hashes are
 * overwritten with full values, so replaying the same offsets leaves the same state.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { ErrorReply } from 'redis'
import { DEFAULT_BANDS, mergeBands, overridesFromHash } from '../lib/bands.ts'
import type { RedisKeys } from '../lib/contract/keys.ts'
import type { RedisClient } from '../lib/redis.ts'
import type { AlertEvent } from '../lib/contract/views.ts'
import { decodeAssessments, decodeGlucoseRecent, decodeLatestTs, decodeLatestVitals, encodeGlucoseRecent, encodeLatest } from '../lib/contract/codecs/latest.ts'
import { encodeSeriesEntry } from '../lib/contract/codecs/series.ts'
import { ALERT_EVENT_FIELD, decodeAlertHash, encodeAlertEvent, encodeAlertState, encodePending, pendingField } from '../lib/contract/codecs/alerts.ts'
import { encodeAlertUpdate, encodeReadingsUpdate } from '../lib/contract/codecs/updates.ts'
import type { News2Parameter } from '../lib/contract/views.ts'
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

/**
 * A patient's runtime state from their latest hash (codec: lib/contract/codecs/latest.ts: vitals,
 * assessments, the glucose trend window), alert-state hash (open alerts and pending runs) and
 * device-state hash: everything the next reading is decided with.
 */
export function runtimeFrom(
  patientId: string,
  latest: Readonly<Record<string, string>>,
  alerts: Readonly<Record<string, string>>,
  devices: Readonly<Record<string, string>>,
): PatientRuntime {
  const p = emptyPatient(patientId)
  p.ts = decodeLatestTs(latest) ?? 0
  p.latest = decodeLatestVitals(latest, p.ts)
  Object.assign(p, decodeAssessments(latest, p.ts))
  p.glucoseRecent = decodeGlucoseRecent(latest)
  const { open, pending } = decodeAlertHash(alerts)
  p.alerts = open
  p.pending = pending
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
export async function loadPatients(
  redis: RedisClient,
  keys: RedisKeys,
  ids: readonly string[],
  uncached: ReadonlySet<string>,
  partitions: readonly number[] = [],
): Promise<Loaded> {
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
  /** The NEWS2 freshness windows the latest hash's NEWS2 state is computed with. */
  news2FreshnessMs: Readonly<Record<News2Parameter, number>>
}

/** How often (event time) a patient's series is trimmed to the window. */
const SERIES_TRIM_EVERY_MS = 60_000

/**
 * A Lua script registered once per server: called by its SHA1 digest (EVALSHA, a few bytes per
 * call instead of the whole text). A server that does not know the digest (first call, or its
 * script cache emptied by a restart, a failover or SCRIPT FLUSH) answers NOSCRIPT without running
 * anything, and the call is sent once more with the text (EVAL), which caches it again.
 */
export class LuaScript {
  readonly sha1: string

  constructor(readonly source: string) {
    this.sha1 = createHash('sha1').update(source).digest('hex')
  }

  async run(redis: RedisClient, options: { keys: string[]; arguments: string[] }): Promise<unknown> {
    try {
      return await redis.evalSha(this.sha1, options)
    } catch (error) {
      if (!(error instanceof ErrorReply) || !error.message.startsWith('NOSCRIPT')) throw error
      return await redis.eval(this.source, options)
    }
  }
}

/** The batch script (header in the file). */
export const WRITE_BATCH_SCRIPT = new LuaScript(readFileSync(new URL('./write-batch.lua', import.meta.url), 'utf8'))

/** Arguments of one call of write-batch.lua, roughly: well below what the client can spread. */
const MAX_ARGS_PER_CALL = 20_000

/**
 * Everything one batch changed, as calls of write-batch.lua: one command per call, so one round
 * trip and one reply, atomic like a MULTI/EXEC, with far less client-side work than thousands of
 * queued commands. `events` are the batch's alert events in order; they are appended to the alert
 * stream and announced on `updates`.
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
  const slices = callSlices(changes)
  for (const [k, slice] of slices.entries()) {
    const call = batchCall(keys, slice, k === slices.length - 1 ? events : [], options, epoch)
    if (call !== null && (await WRITE_BATCH_SCRIPT.run(redis, call)) === -1) return false
  }
  return true
}

/**
 * The changes cut into runs of whole patients, each small enough for one call (at least one run,
 * possibly empty, so a batch of events alone is written). The client spreads a command's
 * arguments into one function call: past ~100 000 of them (a batch touching a few thousand
 * patients) that overflows the stack and the batch could never be written. Every write is
 * idempotent and the offsets are committed after the last call, so a crash between calls
 * replays the batch like any other.
 */
export function callSlices(changes: readonly PatientChange[], maxArgs = MAX_ARGS_PER_CALL): (readonly PatientChange[])[] {
  const slices: (readonly PatientChange[])[] = []
  let from = 0
  while (from < changes.length) {
    let to = from
    let estimate = 0
    do {
      const o = changes[to]!.outcome
      // The patient-wide latest fields, each changed vital's three, two per entry and device, four per alert subject (open and pending).
      estimate += 64 + 6 * o.changedVitals.size + 2 * (o.entries.length + o.changedDevices.size) + 4 * o.changedAlerts.size
      to++
    } while (to < changes.length && estimate < maxArgs)
    slices.push(changes.slice(from, to))
    from = to
  }
  return slices.length === 0 ? [[]] : slices
}

/**
 * The KEYS and ARGV of one call of write-batch.lua (layout in its header), or null when there is
 * nothing to write. Marks the trimmed patients (`trimmedAt`), as the call will trim them.
 */
export function batchCall(
  keys: RedisKeys,
  changes: readonly PatientChange[],
  events: readonly AlertEvent[],
  options: WriteOptions,
  epoch: string,
): { keys: string[]; arguments: string[] } | null {
  const scriptKeys: string[] = []
  const args: string[] = [keys.updates, String(options.alertStreamMaxLen), '0', epoch]
  const patients: string[] = []
  let n = 0
  for (const { runtime: p, outcome: o } of changes) {
    if (o.entries.length === 0 && o.changedDevices.size === 0 && o.changedAlerts.size === 0) continue
    n++
    scriptKeys.push(keys.latest(p.patientId), keys.series(p.patientId), keys.dedup(p.patientId), keys.alertState(p.patientId))
    if (o.entries.length > 0) patients.push(String(p.ts), p.patientId)
    pushPatientArgs(args, p, o, options)
  }
  if (n === 0 && events.length === 0) return null
  args[2] = String(n)
  args.push(String(events.length))
  for (const e of events) {
    const event = encodeAlertEvent(e)
    args.push(event, encodeAlertUpdate(event))
  }
  args.push(String(patients.length / 2), ...patients)
  scriptKeys.push(keys.patients, keys.alerts, epochKey(keys))
  return { keys: scriptKeys, arguments: args }
}

/** One patient's part of ARGV: latest fields, series entries, trim bound, devices, alert states and pending runs, update. */
function pushPatientArgs(args: string[], p: PatientRuntime, o: BatchOutcome, options: WriteOptions): void {
  let update = ''
  if (o.entries.length > 0) {
    const state = patientState(p, options.news2FreshnessMs)
    // Only the vitals this batch changed: the others' fields already hold their values.
    const fields = Object.entries({ ...encodeLatest(state, o.changedVitals), ...encodeGlucoseRecent(p.glucoseRecent) })
    args.push(String(fields.length))
    for (const [f, v] of fields) args.push(f, v)
    // Each entry is serialised once, for the series and for the update (an `Update` of type 'readings').
    const members = o.entries.map(encodeSeriesEntry)
    args.push(String(members.length))
    o.entries.forEach((e, k) => {
      args.push(String(e.ts), members[k] as string)
    })
    // Trimmed once per minute of event time, not every batch: the series then spans between the
    // window and the window plus a minute, always at least the window.
    if (p.ts - p.trimmedAt >= SERIES_TRIM_EVERY_MS) {
      args.push(`(${p.ts - options.seriesWindowMs}`)
      p.trimmedAt = p.ts
    } else {
      args.push('')
    }
    update = encodeReadingsUpdate(state, members)
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
  for (const subject of o.changedAlerts) {
    const a = p.alerts[subject]
    if (a === undefined) del.push(subject)
    else set.push(subject, encodeAlertState(a))
    const runs = p.pending[subject]
    if (runs === undefined) del.push(pendingField(subject))
    else set.push(pendingField(subject), encodePending(runs))
  }
  args.push(String(set.length / 2), ...set, String(del.length), ...del, update)
}

/** Device state changes of the stale check (no readings involved; rare, so a plain MULTI/EXEC). */
export async function writeDevices(
  redis: RedisClient,
  keys: RedisKeys,
  changes: ReadonlyArray<{ patientId: string; deviceId: string; text: string }>,
  events: readonly AlertEvent[],
  alertStreamMaxLen: number,
): Promise<void> {
  const m = redis.multi()
  for (const c of changes) m.hSet(keys.dedup(c.patientId), c.deviceId, c.text)
  for (const e of events) {
    const event = encodeAlertEvent(e)
    m.xAdd(keys.alerts, '*', { [ALERT_EVENT_FIELD]: event }, { TRIM: { strategy: 'MAXLEN', strategyModifier: '~', threshold: alertStreamMaxLen } })
    m.publish(keys.updates, encodeAlertUpdate(event))
  }
  await m.exec()
}
