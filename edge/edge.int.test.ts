import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import { SEIZURE, SEIZURE_FIRST_READING } from './fixtures/seizure.ts'
import { afterEach, describe, expect, it } from 'vitest'
import { createLogger, type Logger } from '../lib/log.ts'
import { loadConfig } from '../lib/config.ts'
import { pollUntil } from '../lib/backoff.ts'
import { parseReading, type Reading } from '../lib/contract/schema.ts'
import { readTopic, recordCount, type TopicRecord } from '../test/read-topic.ts'
import * as ingestion from '../ingestion/index.ts'
import { createTestEnv, freePort, startTcpProxy, type TestEnv } from '../test/support.ts'
import { edgeOptions, run, start, FAULT_KINDS } from './index.ts'

const START = '2025-11-22T06:00:00Z'

function capturingLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = []
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk))
      done()
    },
  })
  return { log: createLogger({ level: 'info', destination, pretty: false }), lines }
}

const quiet = createLogger({ level: 'warn', destination: process.stderr })
const envs: TestEnv[] = []
async function env(): Promise<TestEnv> {
  const e = await createTestEnv()
  envs.push(e)
  return e
}
afterEach(async () => {
  for (const e of envs.splice(0)) await e.cleanup()
})

function byPartitionValues(records: TopicRecord[]): string[] {
  return records.map((r) => `${r.partition}:${r.value.toString()}`)
}

