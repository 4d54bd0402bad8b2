/**
 * The batch job on Apache Spark (`--engine spark`, real PySpark and its JVM, local master) against
 * the DuckDB engine over the same lake: several days and Kafka partitions, patients with band
 * overrides, no-signal, implausible and inconsistent values, glucose, the NEWS2 assessments and a
 * file written before them. Every row and every value of both engines' views is compared, in the
 * lake's files and in Redis: counts exactly, floating results within 1e-9 relative, percentiles
 * included (both engines interpolate linearly between closest ranks). PySpark is installed into
 * .stack/spark by the first run (stack/spark.ts), with apt for python3-venv and Java where needed.
 */
import { execFile } from 'node:child_process'
import { copyFile, open, readdir, rm } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { DuckDBInstance } from '@duckdb/node-api'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseBandSpec } from '../lib/bands.ts'
import { writePatientBands } from '../lib/band-store.ts'
import { CONSCIOUSNESS_LEVELS, type Reading } from '../lib/contract/schema.ts'
import { redisKeys } from '../lib/contract/keys.ts'
import { connectRedis, type RedisClient } from '../lib/redis.ts'
import { ensureSpark, type SparkRuntime } from '../stack/spark.ts'
import { createTestEnv, type TestEnv } from '../test/support.ts'
import { runBatchJob, type BatchJobResult } from './job.ts'
import { dtDir, ensureDir, fileName } from './lake.ts'
import { LakeWriter, sqlString, VITAL_COLUMNS, type ReadingRow } from './parquet.ts'
import type { SparkEngine } from './spark.ts'
import { prng, syntheticReadings } from './synthetic.ts'

const execFileP = promisify(execFile)

const DAYS = ['2026-12-01', '2026-12-02', '2026-12-03']
/** A day whose every file was written before the assessment columns existed. */
const OLD_DAY = '2026-12-04'
const PARTITIONS = 3

/** One view row by column name, keyed `date|patient|vital`. */
type Rows = Map<string, Record<string, unknown>>

/**
 * Pure: every difference between two views. A count (`count`, `n_*`, `nNormal`...) must be equal;
 * any other number equal within `rel` relative; anything else (a string, a null) equal.
 */
export function differences(a: Rows, b: Rows, rel = 1e-9): string[] {
  const out: string[] = []
  const isCount = (col: string) => col === 'count' || /^n_|^n[A-Z]/.test(col)
  for (const key of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(key)
    const y = b.get(key)
    if (x === undefined || y === undefined) {
      out.push(`${key}: only in the ${x === undefined ? 'second' : 'first'}`)
      continue
    }
    for (const col of new Set([...Object.keys(x), ...Object.keys(y)])) {
      const u = x[col]
      const v = y[col]
      const same = typeof u === 'number' && typeof v === 'number' && !isCount(col) ? Math.abs(u - v) <= rel * Math.max(Math.abs(u), Math.abs(v)) : u === v
      if (!same) out.push(`${key} ${col}: ${String(u)} != ${String(v)}`)
    }
  }
  return out
}

/**
 * Readings over DAYS with values in every band (syntheticReadings), and, at fixed strides, the
 * values the speed layer leaves out (no-signal 0, implausible 400 bpm and 98.6 "°C", a diastolic
 * above its systolic, glucose 5), fractional values for the percentiles, and the assessments.
 */
