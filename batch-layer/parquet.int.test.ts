import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { DuckDBInstance } from '@duckdb/node-api'
import { CONSCIOUSNESS_LEVELS, VITALS } from '../lib/contract/schema.ts'
import { prng } from './synthetic.ts'
import { LakeWriter, ReadingColumns, VITAL_COLUMNS, type ReadingRow } from './parquet.ts'

let dir: string | undefined

afterEach(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  dir = undefined
})

/** Rows with every vital sometimes absent, every assessment value and its absence, and extreme numbers. */
function rows(count: number, seed: number): ReadingRow[] {
  const rnd = prng(seed)
  return Array.from({ length: count }, (_, i): ReadingRow => {
    const vitals: ReadingRow['vitals'] = {}
    // `|| 0`: no -0, which Parquet's dictionary encoding stores as the 0 beside it (as it always did).
    for (const v of VITALS) if (rnd() < 0.5) vitals[v] = Math.round(rnd() * 4_000 - 1_000) / 10 || 0
    const oxygen = rnd()
    const acvpu = Math.floor(rnd() * (CONSCIOUSNESS_LEVELS.length + 1))
    return {
      patientId: `p-${Math.floor(rnd() * 300)}`,
      deviceId: `d-${Math.floor(rnd() * 900)}`,
      ts: i === 0 ? 0 : 1_790_000_000_000 + i * 997,
      seq: i === 1 ? Number.MAX_SAFE_INTEGER : i,
      vitals,
      ...(oxygen < 0.3 ? { onOxygen: true } : oxygen < 0.6 ? { onOxygen: false } : {}),
      ...(acvpu < CONSCIOUSNESS_LEVELS.length ? { consciousness: CONSCIOUSNESS_LEVELS[acvpu] } : {}),
      partition: 4,
      offset: 1_000 + i,
    }
  })
}

/** A file's rows as the lake's readers see them, in file order. */
async function readBack(file: string): Promise<unknown[][]> {
  const db = await DuckDBInstance.create(':memory:')
  const conn = await db.connect()
  try {
    const result = await conn.runAndReadAll(`SELECT epoch_ms(ts) AS ts, * EXCLUDE (ts) FROM read_parquet('${file}')`)
    return result.getRowsJS()
  } finally {
    conn.closeSync()
    db.closeSync()
  }
}

const expected = (r: ReadingRow) => [
  BigInt(r.ts),
  r.patientId,
  r.deviceId,
  BigInt(r.seq),
  ...VITALS.map((v) => r.vitals[v] ?? null),
  r.onOxygen ?? null,
  r.consciousness ?? null,
  r.partition,
  BigInt(r.offset),
]

describe('the lake writer', () => {
  it('writes every value, absence and assessment back as given and in the order given, across data chunks and output files', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'vigil-parquet-'))
    const first = rows(50_000, 1)
    const second = rows(3, 2)
    const writer = await LakeWriter.open(2)
    try {
      await writer.writeReadings([
        { rows: first, file: path.join(dir, 'a.parquet') },
        { rows: second, file: path.join(dir, 'b.parquet') },
      ])
    } finally {
      writer.close()
    }
    expect(await readBack(path.join(dir, 'a.parquet'))).toEqual(first.map(expected))
    expect(await readBack(path.join(dir, 'b.parquet'))).toEqual(second.map(expected))
  })

  it('keeps the lake columns and types', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'vigil-parquet-'))
    const file = path.join(dir, 'a.parquet')
    const writer = await LakeWriter.open(1)
    try {
      await writer.writeReadings([{ rows: rows(10, 3), file }])
    } finally {
      writer.close()
    }
    const db = await DuckDBInstance.create(':memory:')
    const conn = await db.connect()
    try {
      const schema = (await conn.runAndReadAll(`SELECT name, type, converted_type FROM parquet_schema('${file}') WHERE name <> 'duckdb_schema'`)).getRowsJS()
      expect(schema).toEqual([
        ['patient_id', 'BYTE_ARRAY', 'UTF8'],
        ['device_id', 'BYTE_ARRAY', 'UTF8'],
        ['ts', 'INT64', 'TIMESTAMP_MILLIS'],
        ['seq', 'INT64', 'INT_64'],
        ...VITALS.map((v) => [VITAL_COLUMNS[v], 'DOUBLE', null]),
        ['on_oxygen', 'BOOLEAN', null],
        ['consciousness', 'BYTE_ARRAY', 'UTF8'],
        ['kafka_partition', 'INT32', 'INT_32'],
        ['kafka_offset', 'INT64', 'INT_64'],
      ])
    } finally {
      conn.closeSync()
      db.closeSync()
    }
  })
})

describe('buffered readings', () => {
  it('list their groups once each, in order of first appearance', () => {
    const columns = new ReadingColumns()
    for (const [i, row] of rows(3_000, 4).entries()) columns.push(i < 2_500 ? 20_500 : i % 2 === 0 ? 20_499 : 20_501, row, row.partition, row.offset)
    expect(columns.length).toBe(3_000)
    expect(columns.groups()).toEqual([20_500, 20_499, 20_501])
    expect(new ReadingColumns().groups()).toEqual([])
  })
})
