/**
 * The speed layer's Redis round trips (layout: lib/contract/views.ts header, docs/CONTRACT.md Redis):
 * - `loadPatients`: one round trip reading the epoch sentinel that reveals a wiped Redis, the bands
 *   version, the band overrides of the patients whose cached bands predate it, and the state of the
 *   patients not cached yet (latest hash, open alerts, device state).
 * - `writeBatch`: one round trip of script calls with everything a batch changed: one call of
 *   write-global.lua, then one of write-shard.lua per view shard touched (atomic, in one hash slot);
 *   each script is called by its digest (EVALSHA), its text sent again only when the server lost
 *   it (`LuaScript`).
 * The same code runs against one Redis and a Redis Cluster (lib/redis.ts): no transaction or
 * script call spans two hash slots, and keys of many slots are read with separate commands sent
 * at once (one round trip: the client pipelines what is issued in the same tick, per server).
 * Every value is encoded by the view's codec in lib/contract/codecs/ (one module per view).
 * Every write is idempotent: series members are pure functions of the reading, hashes are
 * overwritten with full values, so replaying the same offsets leaves the same state.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { ErrorReply } from 'redis'
import { DEFAULT_BANDS, mergeBands, overridesFromHash, type BandTable } from '../lib/bands.ts'
import { VIEW_SHARDS, viewShard, type RedisKeys } from '../lib/contract/keys.ts'
import type { RedisClient } from '../lib/redis.ts'
import type { AlertEvent } from '../lib/contract/views.ts'
import {
  decodeAssessments,
  decodeGlucoseRecent,
  decodeLatestTs,
  decodeLatestVitals,
  decodeRisk,
  encodeGlucoseRecent,
  encodeLatest,
} from '../lib/contract/codecs/latest.ts'
import { decodeSeriesEntries, encodeSeriesEntry } from '../lib/contract/codecs/series.ts'
import { ALERT_EVENT_FIELD, decodeAlertHash, encodeAlertEvent, encodeAlertState, encodePending, pendingField } from '../lib/contract/codecs/alerts.ts'
import { encodeAlertUpdate, encodePatientReadings, encodeReadingsUpdate } from '../lib/contract/codecs/updates.ts'
import type { News2Parameter } from '../lib/contract/views.ts'
import { parseDevice, serializeDevice } from './devices.ts'
import { emptyPatient, patientState, type BatchOutcome, type PatientRuntime } from './patients.ts'
import { restoreRisk } from './risk.ts'

/** The key holding the view's epoch: a random id set when the view is (re)built; gone after a wipe. */
export function epochKey(keys: RedisKeys): string {
  return keys.viewEpoch
}

