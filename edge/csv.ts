/**
 * CSV replay (`vigil edge --replay FILE.csv`): turns the rows of a CSV export into readings v1.
 *
 * The header names the columns. Common names are recognised (case, spaces, `_` and `-` ignored):
 * `patient_id`, `time`/`timestamp`, `heart_rate_bpm`, `spo2_percent`, `blood_glucose_mgdl`,
 * `body_temperature_c`, ... (see COLUMN_NAMES); `--columns field=column,...` names them
 * explicitly. Unknown columns are ignored. A column in other units is converted where the unit is
 * in its name (`glucose_mmol_l` to mg/dL, `temperature_f` to °C, both with the gateway's exact conversions in lib/contract/units.ts).
 *
 * Timestamps: epoch seconds or milliseconds, ISO 8601 with an offset, or a local date-time without
 * one (`2025-10-10 20:45:48.182588`), which is read in `--timezone` (an IANA zone, UTC by default)
 * by the zone's rules at that instant (`lib/zoned-time.ts`): a local time in a spring-forward gap
 * moves forward by the gap's length; one that happens twice (fall-back) is its first occurrence,
 * unless the previous row of the same device in the file is already at or past that first
 * occurrence (the device's clock has gone back), then its second. Sub-millisecond digits are
 * truncated.
 *
 * The NEWS2 assessments have columns too: `on_oxygen` (also `o2`, `supplemental_oxygen`,
 * `oxygen_therapy`, `air_or_oxygen`) with true/false, yes/no, y/n, 1/0, O2/oxygen or air/room air/RA,
 * and `consciousness` (also `acvpu`, `avpu`, `level_of_consciousness`) with A, C, V, P, U or
 * Alert, Confusion/Confused/New confusion, Voice/Verbal, Pain/Painful, Unresponsive
 * (csv-assessments.ts). A row with only these (a nurse observation) is a reading with no vitals.
 *
 * Field by field, as the speed layer validates (docs/ARCHITECTURE.md, CSV replay): a vital cell that
 * is not a number or an assessment spelled otherwise is left out of the row's reading, never
 * guessed at, and reported with its line number, column and reason (FieldDrop); the row's other
 * fields still go out, so one unknown ACVPU spelling never hides a critical SpO2 beside it. A row is
 * skipped whole, reported the same way, only when it cannot become a reading: fewer cells than
 * the header (its columns cannot be trusted), no patient or an id the id policy refuses, an
 * unreadable time or seq (the reading would have no identity), or nothing usable observed.
 *
 * A label column (`--label <column>`, e.g. `seizure_label`) marks the rows of an episode: 1, true
 * or yes is positive; 0, false, no or an empty cell negative (case and spaces ignored). Anything
 * else stops the replay with an error naming the line and the column: a label is ground truth, and
 * a guess at it would teach the risk model something the file never said (label-runs.ts turns the
 * rows into episodes).
 */
import { createReadStream } from 'node:fs'
import { parse } from 'csv-parse'
import { VITALS, idProblem, type Reading, type Vital, type Vitals } from '../lib/contract/schema.ts'
import { isBlankCell, parseConsciousness, parseOnOxygen } from './csv-assessments.ts'
import { fahrenheitToCelsius, glucoseMmolToMgDl } from '../lib/contract/units.ts'
import { VigilError } from '../lib/errors.ts'
import { isTimeZone, localToUtc } from '../lib/zoned-time.ts'

export const CSV_FIELDS = ['patientId', 'deviceId', 'ts', 'seq', ...VITALS, 'onOxygen', 'consciousness'] as const
export type CsvField = (typeof CSV_FIELDS)[number]

type Unit = 'native' | 'mmolL' | 'fahrenheit'

