/**
 * Validation at the speed layer's boundary: schema v1 (lib/contract/schema.ts) and then physiological
 * plausibility. A reading that fails is not classified: it goes to `vitals.rejected` with one of
 * the reason codes below and is counted by reason (docs/CONTRACT.md, Classification).
 */
import { validateReading, type Reading, type Vital } from '../lib/contract/schema.ts'
import { REJECT_HEADERS } from '../lib/contract/topics.ts'

export const REJECT_REASONS = ['MALFORMED_JSON', 'SCHEMA', 'OUT_OF_RANGE', 'INCONSISTENT', 'KEY_MISMATCH', 'FUTURE_TS'] as const
/**
 * - MALFORMED_JSON: not JSON (or an empty record)
 * - SCHEMA: JSON but not schema v1
 * - OUT_OF_RANGE: a vital outside PLAUSIBLE_RANGES
 * - INCONSISTENT: vitals that contradict each other (diastolic >= systolic)
 * - KEY_MISMATCH: the record key is missing or is not the reading's patientId, so it may sit in another patient's partition
 * - FUTURE_TS: event time further ahead of the broker's timestamp than the allowed clock skew
 */
export type RejectReason = (typeof REJECT_REASONS)[number]

/**
 * Physiologically possible values, inclusive, per vital and unit. Outside them a value is a
 * sensor or unit error, not a patient state. The bounds are deliberately wide: extreme but real
 * values (asystole's 0 bpm, a hyperosmolar glucose of 1 500 mg/dL, a 13.7 °C accidental
 * hypothermia) are classified, not rejected. Each limit's source: docs/CONTRACT.md, Classification.
 */
export const PLAUSIBLE_RANGES: Readonly<Record<Vital, { min: number; max: number; unit: string }>> = Object.freeze({
  /**
   * 0 (asystole) to 300 bpm. Stated reason: adult tachyarrhythmias reach about 300 bpm (atrial
   * flutter with 1:1 conduction, pre-excited atrial fibrillation); isolated case reports above
   * that exist, but a monitor value over 300 is far more often an artefact (QRS and T counted
   * twice, motion). 300 is deep in CRITICAL_HIGH (>= 131), so nothing clinical is lost. Kept.
   */
  heartRate: { min: 0, max: 300, unit: 'bpm' },
  /** A saturation is a fraction of haemoglobin: 0-100 % by definition. */
  spo2: { min: 0, max: 100, unit: '%' },
  /**
   * 10 mg/dL to 1 500 mg/dL. Low: below the reporting range of meters and CGMs (their floor is
   * 20-40 mg/dL), so a lower number is a device error. High: the hyperosmolar hyperglycaemic state
   * starts at > 600 mg/dL (Kitabchi et al., ADA consensus, Diabetes Care 2009;32:1335-43) and case
   * values reach 1 000-1 500 mg/dL. Kept.
   */
  glucose: { min: 10, max: 1_500, unit: 'mg/dL' },
  /**
   * 20-300 mmHg. Stated reason: 300 mmHg is the top of the usual cuff and transducer measuring
   * range, and a systolic under 20 is a circulatory arrest, not a pressure a device reports. Kept.
   */
  systolic: { min: 20, max: 300, unit: 'mmHg' },
  /** 10-200 mmHg: inside the cuff's 0-300 mmHg range, below any systolic (INCONSISTENT catches the rest). Kept. */
  diastolic: { min: 10, max: 200, unit: 'mmHg' },
  /**
   * 0 (apnoea) to 80 breaths/min: neonatal tachypnoea reaches 60-80+/min, adult rates above
   * ~60/min are not sustained; beyond 80 an impedance or capnography reading is artefact
   * (motion, cardiac oscillation). Kept.
   */
  respRate: { min: 0, max: 80, unit: 'breaths/min' },
  /**
   * Core/body temperature, 10-47 °C. Low: accidental hypothermia is survived far below 25 °C
   * (HT IV, < 24 °C, Swiss staging, Brown et al., NEJM 2012;367:1930-8; lowest survived core
   * temperature 13.7 °C, Gilbert et al., Lancet 2000;355:375-6), so a hypothermic reading must
   * be classified CRITICAL_LOW, never dead-lettered. 10 °C leaves a margin below the lowest
   * survivor (a colder one is possible, and a body is monitored while it is rewarmed); lower is a
   * probe in air or ice. High: the highest survived heat-stroke temperature is about 46.5 °C
   * (Slovis et al., Ann Emerg Med 1982;11:269-71, a case from 1980); 47 °C keeps it and rejects
   * non-body values (a probe in hot water, a °F value taken as °C: 98.6). Skin temperature is out
   * of scope (docs/CONTRACT.md, Classification).
   */
  temperature: { min: 10, max: 47, unit: '°C' },
})

export type ValidationResult = { ok: true; reading: Reading } | { ok: false; reason: RejectReason; detail: string; patientId?: string }

export interface RecordFacts {
  /** The record's key as text, if any. */
  key?: string
  /** The broker's timestamp of the record (ms). */
  brokerTs: number
}

/** Schema, then plausibility, then the record-level checks. */
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
  const plausible = checkPlausible(r)
  if (plausible !== undefined) return { ...plausible, patientId: r.patientId }
  // A record without a key lands on whatever partition its producer picked, where another
  // instance may own the patient: its order with the patient's other readings is lost.
  if (facts.key === undefined || facts.key === '') {
    return { ok: false, reason: 'KEY_MISMATCH', detail: `the record has no key: key it by its patientId "${r.patientId}"`, patientId: r.patientId }
  }
  if (facts.key !== r.patientId) {
    return {
      ok: false,
      reason: 'KEY_MISMATCH',
      detail: `record key "${printable(facts.key, 100)}" is not the patientId "${r.patientId}"`,
      patientId: r.patientId,
    }
  }
  if (r.ts > facts.brokerTs + maxClockSkewMs) {
    return {
      ok: false,
      reason: 'FUTURE_TS',
      detail: `ts ${r.ts} is ${r.ts - facts.brokerTs} ms ahead of the broker (allowed ${maxClockSkewMs} ms)`,
      patientId: r.patientId,
    }
  }
  return { ok: true, reading: r }
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

/** The first implausible vital of a schema-valid reading, or undefined when all are plausible. */
export function checkPlausible(r: Reading): { ok: false; reason: RejectReason; detail: string } | undefined {
  const bad: string[] = []
  for (const [vital, value] of Object.entries(r.vitals) as [Vital, number | undefined][]) {
    if (value === undefined) continue
    const range = PLAUSIBLE_RANGES[vital]
    if (value < range.min || value > range.max) bad.push(`${vital} ${value} ${range.unit} is outside ${range.min}-${range.max}`)
  }
  if (bad.length > 0) return { ok: false, reason: 'OUT_OF_RANGE', detail: bad.join('; ') }
  const { systolic, diastolic } = r.vitals
  if (systolic !== undefined && diastolic !== undefined && diastolic >= systolic) {
    return { ok: false, reason: 'INCONSISTENT', detail: `diastolic ${diastolic} mmHg is not below systolic ${systolic} mmHg` }
  }
  return undefined
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