function lakeReadings(): Reading[] {
  const rnd = prng(16)
  const start = Date.parse(`${DAYS[0]}T00:00:00Z`)
  const base = syntheticReadings({ count: 9_000, patients: 12, startTs: start, stepMs: Math.floor((DAYS.length * 86_400_000) / 9_000), seed: 16 })
  // One value of a vital in a day: its sample standard deviation is null in both engines.
  const single: Reading[] = [
    { v: 1, patientId: 'p-0099', deviceId: 'mon-p-0099', ts: start + 43_200_000, seq: 1, vitals: { heartRate: 72.5 } },
    { v: 1, patientId: 'p-0099', deviceId: 'cgm-p-0099', ts: start + 43_260_000, seq: 1, vitals: { glucose: 140 } },
  ]
  const judged = base.map((r, i) => {
    const v = { ...r.vitals }
    if (v.heartRate !== undefined) {
      if (i % 37 === 0) v.heartRate = 0
      else if (i % 41 === 0) v.heartRate = 400
      else if (i % 3 === 0) v.heartRate += 0.5
    }
    if (v.spo2 !== undefined && i % 43 === 0) v.spo2 = 0
    if (v.systolic !== undefined && v.diastolic !== undefined && i % 47 === 0) v.diastolic = v.systolic + 5
    if (v.temperature !== undefined && i % 53 === 0) v.temperature = 98.6
    if (v.glucose !== undefined && i % 29 === 0) v.glucose = 5
    const extra: Partial<Reading> = {}
    if (i % 5 === 0) extra.onOxygen = rnd() < 0.5
    if (i % 7 === 0) extra.consciousness = CONSCIOUSNESS_LEVELS[Math.floor(rnd() * CONSCIOUSNESS_LEVELS.length)]
    return { ...r, ...extra, vitals: v }
  })
  return [...judged, ...single].sort((a, b) => a.ts - b.ts)
}

/** Writes readings as the archiver would: per day and partition (by patient), two files each, offsets in order. */
async function writeLake(lake: string, topic: string, readings: readonly Reading[]): Promise<void> {
  const partitionOf = (p: string) => Number(p.slice(2)) % PARTITIONS
  const next = new Map<number, number>()
  const groups = new Map<string, ReadingRow[]>()
  for (const r of readings) {
    const partition = partitionOf(r.patientId)
    const offset = next.get(partition) ?? 0
    next.set(partition, offset + 1)
    const day = new Date(r.ts).toISOString().slice(0, 10)
    const key = `${day}|${partition}`
    const rows = groups.get(key) ?? []
    rows.push({ ...r, partition, offset })
    groups.set(key, rows)
  }
  const writer = await LakeWriter.open(1)
  try {
    for (const [key, rows] of groups) {
      const [day, partition] = key.split('|') as [string, string]
      const dir = dtDir(lake, 'readings', day)
      await ensureDir(dir)
      const half = Math.ceil(rows.length / 2)
      const parts = [rows.slice(0, half), rows.slice(half)].filter((p) => p.length > 0)
      await writer.writeReadings(
        parts.map((p) => ({
          rows: p,
          file: path.join(dir, fileName({ topic, partition: Number(partition), first: p[0]!.offset, last: p[p.length - 1]!.offset, parts: 1 })),
        })),
      )
    }
  } finally {
    writer.close()
  }
}

/** Files in the lake's columns before the assessments (no on_oxygen, no consciousness): on DAYS[1] beside newer files, and all of OLD_DAY. */
async function writeOldFiles(lake: string, topic: string): Promise<void> {
  const db = await DuckDBInstance.create(':memory:')
  const conn = await db.connect()
  try {
    for (const [day, patients, n] of [
      [DAYS[1] as string, 4, 300],
      [OLD_DAY, 5, 600],
    ] as const) {
      const dir = dtDir(lake, 'readings', day)
      await ensureDir(dir)
      const t0 = Date.parse(`${day}T00:00:00Z`)
      const file = path.join(dir, fileName({ topic, partition: 7, first: 500_000, last: 500_000 + n - 1, parts: 1 }))
      const cols = Object.values(VITAL_COLUMNS)
      await conn.run(`COPY (
        SELECT printf('p-old%d', i % ${patients}) AS patient_id, 'dev-old' AS device_id, epoch_ms(${t0}::BIGINT + i * 60000)::TIMESTAMP_MS AS ts, i::BIGINT AS seq,
          ${cols.map((c, k) => `CASE WHEN (i + ${k}) % 3 = 0 THEN NULL ELSE ${k === 0 ? '(i % 200)' : `(20 + (i * ${k + 7}) % 90)`}::DOUBLE END AS ${c}`).join(', ')},
          7 AS kafka_partition, (500000 + i)::BIGINT AS kafka_offset
        FROM range(${n}) t(i)) TO ${sqlString(file)} (FORMAT parquet)`)
    }
  } finally {
    conn.closeSync()
    db.closeSync()
  }
}

