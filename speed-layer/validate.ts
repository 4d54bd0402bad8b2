/**
 * Validation at the speed layer's boundary: schema v1 (lib/contract/schema.ts), the record's key
 * and timestamp, then physiological plausibility one field at a time. A record that fails a
 * record-level check, or has no field left to use, is not classified: it goes to `vitals.rejected`
 * with one of the reason codes below. A record with some fields refused is classified on the rest
 * and also dead-lettered once, naming the refused fields. Both are counted by reason
 * (docs/CONTRACT.md, Classification; docs/CLINICAL.md, Validation, one field at a time).
 */
import { validateReading, VITALS, type Reading, type Vital } from '../lib/contract/schema.ts'
import { REJECT_HEADERS } from '../lib/contract/topics.ts'
import { MUST_BE_BELOW, NO_SIGNAL_VALUES, PLAUSIBLE_RANGES } from '../lib/plausibility.ts'

export const REJECT_REASONS = ['MALFORMED_JSON', 'SCHEMA', 'OUT_OF_RANGE', 'INCONSISTENT', 'KEY_MISMATCH', 'FUTURE_TS'] as const
/**
 * - MALFORMED_JSON: not JSON (or an empty record)
 * - SCHEMA: JSON but not schema v1
 * - OUT_OF_RANGE: a vital outside PLAUSIBLE_RANGES (that field refused; the record whole when nothing else is left)
 * - INCONSISTENT: a diastolic not below the systolic (the diastolic refused; the record whole when nothing else is left)
 * - KEY_MISMATCH: the record key is missing or is not the reading's patientId, so it may sit in another patient's partition
 * - FUTURE_TS: event time further ahead of the broker's timestamp than the allowed clock skew
 */
export type RejectReason = (typeof REJECT_REASONS)[number]

/** Why one field of a reading was refused while the rest of it was kept. */
export interface FieldReject {
  vital: Vital
  reason: 'OUT_OF_RANGE' | 'INCONSISTENT'
  detail: string
}

/**
 * A record's verdict. Accepted: `reading` is a copy of the reading holding only its accepted vitals
 * (field-rejected and no-signal fields removed, onOxygen and consciousness kept); `fieldRejects`
 * the refused fields (the record is also dead-lettered once, decode.ts), `noSignal` its no-signal
 * fields. Rejected whole: bad JSON, schema, key or timestamp, or no field left to use.
 */
export type ValidationResult =
  | { ok: true; reading: Reading; fieldRejects: FieldReject[]; noSignal: Vital[] }
  | { ok: false; reason: RejectReason; detail: string; patientId?: string }

export interface RecordFacts {
  /** The record's key as text, if any. */
  key?: string
  /** The broker's timestamp of the record (ms). */
  brokerTs: number
}

/** JSON, schema, key, timestamp; then each field on its own (checkFields). */
export function validateRecord(value: Buffer | undefined, facts: RecordFacts, maxClockSkewMs: number): ValidationResult {
  if (value === undefined || value.length === 0) return { ok: false, reason: 'MALFORMED_JSON', detail: 'empty record value' }
  let json: unknown
  try {
    json = JSON.parse(value.toString('utf8'))
  } catch (error) {
    // V8 quotes the start of the text in its message: escaped, so a log line shows what was sent.
    return { ok: false, reason: 'MALFORMED_JSON', detail: printable((error as Error).message, 300) }
  }
  const parsed = validateReading(json)
  // zod quotes unknown keys as they were sent.
  if (!parsed.ok) return { ...parsed, detail: printable(parsed.detail, 1000) }
  const r = parsed.reading
  const recordProblem = checkRecord(r, facts, maxClockSkewMs)
  if (recordProblem !== undefined) return { ...recordProblem, patientId: r.patientId }
  const fields = checkFields(r)
  if (isEmpty(fields.reading) && fields.noSignal.length === 0) {
    // Nothing left to use: the record is rejected whole, with every field's problem.
    const first = fields.fieldRejects[0] as FieldReject
    return { ok: false, reason: first.reason, detail: describeFieldRejects(fields.fieldRejects), patientId: r.patientId }
  }
  return { ok: true, ...fields }
}

/** The record-level checks of a schema-valid reading: its key, then its event time against the broker's. */
function checkRecord(r: Reading, facts: RecordFacts, maxClockSkewMs: number): { ok: false; reason: RejectReason; detail: string } | undefined {
  // A record without a key lands on whatever partition its producer picked, where another
  // instance may own the patient: its order with the patient's other readings is lost.
  if (facts.key === undefined || facts.key === '') {
    return { ok: false, reason: 'KEY_MISMATCH', detail: `the record has no key: key it by its patientId "${r.patientId}"` }
  }
  if (facts.key !== r.patientId) {
    return { ok: false, reason: 'KEY_MISMATCH', detail: `record key "${printable(facts.key, 100)}" is not the patientId "${r.patientId}"` }
  }
  if (r.ts > facts.brokerTs + maxClockSkewMs) {
    return { ok: false, reason: 'FUTURE_TS', detail: `ts ${r.ts} is ${r.ts - facts.brokerTs} ms ahead of the broker (allowed ${maxClockSkewMs} ms)` }
  }
  return undefined
}

/** Whether an accepted reading holds nothing: no vital, no onOxygen, no consciousness. */
function isEmpty(r: Reading): boolean {
  return VITALS.every((v) => r.vitals[v] === undefined) && r.onOxygen === undefined && r.consciousness === undefined
}

/** Every field problem of a record, for a dead letter's detail. */
export function describeFieldRejects(rejects: readonly FieldReject[]): string {
  return rejects.map((f) => f.detail).join('; ')
}

