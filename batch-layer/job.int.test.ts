import { copyFile, open, readdir, rm, stat, truncate } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DuckDBInstance } from '@duckdb/node-api'
import { createTestEnv, type TestEnv } from '../test/support.ts'
import { connectRedis, type RedisClient } from '../lib/redis.ts'
import { redisKeys } from '../lib/contract/keys.ts'
import { pollUntil } from '../lib/backoff.ts'
import { classifyVital, DEFAULT_BANDS, STATUSES } from '../lib/bands.ts'
import type { DailyStatsRow, Update } from '../lib/contract/views.ts'
import { VITALS, type Reading, type Vital } from '../lib/contract/schema.ts'
import { start } from './archiver.ts'
import { archiverOptions } from './config.ts'
import { runBatchJob, type BatchProgress } from './job.ts'
import { produceAll, syntheticReadings } from './synthetic.ts'
import { dtDir } from './lake.ts'
import { glucoseBandPredicateSql, statusPredicateSql, TIR_COLUMNS } from './stats-sql.ts'

/** Linear interpolation between closest ranks, computed here without SQL. */
function quantile(sorted: number[], q: number): number {
  const h = (sorted.length - 1) * q
  const lo = Math.floor(h)
  const a = sorted[lo] as number
  const b = sorted[Math.min(lo + 1, sorted.length - 1)] as number
  return a + (h - lo) * (b - a)
}