describe('vigil edge (simulated devices into Kafka)', () => {
  it('produces exactly the requested count, keyed by patient, each patient in event-time order with per-device seq 1, 2, 3...', async () => {
    const e = await env()
    const summary = await run(e.config, { patients: 12, rate: 'max', count: 5_000, seed: 7, start: START }, { log: quiet })
    expect(summary).toMatchObject({ sent: 5_000, acked: 5_000, unacknowledged: 0, stoppedBy: 'count', seed: 7, startMs: Date.parse(START) })
    expect(await recordCount(e.config, e.topics.readings)).toBe(5_000)
    const records = await readTopic(e.config, e.topics.readings, 5_000)
    const lastTs = new Map<string, number>()
    const lastSeq = new Map<string, number>()
    const partitionOf = new Map<string, number>()
    for (const rec of records) {
      const parsed = parseReading(rec.value)
      expect(parsed.ok).toBe(true)
      const r = (parsed as { reading: Reading }).reading
      expect(rec.key).toBe(r.patientId)
      expect(partitionOf.get(r.patientId) ?? rec.partition).toBe(rec.partition)
      partitionOf.set(r.patientId, rec.partition)
      expect(r.ts).toBeGreaterThanOrEqual(lastTs.get(r.patientId) ?? 0)
      lastTs.set(r.patientId, r.ts)
      expect(r.seq).toBe((lastSeq.get(r.deviceId) ?? 0) + 1)
      lastSeq.set(r.deviceId, r.seq)
    }
    expect(partitionOf.size).toBe(12)
    // Each patient's first nurse round (within the first 30 s): no vitals, oxygen and ACVPU; the COPD patients on oxygen.
    const rounds = records.map((rec) => JSON.parse(rec.value.toString()) as Reading).filter((r) => r.deviceId.startsWith('obs-'))
    expect(rounds.map((r) => r.patientId).sort()).toEqual(Array.from({ length: 12 }, (_, i) => `p-${String(i + 1).padStart(4, '0')}`))
    for (const r of rounds) expect(r).toMatchObject({ vitals: {}, onOxygen: r.patientId === 'p-0003' || r.patientId === 'p-0009', consciousness: 'A' })
  })

  it('gives identical bytes on the topic for two runs with the same seed and start', async () => {
    const a = await env()
    const b = await env()
    const options = { patients: 8, rate: 'max' as const, count: 3_000, seed: 99, start: START, faults: 0.05 }
    await run(a.config, options, { log: quiet })
    await run(b.config, options, { log: quiet })
    const ra = byPartitionValues(await readTopic(a.config, a.topics.readings, 3_000))
    const rb = byPartitionValues(await readTopic(b.config, b.topics.readings, 3_000))
    expect(ra).toHaveLength(3_000)
    expect(rb).toEqual(ra)
  })

  it('obeys --rate precisely: --duration 1 at 400 readings/s sends exactly 400, spread over the second', async () => {
    const e = await env()
    const t0 = performance.now()
    const summary = await run(e.config, { patients: 20, rate: 400, duration: 1, seed: 3 }, { log: quiet })
    const elapsed = performance.now() - t0
    expect(summary.sent).toBe(400)
    expect(summary.acked).toBe(400)
    expect(summary.stoppedBy).toBe('duration')
    expect(elapsed).toBeGreaterThanOrEqual(990)
    expect(await recordCount(e.config, e.topics.readings)).toBe(400)
  })

  it('injects every kind of fault and counts each one as it appears on the topic', async () => {
    const e = await env()
    const summary = await run(e.config, { patients: 12, rate: 'max', count: 4_000, seed: 5, start: START, faults: 0.4 }, { log: quiet })
    for (const kind of FAULT_KINDS) expect(summary.faults[kind], kind).toBeGreaterThan(20)
    const records = await readTopic(e.config, e.topics.readings, 4_000)
    expect(records).toHaveLength(4_000)
    let malformed = 0
    let schema = 0
    let implausible = 0
    const seen = new Map<string, number>()
    for (const rec of records) {
      const p = parseReading(rec.value)
      if (!p.ok) {
        if (p.reason === 'MALFORMED_JSON') malformed++
        else schema++
        continue
      }
      const v = p.reading.vitals
      if (
        (v.heartRate ?? 0) > 300 ||
        (v.spo2 ?? 0) > 100 ||
        (v.glucose ?? 0) < 0 ||
        (v.systolic ?? 0) > 300 ||
        (v.diastolic ?? 0) < 0 ||
        (v.respRate ?? 0) > 100 ||
        (v.temperature ?? 0) > 45
      )
        implausible++
      const id = `${p.reading.deviceId}/${p.reading.seq}`
      seen.set(id, (seen.get(id) ?? 0) + 1)
    }
    const duplicates = [...seen.values()].reduce((s, n) => s + n - 1, 0)
    expect(malformed).toBe(summary.faults.malformedJson)
    expect(schema).toBe(summary.faults.missingField + summary.faults.wrongType)
    expect(implausible).toBe(summary.faults.impossibleValue)
    expect(duplicates).toBe(summary.faults.duplicate)
    expect(summary.expectedRejected).toBe(malformed + schema + implausible)
  })

  it('holds readings while the broker is unreachable, reports the outage, and delivers every one exactly once when it is back', async () => {
    const e = await env()
    const port = await freePort()
    const config = loadConfig({ kafkaBrokers: `127.0.0.1:${port}`, topicPrefix: e.config.topicPrefix, logLevel: 'info' }, {})
    const { log, lines } = capturingLogger()
    const edge = await start({ ...config, edge: edgeOptions({ patients: 6, rate: 'max', count: 2_000, seed: 4, start: START }) }, { log })
    await pollUntil(async () => lines.some((l) => l.includes('Kafka unreachable')), { timeoutMs: 30_000, what: 'the outage to be reported' })
    expect(edge.stats().sent).toBeGreaterThan(0)
    const proxy = await startTcpProxy(port, e.config.kafkaBrokers[0]!)
    try {
      const summary = await edge.done
      expect(summary).toMatchObject({ sent: 2_000, acked: 2_000, unacknowledged: 0 })
      expect(summary.outages).toBeGreaterThanOrEqual(1)
      expect(summary.outageMs).toBeGreaterThan(0)
      expect(lines.some((l) => l.includes('Kafka reachable again'))).toBe(true)
    } finally {
      await edge.stop()
      await proxy.close()
    }
    expect(await recordCount(e.config, e.topics.readings)).toBe(2_000)
    const values = (await readTopic(e.config, e.topics.readings, 2_000)).map((r) => r.value.toString())
    expect(new Set(values).size).toBe(2_000)
  })

  it('stops at once on stop() and reports what it sent', async () => {
    const e = await env()
    const edge = await start({ ...e.config, edge: edgeOptions({ patients: 6, seed: 1, speedup: 1 }) }, { log: quiet })
    await pollUntil(async () => edge.stats().sent > 0, { timeoutMs: 10_000, what: 'the first readings' })
    await edge.stop()
    const summary = await edge.done
    expect(summary.stoppedBy).toBe('stop')
    expect(summary.acked).toBe(summary.sent)
    expect(await recordCount(e.config, e.topics.readings)).toBe(summary.sent)
  })
})

describe('vigil edge --via http (through the gateway)', () => {
  it('sends valid readings through the gateway to Kafka; schema faults are refused with 400 and counted', async () => {
    const e = await env()
    const config = { ...e.config, deviceTokens: ['edge-test-device-token'] }
    const gw = await ingestion.start({ ...config, gateway: ingestion.gatewayOptions({ host: '127.0.0.1', port: 0 }) }, { log: quiet })
    let schemaFaults: number
    try {
      const summary = await run(
        config,
        { patients: 12, rate: 'max', count: 3_000, seed: 8, start: START, faults: 0.2, via: 'http', gatewayUrl: gw.url, httpBatch: 500 },
        { log: quiet },
      )
      schemaFaults = summary.faults.missingField + summary.faults.wrongType + summary.faults.malformedJson
      expect(schemaFaults).toBeGreaterThan(0)
      expect(summary).toMatchObject({ sent: 3_000, refusedByGateway: schemaFaults, acked: 3_000 - schemaFaults, unacknowledged: 0 })
    } finally {
      await gw.stop()
    }
    expect(await recordCount(e.config, e.topics.readings)).toBe(3_000 - schemaFaults)
  })
})

