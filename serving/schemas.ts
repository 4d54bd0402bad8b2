/**
 * The HTTP API's JSON Schemas (docs/CONTRACT.md, Serving): what each route takes (params,
 * querystring, body), checked by fastify before a handler runs, and what it answers. Also the
 * message of a refused input (`validationMessage`), so a 400 names the field and the rule.
 */
import type { FastifySchemaValidationError } from 'fastify'
import { CONSCIOUSNESS_LEVELS, ID_POLICY, VITALS } from '../lib/contract/schema.ts'
import { ALERT_KINDS, ALERT_LEVELS, NEWS2_PARAMETERS, NEWS2_RISKS, TREND_ARROWS } from '../lib/contract/views.ts'
import { STATUSES } from '../lib/bands.ts'

/** A calendar date as Date.parse accepts it after `T00:00:00Z` (month 01-12, day 01-31). */
const DATE_PATTERN = '^\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])$'
/** Who acknowledges: 1-64 characters once the surrounding white space is trimmed. */
const ACK_BY_PATTERN = '^\\s*\\S(?:[\\s\\S]{0,62}\\S)?\\s*$'

/** What a pattern means, for the 400 message (a regular expression is no message). */
const PATTERN_RULES: ReadonlyMap<string, string> = new Map([
  [ID_POLICY.pattern.source, ID_POLICY.rule],
  [DATE_PATTERN, 'a date YYYY-MM-DD'],
  [ACK_BY_PATTERN, 'a name of 1-64 characters'],
])

/** The 400 message of a refused input: where, then what is wrong (fastify's `dataVar` is body, params or querystring). */
export function validationMessage(errors: readonly FastifySchemaValidationError[], dataVar: string): string {
  const e = errors[0]
  if (e === undefined) return `${dataVar} is invalid`
  const where = `${dataVar}${e.instancePath}`
  const rule = e.keyword === 'pattern' ? PATTERN_RULES.get(String(e.params.pattern)) : undefined
  if (rule !== undefined) return `${where} must be ${rule}`
  if (e.keyword === 'additionalProperties') return `${where} must not have the property ${JSON.stringify(e.params.additionalProperty)}`
  return `${where} ${e.message ?? 'is invalid'}`
}

export const patientIdSchema = { type: 'string', pattern: ID_POLICY.pattern.source, description: ID_POLICY.rule } as const
const dateSchema = { type: 'string', pattern: DATE_PATTERN, description: 'a UTC day' } as const
const nullable = (schema: object) => ({ anyOf: [schema, { type: 'null' }] })

export const idParams = { type: 'object', required: ['id'], properties: { id: patientIdSchema } } as const

/** Every refusal the handlers answer themselves: 400, 404 and 409. */
export const problem = {
  type: 'object',
  required: ['error', 'message'],
  properties: { error: { type: 'string' }, message: { type: 'string' }, jobId: { type: 'string' } },
} as const

const figures = { type: 'object', properties: { count: { type: 'number' }, mean: { type: 'number' }, min: { type: 'number' }, max: { type: 'number' } } }
const vitalState = { type: 'object', properties: { value: { type: 'number' }, status: { enum: STATUSES }, ts: { type: 'number' } } }

const parameterList = { type: 'array', items: { enum: NEWS2_PARAMETERS } } as const

/**
 * The NEWS2 aggregate as Vigil can state it (docs/CLINICAL.md, NEWS2): a complete score, or a
 * partial one (a lower bound) with what it counts, what it misses and which values are too old.
 */
const news2State = {
  type: 'object',
  required: ['score', 'risk', 'complete', 'counted', 'scores', 'missing', 'old', 'scale'],
  properties: {
    score: { type: 'number' },
    risk: { anyOf: [{ enum: NEWS2_RISKS }, { type: 'null' }], description: 'null: a partial score that implies no risk band (never "low")' },
    complete: { type: 'boolean' },
    counted: parameterList,
    scores: { type: 'object', propertyNames: { enum: NEWS2_PARAMETERS }, additionalProperties: { type: 'number' } },
    missing: parameterList,
    old: parameterList,
    scale: { enum: [1, 2] },
  },
} as const

const assessment = (value: object) => ({ type: 'object', required: ['value', 'ts'], properties: { value, ts: { type: 'number' } } }) as const

export const patientState = {
  type: 'object',
  required: ['patientId', 'ts', 'status', 'news2', 'vitals'],
  properties: {
    patientId: { type: 'string' },
    ts: { type: 'number' },
    status: { enum: STATUSES },
    news2: news2State,
    vitals: { type: 'object', propertyNames: { enum: VITALS }, additionalProperties: vitalState },
    onOxygen: assessment({ type: 'boolean' }),
    consciousness: assessment({ enum: CONSCIOUSNESS_LEVELS }),
    glucoseTrend: {
      type: 'object',
      required: ['rate', 'arrow', 'ts'],
      properties: { rate: { type: 'number', description: 'mg/dL per minute' }, arrow: { enum: TREND_ARROWS }, ts: { type: 'number' } },
    },
  },
} as const

/** What an alert is about: a vital, a device, the NEWS2 aggregate or the glucose forecast. */
const alertSubject = { enum: [...VITALS, 'device', 'news2', 'glucoseForecast'] } as const
const side = { enum: ['low', 'high'] } as const

