/**
 * Reading schema v1 (DESIGN.md, The reading): the single source of truth for what a device
 * sends. Types come from `z.infer`; every layer imports them from here.
 *
 * The schema checks shape and types only. Physiological plausibility (HR > 300, SpO2 > 100, ...)
 * is the speed layer's validation table, so that an implausible reading is still archived raw.
 */
import { z } from 'zod'

/** The seven vitals, in display order, with their units. */
export const VITALS = ['heartRate', 'spo2', 'glucose', 'systolic', 'diastolic', 'respRate', 'temperature'] as const
export type Vital = (typeof VITALS)[number]

export const VITAL_UNITS: Readonly<Record<Vital, string>> = {
  heartRate: 'bpm',
  spo2: '%',
  glucose: 'mg/dL',
  systolic: 'mmHg',
  diastolic: 'mmHg',
  respRate: 'breaths/min',
  temperature: '°C',
}

/**
 * Patient ids go into Redis hash tags (`vigil:{p-0001}:latest`), so they may not contain braces;
 * control characters are refused too. Anything else (including markup) is allowed and must be
 * rendered as text by whoever shows it.
 */
export const patientIdSchema = z
  .string()
  .min(1, { error: 'patientId must not be empty' })
  .max(128, { error: 'patientId must be at most 128 characters' })
  .regex(/^[^{}\u0000-\u001f\u007f]+$/, { error: 'patientId must not contain braces or control characters' })

export const deviceIdSchema = z
  .string()
  .min(1, { error: 'deviceId must not be empty' })
  .max(128, { error: 'deviceId must be at most 128 characters' })
  .regex(/^[^\u0000-\u001f\u007f]+$/, { error: 'deviceId must not contain control characters' })

const vitalValue = z.number().finite()

export const vitalsSchema = z
  .strictObject({
    heartRate: vitalValue.optional(),
    spo2: vitalValue.optional(),
    glucose: vitalValue.optional(),
    systolic: vitalValue.optional(),
    diastolic: vitalValue.optional(),
    respRate: vitalValue.optional(),
    temperature: vitalValue.optional(),
  })
  .refine((v) => VITALS.some((k) => v[k] !== undefined), { error: 'vitals must hold at least one of ' + VITALS.join(', ') })

export const readingSchema = z.strictObject({
  /** Schema version. */
  v: z.literal(1),
  patientId: patientIdSchema,
  deviceId: deviceIdSchema,
  /** Event time, epoch milliseconds UTC. */
  ts: z.number().int().min(0).max(8_640_000_000_000),
  /** Per-device monotonic sequence number; (deviceId, seq) is the idempotency key. */
  seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  vitals: vitalsSchema,
})

export type Reading = z.infer<typeof readingSchema>
export type Vitals = z.infer<typeof vitalsSchema>

export type ParseResult =
  | { ok: true; reading: Reading }
  | { ok: false; reason: 'MALFORMED_JSON' | 'SCHEMA'; detail: string }

/** Parses raw bytes (or a string) into a reading, with the reject reason and detail when it fails. */
export function parseReading(raw: Buffer | string): ParseResult {
  let json: unknown
  try {
    json = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'))
  } catch (error) {
    return { ok: false, reason: 'MALFORMED_JSON', detail: (error as Error).message }
  }
  return validateReading(json)
}

/** Validates an already-parsed value against schema v1. */
export function validateReading(json: unknown): ParseResult {
  const parsed = readingSchema.safeParse(json)
  if (parsed.success) return { ok: true, reading: parsed.data }
  return { ok: false, reason: 'SCHEMA', detail: describeIssues(parsed.error) }
}

/** `vitals.spo2: expected number, received string; seq: ...` — every bad field, named. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => `${i.path.length > 0 ? i.path.join('.') : '(reading)'}: ${i.message}`)
    .join('; ')
}