describe('vigil edge --replay (CSV into Kafka)', () => {
  it('streams the seizure export row by row, keyed by its patient ids, and reports rows read, sent and skipped', async () => {
    const e = await env()
    const summary = await run(e.config, { replay: SEIZURE, timezone: 'UTC' }, { log: quiet })
    expect(summary.replay).toEqual({
      file: SEIZURE,
      passes: 1,
      rowsRead: 12_000,
      rowsSent: 12_000,
      rowsSkipped: 0,
      cellsLeftOut: 0,
      cellsLeftOutByColumn: {},
    })
    expect(summary).toMatchObject({ sent: 12_000, acked: 12_000, stoppedBy: 'end-of-file' })
    const records = await readTopic(e.config, e.topics.readings, 12_000)
    const keys = new Set(records.map((r) => r.key))
    expect(keys).toEqual(new Set(['patient_1', 'patient_2', 'patient_3', 'patient_4', 'patient_5']))
    const first = records.map((r) => JSON.parse(r.value.toString()) as Reading).find((r) => r.patientId === 'patient_3' && r.seq === 1)
    expect(first).toEqual(SEIZURE_FIRST_READING)
  })

  it('sends a row with an unknown ACVPU spelling without that cell, its critical vitals included, and counts the cell left out', async () => {
    const e = await env()
    const dir = await mkdtemp(path.join(tmpdir(), 'vigil-replay-'))
    try {
      const file = path.join(dir, 'spelling.csv')
      await writeFile(
        file,
        'time,patient_id,heart_rate_bpm,spo2_percent,on_oxygen,acvpu\n2025-10-10 20:00:00,a,140,82,O2,drowsy\n2025-10-10 20:00:01,a,,,,sleepy\n2025-10-10 20:00:02,a,abc,90,,A\n',
      )
      const summary = await run(e.config, { replay: file }, { log: quiet })
      expect(summary.replay).toMatchObject({ rowsRead: 2, rowsSent: 2, rowsSkipped: 1, cellsLeftOut: 2, cellsLeftOutByColumn: { acvpu: 1, heart_rate_bpm: 1 } })
      const sent = (await readTopic(e.config, e.topics.readings, 2)).map((r) => JSON.parse(r.value.toString()) as Reading)
      expect(sent.map((r) => [r.vitals, r.onOxygen, r.consciousness])).toEqual([
        [{ heartRate: 140, spo2: 82 }, true, undefined],
        [{ spo2: 90 }, undefined, 'A'],
      ])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it("keeps the file's own timing with --realtime, divided by --speedup", async () => {
    const e = await env()
    const dir = await mkdtemp(path.join(tmpdir(), 'vigil-replay-'))
    try {
      const file = path.join(dir, 'three.csv')
      await writeFile(file, 'time,patient_id,heart_rate_bpm\n2025-10-10 20:00:00,a,60\n2025-10-10 20:00:01,a,61\n2025-10-10 20:00:02,a,62\n')
      const t0 = performance.now()
      const summary = await run(e.config, { replay: file, realtime: true, speedup: 2 }, { log: quiet })
      const elapsed = performance.now() - t0
      expect(summary).toMatchObject({ sent: 3, acked: 3, stoppedBy: 'end-of-file' })
      // The last row is 2 s after the first in the file: 1 s of wall-clock time at speedup 2.
      expect(elapsed).toBeGreaterThanOrEqual(990)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('loops with --loop, shifting time forward, until --count', async () => {
    const e = await env()
    const summary = await run(e.config, { replay: SEIZURE, loop: true, count: 13_000 }, { log: quiet })
    expect(summary).toMatchObject({ sent: 13_000, stoppedBy: 'count' })
    expect(summary.replay?.passes).toBe(2)
    const records = await readTopic(e.config, e.topics.readings, 13_000)
    const p3 = records.map((r) => JSON.parse(r.value.toString()) as Reading).filter((r) => r.patientId === 'patient_3')
    for (let i = 1; i < p3.length; i++) {
      expect(p3[i]!.ts).toBeGreaterThan(p3[i - 1]!.ts)
      expect(p3[i]!.seq).toBe(p3[i - 1]!.seq + 1)
    }
  })
})