/** The lake's view files of `days`, keyed by row, and the files' column names and types. */
async function lakeView(lake: string, days: readonly string[]): Promise<{ rows: Rows; schema: string[] }> {
  const db = await DuckDBInstance.create(':memory:')
  const conn = await db.connect()
  try {
    const files = days.map((d) => path.join(lake, 'views', 'daily_stats', `dt=${d}`, 'daily_stats.parquet'))
    const list = `[${files.map(sqlString).join(', ')}]`
    const schema = (await conn.runAndReadAll(`SELECT DISTINCT file_name, name, type, converted_type FROM parquet_schema(${list}) ORDER BY ALL`)).getRowsJS()
    const byFile = new Map<string, string[]>()
    for (const [file, ...col] of schema) byFile.set(String(file), [...(byFile.get(String(file)) ?? []), col.join(':')])
    const rows = (await conn.runAndReadAll(`SELECT * FROM read_parquet(${list}, hive_partitioning = false)`)).getRowObjectsJS()
    return {
      rows: new Map(rows.map((r) => [`${r.date}|${r.patient_id}|${r.vital}`, r])),
      // Every file has the same schema; the list holds it once per distinct schema.
      schema: [...new Set([...byFile.values()].map((s) => s.join(' ')))],
    }
  } finally {
    conn.closeSync()
    db.closeSync()
  }
}

/** The Redis view of `days`, keyed by row. */
async function redisView(redis: RedisClient, env: TestEnv, days: readonly string[]): Promise<Rows> {
  const out: Rows = new Map()
  for (const d of days) {
    const hash = await redis.hGetAll(redisKeys(env.config.redisPrefix).batchDaily(d))
    for (const v of Object.values(hash)) for (const r of JSON.parse(v) as Record<string, unknown>[]) out.set(`${r.date}|${r.patientId}|${r.vital}`, r)
  }
  return out
}

/** What a run says, without what differs by nature (its id, its time, the Spark run). */
function summary(r: BatchJobResult) {
  return {
    dates: r.dates,
    rows: r.rows,
    patients: r.patients,
    readings: r.readings,
    cutoffTs: r.cutoffTs,
    quarantined: r.quarantined,
    bandOverrides: r.bandOverrides,
  }
}

describe('the comparison of two views', () => {
  it('reports a count off by one, a value off by 2e-9 relative, a null for a value and a missing row', () => {
    const row = { date: '2026-12-01', patient_id: 'p-1', vital: 'heartRate', count: 10, p95: 101.25, stddev: 3.5, n_normal: 4 }
    const a: Rows = new Map([
      ['a', row],
      ['b', { ...row, vital: 'spo2' }],
    ])
    expect(differences(a, new Map(a))).toEqual([])
    expect(
      differences(
        a,
        new Map([
          ['a', { ...row, p95: 101.25 * (1 + 5e-10) }],
          ['b', a.get('b')!],
        ]),
      ),
    ).toEqual([])
    const b: Rows = new Map([['a', { ...row, count: 11, p95: 101.25 * (1 + 2e-9), stddev: null }]])
    expect(differences(a, b)).toEqual(['a count: 10 != 11', `a p95: 101.25 != ${101.25 * (1 + 2e-9)}`, 'a stddev: 3.5 != null', 'b: only in the first'])
  })
})

