/**
 * Validation at the speed layer's boundary: schema v1 (ingestion/schema.ts) and then physiological
 * plausibility. A reading that fails is not classified: it goes to `vitals.rejected` with one of
 * the reason codes below and is counted by reason (DESIGN.md, Classification).
 */
import { validateReading, type Reading, type Vital } from '../ingestion/schema.ts'

export const REJECT_REASONS = ['MALFORMED_JSON', 'SCHEMA', 'OUT_OF_RANGE', 'INCONSISTENT', 'KEY_MISMATCH', 'FUTURE_TS'] as const
/**
 * - MALFORMED_JSON: not JSON (or an empty record)
 * - SCHEMA: JSON but not schema v1
 * - OUT_OF_RANGE: a vital outside PLAUSIBLE_RANGES
 * - INCONSISTENT: vitals that contradict each other (diastolic >= systolic)
 * - KEY_MISMATCH: the record key is not the reading's patientId, so it sits in another patient's partition
 * - FUTURE_TS: event time further ahead of the broker's timestamp than the allowed clock skew
 */
export type RejectReason = (typeof REJECT_REASONS)[number]

/**
 * Physiologically possible values, inclusive, per vital and unit. Outside them a value is a
 * sensor or unit error, not a patient state. The bounds are deliberately wide: extreme but real
 * values (asystole's 0 bpm, a hyperosmolar glucose of 1 500 mg/dL) are classified, not rejected.
 */
export const PLAUSIBLE_RANGES: Readonly<Record<Vital, { min: number; max: number; unit: string }>> = Object.freeze({
  /** 0 (asystole) to 300 bpm (the fastest recorded adult tachyarrhythmias). */
  heartRate: { min: 0, max: 300, unit: 'bpm' },
  /** A saturation is a percentage: 0-100. */
  spo2: { min: 0, max: 100, unit: '%' },
  /** 10 mg/dL (below any meter's range) to 1 500 mg/dL (hyperosmolar state). */
  glucose: { min: 10, max: 1_500, unit: 'mg/dL' },
  /** 20-300 mmHg. */
  systolic: { min: 20, max: 300, unit: 'mmHg' },
  /** 10-200 mmHg. */
  diastolic: { min: 10, max: 200, unit: 'mmHg' },
  /** 0 (apnoea) to 80 breaths/min. */
  respRate: { min: 0, max: 80, unit: 'breaths/min' },
  /** 25-45 °C: outside this range a body temperature is not survivable or not a body's. */
  temperature: { min: 25, max: 45, unit: '°C' },
})

export type ValidationResult =
  | { ok: true; reading: Reading }
  | { ok: false; reason: RejectReason; detail: string; patientId?: string }

export interface RecordFacts {
  /** The record's key as text, if any. */
  key?: string
  /** The broker's timestamp of the record (ms). */
  brokerTs: number
}

/** Schema, then plausibility, then the record-level checks. */
export function validateRecord(value: Buffer | undefined, facts: RecordFacts, maxClockSkewMs: number): ValidationResult {
  if (value === undefined || value.length === 0) return { ok: false, reason: 'MALFORMED_JSON', detail: 'empty record value' }
  let r: Reading
  let json: unknown
  try {
    json = JSON.parse(value.toString('utf8'))
  } catch (error) {
    return { ok: false, reason: 'MALFORMED_JSON', detail: (error as Error).message }
  }
  if (isCertainlyValid(json)) {
    r = json
  } else {
    const parsed = validateReading(json)
    if (!parsed.ok) return parsed
    r = parsed.reading
  }
  const plausible = checkPlausible(r)
  if (plausible !== undefined) return { ...plausible, patientId: r.patientId }
  if (facts.key !== undefined && facts.key !== '' && facts.key !== r.patientId) {
    return { ok: false, reason: 'KEY_MISMATCH', detail: `record key "${facts.key}" is not the patientId "${r.patientId}"`, patientId: r.patientId }
  }
  if (r.ts > facts.brokerTs + maxClockSkewMs) {
    return { ok: false, reason: 'FUTURE_TS', detail: `ts ${r.ts} is ${r.ts - facts.brokerTs} ms ahead of the broker (allowed ${maxClockSkewMs} ms)`, patientId: r.patientId }
  }
  return { ok: true, reading: r }
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

const VITAL_SET: ReadonlySet<string> = new Set(['heartRate', 'spo2', 'glucose', 'systolic', 'diastolic', 'respRate', 'temperature'])
const READING_KEYS = 6
// The same character rules as ingestion/schema.ts's patientIdSchema and deviceIdSchema.
const PATIENT_ID = /^[^{}\u0000-\u001f\u007f]{1,128}$/
const DEVICE_ID = /^[^\u0000-\u001f\u007f]{1,128}$/

/**
 * A fast check that a parsed value is certainly a valid schema v1 reading, for the hot path: it
 * answers true only when the zod schema would accept the value unchanged; anything else
 * (including every invalid reading) goes through the zod schema, which names the problem. Kept
 * in step with ingestion/schema.ts by validate.test.ts, which runs both on the same inputs.
 */
export function isCertainlyValid(json: unknown): json is Reading {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return false
  const r = json as Record<string, unknown>
  let n = 0
  for (const _ in r) n++
  if (n !== READING_KEYS || r.v !== 1) return false
  const { patientId, deviceId, ts, seq, vitals } = r
  if (typeof patientId !== 'string' || patientId.length > 128 || !PATIENT_ID.test(patientId)) return false
  if (typeof deviceId !== 'string' || deviceId.length > 128 || !DEVICE_ID.test(deviceId)) return false
  if (typeof ts !== 'number' || !Number.isInteger(ts) || ts < 0 || ts > 8_640_000_000_000) return false
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) return false
  if (typeof vitals !== 'object' || vitals === null || Array.isArray(vitals)) return false
  let present = 0
  for (const k in vitals) {
    if (!VITAL_SET.has(k)) return false
    const v = (vitals as Record<string, unknown>)[k]
    if (typeof v !== 'number' || !Number.isFinite(v)) return false
    present++
  }
  return present > 0
}