/** Recognised header names, normalised (lowercase, letters and digits only), with their unit. */
const COLUMN_NAMES: ReadonlyArray<[CsvField, Unit, readonly string[]]> = [
  ['patientId', 'native', ['patientid', 'patient', 'subjectid', 'subject', 'pid', 'mrn', 'personid']],
  ['deviceId', 'native', ['deviceid', 'device', 'sensorid', 'sensor', 'source']],
  ['ts', 'native', ['time', 'timestamp', 'ts', 'datetime', 'date', 'charttime', 'eventtime', 'recordedat', 'observedat', 'effectivedatetime', 'measuredat']],
  ['seq', 'native', ['seq', 'sequence', 'seqno', 'sequencenumber']],
  ['heartRate', 'native', ['heartrate', 'heartratebpm', 'hr', 'hrbpm', 'pulse', 'pulserate', 'pulsebpm']],
  ['spo2', 'native', ['spo2', 'spo2percent', 'spo2pct', 'o2sat', 'sao2', 'oxygensaturation', 'oxygensaturationpercent']],
  ['glucose', 'native', ['glucose', 'glucosemgdl', 'bloodglucose', 'bloodglucosemgdl', 'bg', 'bgmgdl', 'cgm', 'sensorglucose']],
  ['glucose', 'mmolL', ['glucosemmoll', 'glucosemmol', 'bloodglucosemmoll', 'bloodglucosemmol', 'bgmmoll']],
  ['systolic', 'native', ['systolic', 'systolicbp', 'systolicmmhg', 'sbp', 'bpsystolic', 'sysbp', 'nbpsys']],
  ['diastolic', 'native', ['diastolic', 'diastolicbp', 'diastolicmmhg', 'dbp', 'bpdiastolic', 'diabp', 'nbpdia']],
  ['respRate', 'native', ['resprate', 'respiratoryrate', 'rr', 'respirationrate', 'breathingrate', 'respiratoryratebpm', 'resp']],
  ['temperature', 'native', ['temperature', 'temp', 'temperaturec', 'tempc', 'bodytemperature', 'bodytemperaturec', 'bodytemp']],
  ['temperature', 'fahrenheit', ['temperaturef', 'tempf', 'bodytemperaturef']],
  ['onOxygen', 'native', ['onoxygen', 'o2', 'supplementaloxygen', 'oxygentherapy', 'airoroxygen', 'ono2']],
  ['consciousness', 'native', ['consciousness', 'acvpu', 'avpu', 'levelofconsciousness', 'consciousnesslevel']],
]

export function normaliseHeader(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, '')
}

export interface ColumnMap {
  /** Column index of each field found, with the unit its values are in. */
  fields: Partial<Record<CsvField, { index: number; unit: Unit; name: string }>>
  /** Header names not used (ignored columns). */
  ignored: string[]
}

/** Parses `--columns field=column,...` into a map of field to header name. */
export function parseColumnsFlag(text: string): Partial<Record<CsvField, string>> {
  const out: Partial<Record<CsvField, string>> = {}
  for (const part of text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)) {
    const eq = part.indexOf('=')
    const field = part.slice(0, eq).trim() as CsvField
    const column = part.slice(eq + 1).trim()
    if (eq <= 0 || column.length === 0 || !(CSV_FIELDS as readonly string[]).includes(field)) {
      throw new VigilError('CONFIG_INVALID', `--columns "${part}" is not valid: expected field=column with field one of ${CSV_FIELDS.join(', ')}.`)
    }
    out[field] = column
  }
  return out
}

/** Decides which column holds which field; throws naming the missing ones. */
export function resolveColumns(header: readonly string[], explicit: Partial<Record<CsvField, string>> = {}): ColumnMap {
  const fields: ColumnMap['fields'] = {}
  const used = new Set<number>()
  for (const [field, name] of Object.entries(explicit) as [CsvField, string][]) {
    const index = header.findIndex((h) => h === name || h.trim() === name)
    if (index < 0)
      throw new VigilError('INPUT_INVALID', `--columns names "${name}" for ${field}, but the CSV header has no such column (it has ${header.join(', ')}).`)
    fields[field] = { index, unit: 'native', name }
    used.add(index)
  }
  const normalised = header.map(normaliseHeader)
  for (const [field, unit, names] of COLUMN_NAMES) {
    if (fields[field] !== undefined) continue
    for (const n of names) {
      const index = normalised.indexOf(n)
      if (index >= 0 && !used.has(index)) {
        fields[field] = { index, unit, name: header[index]! }
        used.add(index)
        break
      }
    }
  }
  const missing: string[] = []
  if (fields.patientId === undefined) missing.push('a patient id column (e.g. patient_id)')
  if (fields.ts === undefined) missing.push('a timestamp column (e.g. time or timestamp)')
  if (!VITALS.some((v) => fields[v] !== undefined) && fields.onOxygen === undefined && fields.consciousness === undefined) {
    missing.push('at least one vital column (e.g. heart_rate_bpm, spo2_percent) or an on_oxygen or consciousness column')
  }
  if (missing.length > 0) {
    throw new VigilError(
      'INPUT_INVALID',
      `The CSV header (${header.join(', ')}) lacks ${missing.join(' and ')}: rename the columns or map them with --columns field=column,...`,
    )
  }
  return { fields, ignored: header.filter((_, i) => !used.has(i)) }
}

