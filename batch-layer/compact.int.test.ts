import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { cp, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Consumer } from '@platformatic/kafka'
import { DuckDBInstance } from '@duckdb/node-api'
import { createTestEnv, type TestEnv } from '../test/support.ts'
import type { Config } from '../lib/config.ts'
import { kafkaBaseOptions } from '../lib/kafka.ts'
import { connectRedis, type RedisClient, type RedisNodeClient } from '../lib/redis.ts'
import { redisKeys } from '../lib/contract/keys.ts'
import { pollUntil } from '../lib/backoff.ts'
import { start } from './archiver.ts'
import { archiverOptions } from './config.ts'
import { compactLake, type CompactStep } from './compact.ts'
import { runBatchJob } from './job.ts'
import { RAW_KINDS, rawDir, scanLake, visibleNames } from './lake.ts'
import { lockFile } from './lock.ts'
import { sqlString } from './parquet.ts'
import { produceAll, prng, syntheticReadings, type ProduceItem } from './synthetic.ts'

const root = path.resolve(import.meta.dirname, '..')
const DAYS = ['2026-11-22', '2026-11-23']

/** Readings from 23:45 on 22 November every 500 ms (so flushes span midnight), 2 % not valid. */
function records(count: number, seed: number, startTs: number): { items: ProduceItem[]; invalid: number } {
  const rnd = prng(seed)
  let invalid = 0
  const items = syntheticReadings({ count, startTs, seed, patients: 12, stepMs: 500 }).map((r): ProduceItem => {
    if (rnd() < 0.02) {
      invalid++
      return { key: r.patientId, value: '{"v":1,"patientId":' }
    }
    return { key: r.patientId, value: JSON.stringify(r) }
  })
  return { items, invalid }
}

interface View {
  rows: number
  distinct: number
  readings: number
  perPartition: Map<number, { n: number; min: number; max: number }>
  files: number
}

/** The lake as a reader that follows lake.ts's listing rule sees it: every (partition, offset). */
async function readerView(lake: string): Promise<View> {
  const files: { kind: string; file: string }[] = []
  for (const kind of RAW_KINDS) {
    for (const dt of await readdir(rawDir(lake, kind)).catch(() => [] as string[])) {
      const dir = path.join(rawDir(lake, kind), dt)
      for (const name of visibleNames(await readdir(dir))) files.push({ kind, file: path.join(dir, name) })
    }
  }
  const db = await DuckDBInstance.create(':memory:')
  const conn = await db.connect()
  try {
    const union = files
      .map(
        (f) =>
          `SELECT kafka_partition, kafka_offset, ${f.kind === 'readings' ? 1 : 0} AS reading FROM read_parquet(${sqlString(f.file)}, hive_partitioning = false)`,
      )
      .join(' UNION ALL ')
    const totals = (
      await conn.runAndReadAll(`SELECT count(*)::INTEGER, count(DISTINCT (kafka_partition, kafka_offset))::INTEGER, sum(reading)::INTEGER FROM (${union})`)
    ).getRows()[0] as number[]
    const per = (
      await conn.runAndReadAll(`SELECT kafka_partition, count(*)::INTEGER, min(kafka_offset)::INTEGER, max(kafka_offset)::INTEGER FROM (${union}) GROUP BY 1`)
    ).getRows() as number[][]
    return {
      rows: totals[0] as number,
      distinct: totals[1] as number,
      readings: totals[2] as number,
      perPartition: new Map(per.map((r) => [r[0] as number, { n: r[1] as number, min: r[2] as number, max: r[3] as number }])),
      files: files.length,
    }
  } finally {
    conn.closeSync()
    db.closeSync()
  }
}

/** Every *.parquet and hidden file left in the raw folders (what a plain glob or `ls -a` sees). */
async function rawNames(lake: string): Promise<string[]> {
  const out: string[] = []
  for (const kind of RAW_KINDS) {
    for (const dt of await readdir(rawDir(lake, kind)).catch(() => [] as string[])) {
      for (const name of await readdir(path.join(rawDir(lake, kind), dt))) out.push(`${kind}/${dt}/${name}`)
    }
  }
  return out.sort()
}

