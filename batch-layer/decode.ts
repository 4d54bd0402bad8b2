/**
 * The archiver's decoder of `vitals.readings` records. Schema v1 (ingestion/schema.ts) stays the
 * single source of truth: a record is accepted here without zod only when it is plainly
 * well-formed under the same rules (the common case, checked with a few typeof tests), and every
 * other record goes through `validateReading`, which decides and names the reason. The unit test
 * checks on generated and mutated records that whatever this fast path accepts, zod accepts too.
 * Measured: zod's strict-object validation was the archiver's largest cost after the Kafka
 * client itself.
 */
import { ID_POLICY, VITALS, validateReading, type ParseResult, type Reading } from '../ingestion/schema.ts'

const READING_KEYS = new Set(['v', 'patientId', 'deviceId', 'ts', 'seq', 'vitals'])
const VITAL_KEYS = new Set<string>(VITALS)
// The id policy of patientIdSchema and deviceIdSchema, whole in one expression.
const ID = ID_POLICY.pattern
const MAX_TS = 8_640_000_000_000

export function decodeReading(raw: Buffer): ParseResult {
  let json: unknown
  try {
    json = JSON.parse(raw.toString('utf8'))
  } catch (error) {
    return { ok: false, reason: 'MALFORMED_JSON', detail: (error as Error).message }
  }
  if (plainlyWellFormed(json)) return { ok: true, reading: json }
  return validateReading(json)
}

/** True only for a value schema v1 certainly accepts; false means "ask the schema". */
export function plainlyWellFormed(x: unknown): x is Reading {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return false
  const o = x as Record<string, unknown>
  let keys = 0
  for (const k in o) {
    if (!READING_KEYS.has(k)) return false
    keys++
  }
  if (keys !== READING_KEYS.size || o.v !== 1) return false
  const { patientId, deviceId, ts, seq, vitals } = o
  if (typeof patientId !== 'string' || patientId.length > ID_POLICY.maxLength || !ID.test(patientId)) return false
  if (typeof deviceId !== 'string' || deviceId.length > ID_POLICY.maxLength || !ID.test(deviceId)) return false
  if (typeof ts !== 'number' || !Number.isSafeInteger(ts) || ts < 0 || ts > MAX_TS) return false
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) return false
  if (typeof vitals !== 'object' || vitals === null || Array.isArray(vitals)) return false
  let present = 0
  for (const k in vitals) {
    const v = (vitals as Record<string, unknown>)[k]
    if (!VITAL_KEYS.has(k) || typeof v !== 'number' || !Number.isFinite(v)) return false
    present++
  }
  return present > 0
}
