/**
 * The risk model's training minutes, from the lake (docs/CLINICAL.md, Early-warning risk model):
 * one row per patient and clock minute, from the patient's first reading to its last, with the
 * features as of the minute's end and the label of the minute.
 *
 * Features: DuckDB aggregates the raw readings into per-patient, per-minute buckets (per vital of
 * RISK_VITALS: count, sum, sum of squares, last value and its time; the minute's last oxygen and
 * consciousness), streamed in patient and minute order, a group of patients per query so that
 * memory stays bounded whatever the lake's size (MAX_GROUP_READINGS); `MinuteWalker` feeds them
 * to the speed layer's own feature code (lib/risk/features.ts: VitalWindow.addBucket,
 * PatientFeatures.vector), so the model is trained on the numbers it is served on. Sums are taken as DECIMAL(18,3) (values
 * rounded to 0.001, far below any vital's resolution): exact, so the same lake gives the same
 * sums whatever order DuckDB's threads add them in, and the same model bytes.
 *
 * Labels (`minuteLabel`): with t the minute's last millisecond, a minute is positive when an
 * episode's onset is in (t, t + horizon], negative otherwise; it is left out while an episode is
 * going on: onset <= t < end + AFTER_EPISODE_MIN, or onset <= t when the episode has no recorded
 * end (the question is whether one is coming, not whether one is there).
 *
 * Values: as the speed layer sees them (speed-layer/validate.ts, devices.ts): a reading sent
 * twice (one patient, device and seq at two offsets) counts once, and a value the speed layer
 * refuses (outside lib/plausibility.ts's ranges, a diastolic not below its systolic) or takes for
 * no signal (a heart rate or SpO2 of 0) is absent.
 *
 * Files: the readings are listed day by day with the batch job's listing (job.ts `listDay`:
 * without the files a compacted file supersedes, lake.ts rule 1); a file that vanishes before it
 * is read (a compaction finished) makes the whole read start again from a new listing. Events are
 * `<lake>/raw/events/*.parquet`, the rows that passed the schema (reject_reason IS NULL), one per
 * event_id (the first archived).
 */
import { readdir } from 'node:fs/promises'
import path from 'node:path'
import type { DuckDBConnection } from '@duckdb/node-api'
import { VigilError } from '../lib/errors.ts'
import { CONSCIOUSNESS_LEVELS, type Consciousness } from '../lib/contract/schema.ts'
import { FEATURE_NAMES, MINUTE_MS, PatientFeatures, RISK_VITALS } from '../lib/risk/features.ts'
import { listDay } from './job.ts'
import { eventsDir, exists, rawDir } from './lake.ts'
import { sqlString, VITAL_COLUMNS } from './parquet.ts'
import { AFTER_EPISODE_MIN } from './risk-config.ts'
import { acceptedSql } from './stats-sql.ts'

/** One episode of a patient: onset and end (null: not recorded), epoch ms. */
export interface Episode {
  onset: number
  end: number | null
}

/**
 * The label of the minute ending at `t` (ms): 1 when an episode starts in (t, t + horizonMs], 0
 * when none does, undefined when the minute is inside an episode (left out). `episodes` are one
 * patient's.
 */
export function minuteLabel(episodes: readonly Episode[], t: number, horizonMs: number): 0 | 1 | undefined {
  let positive = false
  for (const e of episodes) {
    if (e.onset <= t && (e.end === null || t < e.end + AFTER_EPISODE_MIN * MINUTE_MS)) return undefined
    if (e.onset > t && e.onset <= t + horizonMs) positive = true
  }
  return positive ? 1 : 0
}

const D = FEATURE_NAMES.length

/** The minutes of a training run, column by column, in patient and minute order; grows by doubling. */
export class MinuteTable {
  readonly patients: string[] = []
  n = 0
  group = new Int32Array(1024)
  minute = new Float64Array(1024)
  label = new Uint8Array(1024)
  x = new Float64Array(1024 * D)

  push(patient: number, minute: number, label: 0 | 1, features: Float64Array): void {
    if (this.n === this.label.length) this.grow()
    const i = this.n++
    this.group[i] = patient
    this.minute[i] = minute
    this.label[i] = label
    this.x.set(features, i * D)
  }

  /** Row i's raw features (NaN: missing), in FEATURE_NAMES order. */
  row(i: number, out: Float64Array): Float64Array {
    out.set(this.x.subarray(i * D, (i + 1) * D))
    return out
  }

