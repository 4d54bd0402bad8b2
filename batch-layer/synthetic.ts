/**
 * Deterministic synthetic readings for the batch layer's tests and benchmarks: a reading
 * generator (values spread over every clinical band), a bulk producer straight to Kafka, and a
 * generator of a large raw lake written directly by DuckDB (no Kafka) for the batch benchmark.
 */
import { Producer } from '@platformatic/kafka'
import { DuckDBInstance } from '@duckdb/node-api'
import type { Config } from '../lib/config.ts'
import { kafkaBaseOptions } from '../lib/kafka.ts'
import type { Reading } from '../lib/contract/schema.ts'
import { ensureDir, dtDir } from './lake.ts'
import { sqlString } from './parquet.ts'

/** A small fast PRNG (mulberry32): the same seed gives the same readings. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export interface SyntheticOptions {
  count: number
  patients?: number
  /** Event time of the first reading (ms). */
  startTs: number
  /** Event-time step between consecutive readings (ms). */
  stepMs?: number
  seed?: number
}

/**
 * Readings with wide value ranges (every band of every vital is hit) and a mix of devices: a
 * CGM sends glucose alone, a monitor the other six vitals, some only a subset.
 */
export function syntheticReadings(o: SyntheticOptions): Reading[] {
  const rnd = prng(o.seed ?? 1)
  const patients = o.patients ?? 10
  const step = o.stepMs ?? 1_000
  const seqs = new Map<string, number>()
  const out: Reading[] = []
  const pick = (lo: number, hi: number, decimals = 0) => {
    const f = 10 ** decimals
    return Math.round((lo + rnd() * (hi - lo)) * f) / f
  }
  for (let i = 0; i < o.count; i++) {
    const p = `p-${String(1 + Math.floor(rnd() * patients)).padStart(4, '0')}`
    const cgm = rnd() < 0.25
    const deviceId = `${cgm ? 'cgm' : 'mon'}-${p}`
    const seq = (seqs.get(deviceId) ?? 0) + 1
    seqs.set(deviceId, seq)
    const vitals: Reading['vitals'] = cgm
      ? { glucose: pick(35, 320) }
      : {
          heartRate: pick(30, 150),
          spo2: pick(85, 100),
          systolic: pick(80, 230),
          diastolic: pick(35, 125),
          respRate: pick(6, 28),
          temperature: pick(34.5, 40, 1),
        }
    if (!cgm && rnd() < 0.2) delete vitals.temperature
    out.push({ v: 1, patientId: p, deviceId, ts: o.startTs + i * step, seq, vitals })
  }
  return out
}

export interface ProduceItem {
  key: string
  value: string | Buffer
}

/** Sends records to a topic in batches of `batchSize`, waiting for acks=all. */
export async function produceAll(config: Config, topic: string, items: readonly ProduceItem[], batchSize = 2_000): Promise<void> {
  const producer = new Producer({ ...kafkaBaseOptions(config, 'vigil-synthetic'), idempotent: true, acks: -1, compression: 'lz4' })
  try {
    for (let i = 0; i < items.length; i += batchSize) {
      const messages = items.slice(i, i + batchSize).map((it) => ({ topic, key: Buffer.from(it.key), value: Buffer.from(it.value) }))
      await producer.send({ messages })
    }
  } finally {
    await producer.close()
  }
}

/**
 * Writes `rows` synthetic readings straight into a raw lake (DuckDB `range()` + COPY), one file
 * per day, named like the archiver's: for benchmarking the batch job without Kafka.
 */
export async function generateLake(
  lake: string,
  rows: number,
  options: { days?: number; patients?: number; startDay?: string; topic?: string } = {},
): Promise<void> {
  const days = options.days ?? 1
  const patients = options.patients ?? 1_000
  const start = Date.parse(`${options.startDay ?? '2026-11-20'}T00:00:00Z`)
  const topic = options.topic ?? 'vitals.readings'
  const perDay = Math.ceil(rows / days)
  const db = await DuckDBInstance.create(':memory:')
  const conn = await db.connect()
  try {
    for (let d = 0; d < days; d++) {
      const n = Math.min(perDay, rows - d * perDay)
      if (n <= 0) break
      const dayStart = start + d * 86_400_000
      const dt = new Date(dayStart).toISOString().slice(0, 10)
      const dir = dtDir(lake, 'readings', dt)
      await ensureDir(dir)
      const first = d * perDay
      const file = `${dir}/${topic}-p0-${first}-${first + n - 1}-of1.parquet`
      // Every 4th row is a CGM glucose reading, the others monitor vitals; values cover every band.
      await conn.run(`COPY (
        SELECT printf('p-%04d', i % ${patients}) AS patient_id,
               CASE WHEN i % 4 = 0 THEN 'cgm-' ELSE 'mon-' END || printf('%04d', i % ${patients}) AS device_id,
               epoch_ms(${dayStart}::BIGINT + (i * 86399999 // ${n}))::TIMESTAMP_MS AS ts,
               i // ${patients} AS seq,
               CASE WHEN i % 4 <> 0 THEN 30 + (hash(i) % 120)::DOUBLE END AS heart_rate,
               CASE WHEN i % 4 <> 0 THEN 85 + (hash(i + 1) % 16)::DOUBLE END AS spo2,
               CASE WHEN i % 4 = 0 THEN 35 + (hash(i + 2) % 290)::DOUBLE END AS glucose,
               CASE WHEN i % 4 <> 0 THEN 80 + (hash(i + 3) % 150)::DOUBLE END AS systolic,
               CASE WHEN i % 4 <> 0 THEN 35 + (hash(i + 4) % 90)::DOUBLE END AS diastolic,
               CASE WHEN i % 4 <> 0 THEN 6 + (hash(i + 5) % 23)::DOUBLE END AS resp_rate,
               CASE WHEN i % 4 <> 0 THEN 34.5 + (hash(i + 6) % 56)::DOUBLE / 10 END AS temperature,
               0 AS kafka_partition,
               ${first}::BIGINT + i AS kafka_offset
        FROM range(${n}) t(i))
        TO ${sqlString(file)} (FORMAT parquet, COMPRESSION zstd)`)
    }
  } finally {
    conn.closeSync()
    db.closeSync()
  }
}