/** Throws a clear error when `timeZone` is not an IANA zone the runtime knows. */
export function checkTimeZone(timeZone: string): void {
  if (!isTimeZone(timeZone))
    throw new VigilError('CONFIG_INVALID', `--timezone "${timeZone}" is not valid: expected an IANA time zone such as UTC or Europe/Paris.`)
}

const LOCAL_OR_ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i

/**
 * Parses a CSV timestamp to epoch ms; undefined when it is not one. `previousMs`, the instant of the
 * previous row of the same device in the file, decides a local time that happens twice (fall-back):
 * its second occurrence when the first would not come after `previousMs` (the device's clock has
 * gone back), else its first. A local time that does not exist (spring-forward) moves forward by
 * the gap's length. docs/ARCHITECTURE.md, CSV replay.
 */
export function parseTimestamp(text: string, timeZone: string, previousMs?: number): number | undefined {
  const s = text.trim()
  if (/^\d+(\.\d+)?$/.test(s)) {
    const n = Number(s)
    // Epoch seconds until the year 5138; milliseconds beyond.
    return Math.floor(n < 1e11 ? n * 1000 : n)
  }
  const m = LOCAL_OR_ISO.exec(s)
  if (m === null) return undefined
  const [, y, mo, d, h = '0', mi = '0', sec = '0', frac = '', zone] = m
  const month = Number(mo)
  const day = Number(d)
  const hour = Number(h)
  const minute = Number(mi)
  const second = Number(sec)
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) return undefined
  const ms = frac.length === 0 ? 0 : Math.floor(Number(`0.${frac}`) * 1000)
  const wall = Date.UTC(Number(y), month - 1, day, hour, minute, second, ms)
  if (new Date(wall).getUTCDate() !== day) return undefined
  if (zone === undefined) {
    const local = localToUtc(wall, timeZone)
    return local.kind === 'overlap' && previousMs !== undefined && local.earlier <= previousMs ? local.later : local.earlier
  }
  if (zone.toUpperCase() === 'Z') return wall
  const sign = zone.startsWith('-') ? -1 : 1
  const digits = zone.slice(1).replace(':', '')
  return wall - sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4))) * 60_000
}

/** A cell left out of its row's reading: the field, the column it came from, and why. */
export interface FieldDrop {
  field: CsvField
  column: string
  reason: string
}

export type RowResult = { ok: true; reading: Reading; dropped: FieldDrop[] } | { ok: false; reason: string }

export interface RowContext {
  columns: ColumnMap
  timeZone: string
  /** Next seq per device, when the file has no seq column. */
  seqs: Map<string, number>
  /** Instant of each device's previous row in this pass, before the shift: decides a local time that happens twice. */
  previousTs: Map<string, number>
  /** Added to every timestamp (a loop pass shifts the file forward in time). */
  shiftMs: number
  /** Added to every seq taken from the file (a loop pass continues the sequence). */
  seqOffset: number
}

