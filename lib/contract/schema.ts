/**
 * Reading schema v1 (docs/CONTRACT.md, The reading): the single source of truth for what a device
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
 * The id policy, for patientId and deviceId alike: 1-64 ASCII letters, digits, '.', '_' or '-',
 * the first a letter or digit. Hospital MRNs and device serials are ASCII, and so are FHIR
 * resource ids ([A-Za-z0-9.-]{1,64}), which the gateway maps to patient ids. Refusing everything
 * else removes ids that look alike but differ (Cyrillic "р" for Latin "p", an NFC and an NFD
 * spelling of one name, zero-width and bidi-override characters) and markup. An ASCII string is
 * its own NFC form, so an NFD id (a letter plus a combining mark) is refused, never normalised:
 * normalising silently would put one patient under two Kafka keys, on two partitions, and break
 * their per-patient order. Braces are outside the alphabet, so an id never breaks a Redis hash tag.
 */
export const ID_POLICY = {
  maxLength: 64,
  /** The whole rule in one expression (the fast path of speed-layer/validate.ts uses it as is). */
  pattern: /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
  rule: "1-64 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit",
} as const

const ID_CHAR = /^[A-Za-z0-9._-]$/

/** `U+202E` for a code point: never the character itself, which may be invisible or reorder a log line. */
export function codePointName(cp: number): string {
  return `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`
}

/**
 * Why `value` is not a valid id under ID_POLICY (`field` names it in the message), or undefined
 * when it is one. The message names the first broken rule; an offending character is shown as
 * its code point unless it is printable ASCII.
 */
export function idProblem(field: string, value: string): string | undefined {
  if (ID_POLICY.pattern.test(value)) return undefined
  const must = `${field} must be ${ID_POLICY.rule}`
  if (value.length === 0) return `${field} must not be empty (${ID_POLICY.rule})`
  let position = 0
  for (const ch of value) {
    position++
    const cp = ch.codePointAt(0)!
    if (cp > 0x7f) return `${must}; got a non-ASCII character ${codePointName(cp)} at position ${position}`
    if (cp < 0x20 || cp === 0x7f) return `${must}; got the control character ${codePointName(cp)} at position ${position}`
    if (!ID_CHAR.test(ch)) return `${must}; got ${JSON.stringify(ch)} at position ${position}`
  }
  if (!/^[A-Za-z0-9]/.test(value)) return `${must}; got ${JSON.stringify(value[0])} as the first character`
  return `${field} must be at most ${ID_POLICY.maxLength} characters; got ${value.length}`
}

function idSchema(field: string) {
  return z.string().check((ctx) => {
    const problem = idProblem(field, ctx.value)
    if (problem !== undefined) ctx.issues.push({ code: 'custom', message: problem, input: ctx.value })
  })
}

export const patientIdSchema = idSchema('patientId')
export const deviceIdSchema = idSchema('deviceId')

const vitalValue = z.number().finite()

export const vitalsSchema = z.strictObject({
  heartRate: vitalValue.optional(),
  spo2: vitalValue.optional(),
  glucose: vitalValue.optional(),
  systolic: vitalValue.optional(),
  diastolic: vitalValue.optional(),
  respRate: vitalValue.optional(),
  temperature: vitalValue.optional(),
})

/**
 * ACVPU (RCP NEWS2 2017, Chart 1 "Consciousness"): Alert, new Confusion, responds to Voice,
 * responds to Pain, Unresponsive. NEWS2 scores A 0 and each of C, V, P, U 3.
 */
export const CONSCIOUSNESS_LEVELS = ['A', 'C', 'V', 'P', 'U'] as const
export type Consciousness = (typeof CONSCIOUSNESS_LEVELS)[number]

/** The two NEWS2 parameters that are observations, not measured vitals (docs/CONTRACT.md, The reading). */
export const ASSESSMENTS = ['onOxygen', 'consciousness'] as const
export type Assessment = (typeof ASSESSMENTS)[number]

const NOTHING_OBSERVED = `a reading must hold at least one of vitals.${VITALS.join(', vitals.')}, onOxygen or consciousness`

