import { copyFile, open, readdir, rm, stat, truncate } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DuckDBInstance } from '@duckdb/node-api'
import { createTestEnv, type TestEnv } from '../test/support.ts'
import { connectRedis, type RedisClient } from '../lib/redis.ts'
import { redisKeys } from '../lib/contract/keys.ts'
import { pollUntil } from '../lib/backoff.ts'
import { applyBandSpecs, classifyVital, DEFAULT_BANDS, mergeBands, parseBandSpec, STATUSES, type BandOverrides } from '../lib/bands.ts'
import type { DailyStatsRow, Update } from '../lib/contract/views.ts'
import { VITALS, type Reading, type Vital } from '../lib/contract/schema.ts'
import { checkFields } from '../speed-layer/validate.ts'
import { start } from './archiver.ts'
import { archiverOptions } from './config.ts'
import { runBatchJob, type BatchProgress } from './job.ts'
import { produceAll, syntheticReadings } from './synthetic.ts'
import { dtDir, ensureDir } from './lake.ts'
import { LakeWriter } from './parquet.ts'
import { compactLake } from './compact.ts'
import { writePatientBands } from '../lib/band-store.ts'
import { bandVariants, glucoseBandPredicateSql, patientBandsSql, patientStatusPredicateSql, statusPredicateSql, TIR_COLUMNS } from './stats-sql.ts'

/** Linear interpolation between closest ranks, computed here without SQL. */
function quantile(sorted: number[], q: number): number {
  const h = (sorted.length - 1) * q
  const lo = Math.floor(h)
  const a = sorted[lo] as number
  const b = sorted[Math.min(lo + 1, sorted.length - 1)] as number
  return a + (h - lo) * (b - a)
}

/**
 * The expected statistics of a set of readings, computed independently of the job's SQL: each
 * reading judged by the speed layer's own checkFields, its accepted values described, its
 * refused and no-signal values counted.
 */