/** Turns one CSV row into a reading, or the reason it cannot be one. */
export function rowToReading(cells: readonly string[], ctx: RowContext): RowResult {
  const { fields } = ctx.columns
  const header = fields
  const width = Math.max(...Object.values(header).map((c) => c.index)) + 1
  if (cells.length < width) return { ok: false, reason: `expected at least ${width} cells, found ${cells.length}` }
  const patientId = cells[fields.patientId!.index]!.trim()
  if (patientId.length === 0) return { ok: false, reason: `empty ${fields.patientId!.name}` }
  const deviceId = fields.deviceId === undefined ? `csv-${patientId}` : cells[fields.deviceId.index]!.trim() || `csv-${patientId}`
  const tsText = cells[fields.ts!.index]!
  const ts = parseTimestamp(tsText, ctx.timeZone, ctx.previousTs.get(deviceId))
  if (ts === undefined) return { ok: false, reason: `${fields.ts!.name} "${tsText}" is not a timestamp` }
  // Rows whose ids break the id policy are skipped with the reason, as the speed layer would refuse them.
  const idError = idProblem(fields.patientId!.name, patientId) ?? idProblem(fields.deviceId?.name ?? 'deviceId', deviceId)
  if (idError !== undefined) return { ok: false, reason: idError }
  const { dropped, ...observed } = rowObservations(cells, fields)
  if (isNothing(observed)) return { ok: false, reason: nothingReason(dropped) }
  ctx.previousTs.set(deviceId, ts)
  let seq: number
  if (fields.seq !== undefined) {
    seq = Number(cells[fields.seq.index])
    if (!Number.isSafeInteger(seq) || seq < 0) return { ok: false, reason: `${fields.seq.name} "${cells[fields.seq.index]}" is not a sequence number` }
    seq += ctx.seqOffset
  } else {
    seq = ctx.seqs.get(deviceId) ?? 1
    ctx.seqs.set(deviceId, seq + 1)
  }
  return { ok: true, reading: { v: 1, patientId, deviceId, ts: ts + ctx.shiftMs, seq, ...observed }, dropped }
}

type Observed = Pick<Reading, 'vitals' | 'onOxygen' | 'consciousness'>

/** The vitals of a row, in the schema's units, and the cells that are not a number (left out). */
function rowVitals(cells: readonly string[], fields: ColumnMap['fields']): { vitals: Vitals; dropped: FieldDrop[] } {
  const vitals: Vitals = {}
  const dropped: FieldDrop[] = []
  for (const v of VITALS) {
    const col = fields[v]
    if (col === undefined) continue
    const text = cells[col.index]!.trim()
    if (isBlankCell(text)) continue
    let n = Number(text)
    if (!Number.isFinite(n)) {
      dropped.push({ field: v, column: col.name, reason: `${col.name} "${text}" is not a number` })
      continue
    }
    // The gateway's conversions (lib/contract/units.ts), unrounded: CSV and FHIR agree on a value's status.
    if (col.unit === 'mmolL') n = glucoseMmolToMgDl(n)
    if (col.unit === 'fahrenheit') n = fahrenheitToCelsius(n)
    vitals[v as Vital] = n
  }
  return { vitals, dropped }
}

/** What a row observed (its vitals and assessments) and the cells left out of it (a vital not a number, an assessment spelled otherwise). */
function rowObservations(cells: readonly string[], fields: ColumnMap['fields']): Observed & { dropped: FieldDrop[] } {
  const { vitals, dropped } = rowVitals(cells, fields)
  const out: Observed & { dropped: FieldDrop[] } = { vitals, dropped }
  if (fields.onOxygen !== undefined) {
    const o = parseOnOxygen(cells[fields.onOxygen.index]!, fields.onOxygen.name)
    if (!o.ok) dropped.push({ field: 'onOxygen', column: fields.onOxygen.name, reason: o.reason })
    else if (o.value !== undefined) out.onOxygen = o.value
  }
  if (fields.consciousness !== undefined) {
    const c = parseConsciousness(cells[fields.consciousness.index]!, fields.consciousness.name)
    if (!c.ok) dropped.push({ field: 'consciousness', column: fields.consciousness.name, reason: c.reason })
    else if (c.value !== undefined) out.consciousness = c.value
  }
  return out
}

/** Whether a row observed nothing usable: no vital, no oxygen, no consciousness. */
function isNothing(o: Observed): boolean {
  return Object.keys(o.vitals).length === 0 && o.onOxygen === undefined && o.consciousness === undefined
}

