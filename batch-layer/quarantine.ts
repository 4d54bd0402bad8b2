/**
 * Bad raw files: the batch job checks every file of the days it computes before reading them
 * together, so that one bad file never fails the whole query, and moves each bad one out of the
 * raw tree:
 *
 *   <lake>/quarantine/raw/readings/dt=YYYY-MM-DD/<name>     the file, same relative path
 *   <lake>/quarantine/_log.ndjson                            one JSON line per file moved
 *                                                            {at, runId, file, movedTo, kind, detail}
 *
 * Kinds: EMPTY (0 bytes), NOT_PARQUET (does not start with the magic `PAR1`: random bytes,
 * another format), TRUNCATED (starts with `PAR1` but does not end with it: cut short while
 * written), CORRUPT (both magics, but DuckDB cannot read the footer or a data page), and
 * SCHEMA_DRIFT (a readable Parquet file whose columns are not the lake's reading columns).
 *
 * Schema rule (docs/CONTRACT.md, The data lake): every column the archiver writes must be there, flat,
 * in a compatible type family: patient_id and device_id text; ts a timestamp without time zone
 * (UTC by contract; a zoned one would be cut into days by the session's zone); seq,
 * kafka_partition and kafka_offset integers; the vitals any number. The assessment columns
 * (on_oxygen boolean, consciousness text) are optional, since files written before them lack
 * them, but must have their type when present. Extra columns are allowed (an additive change;
 * the statistics read columns by name) except `dt`, which would collide with the Hive partition
 * folder.
 *
 * The archiver stays exact: lake.ts's scan counts files under quarantine/raw as parts of their
 * flush, so moving one neither makes a flush incomplete (whose other parts the archiver would
 * delete) nor moves a partition's resume position back (which would archive the range again).
 */
import { appendFile, open, rename } from 'node:fs/promises'
import path from 'node:path'
import type { DuckDBConnection } from '@duckdb/node-api'
import { describeError } from '../lib/errors.ts'
import { VITALS } from '../lib/contract/schema.ts'
import { ensureDir, exists, quarantineRoot } from './lake.ts'
import { ASSESSMENT_COLUMNS, sqlString, VITAL_COLUMNS } from './parquet.ts'

import type { QuarantineKind, Quarantined, Verdict } from '../lib/contract/batch.ts'

export type { QuarantineKind, Quarantined, Verdict }

type Family = 'text' | 'timestamp' | 'integer' | 'number' | 'boolean'

/** The raw readings' columns and the DuckDB type family each must have (see the header). */
export const RAW_READING_SCHEMA: Readonly<Record<string, Family>> = {
  patient_id: 'text',
  device_id: 'text',
  ts: 'timestamp',
  seq: 'integer',
  ...Object.fromEntries(VITALS.map((v) => [VITAL_COLUMNS[v], 'number' as const])),
  kafka_partition: 'integer',
  kafka_offset: 'integer',
}

/** Columns a raw readings file may lack (written before they existed), with the family they must have when present. */
export const OPTIONAL_READING_SCHEMA: Readonly<Record<string, Family>> = {
  [ASSESSMENT_COLUMNS.onOxygen]: 'boolean',
  [ASSESSMENT_COLUMNS.consciousness]: 'text',
}

const INTEGER = /^U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)$/
const FAMILY: Readonly<Record<Family, (type: string) => boolean>> = {
  text: (t) => t === 'VARCHAR',
  timestamp: (t) => /^TIMESTAMP(_S|_MS|_NS)?$/.test(t),
  integer: (t) => INTEGER.test(t),
  number: (t) => INTEGER.test(t) || t === 'FLOAT' || t === 'DOUBLE' || t.startsWith('DECIMAL'),
  boolean: (t) => t === 'BOOLEAN',
}

const MAGIC = 'PAR1'
/** Magic + 4-byte footer length + magic: the smallest a Parquet file can be. */
const MIN_PARQUET_BYTES = 12

