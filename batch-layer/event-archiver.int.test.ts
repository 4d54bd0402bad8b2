import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { copyFile, readdir } from 'node:fs/promises'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { Consumer } from '@platformatic/kafka'
import { DuckDBInstance } from '@duckdb/node-api'
import { createTestEnv, type TestEnv } from '../test/support.ts'
import { kafkaBaseOptions } from '../lib/kafka.ts'
import { pollUntil } from '../lib/backoff.ts'
import type { ClinicalEvent } from '../lib/contract/events.ts'
import { produceAll, type ProduceItem } from './synthetic.ts'
import { eventsDir, fileName, scanEvents, tempName } from './lake.ts'
import { sqlString } from './parquet.ts'
import { archiveEvents } from './event-archiver.ts'
import { archiverOptions } from './config.ts'

const root = path.resolve(import.meta.dirname, '..')
let env: TestEnv | undefined

afterEach(async () => {
  await env?.cleanup()
  env = undefined
})

/** The columns the training code reads (docs/CONTRACT.md, The data lake), in order, with their types. */
const COLUMNS = [
  ['event_id', 'VARCHAR'],
  ['patient_id', 'VARCHAR'],
  ['kind', 'VARCHAR'],
  ['onset', 'TIMESTAMP_MS'],
  ['plateau', 'TIMESTAMP_MS'],
  ['recovery', 'TIMESTAMP_MS'],
  ['end', 'TIMESTAMP_MS'],
  ['severity', 'DOUBLE'],
  ['source', 'VARCHAR'],
  ['recorded_by', 'VARCHAR'],
  ['recorded_at', 'TIMESTAMP_MS'],
  ['note', 'VARCHAR'],
  ['kafka_partition', 'INTEGER'],
  ['kafka_offset', 'BIGINT'],
  ['kafka_ts', 'TIMESTAMP_MS'],
  ['reject_reason', 'VARCHAR'],
  ['raw', 'BLOB'],
]

const ONSET = Date.UTC(2026, 10, 29, 8, 0)

/** `n` events of 12 patients (so every partition gets some), every fourth a clinician's with every optional field. */
function events(n: number, from = 0): ClinicalEvent[] {
  return Array.from({ length: n }, (_, k): ClinicalEvent => {
    const i = from + k
    const patientId = `p-${String(i % 12).padStart(4, '0')}`
    const onset = ONSET + i * 60_000
    if (i % 4 === 0) {
      return {
        v: 1,
        eventId: `ev-${i}`,
        patientId,
        kind: 'rapid-response-call',
        onset,
        plateau: onset + 1_000,
        recovery: onset + 2_000,
        end: onset + 3_000,
        severity: 0.5,
        source: 'clinician',
        recordedBy: 'nurse-1',
        recordedAt: onset + 4_000,
        note: `it's note ${i}`,
      }
    }
    return { v: 1, eventId: `sim:${patientId}:hypotension:${onset}`, patientId, kind: 'hypotension', onset, source: 'simulator', recordedAt: onset }
  })
}

/** Records that fail parseClinicalEvent: not JSON, empty, and a schema failure. */
const INVALID: ProduceItem[] = [
  { key: 'p-0001', value: '{"v":1,"eventId":' },
  { key: 'p-0002', value: '' },
  {
    key: 'p-0003',
    value: JSON.stringify({ v: 1, eventId: 'bad kind', patientId: 'p-0003', kind: 'Hypo Tension', onset: 1, source: 'simulator', recordedAt: 1 }),
  },
]

const asItems = (list: readonly ClinicalEvent[]): ProduceItem[] => list.map((e) => ({ key: e.patientId, value: JSON.stringify(e) }))