function expectedStats(readings: Reading[]): Map<string, DailyStatsRow> {
  const groups = new Map<string, { date: string; patientId: string; vital: Vital; values: number[]; refused: number; noSignal: number }>()
  for (const r of readings) {
    const date = new Date(r.ts).toISOString().slice(0, 10)
    const judged = checkFields(r)
    for (const vital of VITALS) {
      if (r.vitals[vital] === undefined) continue
      const key = `${date}|${r.patientId}|${vital}`
      let g = groups.get(key)
      if (g === undefined) {
        g = { date, patientId: r.patientId, vital, values: [], refused: 0, noSignal: 0 }
        groups.set(key, g)
      }
      const kept = judged.reading.vitals[vital]
      if (kept !== undefined) g.values.push(kept)
      if (judged.noSignal.includes(vital)) g.noSignal++
      if (judged.fieldRejects.some((f) => f.vital === vital)) g.refused++
    }
  }
  const out = new Map<string, DailyStatsRow>()
  for (const [key, g] of groups) {
    const n = g.values.length
    // A vital whose every value was left out has no row.
    if (n === 0) continue
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
      nRefused: g.refused,
      nNoSignal: g.noSignal,
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

/** Produces the readings to the test's topic and waits until the archiver has written every one to its lake. */
async function archiveAll(env: TestEnv, readings: Reading[]): Promise<void> {
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
    await archiveAll(env, readings)
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
        nRefused: o.n_refused,
        nNoSignal: o.n_no_signal,
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

describe("the status predicates by each patient's bands", () => {
  it('classify in SQL exactly as each patient’s merged band table does, at every band edge, in one query', async () => {
    const overrides = new Map<string, BandOverrides>([
      ['p-copd', applyBandSpecs({}, [parseBandSpec('spo2:news2-scale2')])],
      ['p-athlete', applyBandSpecs({}, [parseBandSpec('heartRate:normal=38-95'), parseBandSpec('respRate:warning=21-30')])],
      ['p-both', applyBandSpecs({}, [parseBandSpec('spo2:news2-scale2'), parseBandSpec('heartRate:normal=38-95')])],
    ])
    const variants = bandVariants(overrides)
    const patients = ['p-default', ...overrides.keys()]
    const db = await DuckDBInstance.create(':memory:')
    const conn = await db.connect()
    try {
      for (const sql of patientBandsSql(variants)) await conn.run(sql)
      const cases: [string, Vital, number][] = []
      for (const p of patients) {
        const table = mergeBands(overrides.get(p) ?? {})
        for (const vital of VITALS) {
          for (const b of table[vital]) if (Number.isFinite(b.max)) for (const d of [-0.5, 0, 0.5]) cases.push([p, vital, b.max + d])
        }
      }
      const values = cases.map(([p, v, x]) => `('${p}', '${v}', ${x})`).join(', ')
      const holds = STATUSES.map(
        (st) => `CASE vital ${VITALS.map((v) => `WHEN '${v}' THEN ${patientStatusPredicateSql(v, st, 'value', variants)}`).join(' ')} END AS "${st}"`,
      ).join(', ')
      const rows = (
        await conn.runAndReadAll(
          `SELECT patient_id, vital, value, ${holds} FROM (VALUES ${values}) t(patient_id, vital, value) LEFT JOIN patient_bands USING (patient_id)`,
        )
      ).getRowsJS()
      expect(rows.length).toBe(cases.length)
      for (const [p, vital, value, ...flags] of rows as unknown as [string, Vital, number, ...boolean[]][]) {
        const statuses = STATUSES.filter((_, i) => flags[i] === true)
        expect(statuses, `${p} ${vital} ${value}`).toEqual([classifyVital(vital, value, mergeBands(overrides.get(p) ?? {}))])
      }
    } finally {
      conn.closeSync()
      db.closeSync()
    }
  })
})

describe('the batch job with per-patient bands and the NEWS2 assessments', () => {
  let env: TestEnv
  let redis: RedisClient
  const DAY = '2026-11-24'
  const t0 = Date.UTC(2026, 10, 24, 8, 0)
  const reading = (patientId: string, seq: number, extra: Partial<Reading>): Reading => ({
    v: 1,
    patientId,
    deviceId: `dev-${patientId}`,
    ts: t0 + seq * 60_000,
    seq,
    vitals: {},
    ...extra,
  })
  // p-probe, on a day of its own: a probe-off heart rate 0, an implausible 400 and a real 72; a
  // diastolic above its systolic, then a consistent pair; a °F temperature beside a real SpO2.
  const PROBE_DAY = '2026-11-26'
  const probe = (seq: number, vitals: Reading['vitals']): Reading => ({ ...reading('p-probe', seq, { vitals }), ts: Date.UTC(2026, 10, 26, 8, seq) })
  const probeDay: Reading[] = [
    probe(1, { heartRate: 0 }),
    probe(2, { heartRate: 400 }),
    probe(3, { heartRate: 72 }),
    probe(4, { systolic: 90, diastolic: 95 }),
    probe(5, { systolic: 120, diastolic: 80 }),
    probe(6, { temperature: 98.6, spo2: 0 }),
    probe(7, { spo2: 96 }),
  ]
  // p-copd is on NEWS2 SpO2 scale 2 (target 88-92 %); p-default is not. Both have SpO2 89 three
  // times; p-copd's nurse observations say oxygen or air and ACVPU, one of them alone (no vitals).
  const readings: Reading[] = [
    reading('p-copd', 1, { vitals: { spo2: 89, heartRate: 80 }, onOxygen: true, consciousness: 'A' }),
    reading('p-copd', 2, { vitals: { spo2: 89 }, onOxygen: true }),
    reading('p-copd', 3, { vitals: { spo2: 89 }, consciousness: 'C' }),
    reading('p-copd', 4, { onOxygen: false, consciousness: 'V' }),
    reading('p-default', 1, { vitals: { spo2: 89 } }),
    reading('p-default', 2, { vitals: { spo2: 89 } }),
    reading('p-default', 3, { vitals: { spo2: 89 } }),
    ...probeDay,
  ]

  beforeAll(async () => {
    env = await createTestEnv()
    redis = await connectRedis(env.config)
    await archiveAll(env, readings)
  })

  afterAll(async () => {
    redis?.destroy()
    await env?.cleanup()
  })

  it('archives onOxygen and consciousness into nullable lake columns', async () => {
    const db = await DuckDBInstance.create(':memory:')
    const conn = await db.connect()
    try {
      const glob = path.join(dtDir(env.config.datalakeDir, 'readings', DAY), '*.parquet')
      const rows = (
        await conn.runAndReadAll(`SELECT patient_id, seq, on_oxygen, consciousness FROM read_parquet('${glob}', union_by_name = true) ORDER BY patient_id, seq`)
      ).getRowsJS()
      expect(rows.map(([p, s, o, c]) => [p, Number(s), o, c])).toEqual([
        ['p-copd', 1, true, 'A'],
        ['p-copd', 2, true, null],
        ['p-copd', 3, null, 'C'],
        ['p-copd', 4, false, 'V'],
        ['p-default', 1, null, null],
        ['p-default', 2, null, null],
        ['p-default', 3, null, null],
      ])
    } finally {
      conn.closeSync()
      db.closeSync()
    }
  })

  it("classifies each patient's SpO2 with the bands in force: 89 is NORMAL on scale 2 and CRITICAL_LOW on the default", async () => {
    await writePatientBands(redis, redisKeys(env.config.redisPrefix), 'p-copd', [parseBandSpec('spo2:news2-scale2')])
    const result = await runBatchJob(env.config, { dates: [DAY], full: true }, { redis })
    expect(result.bandOverrides).toBe(1)
    const rows = await redisDay(redis, env, DAY)
    const spo2 = (p: string) => rows.find((r) => r.patientId === p && r.vital === 'spo2')
    expect(spo2('p-copd')).toMatchObject({ count: 3, nNormal: 3, nWarning: 0, nCriticalLow: 0, nCriticalHigh: 0 })
    expect(spo2('p-default')).toMatchObject({ count: 3, nNormal: 0, nWarning: 0, nCriticalLow: 3, nCriticalHigh: 0 })
    // Other vitals of the overridden patient keep the defaults.
    expect(rows.find((r) => r.patientId === 'p-copd' && r.vital === 'heartRate')).toMatchObject({ count: 1, nNormal: 1 })

    // Overrides keep no history: with the override dropped, a full run re-classifies the whole day by the defaults.
    await writePatientBands(redis, redisKeys(env.config.redisPrefix), 'p-copd', [parseBandSpec('spo2:default')])
    const again = await runBatchJob(env.config, { dates: [DAY], full: true }, { redis })
    expect(again.bandOverrides).toBe(0)
    const after = await redisDay(redis, env, DAY)
    expect(after.find((r) => r.patientId === 'p-copd' && r.vital === 'spo2')).toMatchObject({ nNormal: 0, nCriticalLow: 3 })
  })

  it("counts the patient-day's readings on oxygen, on air and at each ACVPU level, on each of its rows and in the lake's view", async () => {
    await runBatchJob(env.config, { dates: [DAY], full: true }, { redis })
    const rows = await redisDay(redis, env, DAY)
    const copd = rows.filter((r) => r.patientId === 'p-copd')
    expect(copd.map((r) => r.vital).sort()).toEqual(['heartRate', 'spo2'])
    for (const r of copd) expect(r).toMatchObject({ nOnOxygen: 2, nOnAir: 1, nAcvpuA: 1, nAcvpuC: 1, nAcvpuV: 1, nAcvpuP: 0, nAcvpuU: 0 })
    for (const r of rows.filter((x) => x.patientId === 'p-default')) expect(r).toMatchObject({ nOnOxygen: 0, nOnAir: 0, nAcvpuA: 0, nAcvpuC: 0 })

    const db = await DuckDBInstance.create(':memory:')
    const conn = await db.connect()
    try {
      const file = path.join(env.config.datalakeDir, 'views', 'daily_stats', `dt=${DAY}`, 'daily_stats.parquet')
      const view = (
        await conn.runAndReadAll(`SELECT vital, n_on_oxygen, n_on_air, n_acvpu_c FROM read_parquet('${file}') WHERE patient_id = 'p-copd' ORDER BY vital`)
      ).getRowsJS()
      expect(view).toEqual([
        ['heartRate', 2, 1, 1],
        ['spo2', 2, 1, 1],
      ])
    } finally {
      conn.closeSync()
      db.closeSync()
    }
  })

  it('judges values as the speed layer: heart rate 0, 400 and 72 count only 72; a diastolic above its systolic is left out, the systolic counts', async () => {
    await runBatchJob(env.config, { dates: [PROBE_DAY], full: true }, { redis })
    const rows = await redisDay(redis, env, PROBE_DAY)
    const row = (vital: Vital) => rows.find((r) => r.patientId === 'p-probe' && r.vital === vital)
    expect(row('heartRate')).toMatchObject({ count: 1, mean: 72, min: 72, max: 72, p05: 72, p95: 72, nNormal: 1, nCriticalLow: 0, nCriticalHigh: 0 })
    expect(row('heartRate')).toMatchObject({ nRefused: 1, nNoSignal: 1 })
    expect(row('systolic')).toMatchObject({ count: 2, min: 90, max: 120, nRefused: 0, nNoSignal: 0 })
    expect(row('diastolic')).toMatchObject({ count: 1, mean: 80, min: 80, max: 80, nRefused: 1, nNoSignal: 0 })
    expect(row('spo2')).toMatchObject({ count: 1, mean: 96, nNormal: 1, nCriticalLow: 0, nNoSignal: 1, nRefused: 0 })
    // Every temperature of the day was refused: no row describes it.
    expect(row('temperature')).toBeUndefined()
  })

  it('reads a day whose files were all written before the assessment columns, and compacts them with newer files', async () => {
    const OLD_DAY = '2026-11-25'
    const dir = dtDir(env.config.datalakeDir, 'readings', OLD_DAY)
    await ensureDir(dir)
    const db = await DuckDBInstance.create(':memory:')
    const conn = await db.connect()
    const ts = Date.UTC(2026, 10, 25, 9, 0)
    const oldFile = path.join(dir, `${env.topics.readings}-p0-100000-100001-of1.parquet`)
    try {
      // The archiver's columns before schema v1 had the assessments.
      await conn.run(
        `COPY (SELECT * FROM (VALUES ('p-old', 'dev-old', epoch_ms(${ts}::BIGINT)::TIMESTAMP_MS, 1::BIGINT, 72.0::DOUBLE, 97.0::DOUBLE, NULL::DOUBLE, NULL::DOUBLE, NULL::DOUBLE, NULL::DOUBLE, NULL::DOUBLE, 0, 100000::BIGINT),
          ('p-old', 'dev-old', epoch_ms(${ts + 60_000}::BIGINT)::TIMESTAMP_MS, 2::BIGINT, 74.0::DOUBLE, 96.0::DOUBLE, NULL::DOUBLE, NULL::DOUBLE, NULL::DOUBLE, NULL::DOUBLE, NULL::DOUBLE, 0, 100001::BIGINT))
          t(patient_id, device_id, ts, seq, heart_rate, spo2, glucose, systolic, diastolic, resp_rate, temperature, kafka_partition, kafka_offset))
         TO '${oldFile}' (FORMAT parquet)`,
      )
      const only = await runBatchJob(env.config, { dates: [OLD_DAY], full: true }, { redis })
      expect(only.quarantined).toEqual([])
      expect((await redisDay(redis, env, OLD_DAY)).find((r) => r.vital === 'heartRate')).toMatchObject({ count: 2, nOnOxygen: 0, nAcvpuA: 0 })

      // A newer file of the same partition, with the columns: compaction takes both, the old rows as nulls.
      const writer = await LakeWriter.open(1)
      try {
        const newFile = path.join(dir, `${env.topics.readings}-p0-100002-100002-of1.parquet`)
        await writer.writeReadings([
          {
            file: newFile,
            rows: [
              {
                patientId: 'p-old',
                deviceId: 'obs-old',
                ts: ts + 120_000,
                seq: 1,
                vitals: {},
                onOxygen: true,
                consciousness: 'P',
                partition: 0,
                offset: 100002,
              },
            ],
          },
        ])
      } finally {
        writer.close()
      }
      const compacted = await compactLake(env.config, { dates: [OLD_DAY] })
      expect(compacted.skipped).toEqual([])
      expect(compacted.written).toBe(1)
      const names = (await readdir(dir)).filter((n) => n.endsWith('.parquet'))
      expect(names).toEqual([`${env.topics.readings}-p0-100000-100002-compacted.parquet`])
      const rows = (
        await conn.runAndReadAll(
          `SELECT kafka_offset, heart_rate, on_oxygen, consciousness FROM read_parquet('${path.join(dir, names[0] as string)}') ORDER BY kafka_offset`,
        )
      ).getRowsJS()
      expect(rows.map(([o, h, ox, c]) => [Number(o), h, ox, c])).toEqual([
        [100000, 72, null, null],
        [100001, 74, null, null],
        [100002, null, true, 'P'],
      ])
      await runBatchJob(env.config, { dates: [OLD_DAY], full: true }, { redis })
      expect((await redisDay(redis, env, OLD_DAY)).find((r) => r.vital === 'heartRate')).toMatchObject({ count: 2, nOnOxygen: 1, nAcvpuP: 1 })
    } finally {
      conn.closeSync()
      db.closeSync()
    }
  })
})