  private grow(): void {
    const size = this.label.length * 2
    const more = <T extends Int32Array | Float64Array | Uint8Array>(a: T, n: number): T => {
      const b = new (a.constructor as new (n: number) => T)(n)
      b.set(a)
      return b
    }
    this.group = more(this.group, size)
    this.minute = more(this.minute, size)
    this.label = more(this.label, size)
    this.x = more(this.x, size * D)
  }
}

/** One row of the bucket query, as MinuteWalker reads it. */
export interface BucketRow {
  patientId: string
  minute: number
  /** Per vital of RISK_VITALS, in order: n, sum, sumSq, last, lastTs (n 0: none that minute). */
  vitals: Float64Array
  onOxygen: boolean | null
  consciousness: Consciousness | null
}

/**
 * Walks each patient's minutes in order through the shared feature code: for every minute from
 * the patient's first bucket to its last (the minutes without readings included), the features
 * as of the minute's last millisecond and the minute's label.
 */
export class MinuteWalker {
  private patient: PatientFeatures | undefined
  private patientIndex = -1
  private episodes: readonly Episode[] = []
  private lastMinute = 0
  private readonly x = new Float64Array(D)
  positives = 0
  leftOut = 0

  constructor(
    readonly table: MinuteTable,
    private readonly episodesOf: ReadonlyMap<string, readonly Episode[]>,
    private readonly horizonMs: number,
  ) {}

  add(row: BucketRow): void {
    if (this.patient === undefined || this.table.patients[this.patientIndex] !== row.patientId) {
      this.patient = new PatientFeatures()
      this.patientIndex = this.table.patients.push(row.patientId) - 1
      this.episodes = this.episodesOf.get(row.patientId) ?? []
    } else {
      for (let m = this.lastMinute + 1; m < row.minute; m++) this.emit(m)
    }
    const p = this.patient
    for (const [k, v] of RISK_VITALS.entries()) {
      const n = row.vitals[k * 5]!
      if (n > 0)
        p.vitals[v].addBucket(
          { minute: row.minute, n, sum: row.vitals[k * 5 + 1]!, sumSq: row.vitals[k * 5 + 2]! },
          row.vitals[k * 5 + 3]!,
          row.vitals[k * 5 + 4]!,
        )
    }
    if (row.onOxygen !== null) p.observations.onOxygen = row.onOxygen
    if (row.consciousness !== null) p.observations.consciousness = row.consciousness
    this.emit(row.minute)
    this.lastMinute = row.minute
  }

  private emit(minute: number): void {
    const t = minute * MINUTE_MS + MINUTE_MS - 1
    const label = minuteLabel(this.episodes, t, this.horizonMs)
    if (label === undefined) {
      this.leftOut++
      return
    }
    this.positives += label
    this.table.push(this.patientIndex, minute, label, (this.patient as PatientFeatures).vector(t, this.x))
  }
}

/** The files of the readings, every day of the lake (job.ts listDay, so superseded files are left out). */
export async function listReadingFiles(lake: string): Promise<string[]> {
  const days = (await readdirOrEmpty(rawDir(lake, 'readings'))).flatMap((name) => (/^dt=\d{4}-\d{2}-\d{2}$/.test(name) ? [name.slice(3)] : [])).sort()
  const files: string[] = []
  for (const day of days) for (const f of (await listDay(lake, day)).files) files.push(f.path)
  return files
}

/** The events' Parquet files (hidden temporary files left out). */
export async function listEventFiles(lake: string): Promise<string[]> {
  const dir = eventsDir(lake)
  return (await readdirOrEmpty(dir))
    .filter((n) => n.endsWith('.parquet') && !n.startsWith('.'))
    .sort()
    .map((n) => path.join(dir, n))
}

export interface LoadedEpisodes {
  /** Per patient, the episodes of the chosen kinds, by onset. */
  byPatient: Map<string, Episode[]>
  count: number
  /** Every kind in the lake (valid events), for the message when none of the chosen is there. */
  kindsInLake: string[]
}

/**
 * SQL (inputs: the events files; output: one row per valid event, the first archived of each
 * event_id, ordered by patient and onset): patient_id, kind, onset and end in epoch ms.
 */
function eventsSql(files: readonly string[]): string {
  const source = `read_parquet([${files.map(sqlString).join(', ')}], union_by_name = true)`
  return `SELECT patient_id, kind, epoch_ms(onset)::DOUBLE AS onset, epoch_ms("end")::DOUBLE AS end_ms FROM (SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY kafka_partition, kafka_offset) AS k FROM ${source} WHERE reject_reason IS NULL AND event_id IS NOT NULL AND onset IS NOT NULL) WHERE k = 1 ORDER BY patient_id, onset, kind`
}

