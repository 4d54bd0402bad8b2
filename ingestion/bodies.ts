/**
 * Request bodies of the gateway, pure: media types, JSON and NDJSON parsing, and validation of
 * every item against schema v1 (lib/contract/schema.ts) with every bad field named by its JSON
 * pointer (and its line, for NDJSON), up to MAX_FIELD_ERRORS: a flood of bad items is refused
 * with 100 errors, never amplified.
 */
import { readingSchema, type Reading } from '../lib/contract/schema.ts'
import type { ProducerRecord } from '../lib/producer.ts'
import { MAX_FIELD_ERRORS, type FieldError } from './fhir.ts'

/** Content types each route takes (the media type without parameters). */
export const READING_TYPES: ReadonlySet<string> = new Set(['application/json', 'application/x-ndjson'])
/** application/json+fhir is the media type of FHIR before R3, still sent by some devices. */
export const FHIR_TYPES: ReadonlySet<string> = new Set(['application/fhir+json', 'application/json', 'application/json+fhir'])
/** Every type the gateway reads a body of (as a string; each route parses it). */
export const BODY_TYPES = ['application/json', 'application/x-ndjson', 'application/fhir+json', 'application/json+fhir']

/** One item to validate: its JSON, the text it came as (NDJSON), and where it was in the body. */
export interface BodyItem {
  json: unknown
  /** The NDJSON line as sent: a valid one goes to Kafka as it came. */
  raw?: string
  /** JSON pointer of the item in the body ('' for a single reading). */
  pointer: string
  /** 1-based NDJSON line. */
  line?: number
}

/** A valid reading and where it was in the body: what the gateway checks against the sending device. */
export interface LocatedReading {
  reading: Reading
  /** JSON pointer of the reading in the body ('' for a single reading, `/mapped/<i>` after the FHIR mapping). */
  pointer: string
  /** 1-based NDJSON line. */
  line?: number
}

/** The records to produce, the readings they hold (same order), and the bad fields. */
export interface Validated {
  records: ProducerRecord[]
  readings: LocatedReading[]
  errors: FieldError[]
}

export type Parsed = { ok: true; json: unknown } | { ok: false; detail: string }

/** The media type of a Content-Type header, without parameters, lower case; '' when absent. */
export function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase()
}

export function parseJson(body: unknown): Parsed {
  if (typeof body !== 'string' || body.trim().length === 0) return { ok: false, detail: 'the body is empty' }
  try {
    return { ok: true, json: JSON.parse(body) }
  } catch (error) {
    return { ok: false, detail: `the body is not valid JSON: ${(error as Error).message}` }
  }
}

/** The items of a JSON body: a top-level array is a batch, anything else one reading. */
export function jsonItems(json: unknown): BodyItem[] {
  if (Array.isArray(json)) return json.map((item, i) => ({ json: item, pointer: `/${i}` }))
  return [{ json, pointer: '' }]
}

/** The lines of an NDJSON body as items (blank lines skipped), and the lines that are not JSON. */
export function ndjsonItems(body: unknown): { items: BodyItem[]; errors: FieldError[] } {
  const items: BodyItem[] = []
  const errors: FieldError[] = []
  const lines = (typeof body === 'string' ? body : '').split('\n')
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim()
    if (raw.length === 0) continue
    try {
      items.push({ json: JSON.parse(raw), raw, pointer: `/${i}`, line: i + 1 })
    } catch (error) {
      errors.push({ pointer: `/${i}`, line: i + 1, detail: `not valid JSON: ${(error as Error).message}` })
      if (errors.length >= MAX_FIELD_ERRORS) break
    }
  }
  return { items, errors }
}

/** Validates each item against schema v1; stops once MAX_FIELD_ERRORS errors are collected. */
export function validateAll(items: readonly BodyItem[]): Validated {
  const records: ProducerRecord[] = []
  const readings: LocatedReading[] = []
  const errors: FieldError[] = []
  for (const item of items) {
    if (errors.length >= MAX_FIELD_ERRORS) break
    const parsed = readingSchema.safeParse(item.json)
    if (parsed.success) {
      // A valid NDJSON line goes to Kafka as it came (strict schema: it holds exactly the known fields).
      records.push({ key: parsed.data.patientId, value: item.raw ?? JSON.stringify(parsed.data) })
      readings.push({ reading: parsed.data, pointer: item.pointer, ...(item.line === undefined ? {} : { line: item.line }) })
      continue
    }
    for (const issue of parsed.error.issues) {
      errors.push({
        pointer: `${item.pointer}/${issue.path.map(String).join('/')}`.replace(/\/$/, '') || '/',
        detail: issue.message,
        ...(item.line === undefined ? {} : { line: item.line }),
      })
    }
  }
  return { records, readings, errors }
}

/** Validates readings mapped from FHIR, pointed at as `/mapped/<i>`. */
export function validateMapped(readings: readonly Reading[]): Validated {
  return validateAll(readings.map((r, i) => ({ json: r, pointer: `/mapped/${i}` })))
}