/** Pure: the verdict from a file's size and its first and last 4 bytes; undefined when both magics are there. */
export function classifyBytes(size: number, head: Uint8Array, tail: Uint8Array): Verdict | undefined {
  if (size === 0) return { kind: 'EMPTY', detail: 'the file has 0 bytes' }
  const h = Buffer.from(head).toString('latin1')
  if (h !== MAGIC) return { kind: 'NOT_PARQUET', detail: `${size} bytes that start with 0x${Buffer.from(head).toString('hex')}, not the Parquet magic PAR1` }
  if (size < MIN_PARQUET_BYTES) return { kind: 'TRUNCATED', detail: `${size} bytes: too short to hold a Parquet footer` }
  if (Buffer.from(tail).toString('latin1') !== MAGIC)
    return { kind: 'TRUNCATED', detail: `${size} bytes that do not end with the Parquet magic PAR1: the footer is missing (cut short while written?)` }
  return undefined
}

/** One row of DuckDB's `parquet_schema()`: the flattened schema tree, root first. */
export interface SchemaNode {
  name: string
  duckdbType: string | null
  /** Set on group nodes (the root, structs, lists, maps). */
  numChildren: number | null
}

/** Pure: the top-level columns of a flattened schema; type null for a nested column. */
export function topLevelColumns(nodes: readonly SchemaNode[]): { name: string; type: string | null }[] {
  const root = nodes[0]
  if (root === undefined) return []
  let i = 1
  // Skips the subtree at i (a leaf is one node; a group, itself and each child's subtree).
  const skip = (): void => {
    const n = nodes[i++]
    for (let c = 0; c < (n?.numChildren ?? 0); c++) skip()
  }
  const out: { name: string; type: string | null }[] = []
  for (let c = 0; c < (root.numChildren ?? 0) && i < nodes.length; c++) {
    const n = nodes[i] as SchemaNode
    out.push({ name: n.name, type: n.numChildren === null ? n.duckdbType : null })
    skip()
  }
  return out
}

/** Pure: why a file's columns are not the raw readings' (see the header's rule); undefined when they are. */
export function schemaDrift(columns: readonly { name: string; type: string | null }[]): string | undefined {
  const byName = new Map(columns.map((c) => [c.name, c.type]))
  const problems: string[] = []
  const missing = Object.keys(RAW_READING_SCHEMA).filter((c) => !byName.has(c))
  if (missing.length > 0) problems.push(`missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`)
  for (const [name, family] of [...Object.entries(RAW_READING_SCHEMA), ...Object.entries(OPTIONAL_READING_SCHEMA)]) {
    if (!byName.has(name)) continue
    const type = byName.get(name) ?? null
    if (type === null || !FAMILY[family](type)) problems.push(`${name} is ${type ?? 'a nested column'}, expected ${family}`)
  }
  if (byName.has('dt')) problems.push('a column dt collides with the dt= partition folder')
  return problems.length === 0 ? undefined : problems.join('; ')
}

export interface Inspection {
  bad: Map<string, Verdict>
  /** Files that disappeared since they were listed (another run quarantined them, the archiver repaired a flush). */
  gone: string[]
}

/**
 * Checks each file without reading its data: the magic bytes from the file system, then every
 * footer and schema in one `parquet_schema()` call; only when that call fails (a garbled footer)
 * is each file probed alone to name the one.
 */
