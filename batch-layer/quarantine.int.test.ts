import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { copyFile, open, readFile, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DuckDBInstance } from '@duckdb/node-api'
import { createTestEnv, type TestEnv } from '../test/support.ts'
import { connectRedis, type RedisClient } from '../lib/redis.ts'
import { redisKeys } from '../lib/contract/keys.ts'
import type { DailyStatsRow } from '../lib/contract/views.ts'
import { VITALS } from '../lib/contract/schema.ts'
import { checkFields } from '../speed-layer/validate.ts'
import { runBatchJob } from './job.ts'
import { dtDir, ensureDir, exists, fileName, scanLake, tempName } from './lake.ts'
import { LakeWriter, sqlString, VITAL_COLUMNS, type ReadingRow } from './parquet.ts'
import { syntheticReadings } from './synthetic.ts'

const execFileP = promisify(execFile)

interface Day {
  date: string
  valid: string[]
  /** Bad file -> the kind it must be quarantined as. */
  bad: Map<string, string>
  /** The archiver's in-progress file: neither read nor quarantined. */
  temp: string
}

/**
 * One day of a raw lake the way the archiver names it: three valid files and one bad file of
 * each kind, the truncated one being part 1 of a two-part flush whose valid part 2 is in the next
 * day's folder (late readings). `base` keeps the offset ranges of different days apart.
 */
async function buildDay(writer: LakeWriter, env: TestEnv, date: string, base: number): Promise<Day> {
  const lake = env.config.datalakeDir
  const topic = env.topics.readings
  const dir = dtDir(lake, 'readings', date)
  await ensureDir(dir)
  const start = Date.parse(`${date}T00:00:00Z`)
  const name = (partition: number, first: number, last: number, parts = 1) =>
    path.join(dir, fileName({ topic, partition, first: base + first, last: base + last, parts }))
  const write = async (file: string, partition: number, count: number, seed: number) => {
    const rows: ReadingRow[] = syntheticReadings({ count, startTs: start + seed * 1_000, stepMs: 20_000, patients: 5, seed }).map((r, i) => ({
      patientId: r.patientId,
      deviceId: r.deviceId,
      ts: r.ts,
      seq: r.seq,
      vitals: r.vitals,
      partition,
      offset: base + i,
    }))
    await writer.writeReadings([{ rows, file }])
  }
  const valid = [name(0, 0, 1_199), name(1, 0, 899), name(2, 0, 699)]
  await write(valid[0] as string, 0, 1_200, 1)
  await write(valid[1] as string, 1, 900, 2)
  await write(valid[2] as string, 2, 700, 3)

  const bad = new Map<string, string>()
  const empty = name(3, 0, 99)
  await writeFile(empty, '')
  bad.set(empty, 'EMPTY')
  const random = name(4, 0, 99)
  const noise = randomBytes(4_096)
  noise[0] = 0x8f // never the magic "PAR1" by chance
  await writeFile(random, noise)
  bad.set(random, 'NOT_PARQUET')
  const cut = name(1, 900, 999, 2)
  await copyFile(valid[0] as string, cut)
  await truncate(cut, Math.floor((await stat(cut)).size / 2))
  bad.set(cut, 'TRUNCATED')
  const nextDir = dtDir(lake, 'readings', new Date(start + 86_400_000).toISOString().slice(0, 10))
  await ensureDir(nextDir)
  await write(path.join(nextDir, path.basename(cut)), 1, 10, 5)
  // A readable Parquet file with a vital as text and glucose missing.
  const drift = name(5, 0, 149)
  const plain = path.join(dir, '..', `drift-source-${date}.parquet`)
  await write(plain, 5, 150, 4)
  const db = await DuckDBInstance.create(':memory:')
  const conn = await db.connect()
  try {
    await conn.run(
      `COPY (SELECT * EXCLUDE (glucose) REPLACE (CAST(spo2 AS VARCHAR) AS spo2) FROM read_parquet(${sqlString(plain)})) TO ${sqlString(drift)} (FORMAT parquet)`,
    )
  } finally {
    conn.closeSync()
    db.closeSync()
  }
  await rm(plain)
  bad.set(drift, 'SCHEMA_DRIFT')

  const temp = path.join(dir, tempName(fileName({ topic, partition: 0, first: base + 1_200, last: base + 1_299, parts: 1 })))
  await writeFile(temp, randomBytes(100))
  return { date, valid, bad, temp }
}