export const readingSchema = z
  .strictObject({
    /** Schema version. */
    v: z.literal(1),
    patientId: patientIdSchema,
    deviceId: deviceIdSchema,
    /** Event time, epoch milliseconds UTC. */
    ts: z.number().int().min(0).max(8_640_000_000_000),
    /** Per-device monotonic sequence number; (deviceId, seq) is the idempotency key. */
    seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    vitals: vitalsSchema,
    /** Supplemental oxygen at the time of the reading (NEWS2 "Air or oxygen?": oxygen scores 2). Optional: unknown when absent. */
    onOxygen: z.boolean().optional(),
    /** Level of consciousness, ACVPU. Optional: unknown when absent. */
    consciousness: z.enum(CONSCIOUSNESS_LEVELS).optional(),
  })
  .refine((r) => VITALS.some((k) => r.vitals[k] !== undefined) || r.onOxygen !== undefined || r.consciousness !== undefined, {
    error: NOTHING_OBSERVED,
  })

export type Reading = z.infer<typeof readingSchema>
export type Vitals = z.infer<typeof vitalsSchema>

export type ParseResult = { ok: true; reading: Reading } | { ok: false; reason: 'MALFORMED_JSON' | 'SCHEMA'; detail: string }

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

/** Validates an already-parsed value against schema v1 (the fast path first, then zod, which names every problem). */
export function validateReading(json: unknown): ParseResult {
  if (isPlainlyValid(json)) return { ok: true, reading: json }
  const parsed = readingSchema.safeParse(json)
  if (parsed.success) return { ok: true, reading: parsed.data }
  return { ok: false, reason: 'SCHEMA', detail: describeIssues(parsed.error) }
}

/** `vitals.spo2: expected number, received string; seq: ...` — every bad field, named. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(reading)'}: ${i.message}`).join('; ')
}

const READING_KEYS: ReadonlySet<string> = new Set(['v', 'patientId', 'deviceId', 'ts', 'seq', 'vitals'])
const OPTIONAL_KEYS: ReadonlySet<string> = new Set(ASSESSMENTS)
const VITAL_KEYS: ReadonlySet<string> = new Set(VITALS)
const CONSCIOUSNESS_SET: ReadonlySet<unknown> = new Set(CONSCIOUSNESS_LEVELS)
const MAX_TS = 8_640_000_000_000

/**
 * The hot path of every layer that reads readings: true only for a value `readingSchema` accepts
 * unchanged, checked with a few typeof tests; false means "ask the schema", which decides and
 * names the problem. Measured: zod's strict-object validation was the largest cost of the
 * archiver and of the speed layer after the Kafka client. schema.test.ts runs both on generated,
 * mutated and hostile values and checks that they agree.
 */
export function isPlainlyValid(x: unknown): x is Reading {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return false
  const o = x as Record<string, unknown>
  let keys = 0
  let assessed = false
  for (const k in o) {
    if (READING_KEYS.has(k)) keys++
    else if (OPTIONAL_KEYS.has(k)) {
      const value = o[k]
      if (k === 'onOxygen' ? typeof value !== 'boolean' : !CONSCIOUSNESS_SET.has(value)) return false
      assessed = true
    } else return false
  }
  if (keys !== READING_KEYS.size || o.v !== 1) return false
  const { patientId, deviceId, ts, seq, vitals } = o
  if (typeof patientId !== 'string' || !ID_POLICY.pattern.test(patientId)) return false
  if (typeof deviceId !== 'string' || !ID_POLICY.pattern.test(deviceId)) return false
  if (typeof ts !== 'number' || !Number.isSafeInteger(ts) || ts < 0 || ts > MAX_TS) return false
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) return false
  if (typeof vitals !== 'object' || vitals === null || Array.isArray(vitals)) return false
  let present = 0
  for (const k in vitals) {
    const v = (vitals as Record<string, unknown>)[k]
    if (!VITAL_KEYS.has(k) || typeof v !== 'number' || !Number.isFinite(v)) return false
    present++
  }
  return present > 0 || assessed
}