async function endOffsets(e: TestEnv): Promise<number[]> {
  const consumer = new Consumer({ ...kafkaBaseOptions(e.config, 'test-offsets'), groupId: `${e.config.topicPrefix}offsets` })
  try {
    const offsets = await consumer.listOffsets({ topics: [e.topics.readings] })
    return (offsets.get(e.topics.readings) ?? []).map(Number)
  } finally {
    await consumer.close()
  }
}

async function archiveAll(config: Config, expected: number): Promise<void> {
  const archiver = await start({ ...config, archiver: archiverOptions({ flushRecords: 40, flushIntervalMs: 200 }) })
  try {
    await pollUntil(async () => (await readerView(config.datalakeDir)).distinct >= expected || undefined, {
      timeoutMs: 60_000,
      intervalMs: 250,
      what: `${expected} offsets in the lake`,
    })
  } finally {
    await archiver.stop()
  }
}

describe('compaction', () => {
  let env: TestEnv
  let redis: RedisClient
  /** The archived lake before any compaction; each test compacts a copy of it. */
  let pristine: string
  let scratch: string
  let total = 0
  let readings = 0
  let ends: number[] = []

  beforeAll(async () => {
    env = await createTestEnv()
    redis = await connectRedis(env.config)
    const { items, invalid } = records(3_000, 11, Date.UTC(2026, 10, 22, 23, 45))
    await produceAll(env.config, env.topics.readings, items)
    total = items.length
    readings = total - invalid
    pristine = env.config.datalakeDir
    await archiveAll(env.config, total)
    ends = await endOffsets(env)
    scratch = await mkdtemp(path.join(tmpdir(), 'vigil-compact-'))
  })

  afterAll(async () => {
    redis?.destroy()
    await env?.cleanup()
    if (scratch !== undefined) await rm(scratch, { recursive: true, force: true })
  })

  /** A fresh copy of the archived lake and a config pointing at it. */
  async function freshLake(name: string): Promise<Config> {
    const lake = path.join(scratch, name)
    await cp(pristine, lake, { recursive: true })
    return { ...env.config, datalakeDir: lake }
  }

  /** Every offset of the topic exactly once, as a reader of the lake sees it. */
  async function expectExact(lake: string, extra = 0): Promise<View> {
    const view = await readerView(lake)
    expect(view.rows).toBe(total + extra)
    expect(view.distinct).toBe(total + extra)
    if (extra === 0) {
      expect(view.readings).toBe(readings)
      for (const [p, end] of ends.entries()) if (end > 0) expect(view.perPartition.get(p)).toEqual({ n: end, min: 0, max: end - 1 })
    }
    return view
  }

  async function batchReadings(config: Config): Promise<number> {
    const result = await runBatchJob(config, { dates: DAYS, full: true }, { redis })
    return result.readings
  }

  it('rewrites each day, kind and partition into one file holding its offsets once, in order, with the same columns; a second run rewrites nothing', async () => {
    const config = await freshLake('once')
    const lake = config.datalakeDir
    const before = await expectExact(lake)
    const scanBefore = await scanLake(lake, env.topics.readings)
    const groups = new Set(scanBefore.complete.map((f) => `${f.kind}/${f.dt}/${f.partition}`)).size
    expect(before.files).toBeGreaterThan(groups * 4)

    const result = await compactLake(config)
    expect(result.skipped).toEqual([])
    expect(result.filesBefore).toBe(before.files)
    expect(result.filesAfter).toBe(groups)
    const after = await expectExact(lake)
    expect(after.files).toBe(groups)
    // No leftovers: every raw file is a compacted one or the only file of its group.
    expect((await rawNames(lake)).filter((n) => !n.endsWith('.parquet'))).toEqual([])

    const scanAfter = await scanLake(lake, env.topics.readings)
    expect(scanAfter.next).toEqual(scanBefore.next)
    expect(scanAfter.incomplete).toEqual([])
    expect(scanAfter.superseded).toEqual([])

    const db = await DuckDBInstance.create(':memory:')
    const conn = await db.connect()
    try {
      // Parquet types, not DuckDB's: a millisecond timestamp must stay one.
      const schema = async (file: string) =>
        (await conn.runAndReadAll(`SELECT name, type, converted_type, logical_type FROM parquet_schema(${sqlString(file)}) ORDER BY column_id`))
          .getRows()
          .map((r) => r.map(String).join(' '))
      for (const kind of RAW_KINDS) {
        const source = scanBefore.complete.find((f) => f.kind === kind) as (typeof scanBefore.complete)[number]
        const compacted = scanAfter.complete.find((f) => f.kind === kind && f.compacted === true) as (typeof scanAfter.complete)[number]
        expect(await schema(compacted.path)).toEqual(await schema(path.join(pristine, path.relative(lake, source.path))))
        const disorder = (
          await conn.runAndReadAll(
            `SELECT count(*)::INTEGER FROM (SELECT kafka_offset - lag(kafka_offset) OVER () AS step FROM read_parquet(${sqlString(compacted.path)})) WHERE step <= 0`,
          )
        ).getRows()[0]?.[0]
        expect(disorder).toBe(0)
      }
    } finally {
      conn.closeSync()
      db.closeSync()
    }

    expect(await batchReadings(config)).toBe(readings)
    const again = await compactLake(config)
    expect({ written: again.written, filesAfter: again.filesAfter, cleaned: again.cleaned }).toEqual({ written: 0, filesAfter: groups, cleaned: 0 })
  })

  it('keeps every offset once for readers at every step of a rewrite, and the archiver resumes where it was', async () => {
    const config = await freshLake('steps')
    const lake = config.datalakeDir
    const next = (await scanLake(lake, env.topics.readings)).next
    const checkedWithBatch = new Set<CompactStep>()
    let steps = 0
    await compactLake(
      config,
      {},
      {
        async onStep(step) {
          steps++
          await expectExact(lake)
          const scan = await scanLake(lake, env.topics.readings)
          expect(scan.next).toEqual(next)
          expect(scan.incomplete).toEqual([])
          // The batch job itself, once at each kind of step (it takes a second).
          if (!checkedWithBatch.has(step)) {
            checkedWithBatch.add(step)
            expect(await batchReadings(config)).toBe(readings)
          }
        },
      },
    )
    expect([...checkedWithBatch].sort()).toEqual(['deleted', 'renamed', 'written'])
    expect(steps).toBeGreaterThan(20)
  })

  for (const [step, nth] of [
    ['written', 3],
    ['renamed', 2],
    ['deleted', 1],
  ] as const) {
    it(`leaves a compaction killed after step "${step}" readable with no duplicate, and the next run finishes or undoes it`, async () => {
      const config = await freshLake(`killed-${step}`)
      const lake = config.datalakeDir
      const next = (await scanLake(lake, env.topics.readings)).next
      let seen = 0
      await expect(
        compactLake(
          config,
          {},
          {
            onStep(s) {
              if (s === step && ++seen === nth) throw new Error('killed here')
            },
          },
        ),
      ).rejects.toThrow('killed here')
      const names = await rawNames(lake)
      if (step === 'written') expect(names.some((n) => n.endsWith('.compacting'))).toBe(true)
      else expect(names.some((n) => n.endsWith('-compacted.parquet'))).toBe(true)
      await expectExact(lake)
      expect((await scanLake(lake, env.topics.readings)).next).toEqual(next)
      expect(await batchReadings(config)).toBe(readings)

      // A killed process leaves its lock behind: the next run takes it over.
      const dead = spawn(process.execPath, ['-e', ''])
      await once(dead, 'exit')
      await writeFile(lockFile(lake, 'compaction', env.topics.readings), String(dead.pid))
      const result = await compactLake(config)
      expect(result.cleaned).toBeGreaterThan(0)
      await expectExact(lake)
      const scan = await scanLake(lake, env.topics.readings)
      expect(scan.superseded).toEqual([])
      expect(scan.next).toEqual(next)
      expect((await rawNames(lake)).filter((n) => !n.endsWith('.parquet'))).toEqual([])
      expect(result.filesAfter).toBe(new Set(scan.complete.map((f) => `${f.kind}/${f.dt}/${f.partition}`)).size)
    })
  }

  it('leaves the lake exact when `vigil compact` is killed with SIGKILL mid-run, and the next run completes it', async () => {
    const config = await freshLake('sigkill')
    const lake = config.datalakeDir
    // Many small runs so the kill lands among rewrites.
    const child = spawn(process.execPath, ['bin/vigil.js', 'compact', '--max-rows-per-file', '60'], {
      cwd: root,
      env: { ...process.env, VIGIL_TOPIC_PREFIX: config.topicPrefix, VIGIL_DATALAKE_DIR: lake, VIGIL_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'inherit'],
    })
    const exited = once(child, 'exit')
    await pollUntil(async () => (await rawNames(lake)).filter((n) => n.endsWith('-compacted.parquet')).length >= 3 || undefined, {
      timeoutMs: 60_000,
      intervalMs: 5,
      what: 'the compaction to rename its third file',
      giveUpIf: () => (child.exitCode === null ? undefined : `vigil compact exited (${child.exitCode})`),
    })
    child.kill('SIGKILL')
    await exited
    await expectExact(lake)
    expect(await batchReadings(config)).toBe(readings)
    const result = await compactLake(config, { maxRowsPerFile: 60 })
    expect(result.skipped).toEqual([])
    await expectExact(lake)
    expect((await rawNames(lake)).filter((n) => !n.endsWith('.parquet'))).toEqual([])
  })

  it('lists the day again when the files a batch job listed are compacted away before it reads them', async () => {
    const config = await freshLake('race')
    // A first run records the day's files; the view's key is then dropped so the next run
    // recomputes after it has listed the same files (the incremental check reads Redis).
    await runBatchJob(config, { dates: DAYS, full: true }, { redis })
    await redis.del(DAYS.map((d) => redisKeys(config.redisPrefix).batchDaily(d)))
    let compactions = 0
    const racing = new Proxy(redis, {
      get(target, key) {
        if (key === 'exists') {
          return async (...args: Parameters<RedisNodeClient['exists']>) => {
            if (compactions++ === 0) await compactLake(config)
            return target.exists(...args)
          }
        }
        const value = Reflect.get(target, key) as unknown
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
      },
    })
    const result = await runBatchJob(config, { dates: DAYS }, { redis: racing })
    expect(compactions).toBeGreaterThan(0)
    expect(result.readings).toBe(readings)
    expect(result.dates).toEqual(DAYS)
  })

  it('runs beside an archiver that keeps writing the same days, each offset ending in the lake once', async () => {
    const config = await freshLake('beside')
    const lake = config.datalakeDir
    const more = records(1_200, 12, Date.UTC(2026, 10, 22, 23, 58))
    const archiver = await start({ ...config, archiver: archiverOptions({ flushRecords: 40, flushIntervalMs: 200 }) })
    let compactions = 0
    try {
      let sent = total
      for (let i = 0; i < more.items.length; i += 200) {
        const chunk = more.items.slice(i, i + 200)
        // Records arrive while a compaction runs: the archiver flushes them into the very folders
        // being compacted, beside the files the previous chunks left there.
        await Promise.all([produceAll(config, env.topics.readings, chunk), compactLake(config)])
        compactions++
        sent += chunk.length
        await pollUntil(async () => (await readerView(lake)).distinct >= sent || undefined, {
          timeoutMs: 60_000,
          intervalMs: 100,
          what: `${sent} offsets in the lake`,
        })
        const view = await readerView(lake)
        expect(view.rows).toBe(view.distinct)
      }
    } finally {
      await archiver.stop()
    }
    expect(compactions).toBe(6)
    await compactLake(config)
    const view = await expectExact(lake, more.items.length)
    expect(view.readings).toBe(readings + more.items.length - more.invalid)
  })
})
