/**
 * Which Parquet writer the archiver uses, chosen by measurement: parquetjs-lite (snappy; it has
 * no zstd) against DuckDB's appender + COPY (zstd), both writing the same generated vitals rows
 * with the lake's columns. Prints time and file size of each.
 *
 *   npx tsx bench/parquet.ts [rows]      (default 1,000,000)
 */
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { LakeWriter, type ReadingRow } from '../batch-layer/parquet.ts'

export interface ParquetBenchResult {
  writer: string
  rows: number
  seconds: number
  rowsPerSecond: number
  megabytes: number
}

/** Deterministic rows shaped like the simulator's: a pulse oximeter every second, a CGM sometimes. */
export function generateRows(n: number, start = Date.UTC(2026, 10, 22)): ReadingRow[] {
  const rows: ReadingRow[] = new Array(n)
  let x = 12345
  const rnd = () => {
    x = (x * 1103515245 + 12345) >>> 0
    return x / 2 ** 32
  }
  for (let i = 0; i < n; i++) {
    const p = i % 1000
    const vitals: ReadingRow['vitals'] =
      i % 10 === 0
        ? { glucose: Math.round(60 + rnd() * 200) }
        : {
            heartRate: Math.round(55 + rnd() * 60),
            spo2: Math.round(90 + rnd() * 10),
            respRate: Math.round(10 + rnd() * 12),
            temperature: Math.round(360 + rnd() * 25) / 10,
          }
    rows[i] = {
      patientId: `p-${String(p).padStart(4, '0')}`,
      deviceId: `dev-${p}`,
      ts: start + Math.floor(i / 10) * 10,
      seq: Math.floor(i / 1000),
      vitals,
      partition: p % 6,
      offset: i,
    }
  }
  return rows
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now()
  await fn()
  return (performance.now() - t0) / 1000
}

export async function benchDuckdb(rows: ReadingRow[], file: string): Promise<number> {
  const writer = await LakeWriter.open()
  try {
    return await timed(() => writer.writeReadings([{ rows, file }]))
  } finally {
    writer.close()
  }
}

export async function benchParquetjs(rows: ReadingRow[], file: string): Promise<number> {
  // parquetjs-lite ships no types; it is a dev dependency used only here.
  const mod = (await import('parquetjs-lite' as string)) as { default: unknown }
  const parquet = mod.default as {
    ParquetSchema: new (s: Record<string, unknown>) => unknown
    ParquetWriter: { openFile(schema: unknown, file: string): Promise<{ appendRow(r: unknown): Promise<void>; close(): Promise<void> }> }
  }
  const opt = (type: string) => ({ type, optional: true, compression: 'SNAPPY' })
  const schema = new parquet.ParquetSchema({
    patient_id: { type: 'UTF8', compression: 'SNAPPY' },
    device_id: { type: 'UTF8', compression: 'SNAPPY' },
    ts: { type: 'TIMESTAMP_MILLIS', compression: 'SNAPPY' },
    seq: { type: 'INT64', compression: 'SNAPPY' },
    heart_rate: opt('DOUBLE'),
    spo2: opt('DOUBLE'),
    glucose: opt('DOUBLE'),
    systolic: opt('DOUBLE'),
    diastolic: opt('DOUBLE'),
    resp_rate: opt('DOUBLE'),
    temperature: opt('DOUBLE'),
    kafka_partition: { type: 'INT32', compression: 'SNAPPY' },
    kafka_offset: { type: 'INT64', compression: 'SNAPPY' },
  })
  return timed(async () => {
    const w = await parquet.ParquetWriter.openFile(schema, file)
    for (const r of rows) {
      const v = r.vitals
      await w.appendRow({
        patient_id: r.patientId,
        device_id: r.deviceId,
        ts: new Date(r.ts),
        seq: r.seq,
        heart_rate: v.heartRate,
        spo2: v.spo2,
        glucose: v.glucose,
        systolic: v.systolic,
        diastolic: v.diastolic,
        resp_rate: v.respRate,
        temperature: v.temperature,
        kafka_partition: r.partition,
        kafka_offset: r.offset,
      })
    }
    await w.close()
  })
}

export async function runParquetBench(n = 1_000_000): Promise<ParquetBenchResult[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'vigil-bench-parquet-'))
  try {
    const rows = generateRows(n)
    const out: ParquetBenchResult[] = []
    for (const [writer, fn] of [
      ['duckdb appender + COPY (zstd)', benchDuckdb],
      ['parquetjs-lite (snappy)', benchParquetjs],
    ] as const) {
      const file = path.join(dir, `${writer.split(' ')[0]}.parquet`)
      const seconds = await fn(rows, file)
      const megabytes = (await stat(file)).size / 1e6
      out.push({ writer, rows: n, seconds: round(seconds), rowsPerSecond: Math.round(n / seconds), megabytes: round(megabytes) })
    }
    return out
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

const round = (x: number) => Math.round(x * 100) / 100

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const n = Number(process.argv[2] ?? 1_000_000)
  const results = await runParquetBench(n)
  console.table(results)
  console.log(JSON.stringify(results))
}