/** The expected statistics of a set of readings, computed independently of the job's SQL. */
function expectedStats(readings: Reading[]): Map<string, DailyStatsRow> {
  const groups = new Map<string, { date: string; patientId: string; vital: Vital; values: number[] }>()
  for (const r of readings) {
    const date = new Date(r.ts).toISOString().slice(0, 10)
    for (const vital of VITALS) {
      const v = r.vitals[vital]
      if (v === undefined) continue
      const key = `${date}|${r.patientId}|${vital}`
      let g = groups.get(key)
      if (g === undefined) {
        g = { date, patientId: r.patientId, vital, values: [] }
        groups.set(key, g)
      }
      g.values.push(v)
    }
  }
  const out = new Map<string, DailyStatsRow>()
  for (const [key, g] of groups) {
    const n = g.values.length
    const mean = g.values.reduce((a, b) => a + b, 0) / n
    const sd = n > 1 ? Math.sqrt(g.values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : null
    const sorted = [...g.values].sort((a, b) => a - b)
    const byStatus = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<string, number>
    for (const v of g.values) byStatus[classifyVital(g.vital, v)] = (byStatus[classifyVital(g.vital, v)] ?? 0) + 1
    const frac = (pred: (v: number) => boolean) => (g.vital === 'glucose' ? g.values.filter(pred).length / n : null)
    out.set(key, {
      date: g.date,
      patientId: g.patientId,
      vital: g.vital,
      count: n,
      mean,
      min: sorted[0] as number,
      max: sorted[n - 1] as number,
      stddev: sd,
      p05: quantile(sorted, 0.05),
      p50: quantile(sorted, 0.5),
      p95: quantile(sorted, 0.95),
      nNormal: byStatus.NORMAL ?? 0,
      nWarning: byStatus.WARNING ?? 0,
      nCriticalLow: byStatus.CRITICAL_LOW ?? 0,
      nCriticalHigh: byStatus.CRITICAL_HIGH ?? 0,
      tirLt54: frac((v) => v < 54),
      tir54_69: frac((v) => v >= 54 && v < 70),
      tir70_180: frac((v) => v >= 70 && v <= 180),
      tir181_250: frac((v) => v > 180 && v <= 250),
      tirGt250: frac((v) => v > 250),
      cv: g.vital === 'glucose' && sd !== null ? sd / mean : null,
    })
  }
  return out
}

function expectRowsEqual(actual: DailyStatsRow[], expected: Map<string, DailyStatsRow>): void {
  expect(actual.length).toBe(expected.size)
  for (const row of actual) {
    const want = expected.get(`${row.date}|${row.patientId}|${row.vital}`)
    expect(want, `${row.date} ${row.patientId} ${row.vital}`).toBeDefined()
    if (want === undefined) continue
    for (const k of Object.keys(want) as (keyof DailyStatsRow)[]) {
      const a = row[k]
      const b = want[k]
      if (typeof b === 'number' && typeof a === 'number') expect(a, `${k} of ${row.patientId} ${row.vital}`).toBeCloseTo(b, 9)
      else expect(a, `${k} of ${row.patientId} ${row.vital}`).toEqual(b)
    }
  }
}

async function redisDay(redis: RedisClient, env: TestEnv, date: string): Promise<DailyStatsRow[]> {
  const hash = await redis.hGetAll(redisKeys(env.config.redisPrefix).batchDaily(date))
  return Object.values(hash).flatMap((v) => JSON.parse(v) as DailyStatsRow[])
}

describe('the batch job', () => {
  let env: TestEnv
  let redis: RedisClient
  // 2 000 readings, one every 3 s from 23:00 on 22 November: they cross midnight into the 23rd.
  const readings = syntheticReadings({ count: 2_000, startTs: Date.UTC(2026, 10, 22, 23, 0), stepMs: 3_000, patients: 6, seed: 3 })
  const expected = expectedStats(readings)

  beforeAll(async () => {
    env = await createTestEnv()
    redis = await connectRedis(env.config)
    await produceAll(
      env.config,
      env.topics.readings,
      readings.map((r) => ({ key: r.patientId, value: JSON.stringify(r) })),
    )
    const archiver = await start({ ...env.config, archiver: archiverOptions({ flushIntervalMs: 200 }) })
    try {
      await pollUntil(async () => archiver.stats().records === readings.length || undefined, { timeoutMs: 60_000, what: 'the archiver to write every reading' })
    } finally {
      await archiver.stop()
    }
  })

  afterAll(async () => {
    redis?.destroy()
    await env?.cleanup()
  })

  it('computes per patient, vital and event-time day the same statistics as an independent computation, in Redis and in the lake', async () => {
    const phases = new Set<string>()
    const result = await runBatchJob(
      env.config,
      { from: '2026-11-22', to: '2026-11-23', full: true, onProgress: (p: BatchProgress) => phases.add(p.phase) },
      { redis },
    )
    expect(result.dates).toEqual(['2026-11-22', '2026-11-23'])
    expect(result.readings).toBe(readings.length)
    expect(result.rows).toBe(expected.size)
    expect(result.patients).toBe(new Set(readings.map((r) => r.patientId)).size)
    expect([...phases].sort()).toEqual(['compute', 'scan', 'write'])
    expect(result.quarantined).toEqual([])

    const fromRedis = [...(await redisDay(redis, env, '2026-11-22')), ...(await redisDay(redis, env, '2026-11-23'))]
    expectRowsEqual(fromRedis, expected)

    const db = await DuckDBInstance.create(':memory:')
    const conn = await db.connect()
    try {
      const glob = path.join(env.config.datalakeDir, 'views', 'daily_stats', '*', '*.parquet')
      const rows = (await conn.runAndReadAll(`SELECT * EXCLUDE (dt) FROM read_parquet('${glob}', hive_partitioning = true)`)).getRowObjectsJS()
      const camel = rows.map((o) => ({
        date: o.date,
        patientId: o.patient_id,
        vital: o.vital,
        count: o.count,
        mean: o.mean,
        min: o.min,
        max: o.max,
        stddev: o.stddev,
        p05: o.p05,
        p50: o.p50,
        p95: o.p95,
        nNormal: o.n_normal,
        nWarning: o.n_warning,
        nCriticalLow: o.n_critical_low,
        nCriticalHigh: o.n_critical_high,
        tirLt54: o.tir_lt54,
        tir54_69: o.tir_54_69,
        tir70_180: o.tir_70_180,
        tir181_250: o.tir_181_250,
        tirGt250: o.tir_gt250,
        cv: o.cv,
      })) as DailyStatsRow[]
      expectRowsEqual(camel, expected)
    } finally {
      conn.closeSync()
      db.closeSync()
    }

    const meta = await redis.hGetAll(redisKeys(env.config.redisPrefix).batchMeta)
    expect(meta.runId).toBe(result.runId)
    expect(JSON.parse(meta.dates ?? '[]')).toEqual(['2026-11-22', '2026-11-23'])
    // Complete up to the newest reading that every Kafka partition has reached (+1 ms): just after
    // some reading's event time, at most the last one's, within the last minute of the data.
    const cutoff = Number(meta.cutoffTs)
    const last = (readings[readings.length - 1] as Reading).ts
    expect(readings.some((r) => r.ts + 1 === cutoff)).toBe(true)
    expect(cutoff).toBeLessThanOrEqual(last + 1)
    expect(cutoff).toBeGreaterThan(last - 60_000)
    expect(result.cutoffTs).toBe(cutoff)
  })

  it('puts readings on each side of midnight into their own event-time day', async () => {
    await runBatchJob(env.config, { dates: ['2026-11-22', '2026-11-23'], full: true }, { redis })
    const before = readings.filter((r) => r.ts < Date.UTC(2026, 10, 23))
    const after = readings.filter((r) => r.ts >= Date.UTC(2026, 10, 23))
    expect(before.length).toBeGreaterThan(0)
    expect(after.length).toBeGreaterThan(0)
    const count = (rows: DailyStatsRow[], vital: Vital) => rows.filter((r) => r.vital === vital).reduce((a, r) => a + r.count, 0)
    const day1 = await redisDay(redis, env, '2026-11-22')
    const day2 = await redisDay(redis, env, '2026-11-23')
    expect(count(day1, 'glucose')).toBe(before.filter((r) => r.vitals.glucose !== undefined).length)
    expect(count(day2, 'glucose')).toBe(after.filter((r) => r.vitals.glucose !== undefined).length)
    expect(count(day2, 'heartRate')).toBe(after.filter((r) => r.vitals.heartRate !== undefined).length)
    // The lake's dt partitions split at midnight too.
    expect((await readdir(dtDir(env.config.datalakeDir, 'readings', '2026-11-23'))).length).toBeGreaterThan(0)
  })

  it('publishes a batch update on the updates channel when it finishes', async () => {
    const sub = redis.duplicate()
    await sub.connect()
    try {
      const got: Update[] = []
      await sub.subscribe(redisKeys(env.config.redisPrefix).updates, (m: string) => got.push(JSON.parse(m) as Update))
      const result = await runBatchJob(env.config, { dates: ['2026-11-23'], full: true }, { redis })
      const update = await pollUntil(async () => got.find((u) => u.type === 'batch'), { timeoutMs: 5_000, what: 'the batch update' })
      expect(update).toEqual({ type: 'batch', meta: expect.objectContaining({ runId: result.runId, dates: ['2026-11-23'], rows: result.rows }) })
    } finally {
      sub.destroy()
    }
  })

  it('recomputes only days whose files changed since the last run unless asked for a full run', async () => {
    await runBatchJob(env.config, { from: '2026-11-22', to: '2026-11-23', full: true }, { redis })
    const again = await runBatchJob(env.config, { from: '2026-11-22', to: '2026-11-23' }, { redis })
    expect(again.dates).toEqual([])
    // A new file on the 23rd (a copy under another offset range) changes that day only.
    const dir = dtDir(env.config.datalakeDir, 'readings', '2026-11-23')
    const file = (await readdir(dir)).find((n) => n.endsWith('.parquet')) as string
    const copy = path.join(dir, file.replace(/-p(\d+)-/, '-p99-'))
    await copyFile(path.join(dir, file), copy)
    try {
      const changed = await runBatchJob(env.config, { from: '2026-11-22', to: '2026-11-23' }, { redis })
      expect(changed.dates).toEqual(['2026-11-23'])
    } finally {
      await rm(copy)
      await runBatchJob(env.config, { from: '2026-11-22', to: '2026-11-23', full: true }, { redis })
    }
  })

  it('quarantines a truncated Parquet file with a warning, naming it, and fails on it with strict without moving it', async () => {
    const dir = dtDir(env.config.datalakeDir, 'readings', '2026-11-22')
    const file = (await readdir(dir)).find((n) => n.endsWith('.parquet')) as string
    const bad = path.join(dir, file.replace(/-p(\d+)-/, '-p98-'))
    const moved = path.join(env.config.datalakeDir, 'quarantine', path.relative(env.config.datalakeDir, bad))
    await copyFile(path.join(dir, file), bad)
    await truncate(bad, Math.floor((await stat(bad)).size / 2))
    try {
      await expect(runBatchJob(env.config, { dates: ['2026-11-22'], full: true, strict: true }, { redis })).rejects.toThrow(`${bad} cannot be read (TRUNCATED:`)
      expect((await stat(bad)).size).toBeGreaterThan(0)
      const warnings: string[] = []
      const log = { warn: (m: string) => warnings.push(m), info: () => undefined } as unknown as import('pino').Logger
      const result = await runBatchJob(env.config, { dates: ['2026-11-22'], full: true }, { redis, log })
      expect(result.quarantined.map((q) => [q.file, q.kind, q.movedTo])).toEqual([[bad, 'TRUNCATED', moved]])
      expect(warnings.some((w) => w.includes(bad))).toBe(true)
      // The good files are still counted: the day's statistics are unchanged.
      expect(result.readings).toBe(readings.filter((r) => r.ts < Date.UTC(2026, 10, 23)).length)
    } finally {
      await rm(bad, { force: true })
      await rm(moved, { force: true })
    }
  })

  it('quarantines a Parquet file whose footer is corrupt although its magic bytes are intact', async () => {
    const dir = dtDir(env.config.datalakeDir, 'readings', '2026-11-22')
    const file = (await readdir(dir)).find((n) => n.endsWith('.parquet')) as string
    const bad = path.join(dir, file.replace(/-p(\d+)-/, '-p97-'))
    const moved = path.join(env.config.datalakeDir, 'quarantine', path.relative(env.config.datalakeDir, bad))
    await copyFile(path.join(dir, file), bad)
    // Overwrite the footer (just before its length and the trailing magic) with garbage.
    const size = (await stat(bad)).size
    const fh = await open(bad, 'r+')
    await fh.write(Buffer.alloc(64, 0xff), 0, 64, size - 8 - 64)
    await fh.close()
    try {
      const result = await runBatchJob(env.config, { dates: ['2026-11-22'], full: true }, { redis })
      expect(result.quarantined.map((q) => [q.file, q.kind, q.movedTo])).toEqual([[bad, 'CORRUPT', moved]])
      expect(result.readings).toBe(readings.filter((r) => r.ts < Date.UTC(2026, 10, 23)).length)
    } finally {
      await rm(bad, { force: true })
      await rm(moved, { force: true })
    }
  })

  it('says there are no readings for a day the lake does not hold', async () => {
    await expect(runBatchJob(env.config, { dates: ['2026-11-21'] }, { redis })).rejects.toThrow(
      `no readings in ${path.join(env.config.datalakeDir, 'raw')} for 2026-11-21: is \`vigil archive\` running?`,
    )
  })

  it('says the lake folder does not exist when it does not', async () => {
    const config = { ...env.config, datalakeDir: path.join(env.config.datalakeDir, 'missing') }
    await expect(runBatchJob(config, { dates: ['2026-11-22'] }, { redis })).rejects.toThrow(/data lake folder .*missing does not exist/)
  })

  it('classifies in SQL exactly as the band table does, at every band edge', async () => {
    const db = await DuckDBInstance.create(':memory:')
    const conn = await db.connect()
    try {
      const cases: [Vital, number][] = []
      for (const vital of VITALS) {
        for (const b of DEFAULT_BANDS[vital]) {
          if (Number.isFinite(b.max)) for (const d of [-0.5, -0.1, 0, 0.1, 0.5]) cases.push([vital, b.max + d])
        }
      }
      const values = cases.map(([v, x]) => `('${v}', ${x})`).join(', ')
      // For each value, the statuses whose predicate holds: exactly the band table's one.
      const holds = STATUSES.map(
        (st) => `CASE vital ${VITALS.map((v) => `WHEN '${v}' THEN ${statusPredicateSql(v, st, 'value')}`).join(' ')} END AS "${st}"`,
      ).join(', ')
      const rows = (await conn.runAndReadAll(`SELECT vital, value, ${holds} FROM (VALUES ${values}) t(vital, value)`)).getRowsJS()
      expect(rows.length).toBe(cases.length)
      for (const [vital, value, ...flags] of rows as unknown as [Vital, number, ...boolean[]][]) {
        const statuses = STATUSES.filter((_, i) => flags[i] === true)
        expect(statuses, `${vital} ${value}`).toEqual([classifyVital(vital, value)])
      }
      // Hyperpyrexia: the band whose status (CRITICAL_HIGH) is not its NEWS2 score's (2) is counted by status.
      const hot = (
        await conn.runAndReadAll(
          `SELECT t, ${statusPredicateSql('temperature', 'WARNING', 't')}, ${statusPredicateSql('temperature', 'CRITICAL_HIGH', 't')} FROM (VALUES (41.4), (41.5), (47)) v(t)`,
        )
      ).getRowsJS()
      expect(hot.map(([t, w, c]) => [Number(t), w, c])).toEqual([
        [41.4, true, false],
        [41.5, false, true],
        [47, false, true],
      ])
      // An absent vital is in no band, and glucose values fall in exactly one time-in-range band.
      const absent = (await conn.runAndReadAll(`SELECT ${STATUSES.map((st) => statusPredicateSql('heartRate', st, 'NULL::DOUBLE')).join(', ')}`)).getRowsJS()
      expect(absent[0]?.every((x) => x !== true)).toBe(true)
      const tir = (
        await conn.runAndReadAll(
          `SELECT g, ${TIR_COLUMNS.map((_, i) => glucoseBandPredicateSql(i, 'g')).join(', ')} FROM (VALUES (53.9), (54), (69.9), (70), (180), (180.5), (250), (250.1)) t(g)`,
        )
      ).getRowsJS()
      expect(tir.map(([g, ...f]) => [g, f.indexOf(true)])).toEqual([
        [53.9, 0],
        [54, 1],
        [69.9, 1],
        [70, 2],
        [180, 2],
        [180.5, 3],
        [250, 3],
        [250.1, 4],
      ])
    } finally {
      conn.closeSync()
      db.closeSync()
    }
  })
})