/** The episodes of `kinds` (undefined: every kind) per patient. */
export async function loadEpisodes(conn: DuckDBConnection, files: readonly string[], kinds: readonly string[] | undefined): Promise<LoadedEpisodes> {
  const rows = (await conn.runAndReadAll(eventsSql(files))).getRowObjectsJS()
  const byPatient = new Map<string, Episode[]>()
  const kindsInLake = new Set<string>()
  let count = 0
  for (const r of rows) {
    const kind = String(r.kind)
    kindsInLake.add(kind)
    if (kinds !== undefined && !kinds.includes(kind)) continue
    const patient = String(r.patient_id)
    const list = byPatient.get(patient) ?? []
    list.push({ onset: Number(r.onset), end: r.end_ms === null || r.end_ms === undefined ? null : Number(r.end_ms) })
    byPatient.set(patient, list)
    count++
  }
  return { byPatient, count, kindsInLake: [...kindsInLake].sort() }
}

/**
 * SQL (inputs: the reading files; output: one row per patient and clock minute, in patient and
 * minute order): per vital of RISK_VITALS `<c>_n`, `<c>_sum`, `<c>_sq` (exact DECIMAL sums),
 * `<c>_last` (the value of the newest reading by ts, then seq, then device) and `<c>_ts`; the
 * minute's newest `on_oxygen` (1|0) and `consciousness`; of the patients `first`..`last` (in
 * DuckDB's order of the ids). The features see what the speed layer's see: a reading sent twice
 * (one patient, device and seq at two offsets) once, the first archived, as the speed layer drops
 * a repeated seq; a value the speed layer refuses or takes for no signal (lib/plausibility.ts,
 * through stats-sql.ts's `acceptedSql`) as absent. `assessments` says
 * whether the files have the two observation columns (files from before schema v1 had them do
 * not).
 */
export function bucketsSql(files: readonly string[], assessments: boolean, patients: PatientRange): string {
  const source = `read_parquet([${files.map(sqlString).join(', ')}], hive_partitioning = true, union_by_name = true)`
  const range = `patient_id >= ${sqlString(patients.first)} AND patient_id <= ${sqlString(patients.last)}`
  const accepted = RISK_VITALS.map((v) => `CASE WHEN ${acceptedSql(v)} THEN ${VITAL_COLUMNS[v]} END AS ${VITAL_COLUMNS[v]}`).join(', ')
  const observed = assessments ? 'on_oxygen, consciousness' : 'NULL::BOOLEAN AS on_oxygen, NULL::VARCHAR AS consciousness'
  const readings = `SELECT patient_id, device_id, seq, ts, ${accepted}, ${observed} FROM ${source} WHERE ${range} QUALIFY row_number() OVER (PARTITION BY patient_id, device_id, seq ORDER BY kafka_partition, kafka_offset, ts) = 1`
  const newest = '(epoch_ms(ts), seq, device_id)'
  const vitals = RISK_VITALS.map((v) => {
    const c = VITAL_COLUMNS[v]
    const dec = `${c}::DECIMAL(18,3)`
    return `count(${c})::DOUBLE AS ${c}_n, sum(${dec})::DOUBLE AS ${c}_sum, sum(${dec} * ${dec})::DOUBLE AS ${c}_sq, (arg_max(${c}, ${newest}) FILTER (WHERE ${c} IS NOT NULL))::DOUBLE AS ${c}_last, (max(epoch_ms(ts)) FILTER (WHERE ${c} IS NOT NULL))::DOUBLE AS ${c}_ts`
  }).join(', ')
  const observations = `(arg_max(on_oxygen::INTEGER, ${newest}) FILTER (WHERE on_oxygen IS NOT NULL))::DOUBLE AS on_oxygen, arg_max(consciousness, ${newest}) FILTER (WHERE consciousness IS NOT NULL) AS consciousness`
  return `SELECT patient_id, (epoch_ms(ts) // 60000)::DOUBLE AS minute, ${vitals}, ${observations} FROM (${readings}) GROUP BY patient_id, epoch_ms(ts) // 60000 ORDER BY patient_id, minute`
}