describe('quarantining bad raw files', () => {
  let env: TestEnv
  let redis: RedisClient
  let day: Day
  let cliDay: Day

  beforeAll(async () => {
    env = await createTestEnv()
    redis = await connectRedis(env.config)
    const writer = await LakeWriter.open()
    try {
      day = await buildDay(writer, env, '2026-11-22', 0)
      cliDay = await buildDay(writer, env, '2026-11-24', 100_000)
    } finally {
      writer.close()
    }
  })

  afterAll(async () => {
    redis?.destroy()
    await env?.cleanup()
  })

  it('moves each bad file under quarantine/ with its kind, computes the rest, and its counts add up to the rows of the valid files', async () => {
    const lake = env.config.datalakeDir
    const before = await scanLake(lake, env.topics.readings)
    const result = await runBatchJob(env.config, { dates: [day.date], full: true }, { redis })

    expect(result.dates).toEqual([day.date])
    expect(new Map(result.quarantined.map((q) => [q.file, q.kind]))).toEqual(day.bad)
    for (const q of result.quarantined) {
      const target = path.join(lake, 'quarantine', path.relative(lake, q.file))
      expect(q.movedTo).toBe(target)
      expect(await exists(q.file), q.file).toBe(false)
      expect(await exists(target), target).toBe(true)
    }
    expect(result.quarantined.find((q) => q.kind === 'SCHEMA_DRIFT')?.detail).toBe('missing column glucose; spo2 is VARCHAR, expected number')
    const log = (await readFile(path.join(lake, 'quarantine', '_log.ndjson'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { runId: string; file: string; kind: string })
    expect(new Map(log.map((l) => [path.join(lake, l.file), l.kind]))).toEqual(day.bad)
    expect(log.every((l) => l.runId === result.runId)).toBe(true)
    // The archiver's in-progress file is left alone.
    expect(await exists(day.temp)).toBe(true)

    // Independent counts over the valid files alone: each row's values judged by the speed layer's own checkFields
    // (a value it refuses or reads as no signal is left out of the statistics too).
    const db = await DuckDBInstance.create(':memory:')
    const conn = await db.connect()
    const truth: Record<string, number> = { n: 0 }
    try {
      const columns = VITALS.map((v) => `${VITAL_COLUMNS[v]} AS "${v}"`).join(', ')
      const rows = (await conn.runAndReadAll(`SELECT ${columns} FROM read_parquet([${day.valid.map(sqlString).join(', ')}])`)).getRowObjectsJS()
      for (const row of rows) {
        truth.n = (truth.n ?? 0) + 1
        const vitals = Object.fromEntries(VITALS.filter((v) => row[v] !== null).map((v) => [v, Number(row[v])]))
        const judged = checkFields({ v: 1, patientId: 'p', deviceId: 'd', ts: 0, seq: 0, vitals })
        for (const v of Object.keys(judged.reading.vitals)) truth[v] = (truth[v] ?? 0) + 1
      }
      for (const v of VITALS) truth[v] ??= 0
    } finally {
      conn.closeSync()
      db.closeSync()
    }
    expect(truth.n).toBe(1_200 + 900 + 700)
    expect(result.readings).toBe(truth.n)
    const stats = Object.values(await redis.hGetAll(redisKeys(env.config.redisPrefix).batchDaily(day.date))).flatMap((v) => JSON.parse(v) as DailyStatsRow[])
    const sum = (vital: string) => stats.filter((r) => r.vital === vital).reduce((a, r) => a + r.count, 0)
    for (const v of VITALS) expect(sum(v), v).toBe(truth[v])
    // Every synthetic reading is a CGM one (glucose) or a monitor one (heart rate): one of each per row.
    expect(sum('glucose') + sum('heartRate')).toBe(truth.n)
    for (const r of stats) expect(r.nNormal + r.nWarning + r.nCriticalLow + r.nCriticalHigh).toBe(r.count)

    // The archiver resumes where it did and repairs nothing: quarantined parts still count for
    // their flush (otherwise the next day's part 2 of the truncated file's flush would be deleted).
    const after = await scanLake(lake, env.topics.readings)
    expect(before.incomplete).toEqual([])
    expect(after.next).toEqual(before.next)
    expect(after.incomplete).toEqual([])
    expect(
      after.complete
        .filter((f) => f.quarantined === true)
        .map((f) => f.path)
        .sort(),
    ).toEqual(result.quarantined.map((q) => q.movedTo).sort())

    // The next incremental run sees the day unchanged: the moved files left its fingerprint.
    expect((await runBatchJob(env.config, { dates: [day.date] }, { redis })).dates).toEqual([])
  })

  it('prints each quarantined file with its reason and exits with status 3', async () => {
    const before = await scanLake(env.config.datalakeDir, env.topics.readings)
    const env2 = {
      ...process.env,
      VIGIL_DATALAKE_DIR: env.config.datalakeDir,
      VIGIL_REDIS_PREFIX: env.config.redisPrefix,
      VIGIL_TOPIC_PREFIX: env.config.topicPrefix,
      VIGIL_REDIS_URL: env.config.redisUrl,
      VIGIL_LOG_LEVEL: 'error',
    }
    const out = await execFileP(process.execPath, ['bin/vigil.js', 'batch', '--date', cliDay.date, '--full'], { env: env2 }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    )
    expect(out.code, out.stderr).toBe(3)
    for (const [file, kind] of cliDay.bad) {
      const rel = path.relative(env.config.datalakeDir, file)
      expect(out.stdout).toMatch(new RegExp(`^  ${kind} +${rel.replaceAll('.', '\\.')}: .+$`, 'm'))
      expect(await exists(path.join(env.config.datalakeDir, 'quarantine', rel)), rel).toBe(true)
    }
    expect(out.stdout).toMatch(/^quarantined files +4 \(log: /m)
    expect(out.stdout).toMatch(/^readings +2800$/m)
    expect((await readdir(dtDir(env.config.datalakeDir, 'readings', cliDay.date))).filter((n) => n.endsWith('.parquet')).sort()).toEqual(
      cliDay.valid.map((f) => path.basename(f)).sort(),
    )
    // Partition 1's last flush is the truncated one: the archiver still resumes after it.
    const after = await scanLake(env.config.datalakeDir, env.topics.readings)
    expect(after.next.get(1)).toBe(101_000)
    expect(after.next).toEqual(before.next)
    expect(after.incomplete).toEqual([])

    // Clean now: the same run exits 0.
    const clean = await execFileP(process.execPath, ['bin/vigil.js', 'batch', '--date', cliDay.date, '--full'], { env: env2 })
    expect(clean.stdout).not.toContain('quarantined')
    expect(clean.stdout).toMatch(/^readings +2800$/m)
  })

  it('quarantines as CORRUPT a file whose footer and schema are fine but whose data cannot be decoded', async () => {
    const dir = dtDir(env.config.datalakeDir, 'readings', '2026-11-28')
    await ensureDir(dir)
    const good = path.join(dir, fileName({ topic: env.topics.readings, partition: 6, first: 300_000, last: 301_199, parts: 1 }))
    const bad = path.join(dir, fileName({ topic: env.topics.readings, partition: 7, first: 300_000, last: 301_199, parts: 1 }))
    await copyFile(day.valid[0] as string, good)
    await copyFile(day.valid[0] as string, bad)
    // Garbles the first column chunk's page header, just after the leading magic.
    const fh = await open(bad, 'r+')
    await fh.write(Buffer.alloc(200, 0xff), 0, 200, 4)
    await fh.close()
    const result = await runBatchJob(env.config, { dates: ['2026-11-28'], full: true }, { redis })
    expect(result.quarantined.map((q) => [q.file, q.kind])).toEqual([[bad, 'CORRUPT']])
    expect(result.quarantined[0]?.detail).toMatch(/^the data cannot be read: /)
    expect(result.readings).toBe(1_200)
  })

  it('fails on the first bad file with strict and moves nothing', async () => {
    const writer = await LakeWriter.open()
    let strictDay: Day
    try {
      strictDay = await buildDay(writer, env, '2026-11-26', 200_000)
    } finally {
      writer.close()
    }
    await expect(runBatchJob(env.config, { dates: [strictDay.date], full: true, strict: true }, { redis })).rejects.toThrow(
      /cannot be read \((EMPTY|NOT_PARQUET|TRUNCATED|SCHEMA_DRIFT): .*run without --strict to quarantine it/,
    )
    for (const f of strictDay.bad.keys()) expect(await exists(f), f).toBe(true)
  })
})