/** Copies the view's epoch into every view shard (plain SETs sent at once: each key is in its own shard's slot). */
export async function setShardEpochs(redis: RedisClient, keys: RedisKeys, epoch: string): Promise<void> {
  await Promise.all(Array.from({ length: VIEW_SHARDS }, (_, shard) => redis.set(keys.shardEpoch(shard), epoch)))
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
 * device-state hash: everything the next reading is decided with. With the series members (read
 * while a risk model is served) and the served model's version, the risk model's features and
 * minute points too (risk.ts restoreRisk; the points only when the stored risk is that model's).
 */
export function runtimeFrom(
  patientId: string,
  latest: Readonly<Record<string, string>>,
  alerts: Readonly<Record<string, string>>,
  devices: Readonly<Record<string, string>>,
  series?: readonly string[],
  riskModel?: string,
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
  if (series !== undefined) {
    const stored = decodeRisk(latest, p.ts)
    const recent = stored !== undefined && stored.model === riskModel ? stored.recent : []
    p.riskFeatures = restoreRisk(decodeSeriesEntries(series), p.latest, recent, p.ts)
  }
  return p
}

export interface Loaded {
  /** The epoch stored in Redis (null: none, i.e. a fresh or wiped Redis). */
  epoch: string | null
  /** Per requested partition, the epoch its rebuild was done for (null: none). */
  rebuilt: (string | null)[]
  /** The bands version ('' when none was ever set): every band table in `tables` is at least that new. */
  bandsVersion: string
  /** Patients read in full (were not cached). */
  loaded: Map<string, PatientRuntime>
  /** The band table of every patient whose bands were read (the uncached ones and `bandsFor`). */
  tables: Map<string, BandTable>
}

/** The band table of a stored overrides hash; a malformed override is ignored (defaults apply). */
function tableOf(hash: Record<string, string>): BandTable {
  try {
    return mergeBands(overridesFromHash(hash))
  } catch {
    // Rather than stopping the patient's classification; `vigil patient set` only ever writes valid ones.
    return DEFAULT_BANDS
  }
}

/**
 * One round trip: the epoch, the rebuild marks of `partitions`, the bands version and the bands of
 * the patients in `bandsFor` or `uncached`, each its own command (their keys are in different hash
 * slots), and beside them one MULTI/EXEC per view shard with the full state of the `uncached`
 * patients in that shard.
 *
 * The bands read beside the version may predate it: on a Redis Cluster the version and each
 * patient's bands live on different servers, read in no fixed order, and a band change writes the
 * bands before it bumps the version (lib/band-store.ts). So when the version read differs from
 * `knownBandsVersion` (the one the caller read last; undefined: none), those bands are read again
 * once the version is known (a second round trip, only after a band change). Every table returned
 * is then at least as new as the version returned.
 *
 * A patient's three hashes are read in one transaction, so no write lands between them: an
 * instance that owned the patient before a rebalance may still have a batch's write on its way,
 * and a load torn by it (device state after the write, open alerts before it) would skip the
 * batch's readings as duplicates yet miss the alerts they raised, then raise them again under other
 * ids. The view's writes are atomic per shard (write-shard.lua), so a per-shard transaction reads a
 * state some sequence of whole writes left; each stays in one hash slot, as on a Redis Cluster.
 * `riskModel` (the version of the risk model served; undefined: none): the transaction also reads
 * each patient's series, from which the model's features are rebuilt (risk.ts restoreRisk);
 * without a model it is not read.
 */
export async function loadPatients(
  redis: RedisClient,
  keys: RedisKeys,
  ids: readonly string[],
  uncached: ReadonlySet<string>,
  partitions: readonly number[] = [],
  bandsFor: ReadonlySet<string> = new Set(),
  knownBandsVersion?: string,
  riskModel?: string,
): Promise<Loaded> {
  const withSeries = riskModel !== undefined
  const epoch = redis.get(epochKey(keys))
  const rebuilt = partitions.length > 0 ? redis.hmGet(rebuiltKey(keys), partitions.map(String)) : []
  const version = redis.get(keys.bandsVersion)
  const banded = ids.filter((id) => uncached.has(id) || bandsFor.has(id))
  const bands = banded.map((id) => redis.hGetAll(keys.bands(id)))
  const states = [
    ...byViewShard(
      ids.filter((id) => uncached.has(id)),
      (id) => id,
    ).values(),
  ].map(async (group) => {
    const t = redis.multi()
    for (const id of group) {
      t.hGetAll(keys.latest(id)).hGetAll(keys.alertState(id)).hGetAll(keys.dedup(id))
      if (withSeries) t.zRange(keys.series(id), 0, -1)
    }
    const replies = (await t.exec()) as unknown as (Record<string, string> | string[])[]
    const n = withSeries ? 4 : 3
    const hash = (i: number) => replies[i] as Record<string, string>
    return group.map((id, k) =>
      runtimeFrom(id, hash(n * k), hash(n * k + 1), hash(n * k + 2), withSeries ? (replies[n * k + 3] as string[]) : undefined, riskModel),
    )
  })
  const [current, marks, read, hashes, shards] = await Promise.all([epoch, rebuilt, version, Promise.all(bands), Promise.all(states)])
  const bandsVersion = read ?? ''
  const tables =
    banded.length > 0 && bandsVersion !== knownBandsVersion
      ? await loadBands(redis, keys, banded)
      : new Map(banded.map((id, k) => [id, tableOf(hashes[k] ?? {})]))
  const loaded = new Map<string, PatientRuntime>()
  for (const shard of shards) for (const p of shard) loaded.set(p.patientId, p)
  return { epoch: current ?? null, rebuilt: marks, bandsVersion, loaded, tables }
}

/** The band tables of `ids` (one round trip, a command each): for patients whose bands changed after the batch's load chose what to read. */
export async function loadBands(redis: RedisClient, keys: RedisKeys, ids: readonly string[]): Promise<Map<string, BandTable>> {
  const hashes = await Promise.all(ids.map((id) => redis.hGetAll(keys.bands(id))))
  return new Map(ids.map((id, k) => [id, tableOf(hashes[k] ?? {})]))
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

/** The per-shard and global scripts of a batch (headers in the files). */
export const WRITE_SHARD_SCRIPT = new LuaScript(readFileSync(new URL('./write-shard.lua', import.meta.url), 'utf8'))
export const WRITE_GLOBAL_SCRIPT = new LuaScript(readFileSync(new URL('./write-global.lua', import.meta.url), 'utf8'))

/**
 * Deletes the view's epoch if it still holds ARGV[1]: a shard refused a write for want of the
 * epoch (its data lost, e.g. a cluster master restarted empty) while the epoch key survived, so
 * the next batch finds no epoch and the whole view is rebuilt under a new one.
 */
const DROP_EPOCH_SCRIPT = new LuaScript("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0")

/** Deletes the view's epoch if it still is `epoch` (DROP_EPOCH_SCRIPT): the next batch or housekeeping pass rebuilds the whole view. */
export async function dropEpoch(redis: RedisClient, keys: RedisKeys, epoch: string): Promise<void> {
  await DROP_EPOCH_SCRIPT.run(redis, { keys: [epochKey(keys)], arguments: [epoch] })
}

/**
 * The view shards whose copy of the epoch is not `epoch` (one GET per shard, sent at once): on a
 * Redis Cluster, the shards of a master that restarted empty while the `{view}` slot's survived.
 */
export async function shardsWithoutEpoch(redis: RedisClient, keys: RedisKeys, epoch: string): Promise<number[]> {
  const copies = await Promise.all(Array.from({ length: VIEW_SHARDS }, (_, shard) => redis.get(keys.shardEpoch(shard))))
  return copies.flatMap((copy, shard) => (copy === epoch ? [] : [shard]))
}

/** Arguments of one call of write-shard.lua, roughly: well below what the client can spread. */
const MAX_ARGS_PER_CALL = 20_000

export interface ScriptCall {
  keys: string[]
  arguments: string[]
}

/** The calls of one batch: one or more per view shard it touched, then one for what is not per patient. */
export interface BatchCalls {
  shards: ScriptCall[]
  global: ScriptCall | null
}

/**
 * Sends the calls of one batch (`batchCalls`) in one round trip, the one of write-global.lua (the
 * alert events, the patients' index, the `readings` updates) first, then the calls of
 * write-shard.lua (one per view shard touched, a few for a shard with very many changes); the next
 * batch is processed meanwhile. All are issued in the same tick, so they leave on the connection
 * in that order, right after the batch was computed, and the next batch's load, issued later,
 * reads what they wrote; one Redis runs them in that order. A shard that holds the batch therefore
 * means the global call landed too: a process killed, or a connection lost, mid-write leaves a
 * batch whose offsets are not committed and whose replay finds in each shard either nothing of it
 * (applied and announced again, its events under the same ids: consumers of the stream key on
 * them, serving/view.ts lists each once) or all of it, announced already. The other order lost
 * what only the global call writes (chaos seed 2104136300: the replay found the readings applied
 * and announced nothing, which left a patient with one reading out of the index; an alert raised
 * in that batch would have been missing from the alert stream). Waiting for the global call's
 * answer before sending the shards' lengthened the window in which an instance that lost its
 * partitions in a rebalance still writes them (chaos seed 3703390784: latest values taken back,
 * alerts raised again). On a Redis Cluster the calls go to several masters and nothing orders
 * them; docs/ARCHITECTURE.md, Redis Cluster, says what that leaves.
 * A retry sends the same calls again (they are built once: building them records what the
 * patients' hashes will hold). Each call is atomic like a MULTI/EXEC and stays in one hash slot.
 * `events` are the batch's alert events in order; they are appended to the alert stream and
 * announced on `updates` after the batch's `readings` update.
 * Writes the batch against `epoch` (the view's epoch its state was read under). Returns false when
 * Redis no longer holds that epoch (wiped meanwhile) globally or in some shard: the caller rebuilds
 * and processes the batch again (what the other calls wrote is written again, idempotently).
 */
export async function writeBatch(redis: RedisClient, keys: RedisKeys, calls: BatchCalls, epoch: string): Promise<boolean> {
  const global = calls.global === null ? Promise.resolve(0) : WRITE_GLOBAL_SCRIPT.run(redis, calls.global)
  const shards = calls.shards.map((c) => WRITE_SHARD_SCRIPT.run(redis, c))
  const [globalReply, ...replies] = await Promise.all([global, ...shards])
  if (replies.some((r) => r === -1)) {
    await dropEpoch(redis, keys, epoch)
    return false
  }
  return globalReply !== -1
}

/**
 * The changes cut into runs of whole patients, each small enough for one call (at least one run,
 * possibly empty). The client spreads a command's arguments into one function call: past ~100 000
 * of them that overflows the stack and the batch could never be written. Every write is
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

/** `items` grouped by the view shard of their patient, in first-seen order. */
function byViewShard<T>(items: readonly T[], patientOf: (item: T) => string): Map<number, T[]> {
  const groups = new Map<number, T[]>()
  for (const item of items) {
    const shard = viewShard(patientOf(item))
    const group = groups.get(shard)
    if (group === undefined) groups.set(shard, [item])
    else group.push(item)
  }
  return groups
}

/** Whether applying a batch's readings to a patient changed anything the view holds. */
function changedView(o: BatchOutcome): boolean {
  return o.entries.length > 0 || o.changedDevices.size > 0 || o.changedAlerts.size > 0
}

/**
 * The KEYS and ARGV of the calls of one batch (layouts in the scripts' headers): the changed
 * patients grouped by view shard, then the global call (null when there is nothing to write at all).
 * Records in each patient's runtime when the calls trim its series (`trimmedAt`): build them once
 * per batch, and send them (again, on a retry) as they are.
 */
export function batchCalls(
  keys: RedisKeys,
  changes: readonly PatientChange[],
  events: readonly AlertEvent[],
  options: WriteOptions,
  epoch: string,
): BatchCalls {
  const byShard = byViewShard(
    changes.filter((c) => changedView(c.outcome)),
    (c) => c.runtime.patientId,
  )
  const shards: ScriptCall[] = []
  const updates: string[] = []
  const newest: string[] = []
  for (const [shard, group] of byShard) {
    for (const slice of callSlices(group)) {
      const call: ScriptCall = { keys: [keys.shardEpoch(shard)], arguments: [epoch, String(slice.length)] }
      for (const { runtime: p, outcome: o } of slice) {
        call.keys.push(keys.latest(p.patientId), keys.series(p.patientId), keys.dedup(p.patientId), keys.alertState(p.patientId))
        const update = pushPatientArgs(call.arguments, p, o, options)
        if (update !== undefined) {
          updates.push(update)
          newest.push(String(p.ts), p.patientId)
        }
      }
      shards.push(call)
    }
  }
  if (shards.length === 0 && events.length === 0) return { shards, global: null }
  const messages = readingsMessages(updates)
  const args = [epoch, keys.updates, String(options.alertStreamMaxLen), String(messages.length), ...messages, String(events.length)]
  for (const e of events) {
    const event = encodeAlertEvent(e)
    args.push(event, encodeAlertUpdate(event))
  }
  args.push(String(newest.length / 2), ...newest)
  return { shards, global: { keys: [epochKey(keys), keys.patients, keys.alerts], arguments: args } }
}

/**
 * A message on `updates` holds at most this many bytes of patients' parts (a few hundred
 * patients): a drain at 10,000 patients makes batches whose one update would be ~14 MB, past
 * Redis's default output buffer limits for a pub/sub client (8 MB for 60 s, 32 MB), which would
 * disconnect the serving layer's subscriber.
 */
const MAX_UPDATE_BYTES = 1024 * 1024

/** The batch's `readings` updates: its patients' parts, as few messages as MAX_UPDATE_BYTES allows. */
export function readingsMessages(parts: readonly string[], maxBytes = MAX_UPDATE_BYTES): string[] {
  const out: string[] = []
  let from = 0
  let bytes = 0
  parts.forEach((part, k) => {
    if (k > from && bytes + part.length > maxBytes) {
      out.push(encodeReadingsUpdate(parts.slice(from, k)))
      from = k
      bytes = 0
    }
    bytes += part.length
  })
  if (parts.length > from) out.push(encodeReadingsUpdate(parts.slice(from)))
  return out
}

/**
 * One patient's part of a shard call's ARGV: latest fields, series entries, trim bound, devices,
 * alert states and pending runs. Returns the patient's part of the `readings` update when the batch
 * brought readings.
 */
function pushPatientArgs(args: string[], p: PatientRuntime, o: BatchOutcome, options: WriteOptions): string | undefined {
  let update: string | undefined
  if (o.entries.length > 0) {
    const state = patientState(p, options.news2FreshnessMs)
    // Only the vitals this batch changed: the others' fields already hold their values. The
    // patient-wide fields are written every batch, whether or not they changed: a write from an
    // instance that owned the patient before a rebalance, landing late, is then overwritten by the
    // next batch instead of lasting (sending only changed fields once let such a write leave 446
    // patients' oxygen and consciousness fields empty in a chaos run).
    const fields = Object.entries({ ...encodeLatest(state, o.changedVitals), ...encodeGlucoseRecent(p.glucoseRecent) })
    args.push(String(fields.length))
    for (const [f, v] of fields) args.push(f, v)
    // Each entry is serialised once, for the series and for the update.
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
    update = encodePatientReadings(state, members)
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
  args.push(String(set.length / 2), ...set, String(del.length), ...del)
  return update
}

/**
 * Device state changes of the stale check (no readings involved; rare, so plain MULTI/EXECs): one
 * transaction per view shard for the device states, then one for the events (the alert stream and
 * their updates), sent together; no transaction spans two Redis Cluster slots.
 */
export async function writeDevices(
  redis: RedisClient,
  keys: RedisKeys,
  changes: ReadonlyArray<{ patientId: string; deviceId: string; text: string }>,
  events: readonly AlertEvent[],
  alertStreamMaxLen: number,
): Promise<void> {
  const sent: Promise<unknown>[] = [...byViewShard(changes, (c) => c.patientId).values()].map((group) => {
    const m = redis.multi()
    for (const c of group) m.hSet(keys.dedup(c.patientId), c.deviceId, c.text)
    return m.exec()
  })
  if (events.length > 0) {
    const m = redis.multi()
    for (const e of events) {
      const event = encodeAlertEvent(e)
      m.xAdd(keys.alerts, '*', { [ALERT_EVENT_FIELD]: event }, { TRIM: { strategy: 'MAXLEN', strategyModifier: '~', threshold: alertStreamMaxLen } })
      m.publish(keys.updates, encodeAlertUpdate(event))
    }
    sent.push(m.exec())
  }
  await Promise.all(sent)
}