/** Whether the reading files have both assessment columns (union of their schemas). */
async function hasAssessments(conn: DuckDBConnection, files: readonly string[]): Promise<boolean> {
  const rows = (
    await conn.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet([${files.map(sqlString).join(', ')}], hive_partitioning = true, union_by_name = true)`)
  ).getRowObjectsJS()
  const names = new Set(rows.map((r) => String(r.column_name)))
  return names.has('on_oxygen') && names.has('consciousness')
}

/** How far the read has come, for a progress line. */
export interface DatasetProgress {
  buckets: number
  minutes: number
  patients: number
  /** The group of patients being read (1-based), of `parts`. */
  part: number
  parts: number
}

/** Patients `first`..`last` in DuckDB's order of the ids, inclusive. */
export interface PatientRange {
  first: string
  last: string
}

/**
 * Readings a group of patients read by one bucket query holds at most (a patient with more is a
 * group of its own): the query's duplicate check (one window over the group's readings) holds them
 * all in memory, about 400 bytes a reading measured (4.2 GB for 10M readings of 200 patients), so
 * a lake of any size is read in groups of bounded memory, one scan of the files each.
 * @defaultValue 5 000 000 readings: about 2 GB a query.
 */
export const MAX_GROUP_READINGS = 5_000_000

/** The patients of the files in consecutive groups of at most `maxReadings` readings (a larger patient alone), in id order. */
export async function patientGroups(conn: DuckDBConnection, files: readonly string[], maxReadings = MAX_GROUP_READINGS): Promise<PatientRange[]> {
  const rows = (
    await conn.runAndReadAll(
      `SELECT patient_id, count(*)::DOUBLE AS n FROM read_parquet([${files.map(sqlString).join(', ')}], hive_partitioning = true, union_by_name = true) GROUP BY patient_id ORDER BY patient_id`,
    )
  ).getRows()
  const groups: PatientRange[] = []
  let open: { first: string; last: string; n: number } | undefined
  for (const [id, n] of rows) {
    const count = Number(n)
    if (open !== undefined && open.n + count > maxReadings) {
      groups.push({ first: open.first, last: open.last })
      open = undefined
    }
    if (open === undefined) open = { first: String(id), last: String(id), n: count }
    else {
      open.last = String(id)
      open.n += count
    }
  }
  if (open !== undefined) groups.push({ first: open.first, last: open.last })
  return groups
}

/** Streams the buckets of `files` through `walker`, a group of patients at a time, a DuckDB chunk (2 048 rows) at a time. */
export async function walkBuckets(
  conn: DuckDBConnection,
  files: readonly string[],
  walker: MinuteWalker,
  onProgress?: (p: DatasetProgress) => void,
  maxGroupReadings = MAX_GROUP_READINGS,
): Promise<number> {
  const assessments = await hasAssessments(conn, files)
  const groups = await patientGroups(conn, files, maxGroupReadings)
  let buckets = 0
  for (const [i, group] of groups.entries()) {
    const result = await conn.stream(bucketsSql(files, assessments, group))
    for (let chunk = await result.fetchChunk(); chunk !== null && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
      for (const r of chunk.getRows()) walker.add(bucketRow(r))
      buckets += chunk.rowCount
      onProgress?.({ buckets, minutes: walker.table.n, patients: walker.table.patients.length, part: i + 1, parts: groups.length })
    }
  }
  return buckets
}

const WIDTH = RISK_VITALS.length * 5

/** One row of bucketsSql's result as MinuteWalker reads it. */
function bucketRow(r: readonly unknown[]): BucketRow {
  const vitals = new Float64Array(WIDTH)
  for (let k = 0; k < WIDTH; k++) vitals[k] = r[2 + k] === null ? 0 : Number(r[2 + k])
  const oxygen = r[2 + WIDTH]
  const consciousness = r[3 + WIDTH]
  return {
    patientId: String(r[0]),
    minute: Number(r[1]),
    vitals,
    onOxygen: oxygen === null || oxygen === undefined ? null : Number(oxygen) === 1,
    consciousness: CONSCIOUSNESS_LEVELS.includes(consciousness as Consciousness) ? (consciousness as Consciousness) : null,
  }
}

/** The first of `files` that no longer exists (a compaction replaced it after the listing), if any. */
export async function vanished(files: readonly string[]): Promise<string | undefined> {
  for (const f of files) if (!(await exists(f))) return f
  return undefined
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw new VigilError('STAGE_FAILED', `cannot list ${dir}: ${(error as Error).message}.`, { cause: error })
  }
}