export const alertView = {
  type: 'object',
  required: ['id', 'patientId', 'vital', 'kind', 'level', 'ts', 'message'],
  properties: {
    id: { type: 'string' },
    patientId: { type: 'string' },
    vital: alertSubject,
    kind: { enum: ALERT_KINDS },
    level: { enum: ALERT_LEVELS },
    value: { type: 'number' },
    side,
    score: { type: 'number' },
    deviceId: { type: 'string' },
    ts: { type: 'number' },
    message: { type: 'string' },
    streamId: { type: 'string' },
    ack: { type: 'object', properties: { by: { type: 'string' }, at: { type: 'number' } } },
  },
} as const

/** One open alert of a patient (the `{p}:alerts` hash): its subject and its state, whose message follows the current value. */
export const openAlert = {
  type: 'object',
  required: ['subject', 'level', 'raisedTs', 'normalSince', 'ts', 'message'],
  properties: {
    subject: alertSubject,
    level: { enum: ALERT_LEVELS },
    raisedTs: { type: 'number' },
    normalSince: nullable({ type: 'number' }),
    value: { type: 'number' },
    side,
    score: { type: 'number' },
    ts: { type: 'number' },
    message: { type: 'string' },
  },
} as const

export const seriesEntry = {
  type: 'object',
  properties: { ts: { type: 'number' }, deviceId: { type: 'string' }, seq: { type: 'number' }, vitals: { type: 'object' }, status: { enum: STATUSES } },
} as const

/** GET /api/patients/:id: the patient's state, its recent alert events and its open alerts. */
export const onePatient = {
  ...patientState,
  properties: { ...patientState.properties, alerts: { type: 'array', items: alertView }, openAlerts: { type: 'array', items: openAlert } },
} as const

/** GET /api/patients/:id/series. */
export const seriesAnswer = {
  type: 'object',
  properties: {
    patientId: { type: 'string' },
    seconds: { type: 'integer' },
    from: { type: 'number' },
    to: { type: 'number' },
    entries: { type: 'array', items: seriesEntry },
  },
} as const

const band = {
  type: 'object',
  properties: { max: nullable({ type: 'number' }), maxInclusive: { type: 'boolean' }, status: { enum: STATUSES }, score: nullable({ type: 'number' }) },
}

/** The band table as JSON (an open upper edge is null). */
export const bandTable = {
  type: 'object',
  properties: {
    vitals: { type: 'array', items: { enum: VITALS } },
    units: { type: 'object', additionalProperties: { type: 'string' } },
    bands: { type: 'object', additionalProperties: { type: 'array', items: band } },
  },
} as const

export const patientBands = {
  type: 'object',
  properties: { patientId: { type: 'string' }, overridden: { type: 'array', items: { enum: VITALS } }, ...bandTable.properties },
} as const

export const batchMeta = nullable({
  type: 'object',
  properties: {
    runId: { type: 'string' },
    cutoffTs: { type: 'number' },
    startedAt: { type: 'number' },
    finishedAt: { type: 'number' },
    dates: { type: 'array', items: { type: 'string' } },
    rows: { type: 'number' },
  },
})

const mergedVital = {
  type: 'object',
  properties: { vital: { enum: VITALS }, batch: nullable(figures), live: nullable(figures), merged: nullable(figures), tir: nullable({ type: 'object' }) },
}

export const dailyStats = {
  type: 'object',
  required: ['date', 'patientId', 'batch', 'rows', 'merged'],
  properties: {
    date: { type: 'string' },
    patientId: nullable({ type: 'string' }),
    batch: batchMeta,
    rows: { type: 'array', items: { type: 'object' } },
    merged: nullable({ type: 'object', properties: { vitals: { type: 'array', items: mergedVital } } }),
  },
} as const

export const dailyQuery = { type: 'object', properties: { date: dateSchema, patientId: patientIdSchema } } as const

/** POST /api/batch/runs: one day, or a range (both ends), optionally from scratch; nothing else. */
export const batchRunBody = {
  type: 'object',
  additionalProperties: false,
  properties: { date: dateSchema, from: dateSchema, to: dateSchema, full: { type: 'boolean' } },
} as const

export const runningJob = {
  type: 'object',
  required: ['jobId', 'startedAt'],
  properties: { jobId: { type: 'string' }, startedAt: { type: 'number' } },
} as const

export const bandsBody = {
  type: 'object',
  required: ['bands'],
  properties: { bands: { type: 'array', minItems: 1, maxItems: 50, items: { type: 'string', minLength: 1, maxLength: 200 } } },
} as const

export const ackParams = { type: 'object', required: ['alertId'], properties: { alertId: { type: 'string', minLength: 1, maxLength: 512 } } } as const
export const ackBody = { type: 'object', required: ['by'], properties: { by: { type: 'string', pattern: ACK_BY_PATTERN } } } as const

export const health = {
  type: 'object',
  required: ['status', 'redis', 'kafka'],
  properties: {
    status: { enum: ['ok', 'degraded'] },
    redis: { type: 'object', properties: { reachable: { type: 'boolean' }, error: { type: 'string' } } },
    kafka: {
      type: 'object',
      properties: {
        reachable: { type: 'boolean' },
        error: { type: 'string' },
        lag: { type: 'array', items: { type: 'object', properties: { group: { type: 'string' }, lag: nullable({ type: 'number' }) } } },
      },
    },
  },
} as const
