/**
 * Validation at the speed layer's boundary: schema v1 (ingestion/schema.ts) and then physiological
 * plausibility. A reading that fails is not classified: it goes to `vitals.rejected` with one of
 * the reason codes below and is counted by reason (DESIGN.md, Classification).
 */
import { parseReading, type Reading, type Vital } from '../ingestion/schema.ts'

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
  const parsed = parseReading(value)
  if (!parsed.ok) return parsed
  const r = parsed.reading
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
