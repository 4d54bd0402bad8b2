import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { hostname } from 'node:os'
import { copyFile, readdir } from 'node:fs/promises'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { Consumer } from '@platformatic/kafka'
import { DuckDBInstance } from '@duckdb/node-api'
import { createTestEnv, type TestEnv } from '../test/support.ts'
import { kafkaBaseOptions } from '../lib/kafka.ts'
import { pollUntil } from '../lib/backoff.ts'
import { produceAll, prng, syntheticReadings, type ProduceItem } from './synthetic.ts'
import { exists, fileName, rawDir, scanLake, tempName, type RawKind } from './lake.ts'
import { lockFile } from './lock.ts'
import { claim } from './ownership.ts'
import { start, type Archiver } from './archiver.ts'
import { archiverOptions } from './config.ts'

const root = path.resolve(import.meta.dirname, '..')
let env: TestEnv | undefined

afterEach(async () => {
  await env?.cleanup()
  env = undefined
})

function startArchiverProcess(e: TestEnv, flags: string[] = [], logLevel = 'warn'): ChildProcess {
  const child = spawn(process.execPath, ['bin/vigil.js', 'archive', '--flush-records', '1500', '--flush-interval-ms', '300', ...flags], {
    cwd: root,
    env: { ...process.env, VIGIL_TOPIC_PREFIX: e.config.topicPrefix, VIGIL_DATALAKE_DIR: e.config.datalakeDir, VIGIL_LOG_LEVEL: logLevel },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (s: string) => process.stderr.write(`[archiver ${child.pid}] ${s}`))
  return child
}

/** Resolves once the archiver logged that it runs: from then on it handles SIGTERM. */
async function running(child: ChildProcess): Promise<void> {
  let seen = ''
  await new Promise<void>((resolve, reject) => {
    child.stderr?.on('data', (s: string) => {
      seen += s
      if (seen.includes('archiving ')) resolve()
    })
    child.once('exit', (code, signal) => reject(new Error(`the archiver exited (${code ?? signal}) before it ran`)))
  })
}

async function countLakeFiles(lake: string): Promise<number> {
  let n = 0
  for (const kind of ['readings', 'rejected'] as const) {
    const dir = rawDir(lake, kind)
    for (const dt of await readdir(dir).catch(() => [] as string[])) {
      n += (await readdir(path.join(dir, dt))).filter((f) => f.endsWith('.parquet')).length
    }
  }
  return n
}

interface LakeOffsets {
  rows: number
  distinct: number
  perPartition: Map<number, { n: number; min: number; max: number }>
  readings: number
  rejected: number
}

/** Every (partition, offset) the lake holds, readings and rejected together. */
async function lakeOffsets(lake: string): Promise<LakeOffsets> {
  const db = await DuckDBInstance.create(':memory:')
  const conn = await db.connect()
  try {
    const src = (kind: RawKind) => `read_parquet('${rawDir(lake, kind)}/*/*.parquet', hive_partitioning = true, union_by_name = true)`
    const hasRejected = (await readdir(rawDir(lake, 'rejected')).catch(() => [])).length > 0
    const union =
      `SELECT kafka_partition, kafka_offset, 'r' AS kind FROM ${src('readings')}` +
      (hasRejected ? ` UNION ALL SELECT kafka_partition, kafka_offset, 'x' FROM ${src('rejected')}` : '')
    const totals = (
      await conn.runAndReadAll(
        `SELECT count(*)::INTEGER, count(DISTINCT (kafka_partition, kafka_offset))::INTEGER, count(*) FILTER (kind = 'r')::INTEGER, count(*) FILTER (kind = 'x')::INTEGER FROM (${union})`,
      )
    ).getRows()[0] as number[]
    const per = (
      await conn.runAndReadAll(`SELECT kafka_partition, count(*)::INTEGER, min(kafka_offset)::INTEGER, max(kafka_offset)::INTEGER FROM (${union}) GROUP BY 1`)
    ).getRows() as number[][]
    return {
      rows: totals[0] as number,
      distinct: totals[1] as number,
      readings: totals[2] as number,
      rejected: totals[3] as number,
      perPartition: new Map(per.map((r) => [r[0] as number, { n: r[1] as number, min: r[2] as number, max: r[3] as number }])),
    }
  } finally {
    conn.closeSync()
    db.closeSync()
  }
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

function items(count: number, seed: number, startTs: number): { items: ProduceItem[]; invalid: number } {
  const rnd = prng(seed + 1000)
  let invalid = 0
  const out = syntheticReadings({ count, startTs, seed, patients: 40, stepMs: 50 }).map((r): ProduceItem => {
    const x = rnd()
    if (x < 0.01) {
      invalid++
      return { key: r.patientId, value: '{"v":1,"patientId":' }
    }
    if (x < 0.02) {
      invalid++
      return { key: r.patientId, value: JSON.stringify({ ...r, seq: 'seven' }) }
    }
    return { key: r.patientId, value: JSON.stringify(r) }
  })
  return { items: out, invalid }
}

async function produceInChunks(e: TestEnv, records: readonly ProduceItem[], chunk: number): Promise<void> {
  for (let i = 0; i < records.length; i += chunk) await produceAll(e.config, e.topics.readings, records.slice(i, i + chunk))
}

/** Why a child is no longer running, if it is not (for pollUntil's giveUpIf). */
function exitedEarly(child: ChildProcess): string | undefined {
  if (child.exitCode === null && child.signalCode === null) return undefined
  return `the archiver exited (${child.exitCode ?? child.signalCode})`
}

/** The most complete files any kind, day and partition holds, and whether a compaction left anything behind. */
async function filesPerGroup(e: TestEnv): Promise<{ most: number; groups: number; leftovers: number }> {
  const scan = await scanLake(e.config.datalakeDir, e.topics.readings)
  const counts = new Map<string, number>()
  for (const f of scan.complete) counts.set(`${f.kind}/${f.dt}/${f.partition}`, (counts.get(`${f.kind}/${f.dt}/${f.partition}`) ?? 0) + 1)
  return { most: Math.max(0, ...counts.values()), groups: counts.size, leftovers: scan.superseded.length + scan.compacting.length + scan.temporary.length }
}

/** Every offset 0..end-1 of each partition once, and nothing else. */
async function expectExact(e: TestEnv, total: number, invalid: number): Promise<void> {
  const lake = await lakeOffsets(e.config.datalakeDir)
  expect({ rows: lake.rows, distinct: lake.distinct, rejected: lake.rejected }).toEqual({ rows: total, distinct: total, rejected: invalid })
  for (const [p, end] of (await endOffsets(e)).entries()) if (end > 0) expect(lake.perPartition.get(p)).toEqual({ n: end, min: 0, max: end - 1 })
}

/** Runs an archiver with `options` until the lake holds `total` distinct offsets, stops it, then checks each offset is there once. */
async function archiveAll(e: TestEnv, options: Parameters<typeof archiverOptions>[0], total: number, invalid: number): Promise<void> {
  const archiver = await start({ ...e.config, archiver: archiverOptions(options) })
  try {
    await pollUntil(async () => (await lakeOffsets(e.config.datalakeDir)).distinct === total || undefined, {
      timeoutMs: 60_000,
      what: 'every offset in the lake',
    })
  } finally {
    await archiver.stop()
  }
  await expectExact(e, total, invalid)
}

/** Every file name in the raw folders, hidden ones included. */
async function rawNamesOf(e: TestEnv): Promise<string[]> {
  const out: string[] = []
  for (const kind of ['readings', 'rejected'] as const) {
    for (const dt of await readdir(rawDir(e.config.datalakeDir, kind)).catch(() => [] as string[])) {
      out.push(...(await readdir(path.join(rawDir(e.config.datalakeDir, kind), dt))))
    }
  }
  return out
}

async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGKILL')
  await exited
}

describe('the archiver', () => {
  it('holds every offset of the topic exactly once after being killed with SIGKILL several times under load', async () => {
    env = await createTestEnv()
    const e = env
    const total = 24_000
    const { items: all, invalid } = items(total, 7, Date.UTC(2026, 10, 22, 23, 50))
    const rounds = 4
    const share = total / rounds
    const rnd = prng(42)
    for (let round = 0; round < rounds; round++) {
      const before = await countLakeFiles(e.config.datalakeDir)
      const child = startArchiverProcess(e, [], 'info')
      let producing: Promise<void> = Promise.resolve()
      try {
        await running(child)
        // Each round's share is produced while its archiver runs, so every round has offsets the
        // lake does not hold yet. (Producing all 24 000 up front took under a second: the first
        // three archivers archived everything and the fourth waited for a file that could not come.)
        producing = produceInChunks(e, all.slice(round * share, (round + 1) * share), 1_000)
        // Let it commit at least one more file, then kill it at a random moment of its work.
        await pollUntil(async () => (await countLakeFiles(e.config.datalakeDir)) > before, {
          timeoutMs: 60_000,
          intervalMs: 20,
          what: `archiver ${round + 1} of ${rounds} to write a file`,
          giveUpIf: () => exitedEarly(child),
        })
        await new Promise((r) => setTimeout(r, Math.floor(rnd() * 400)))
      } finally {
        // Also on a failure: a child left running would outlive its topic and log fetch errors.
        await killHard(child)
        await producing
      }
    }
    const ends = await endOffsets(e)
    expect(ends.reduce((a, b) => a + b, 0)).toBe(total)

    const child = startArchiverProcess(e, [], 'info')
    try {
      // The lake may be complete already (the killed runs archived everything): wait for this
      // process to run, so the SIGTERM below tests its clean shutdown, not its start-up.
      await running(child)
      await pollUntil(async () => (await lakeOffsets(e.config.datalakeDir)).distinct === total, {
        timeoutMs: 90_000,
        intervalMs: 500,
        what: 'every offset in the lake',
      })
    } finally {
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      const [code, sig] = await exited
      expect({ code, sig }).toEqual({ code: 0, sig: null })
    }

    const lake = await lakeOffsets(e.config.datalakeDir)
    expect(lake.rows).toBe(total)
    expect(lake.distinct).toBe(total)
    expect(lake.rejected).toBe(invalid)
    expect(lake.readings).toBe(total - invalid)
    for (const [p, end] of ends.entries()) {
      if (end === 0) continue
      // No gaps: offsets 0..end-1 each once.
      expect(lake.perPartition.get(p)).toEqual({ n: end, min: 0, max: end - 1 })
    }
    // No temporary file survives a clean stop.
    for (const kind of ['readings', 'rejected'] as const) {
      for (const dt of await readdir(rawDir(e.config.datalakeDir, kind)).catch(() => [] as string[])) {
        const names = await readdir(path.join(rawDir(e.config.datalakeDir, kind), dt))
        expect(names.filter((n) => !n.endsWith('.parquet'))).toEqual([])
      }
    }
  })

  it("deletes a crash's temporary file and incomplete flush on start, then archives their offsets once", async () => {
    env = await createTestEnv()
    const e = env
    const first = items(600, 3, Date.UTC(2026, 10, 22, 23, 59, 30))
    await produceAll(e.config, e.topics.readings, first.items)
    const a1 = await start({ ...e.config, archiver: archiverOptions({ flushRecords: 40, flushIntervalMs: 200 }) })
    try {
      await pollUntil(async () => a1.stats().consumed === 600 || undefined, { timeoutMs: 60_000, what: 'the first 600 records' })
    } finally {
      await a1.stop()
    }
    expect(a1.stats().records).toBe(600)

    // What a crash between two renames of a flush leaves: one part of a two-part flush (here a
    // copy of a committed file, so its offsets would be duplicates if it were kept), and a
    // temporary file of a flush that was never renamed.
    const scan = await scanLake(e.config.datalakeDir, e.topics.readings)
    const victim = scan.complete.find((f) => f.kind === 'readings') as (typeof scan.complete)[number]
    const next = scan.next.get(victim.partition) as number
    const orphan = path.join(
      path.dirname(victim.path),
      fileName({ topic: e.topics.readings, partition: victim.partition, first: next, last: next + 39, parts: 2 }),
    )
    const temp = path.join(
      path.dirname(victim.path),
      tempName(fileName({ topic: e.topics.readings, partition: victim.partition, first: next, last: next + 9, parts: 1 })),
    )
    await copyFile(victim.path, orphan)
    await copyFile(victim.path, temp)

    const second = items(400, 4, Date.UTC(2026, 10, 23, 0, 10))
    await produceAll(e.config, e.topics.readings, second.items)
    const a2 = await start({ ...e.config, archiver: archiverOptions({ flushRecords: 40, flushIntervalMs: 200 }) })
    try {
      await pollUntil(async () => a2.stats().consumed === 400 || undefined, { timeoutMs: 60_000, what: 'the next 400 records' })
    } finally {
      await a2.stop()
    }
    const names = await readdir(path.dirname(victim.path))
    expect(names).not.toContain(path.basename(temp))
    expect(names).not.toContain(path.basename(orphan))
    const lake = await lakeOffsets(e.config.datalakeDir)
    expect(lake.rows).toBe(1_000)
    expect(lake.distinct).toBe(1_000)
    expect(lake.rejected).toBe(first.invalid + second.invalid)
    // Rejected records keep their reason, detail and original bytes.
    const db = await DuckDBInstance.create(':memory:')
    const conn = await db.connect()
    try {
      const rows = (
        await conn.runAndReadAll(
          `SELECT reason, count(*)::INTEGER, bool_and(length(detail) > 0), bool_and(octet_length(raw) > 0) FROM read_parquet('${rawDir(e.config.datalakeDir, 'rejected')}/*/*.parquet') GROUP BY 1 ORDER BY 1`,
        )
      ).getRowsJS()
      expect(rows.map((r) => r[0])).toEqual(['MALFORMED_JSON', 'SCHEMA'])
      expect(rows.every((r) => r[2] === true && r[3] === true)).toBe(true)
      expect(rows.reduce((a, r) => a + (r[1] as number), 0)).toBe(first.invalid + second.invalid)
    } finally {
      conn.closeSync()
      db.closeSync()
    }
  })

  it('compacts on its own every --compact-interval-ms: a slow stream ends in one file per day, kind and partition, every offset once', async () => {
    env = await createTestEnv()
    const e = env
    // 50 ms apart from 23:59:40: flushes span midnight, so two days are compacted.
    const { items: all, invalid } = items(1_200, 9, Date.UTC(2026, 10, 22, 23, 59, 40))
    const child = startArchiverProcess(e, ['--compact-interval-ms', '2000'], 'info')
    let log = ''
    child.stderr?.on('data', (s: string) => {
      log += s
    })
    let most = 0
    try {
      await running(child)
      // A slow stream: 40 records every 300 ms for 9 s, so the 300 ms flushes leave small files
      // between compactions, and compactions run while flushes land in the same folders.
      for (let i = 0; i < all.length; i += 40) {
        await produceAll(e.config, e.topics.readings, all.slice(i, i + 40))
        await new Promise((r) => setTimeout(r, 300))
      }
      most = await pollUntil(
        async () => {
          const files = await filesPerGroup(e)
          return files.most === 1 && files.leftovers === 0 && (await lakeOffsets(e.config.datalakeDir)).distinct === all.length && files.most
        },
        { timeoutMs: 60_000, intervalMs: 250, what: 'every offset in the lake in one file per day, kind and partition', giveUpIf: () => exitedEarly(child) },
      )
    } finally {
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      const [code, sig] = await exited
      expect({ code, sig }).toEqual({ code: 0, sig: null })
    }
    expect(most).toBe(1)
    await expectExact(e, all.length, invalid)
    const runs = log.match(/compaction: \d+ day\(s\) \([^)]*\), \d+ files before, \d+ after, \d+ written \(\d+ rows\) in \d+\.\d\d s/g) ?? []
    expect(runs.length).toBeGreaterThanOrEqual(2)
    expect((await filesPerGroup(e)).groups).toBeGreaterThanOrEqual(6)
  })

  it('stopped mid-compaction, stops within its budget with the compaction ended and the lake exact', async () => {
    env = await createTestEnv()
    const e = env
    const { items: all, invalid } = items(2_400, 5, Date.UTC(2026, 10, 22, 23, 59, 30))
    await produceAll(e.config, e.topics.readings, all)
    let archiver: Archiver | undefined
    let stopped: Promise<number> | undefined
    let renamed = 0
    archiver = await start(
      { ...e.config, archiver: archiverOptions({ flushRecords: 20, flushIntervalMs: 200, compactIntervalMs: 2_000 }) },
      {
        onCompactStep: (step) => {
          // Stop between two rewrites of the first compaction, without waiting here for the stop.
          if (step !== 'renamed' || ++renamed !== 2 || archiver === undefined) return
          const at = Date.now()
          stopped = archiver.stop().then(() => Date.now() - at)
        },
      },
    )
    try {
      await pollUntil(async () => stopped, { timeoutMs: 60_000, intervalMs: 20, what: 'the second rename of the first compaction' })
    } finally {
      await archiver.stop()
    }
    // The stop's flush, the abort and the end of the compaction: well within the stop's budget.
    expect(await stopped).toBeLessThan(4_000)
    expect(await exists(lockFile(e.config.datalakeDir, 'compaction', e.topics.readings))).toBe(false)
    expect((await filesPerGroup(e)).leftovers).toBe(0)
    const consumed = archiver.stats().consumed
    const lake = await lakeOffsets(e.config.datalakeDir)
    expect({ rows: lake.rows, distinct: lake.distinct }).toEqual({ rows: consumed, distinct: consumed })
    for (const { n, min, max } of lake.perPartition.values()) expect({ n, min }).toEqual({ n: max + 1, min: 0 })

    // The next archiver archives the rest and finishes the compaction.
    archiver = await start({ ...e.config, archiver: archiverOptions({ flushRecords: 20, flushIntervalMs: 200, compactIntervalMs: 1_000 }) })
    try {
      await pollUntil(async () => (await filesPerGroup(e)).most === 1 && (await lakeOffsets(e.config.datalakeDir)).distinct === all.length, {
        timeoutMs: 60_000,
        intervalMs: 250,
        what: 'every offset in one file per day, kind and partition',
      })
    } finally {
      await archiver.stop()
    }
    await expectExact(e, all.length, invalid)
  })

  it('stopped while a compaction step hangs, stops after a bounded wait, and the compaction ends on its own leaving the lake exact', async () => {
    env = await createTestEnv()
    const e = env
    const { items: all, invalid } = items(600, 6, Date.UTC(2026, 10, 22, 12, 0))
    await produceAll(e.config, e.topics.readings, all)
    let archiver: Archiver | undefined
    let stopped: Promise<number> | undefined
    let release: (() => void) | undefined
    archiver = await start(
      { ...e.config, archiver: archiverOptions({ flushRecords: 20, flushIntervalMs: 200, compactIntervalMs: 2_000 }) },
      {
        onCompactStep: async (step) => {
          if (step !== 'written' || stopped !== undefined || archiver === undefined) return
          const at = Date.now()
          stopped = archiver.stop().then(() => Date.now() - at)
          // A step that takes far longer than the stop may wait (a slow disk).
          await new Promise<void>((resolve) => {
            release = resolve
          })
        },
      },
    )
    try {
      await pollUntil(async () => stopped, { timeoutMs: 60_000, intervalMs: 20, what: 'the first compacted file written' })
      const ms = await (stopped as Promise<number>)
      expect(ms).toBeGreaterThanOrEqual(1_900)
      expect(ms).toBeLessThan(4_000)
      // Stopped, with the compaction still holding its lock and its temporary file: readers see the sources.
      const lock = lockFile(e.config.datalakeDir, 'compaction', e.topics.readings)
      expect(await exists(lock)).toBe(true)
      const consumed = archiver.stats().consumed
      const lake = await lakeOffsets(e.config.datalakeDir)
      expect({ rows: lake.rows, distinct: lake.distinct }).toEqual({ rows: consumed, distinct: consumed })
      release?.()
      // Aborted before its rename: it deletes its temporary file and releases the lock.
      await pollUntil(async () => !(await exists(lock)), { timeoutMs: 10_000, intervalMs: 20, what: 'the abandoned compaction to end' })
      expect((await filesPerGroup(e)).leftovers).toBe(0)
      expect((await rawNamesOf(e)).filter((n) => n.endsWith('-compacted.parquet'))).toEqual([])
    } finally {
      release?.()
      await archiver.stop()
    }
    await archiveAll(e, { flushRecords: 20, flushIntervalMs: 200, compactIntervalMs: 0 }, all.length, invalid)
  })

  it('shares the partitions among archivers with their own instance ids: two killed with SIGKILL under load, every offset once', async () => {
    env = await createTestEnv()
    const e = env
    const total = 18_000
    const { items: all, invalid } = items(total, 11, Date.UTC(2026, 10, 22, 12))
    const group = ['a', 'b', 'c'].map((id) => startArchiverProcess(e, ['--instance-id', id], 'info'))
    let restarted: ChildProcess | undefined
    let producing: Promise<void> = Promise.resolve()
    try {
      await Promise.all(group.map(running))
      producing = produceInChunks(e, all, 500)
      await pollUntil(async () => (await countLakeFiles(e.config.datalakeDir)) >= 6, {
        timeoutMs: 60_000,
        intervalMs: 20,
        what: 'the group to write files',
        giveUpIf: () => group.map(exitedEarly).find((why) => why !== undefined),
      })
      // Two members die mid-flush; their partitions move to the third, then one comes back.
      await killHard(group[0]!)
      await new Promise((r) => setTimeout(r, 300))
      await killHard(group[1]!)
      await new Promise((r) => setTimeout(r, 1_500))
      restarted = startArchiverProcess(e, ['--instance-id', 'a'], 'info')
      await running(restarted)
      await producing
      await pollUntil(async () => (await lakeOffsets(e.config.datalakeDir)).distinct === total, {
        timeoutMs: 90_000,
        intervalMs: 500,
        what: 'every offset in the lake',
      })
    } finally {
      await producing.catch(() => undefined)
      for (const child of [...group, restarted]) {
        if (child === undefined || child.exitCode !== null || child.signalCode !== null) continue
        const exited = once(child, 'exit')
        child.kill('SIGTERM')
        await exited
      }
    }
    await expectExact(e, total, invalid)
  })

  it('takes a partition over again when a claim of an older group generation replaced its own, and archives on', async () => {
    env = await createTestEnv()
    const e = env
    const { items: all, invalid } = items(2_000, 17, Date.UTC(2026, 10, 22, 9))
    await produceAll(e.config, e.topics.readings, all.slice(0, 1_000))
    const archiver = await start({ ...e.config, archiver: archiverOptions({ flushRecords: 300, flushIntervalMs: 200, instanceId: 'owner' }) })
    try {
      await pollUntil(async () => (await lakeOffsets(e.config.datalakeDir)).distinct === 1_000 || undefined, {
        timeoutMs: 60_000,
        what: 'the first half in the lake',
      })
      // A live member (the test runner's parent process) whose claim for generation 0 landed
      // after this archiver's: unpatched by a new claim, every later flush was left to it, for ever.
      const stale = `${hostname()} ${process.ppid} lagging x 0`
      for (let partition = 0; partition < (await endOffsets(e)).length; partition++) await claim(e.config.datalakeDir, e.topics.readings, partition, stale)
      await produceAll(e.config, e.topics.readings, all.slice(1_000))
      await pollUntil(async () => (await lakeOffsets(e.config.datalakeDir)).distinct === all.length || undefined, {
        timeoutMs: 60_000,
        what: 'the second half in the lake',
      })
    } finally {
      await archiver.stop()
    }
    await expectExact(e, all.length, invalid)
  })

  it('renames no flush of a partition another archiver has claimed: the range is left to the new owner', async () => {
    env = await createTestEnv()
    const e = env
    const { items: all, invalid } = items(1_000, 13, Date.UTC(2026, 10, 22, 8))
    await produceAll(e.config, e.topics.readings, all)
    // Flushes only at stop: everything consumed is still buffered when another archiver claims it.
    const former = await start({ ...e.config, archiver: archiverOptions({ flushRecords: 100_000, flushIntervalMs: 600_000, instanceId: 'former' }) })
    try {
      await pollUntil(async () => former.stats().consumed === all.length || undefined, { timeoutMs: 60_000, what: 'every record consumed' })
      for (let partition = 0; partition < (await endOffsets(e)).length; partition++)
        // A later generation's owner, its process gone by the time the next archiver claims (pid above pid_max).
        await claim(e.config.datalakeDir, e.topics.readings, partition, `${hostname()} 2147483646 new-owner x ${Number.MAX_SAFE_INTEGER}`)
    } finally {
      await former.stop()
    }
    expect(former.stats().records).toBe(0)
    expect(await rawNamesOf(e)).toEqual([])
    await archiveAll(e, { flushRecords: 300, flushIntervalMs: 200, instanceId: 'owner' }, all.length, invalid)
  })
})