async function withDuckDB<T>(fn: (run: (sql: string) => Promise<Record<string, unknown>[]>) => Promise<T>): Promise<T> {
  const db = await DuckDBInstance.create(':memory:')
  const conn = await db.connect()
  try {
    return await fn(async (sql) => (await conn.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[])
  } finally {
    conn.closeSync()
    db.closeSync()
  }
}

/** The glob the training code reads. */
const lakeGlob = (e: TestEnv) => sqlString(path.join(eventsDir(e.config.datalakeDir), '*.parquet'))

/** Every (partition, offset) the events folder holds: rows, distinct offsets, rejected rows, and per partition count, min and max. */
async function lakeOffsets(e: TestEnv): Promise<{ rows: number; distinct: number; rejected: number; perPartition: Record<number, [number, number, number]> }> {
  return withDuckDB(async (run) => {
    const [t] = await run(
      `SELECT count(*)::INTEGER AS rows, count(DISTINCT (kafka_partition, kafka_offset))::INTEGER AS distinct, count(*) FILTER (reject_reason IS NOT NULL)::INTEGER AS rejected FROM read_parquet(${lakeGlob(e)})`,
    )
    const per = await run(
      `SELECT kafka_partition AS p, count(*)::INTEGER AS n, min(kafka_offset)::INTEGER AS lo, max(kafka_offset)::INTEGER AS hi FROM read_parquet(${lakeGlob(e)}) GROUP BY 1`,
    )
    const perPartition: Record<number, [number, number, number]> = {}
    for (const r of per) perPartition[r.p as number] = [r.n as number, r.lo as number, r.hi as number]
    return { rows: t?.rows as number, distinct: t?.distinct as number, rejected: t?.rejected as number, perPartition }
  })
}

/** Each partition's end offset of the events topic: the lake must hold 0..end-1 of each, once. */
async function expectEveryOffsetOnce(e: TestEnv, rejected: number): Promise<void> {
  const consumer = new Consumer({ ...kafkaBaseOptions(e.config, 'test-offsets'), groupId: `${e.config.topicPrefix}offsets` })
  let ends: number[]
  try {
    ends = ((await consumer.listOffsets({ topics: [e.topics.events] })).get(e.topics.events) ?? []).map(Number)
  } finally {
    await consumer.close()
  }
  const total = ends.reduce((a, b) => a + b, 0)
  const lake = await lakeOffsets(e)
  expect({ rows: lake.rows, distinct: lake.distinct, rejected: lake.rejected }).toEqual({ rows: total, distinct: total, rejected })
  const expected: Record<number, [number, number, number]> = {}
  for (const [p, end] of ends.entries()) if (end > 0) expected[p] = [end, 0, end - 1]
  expect(lake.perPartition).toEqual(expected)
}

async function archiveUntil(e: TestEnv, records: number, flushRecords: number): Promise<number> {
  const archiver = await archiveEvents({ ...e.config, archiver: archiverOptions() }, { flush: { flushRecords, flushIntervalMs: 300 } })
  try {
    await pollUntil(async () => archiver.stats().consumed === records || undefined, { timeoutMs: 60_000, what: `${records} events consumed` })
  } finally {
    await archiver.stop()
  }
  expect(archiver.stats()).toMatchObject({ consumed: records, records })
  return archiver.stats().files
}

describe('the event archiver', () => {
  it('archives every offset of vitals.events once, invalid records with their reason and bytes, under the column names the training code reads', async () => {
    env = await createTestEnv()
    const e = env
    const first = events(40)
    await produceAll(e.config, e.topics.events, [...asItems(first), ...INVALID])
    // Flushes of at most 7 records: several files a partition, each named for its range.
    const files = await archiveUntil(e, 43, 7)
    expect(files).toBeGreaterThanOrEqual(7)
    await expectEveryOffsetOnce(e, INVALID.length)

    const names = await readdir(eventsDir(e.config.datalakeDir))
    expect(names.every((n) => /^test-[0-9a-f]{8}\.vitals\.events-p\d-\d+-\d+-of1\.parquet$/.test(n))).toBe(true)
    expect(names).toHaveLength(files)

    await withDuckDB(async (run) => {
      // DuckDB reads a millisecond timestamp back as TIMESTAMP; the file's own schema says MILLIS.
      const described = await run(`DESCRIBE SELECT * FROM read_parquet(${lakeGlob(e)})`)
      expect(described.map((c) => [c.column_name, c.column_type])).toEqual(COLUMNS.map(([name, type]) => [name, type === 'TIMESTAMP_MS' ? 'TIMESTAMP' : type]))
      const millis = await run(`SELECT DISTINCT name FROM parquet_schema(${lakeGlob(e)}) WHERE converted_type = 'TIMESTAMP_MILLIS' ORDER BY name`)
      expect(millis.map((c) => c.name)).toEqual(
        COLUMNS.filter(([, type]) => type === 'TIMESTAMP_MS')
          .map(([name]) => name)
          .sort(),
      )
      const rows = await run(
        `SELECT * EXCLUDE (raw, kafka_ts, kafka_partition, kafka_offset), epoch_ms(onset)::DOUBLE AS onset_ms, epoch_ms("end")::DOUBLE AS end_ms, epoch_ms(recorded_at)::DOUBLE AS recorded_ms, decode(raw) AS raw_text, kafka_ts IS NOT NULL AS has_ts
         FROM read_parquet(${lakeGlob(e)}) WHERE reject_reason IS NULL ORDER BY event_id`,
      )
      expect(rows).toHaveLength(40)
      const clinician = rows.find((r) => r.event_id === 'ev-4') as Record<string, unknown>
      const sent = first[4] as ClinicalEvent
      expect(clinician).toMatchObject({
        patient_id: 'p-0004',
        kind: 'rapid-response-call',
        onset_ms: sent.onset,
        end_ms: sent.end,
        recorded_ms: sent.recordedAt,
        severity: 0.5,
        source: 'clinician',
        recorded_by: 'nurse-1',
        note: "it's note 4",
        has_ts: true,
        raw_text: JSON.stringify(sent),
      })
      const simulated = rows.find((r) => r.event_id === (first[1] as ClinicalEvent).eventId) as Record<string, unknown>
      expect(simulated).toMatchObject({
        kind: 'hypotension',
        source: 'simulator',
        plateau: null,
        recovery: null,
        end: null,
        severity: null,
        recorded_by: null,
        note: null,
      })
      // A refused record keeps only its Kafka coordinates, its bytes and why.
      const refused = await run(
        `SELECT decode(raw) AS raw_text, reject_reason, event_id, patient_id, kind, onset, source, recorded_at, kafka_ts IS NOT NULL AS has_ts FROM read_parquet(${lakeGlob(e)}) WHERE reject_reason IS NOT NULL ORDER BY raw_text`,
      )
      expect(refused.map((r) => r.raw_text)).toEqual(INVALID.map((i) => i.value).sort())
      for (const r of refused) {
        expect(r).toMatchObject({ event_id: null, patient_id: null, kind: null, onset: null, source: null, recorded_at: null, has_ts: true })
        expect(String(r.reject_reason).length).toBeGreaterThan(0)
      }
      expect(refused.find((r) => r.raw_text === '')?.reject_reason).toMatch(/^not JSON/)
      expect(refused.find((r) => String(r.raw_text).includes('bad kind'))?.reject_reason).toMatch(/kind/)
    })
  })

  it('resumes after the lake on restart: a flush killed between its write and its rename is deleted and archived again, once', async () => {
    env = await createTestEnv()
    const e = env
    await produceAll(e.config, e.topics.events, asItems(events(30)))
    await archiveUntil(e, 30, 4)
    await expectEveryOffsetOnce(e, 0)

    // What a kill between write and rename leaves: a written, fsynced file under its temporary
    // name, for the range the next flush of its partition takes (here a copy of a complete file,
    // so its rows would be duplicates if it were ever read or renamed).
    const scan = await scanEvents(e.config.datalakeDir, e.topics.events)
    const victim = scan.complete[0] as (typeof scan.complete)[number]
    const next = scan.next.get(victim.partition) as number
    const temp = path.join(
      eventsDir(e.config.datalakeDir),
      tempName(fileName({ topic: e.topics.events, partition: victim.partition, first: next, last: next + 3, parts: 1 })),
    )
    await copyFile(victim.path, temp)
    // Another topic's temporary file in the same folder is not this archiver's to delete.
    const foreign = path.join(eventsDir(e.config.datalakeDir), tempName(fileName({ topic: 'other.vitals.events', partition: 0, first: 0, last: 1, parts: 1 })))
    await copyFile(victim.path, foreign)

    await produceAll(e.config, e.topics.events, [...asItems(events(20, 30)), ...INVALID])
    // The restart consumes only what the lake does not hold: the 23 new records.
    await archiveUntil(e, 23, 4)
    const names = await readdir(eventsDir(e.config.datalakeDir))
    expect(names).not.toContain(path.basename(temp))
    expect(names).toContain(path.basename(foreign))
    await expectEveryOffsetOnce(e, INVALID.length)
    // A third start consumes only the one record produced since: the lake decides where each partition resumes.
    await produceAll(e.config, e.topics.events, asItems(events(1, 50)))
    await archiveUntil(e, 1, 4)
    await expectEveryOffsetOnce(e, INVALID.length)
  })

  it('runs inside `vigil archive`: killed with SIGKILL and started again, it loses no event and archives none twice', async () => {
    env = await createTestEnv()
    const e = env
    const start = () => {
      const child = spawn(process.execPath, ['bin/vigil.js', 'archive'], {
        cwd: root,
        env: { ...process.env, VIGIL_TOPIC_PREFIX: e.config.topicPrefix, VIGIL_DATALAKE_DIR: e.config.datalakeDir, VIGIL_LOG_LEVEL: 'info' },
        stdio: ['ignore', 'ignore', 'pipe'],
      })
      child.stderr?.setEncoding('utf8')
      let log = ''
      child.stderr?.on('data', (s: string) => {
        log += s
      })
      const exitedEarly = () =>
        child.exitCode === null && child.signalCode === null ? undefined : `the archiver exited (${child.exitCode ?? child.signalCode}): ${log}`
      return { child, log: () => log, exitedEarly }
    }
    const files = async () => (await readdir(eventsDir(e.config.datalakeDir)).catch(() => [] as string[])).filter((n) => n.endsWith('.parquet')).length
    const first = start()
    try {
      await pollUntil(async () => first.log().includes(`and ${e.topics.events} into`) || undefined, {
        timeoutMs: 30_000,
        what: 'the event archiver to run',
        giveUpIf: first.exitedEarly,
      })
      await produceAll(e.config, e.topics.events, asItems(events(30)))
      // The default flush age (5 s) writes them; then more arrive, which the kill may catch in a buffer.
      await pollUntil(async () => (await files()) > 0 || undefined, { timeoutMs: 30_000, what: 'a first events file', giveUpIf: first.exitedEarly })
      await produceAll(e.config, e.topics.events, [...asItems(events(30, 30)), ...INVALID])
    } finally {
      const exited = once(first.child, 'exit')
      if (first.child.exitCode === null && first.child.signalCode === null) first.child.kill('SIGKILL')
      await exited
    }

    const second = start()
    try {
      await pollUntil(async () => (await lakeOffsets(e)).distinct === 63 || undefined, {
        timeoutMs: 60_000,
        intervalMs: 500,
        what: 'every event in the lake',
        giveUpIf: second.exitedEarly,
      })
    } finally {
      const exited = once(second.child, 'exit')
      second.child.kill('SIGTERM')
      const [code, signal] = await exited
      expect({ code, signal }).toEqual({ code: 0, signal: null })
    }
    // The stop's status line counts the events beside the readings.
    expect(second.log()).toMatch(/archived 0 records \(0 readings, 0 rejected\) in 0 files, \d+ events \(\d rejected\) in \d+ files/)
    await expectEveryOffsetOnce(e, INVALID.length)
    expect((await readdir(eventsDir(e.config.datalakeDir))).filter((n) => !n.endsWith('.parquet'))).toEqual([])
  })
})
