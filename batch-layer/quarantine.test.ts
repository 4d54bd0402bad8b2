import { describe, expect, it } from 'vitest'
import { classifyBytes, OPTIONAL_READING_SCHEMA, RAW_READING_SCHEMA, schemaDrift, topLevelColumns, type SchemaNode } from './quarantine.ts'

const b = (s: string) => Buffer.from(s, 'latin1')

describe('classifying a raw file by its bytes', () => {
  it.each([
    ['a 0-byte file is EMPTY', 0, '', '', 'EMPTY'],
    ['random bytes are NOT_PARQUET', 4096, '\x8f\x01zq', 'PAR1', 'NOT_PARQUET'],
    ['a CSV file is NOT_PARQUET', 120, 'pati', 'ue\n\n', 'NOT_PARQUET'],
    ['a file cut short after the header magic is TRUNCATED', 5000, 'PAR1', '\x00\x17ab', 'TRUNCATED'],
    ['a file shorter than the smallest Parquet file is TRUNCATED', 8, 'PAR1', 'PAR1', 'TRUNCATED'],
    ['a file with both magics passes on to the footer check', 5000, 'PAR1', 'PAR1', undefined],
  ])('%s', (_, size, head, tail, kind) => {
    expect(classifyBytes(size as number, b(head as string), b(tail as string))?.kind).toBe(kind)
  })

  it('names the first bytes of a file that is not Parquet', () => {
    expect(classifyBytes(10, b('\x00\x01\x02\x03'), b('abcd'))?.detail).toBe('10 bytes that start with 0x00010203, not the Parquet magic PAR1')
  })
})

/** A flat schema as parquet_schema() lists it: the root group, then one leaf per column. */
function flat(columns: Record<string, string>): SchemaNode[] {
  return [
    { name: 'duckdb_schema', duckdbType: null, numChildren: Object.keys(columns).length },
    ...Object.entries(columns).map(([name, duckdbType]) => ({ name, duckdbType, numChildren: null })),
  ]
}

const ARCHIVER_TYPES: Record<string, string> = {
  patient_id: 'VARCHAR',
  device_id: 'VARCHAR',
  ts: 'TIMESTAMP',
  seq: 'BIGINT',
  heart_rate: 'DOUBLE',
  spo2: 'DOUBLE',
  glucose: 'DOUBLE',
  systolic: 'DOUBLE',
  diastolic: 'DOUBLE',
  resp_rate: 'DOUBLE',
  temperature: 'DOUBLE',
  on_oxygen: 'BOOLEAN',
  consciousness: 'VARCHAR',
  kafka_partition: 'INTEGER',
  kafka_offset: 'BIGINT',
}

/** The archiver's schema before the assessment columns existed. */
const BEFORE_ASSESSMENTS = Object.fromEntries(Object.entries(ARCHIVER_TYPES).filter(([c]) => c !== 'on_oxygen' && c !== 'consciousness'))

describe("checking a raw file's schema", () => {
  it('expects exactly the columns the archiver writes, the assessments optional', () => {
    expect([...Object.keys(RAW_READING_SCHEMA), ...Object.keys(OPTIONAL_READING_SCHEMA)].sort()).toEqual(Object.keys(ARCHIVER_TYPES).sort())
    expect(Object.keys(OPTIONAL_READING_SCHEMA).sort()).toEqual(['consciousness', 'on_oxygen'])
  })

  it('passes a file written before the assessment columns existed', () => {
    expect(schemaDrift(topLevelColumns(flat(BEFORE_ASSESSMENTS)))).toBeUndefined()
  })

  it.each([
    ["the archiver's own schema passes", {}, undefined],
    ['an extra column passes (an additive change)', { note: 'VARCHAR' }, undefined],
    ['integer and decimal vitals pass', { heart_rate: 'INTEGER', temperature: 'DECIMAL(4,1)' }, undefined],
    ['a timestamp of another precision passes', { ts: 'TIMESTAMP_NS' }, undefined],
    ['a vital stored as text drifts', { spo2: 'VARCHAR' }, 'spo2 is VARCHAR, expected number'],
    ['an event time stored as epoch numbers drifts', { ts: 'BIGINT' }, 'ts is BIGINT, expected timestamp'],
    ['an event time with a time zone drifts', { ts: 'TIMESTAMP WITH TIME ZONE' }, 'ts is TIMESTAMP WITH TIME ZONE, expected timestamp'],
    ['a fractional offset drifts', { kafka_offset: 'DOUBLE' }, 'kafka_offset is DOUBLE, expected integer'],
    ['a column named dt drifts', { dt: 'VARCHAR' }, 'a column dt collides with the dt= partition folder'],
    ['an oxygen flag stored as text drifts', { on_oxygen: 'VARCHAR' }, 'on_oxygen is VARCHAR, expected boolean'],
    ['an ACVPU level stored as a number drifts', { consciousness: 'INTEGER' }, 'consciousness is INTEGER, expected text'],
  ])('%s', (_, change, detail) => {
    expect(schemaDrift(topLevelColumns(flat({ ...ARCHIVER_TYPES, ...change })))).toBe(detail)
  })

  it('names every missing column', () => {
    const { glucose: _g, patient_id: _p, ...rest } = ARCHIVER_TYPES
    expect(schemaDrift(topLevelColumns(flat(rest)))).toBe('missing columns patient_id, glucose')
  })

  it('reads the top-level columns of a nested schema and treats a nested reading column as drift', () => {
    // patient_id is a struct {id}, then a list column, then seq: the children are not columns.
    const nodes: SchemaNode[] = [
      { name: 'duckdb_schema', duckdbType: null, numChildren: 3 },
      { name: 'patient_id', duckdbType: null, numChildren: 1 },
      { name: 'id', duckdbType: 'VARCHAR', numChildren: null },
      { name: 'tags', duckdbType: null, numChildren: 1 },
      { name: 'list', duckdbType: null, numChildren: 1 },
      { name: 'element', duckdbType: 'VARCHAR', numChildren: null },
      { name: 'seq', duckdbType: 'BIGINT', numChildren: null },
    ]
    expect(topLevelColumns(nodes)).toEqual([
      { name: 'patient_id', type: null },
      { name: 'tags', type: null },
      { name: 'seq', type: 'BIGINT' },
    ])
    expect(schemaDrift(topLevelColumns(nodes))).toContain('patient_id is a nested column, expected text')
  })
})