describe('the batch job on Spark', () => {
  let env: TestEnv
  let redis: RedisClient
  let runtime: SparkRuntime
  let spark: SparkEngine
  const readings = lakeReadings()

  beforeAll(async () => {
    runtime = await ensureSpark((line) => process.stderr.write(`[spark] ${line}\n`))
    spark = { python: runtime.python, version: runtime.version, master: 'local[2]' }
    env = await createTestEnv()
    redis = await connectRedis(env.config)
    await writeLake(env.config.datalakeDir, env.topics.readings, readings)
    await writeOldFiles(env.config.datalakeDir, env.topics.readings)
    const keys = redisKeys(env.config.redisPrefix)
    await writePatientBands(redis, keys, 'p-0001', [parseBandSpec('spo2:news2-scale2')])
    await writePatientBands(redis, keys, 'p-0002', [parseBandSpec('heartRate:normal=38-95'), parseBandSpec('respRate:warning=21-30')])
    await writePatientBands(redis, keys, 'p-0003', [parseBandSpec('spo2:news2-scale2'), parseBandSpec('heartRate:normal=38-95')])
  }, 900_000)

  afterAll(async () => {
    redis?.destroy()
    await env?.cleanup()
  })

  it('writes the same rows and values as DuckDB, in the lake and in Redis, over several days with band overrides', async () => {
    const duck = await runBatchJob(env.config, { from: DAYS[0], to: DAYS[DAYS.length - 1], full: true }, { redis })
    const duckLake = await lakeView(env.config.datalakeDir, DAYS)
    const duckRedis = await redisView(redis, env, DAYS)

    const phases: string[] = []
    const onSpark = await runBatchJob(
      env.config,
      { from: DAYS[0], to: DAYS[DAYS.length - 1], full: true, spark, onProgress: (p) => phases.push(`${p.phase} ${p.done}`) },
      { redis },
    )
    const sparkLake = await lakeView(env.config.datalakeDir, DAYS)
    const sparkRedis = await redisView(redis, env, DAYS)

    expect(summary(onSpark)).toEqual(summary(duck))
    expect(duck.bandOverrides).toBe(3)
    expect(onSpark.spark).toMatchObject({ version: runtime.version, parallelism: 2 })
    expect(phases).toContain('compute 100')
    // The data exercises what it is meant to: rows left out, refusals, no-signal values, assessments, several patients' bands.
    const rows = [...duckLake.rows.values()]
    expect(rows.length).toBeGreaterThan(200)
    for (const col of ['n_refused', 'n_no_signal', 'n_on_oxygen', 'n_on_air', 'n_acvpu_p', 'tir_lt54'])
      expect(
        rows.some((r) => Number(r[col]) > 0),
        col,
      ).toBe(true)
    expect(rows.some((r) => r.stddev === null)).toBe(true)

    expect(sparkLake.schema).toEqual(duckLake.schema)
    expect(sparkLake.schema.length).toBe(1)
    expect(differences(duckLake.rows, sparkLake.rows)).toEqual([])
    expect(differences(duckRedis, sparkRedis)).toEqual([])
    expect(sparkRedis.size).toBe(duckLake.rows.size)
    // Nothing of Spark's is left in the lake.
    expect((await readdir(path.join(env.config.datalakeDir, 'views'))).sort()).toEqual(['daily_stats'])
  })

  it('reads a day whose files all predate the assessment columns as DuckDB does', async () => {
    await runBatchJob(env.config, { dates: [OLD_DAY], full: true }, { redis })
    const duck = await lakeView(env.config.datalakeDir, [OLD_DAY])
    const duckRedis = await redisView(redis, env, [OLD_DAY])
    const onSpark = await runBatchJob(env.config, { dates: [OLD_DAY], full: true, spark }, { redis })
    const got = await lakeView(env.config.datalakeDir, [OLD_DAY])
    const gotRedis = await redisView(redis, env, [OLD_DAY])
    expect(onSpark.readings).toBe(600)
    expect(got.rows.size).toBeGreaterThan(0)
    expect([...gotRedis.values()].every((r) => r.nOnOxygen === 0 && r.nAcvpuA === 0)).toBe(true)
    expect(got.schema).toEqual(duck.schema)
    expect(differences(duck.rows, got.rows)).toEqual([])
    expect(differences(duckRedis, gotRedis)).toEqual([])
  })

  it('quarantines as CORRUPT a file Spark cannot decode, names it, and computes the rest as DuckDB does', async () => {
    const day = DAYS[2] as string
    await runBatchJob(env.config, { dates: [day], full: true }, { redis })
    const duck = await lakeView(env.config.datalakeDir, [day])
    const dir = dtDir(env.config.datalakeDir, 'readings', day)
    const good = (await readdir(dir)).find((n) => n.endsWith('.parquet')) as string
    const bad = path.join(dir, fileName({ topic: env.topics.readings, partition: 9, first: 900_000, last: 900_099, parts: 1 }))
    await copyFile(path.join(dir, good), bad)
    // Garbles the first column chunk's page header, just after the leading magic: the footer still reads.
    const fh = await open(bad, 'r+')
    await fh.write(Buffer.alloc(200, 0xff), 0, 200, 4)
    await fh.close()
    try {
      const result = await runBatchJob(env.config, { dates: [day], full: true, spark }, { redis })
      expect(result.quarantined.map((q) => [q.file, q.kind])).toEqual([[bad, 'CORRUPT']])
      expect(result.quarantined[0]?.detail).toMatch(/^the data cannot be read: /)
      expect(differences(duck.rows, (await lakeView(env.config.datalakeDir, [day])).rows)).toEqual([])
    } finally {
      await rm(bad, { force: true })
      await rm(path.join(env.config.datalakeDir, 'quarantine'), { recursive: true, force: true })
    }
  })

  it('fails in one sentence naming the master when Spark cannot use it, and publishes nothing', async () => {
    const before = await redis.hGetAll(redisKeys(env.config.redisPrefix).batchMeta)
    await expect(
      runBatchJob(env.config, { dates: [DAYS[0] as string], full: true, spark: { ...spark, master: 'nonsense://nowhere' } }, { redis }),
    ).rejects.toThrow(
      /^the batch job failed in Spark \(master nonsense:\/\/nowhere\): .*Master must either be yarn or start with spark, k8s, or local; check the master URL/,
    )
    expect(await redis.hGetAll(redisKeys(env.config.redisPrefix).batchMeta)).toEqual(before)
    expect((await readdir(path.join(env.config.datalakeDir, 'views'))).sort()).toEqual(['daily_stats'])
  })

  it('`vigil batch --engine spark --spark-master local[1]` passes the master to Spark and prints the summary table', async () => {
    const out = await execFileP(
      process.execPath,
      ['bin/vigil.js', 'batch', '--date', DAYS[0] as string, '--full', '--engine', 'spark', '--spark-master', 'local[1]'],
      {
        env: {
          ...process.env,
          VIGIL_DATALAKE_DIR: env.config.datalakeDir,
          VIGIL_REDIS_PREFIX: env.config.redisPrefix,
          VIGIL_TOPIC_PREFIX: env.config.topicPrefix,
          VIGIL_REDIS_URL: env.config.redisUrl,
          VIGIL_LOG_LEVEL: 'error',
        },
      },
    )
    expect(out.stdout).toMatch(new RegExp(`^engine +spark ${runtime.version.replaceAll('.', '\\.')} \\(local\\[1\\], 1 cores, started in [\\d.]+ s\\)$`, 'm'))
    expect(out.stdout).toMatch(new RegExp(`^readings +${readings.filter((r) => r.ts < Date.parse(`${DAYS[1]}T00:00:00Z`)).length}$`, 'm'))
  })

  it('refuses --spark-master without --engine spark (exit status 2)', async () => {
    const err = await execFileP(process.execPath, ['bin/vigil.js', 'batch', '--spark-master', 'local[1]'], {
      env: { ...process.env, VIGIL_DATALAKE_DIR: env.config.datalakeDir },
    }).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    )
    expect(err?.code).toBe(2)
    expect(err?.stderr).toContain('--spark-master goes with --engine spark')
  })
})