/** Why a row with nothing usable is skipped: its unreadable cells, or that it has none. */
function nothingReason(dropped: readonly FieldDrop[]): string {
  if (dropped.length === 0) return 'no vital, oxygen or consciousness value in the row'
  return `nothing usable in the row: ${dropped.map((d) => d.reason).join('; ')}`
}

const POSITIVE_LABELS: ReadonlySet<string> = new Set(['1', 'true', 'yes'])
const NEGATIVE_LABELS: ReadonlySet<string> = new Set(['', '0', 'false', 'no'])

/** A label cell: true (1, true, yes), false (0, false, no, empty), or undefined when it is neither. */
export function parseLabel(text: string): boolean | undefined {
  const t = text.trim().toLowerCase()
  if (POSITIVE_LABELS.has(t)) return true
  if (NEGATIVE_LABELS.has(t)) return false
  return undefined
}

/** The index of the label column `name` in the header; throws naming the columns there are. */
export function labelColumn(header: readonly string[], name: string): number {
  const index = header.findIndex((h) => h === name || h.trim() === name)
  if (index < 0) throw new VigilError('INPUT_INVALID', `--label names "${name}", but the CSV header has no such column (it has ${header.join(', ')}).`)
  return index
}

/** The label of a row (false when the row is too short to have the cell); throws naming the line and column when it is not a label. */
function rowLabel(cells: readonly string[], index: number, name: string, line: number): boolean {
  const text = cells[index] ?? ''
  const label = parseLabel(text)
  if (label === undefined) {
    throw new VigilError(
      'INPUT_INVALID',
      `line ${line}, column ${name}: "${text}" is not a label: expected 1, true or yes (positive) or 0, false, no or empty (negative).`,
    )
  }
  return label
}

/**
 * A row: a reading (with the cells left out of it, often none, and its label with --label), or a
 * row skipped whole with why.
 */
export type CsvItem =
  | { kind: 'reading'; reading: Reading; line: number; dropped: readonly FieldDrop[]; label?: boolean }
  | { kind: 'skip'; line: number; reason: string }

export interface CsvReadOptions {
  timeZone: string
  columns?: Partial<Record<CsvField, string>>
  shiftMs?: number
  seqOffset?: number
  seqs?: Map<string, number>
  /** The header name of the label column (--label): each reading then carries its row's label. */
  label?: string
  /** Called once with the resolved columns, before the first row. */
  onColumns?: (columns: ColumnMap) => void
}

/** Streams a CSV file as readings (and skipped rows with their line numbers), in file order. */
export async function* readCsv(file: string, options: CsvReadOptions): AsyncGenerator<CsvItem> {
  const parser = createReadStream(file).pipe(
    parse({ bom: true, skip_empty_lines: true, relax_column_count: true, relax_quotes: true, info: true, skip_records_with_error: true }),
  )
  const skipped: CsvItem[] = []
  parser.on('skip', (error: Error & { lines?: number }) => skipped.push({ kind: 'skip', line: error.lines ?? 0, reason: error.message }))
  let ctx: RowContext | undefined
  let labelAt = -1
  for await (const item of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
    while (skipped.length > 0) yield skipped.shift()!
    if (ctx === undefined) {
      if (options.label !== undefined) labelAt = labelColumn(item.record, options.label)
      const columns = resolveColumns(item.record, options.columns)
      options.onColumns?.(columns)
      ctx = {
        columns,
        timeZone: options.timeZone,
        seqs: options.seqs ?? new Map(),
        previousTs: new Map(),
        shiftMs: options.shiftMs ?? 0,
        seqOffset: options.seqOffset ?? 0,
      }
      continue
    }
    const r = rowToReading(item.record, ctx)
    const line = item.info.lines
    if (r.ok && labelAt >= 0)
      yield { kind: 'reading', reading: r.reading, line, dropped: r.dropped, label: rowLabel(item.record, labelAt, options.label!, line) }
    else if (r.ok) yield { kind: 'reading', reading: r.reading, line, dropped: r.dropped }
    else yield { kind: 'skip', line: item.info.lines, reason: r.reason }
  }
  while (skipped.length > 0) yield skipped.shift()!
  if (ctx === undefined) throw new VigilError('INPUT_INVALID', `${file} has no header row: the first line must name the columns.`)
}