/**
 * Each vital of a schema-valid reading on its own, in VITALS order: a no-signal value
 * (NO_SIGNAL_VALUES) goes to `noSignal`; a value outside PLAUSIBLE_RANGES is refused OUT_OF_RANGE;
 * of a pair in MUST_BE_BELOW (a diastolic not below a plausible systolic), the lower one is refused
 * INCONSISTENT and the upper one kept (lib/plausibility.ts says why). The batch job's SQL is
 * generated from the same tables. `reading` is a copy holding the rest; the parsed reading is untouched.
 */
export function checkFields(r: Reading): { reading: Reading; fieldRejects: FieldReject[]; noSignal: Vital[] } {
  const fieldRejects: FieldReject[] = []
  const noSignal: Vital[] = []
  const vitals: Partial<Record<Vital, number>> = {}
  for (const vital of VITALS) {
    const value = r.vitals[vital]
    if (value === undefined) continue
    if (NO_SIGNAL_VALUES[vital] === value) {
      noSignal.push(vital)
      continue
    }
    const range = PLAUSIBLE_RANGES[vital]
    if (value < range.min || value > range.max) {
      fieldRejects.push({ vital, reason: 'OUT_OF_RANGE', detail: `${vital} ${value} ${range.unit} is outside ${range.min}-${range.max}` })
      continue
    }
    vitals[vital] = value
  }
  for (const { refused, below } of MUST_BE_BELOW) {
    const low = vitals[refused]
    const high = vitals[below]
    if (low === undefined || high === undefined || low < high) continue
    delete vitals[refused]
    const unit = PLAUSIBLE_RANGES[refused].unit
    fieldRejects.push({
      vital: refused,
      reason: 'INCONSISTENT',
      detail: `${refused} ${low} ${unit} is not below ${below} ${high} ${PLAUSIBLE_RANGES[below].unit}`,
    })
  }
  const untouched = fieldRejects.length === 0 && noSignal.length === 0
  return { reading: untouched ? r : { ...r, vitals }, fieldRejects, noSignal }
}

/**
 * Text from a record, safe to put in a header or a log line: everything outside printable ASCII
 * (control, zero-width and bidi-override characters included) as a \u escape, cut at `max`.
 */
export function printable(text: string, max: number): string {
  const cut = text.length > max ? text.slice(0, max) : text
  const escaped = cut.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  return text.length > max ? `${escaped}... (${text.length} characters)` : escaped
}

/**
 * Largest value a dead letter carries, in bytes. `vitals.rejected` has the broker's message size
 * limit (about 1 MB by default) while a compressed record on `vitals.readings` can be larger once
 * decompressed: a dead letter holding it whole could never be produced, and the layer would retry
 * it for ever. A larger value keeps its first bytes and its size goes in the `vigil-original-bytes`
 * header; the source partition and offset headers point at the whole record. 256 KiB is a
 * thousand times a reading, so every record a device could mean as a reading stays whole.
 */
export const DEAD_LETTER_MAX_BYTES = 256 * 1024

/** The key and value a dead letter carries (see DEAD_LETTER_MAX_BYTES); `originalBytes` when the value was cut. */
export function deadLetterPayload(key: Buffer | null | undefined, value: Buffer | null | undefined): { key?: Buffer; value: Buffer; originalBytes?: number } {
  const v = value ?? Buffer.alloc(0)
  // A key over the id bound is no patient's: its first bytes are enough to partition by.
  const k = key === null || key === undefined ? undefined : key.length > 256 ? key.subarray(0, 256) : key
  if (v.length <= DEAD_LETTER_MAX_BYTES) return { key: k, value: v }
  return { key: k, value: v.subarray(0, DEAD_LETTER_MAX_BYTES), originalBytes: v.length }
}

/** Bytes of a rejected record's own headers a dead letter keeps (the source's headers are the sender's, unbounded). */
export const DEAD_LETTER_MAX_HEADER_BYTES = 16 * 1024

const REJECT_HEADER_NAMES: ReadonlySet<string> = new Set(Object.values(REJECT_HEADERS))

/**
 * The rejected record's own headers a dead letter carries: in order, up to
 * DEAD_LETTER_MAX_HEADER_BYTES, and never one named like the reject headers (those are set by
 * the speed layer, and a sender must not be able to forge or duplicate them).
 */
export function deadLetterHeaders(source: ReadonlyMap<Buffer, Buffer>): Map<Buffer, Buffer> {
  const out = new Map<Buffer, Buffer>()
  let bytes = 0
  for (const [k, v] of source) {
    if (REJECT_HEADER_NAMES.has(k.toString('latin1'))) continue
    bytes += k.length + v.length
    if (bytes > DEAD_LETTER_MAX_HEADER_BYTES) break
    out.set(k, v)
  }
  return out
}

/**
 * Splits records into produce requests of at most `maxBytes` of keys, values and headers (a
 * record larger than that goes alone), so that no partition's batch in a request passes the
 * broker's limit.
 */
export function produceChunks<T extends { key?: Buffer; value?: Buffer; headers?: ReadonlyMap<Buffer, Buffer> }>(messages: T[], maxBytes = 768 * 1024): T[][] {
  const chunks: T[][] = []
  let current: T[] = []
  let bytes = 0
  for (const m of messages) {
    let size = (m.key?.length ?? 0) + (m.value?.length ?? 0) + 100
    for (const [k, v] of m.headers ?? []) size += k.length + v.length
    if (current.length > 0 && bytes + size > maxBytes) {
      chunks.push(current)
      current = []
      bytes = 0
    }
    current.push(m)
    bytes += size
  }
  if (current.length > 0) chunks.push(current)
  return chunks
}