export async function inspectFiles(conn: DuckDBConnection, files: readonly string[]): Promise<Inspection> {
  const bad = new Map<string, Verdict>()
  const gone: string[] = []
  const readable: string[] = []
  for (const file of files) {
    const bytes = await magicBytes(file)
    if (bytes === undefined) gone.push(file)
    else {
      const verdict = classifyBytes(bytes.size, bytes.head, bytes.tail)
      if (verdict === undefined) readable.push(file)
      else bad.set(file, verdict)
    }
  }
  if (readable.length === 0) return { bad, gone }

  const schemaSql = (list: readonly string[]) =>
    `SELECT file_name, name, duckdb_type, num_children::INTEGER AS num_children FROM parquet_schema([${list.map(sqlString).join(', ')}]) ORDER BY file_name, column_id`
  let rows: Record<string, unknown>[]
  try {
    rows = (await conn.runAndReadAll(schemaSql(readable))).getRowObjectsJS()
  } catch {
    // Some footer is unreadable and DuckDB does not always say whose: one file at a time.
    rows = []
    for (const file of readable) {
      try {
        rows.push(...(await conn.runAndReadAll(schemaSql([file]))).getRowObjectsJS())
      } catch (error) {
        if (notAboutTheFile(error)) throw error
        if ((await magicBytes(file)) === undefined) gone.push(file)
        else bad.set(file, { kind: 'CORRUPT', detail: `the footer cannot be read: ${firstLine(describeError(error))}` })
      }
    }
  }
  const schemas = new Map<string, SchemaNode[]>()
  for (const r of rows) {
    const file = String(r.file_name)
    const list = schemas.get(file) ?? []
    list.push({
      name: String(r.name),
      duckdbType: r.duckdb_type === null ? null : String(r.duckdb_type),
      numChildren: r.num_children === null ? null : Number(r.num_children),
    })
    schemas.set(file, list)
  }
  for (const file of readable) {
    const nodes = schemas.get(file)
    if (nodes === undefined) continue
    const drift = schemaDrift(topLevelColumns(nodes))
    if (drift !== undefined) bad.set(file, { kind: 'SCHEMA_DRIFT', detail: drift })
  }
  return { bad, gone }
}

/** Size and first/last 4 bytes; undefined when the file no longer exists. */
async function magicBytes(file: string): Promise<{ size: number; head: Buffer; tail: Buffer } | undefined> {
  let fh: import('node:fs/promises').FileHandle
  try {
    fh = await open(file, 'r')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
  try {
    const { size } = await fh.stat()
    const head = Buffer.alloc(Math.min(4, size))
    const tail = Buffer.alloc(Math.min(4, size))
    if (size > 0) {
      await fh.read(head, 0, head.length, 0)
      await fh.read(tail, 0, tail.length, size - tail.length)
    }
    return { size, head, tail }
  } finally {
    await fh.close()
  }
}

/**
 * Moves a bad raw file to the same relative path under <lake>/quarantine and logs it there.
 * Returns undefined when the file is already gone (another run moved it first). When the lake
 * does not let it move (read-only, another file system), the file stays where it is, reported
 * with movedTo null, and each run that computes its day reports it again.
 */
export async function quarantineFile(lake: string, file: string, verdict: Verdict, runId: string): Promise<Quarantined | undefined> {
  const relative = path.relative(lake, file)
  let target = path.join(quarantineRoot(lake), relative)
  try {
    await ensureDir(path.dirname(target))
    // Never overwrite an earlier quarantined file of the same name (the same range archived again).
    if (await exists(target)) target = path.join(path.dirname(target), `${runId}-${path.basename(target)}`)
    await rename(file, target)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' && !(await exists(file))) return undefined
    return { file, ...verdict, detail: `${verdict.detail} (left in place: cannot move it to ${target}: ${code ?? describeError(error)})`, movedTo: null }
  }
  const line = { at: new Date().toISOString(), runId, file: relative, movedTo: path.relative(lake, target), kind: verdict.kind, detail: verdict.detail }
  await appendFile(path.join(quarantineRoot(lake), '_log.ndjson'), `${JSON.stringify(line)}\n`)
  return { file, ...verdict, movedTo: target }
}

/** The first line of a (DuckDB) error message. */
export function firstLine(s: string): string {
  return s.split('\n')[0] ?? s
}

/**
 * A DuckDB error that says nothing about the file being read (the run interrupted, memory, file
 * handles or disk exhausted): never grounds to quarantine a file, which would move a good one
 * out of the lake.
 */
export function notAboutTheFile(error: unknown): boolean {
  return /interrupt|out of memory|too many open files|no space left|cannot allocate/i.test(describeError(error))
}
