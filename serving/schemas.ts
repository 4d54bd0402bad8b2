/**
 * The HTTP API's JSON Schemas (docs/CONTRACT.md, Serving): what each route takes (params,
 * querystring, body), checked by fastify before a handler runs, and what it answers. Also the
 * message of a refused input (`validationMessage`), so a 400 names the field and the rule.
 */
import type { FastifySchemaValidationError } from 'fastify'
import { CONSCIOUSNESS_LEVELS, ID_POLICY, VITALS } from '../lib/contract/schema.ts'
import { ALERT_KINDS, ALERT_LEVELS, NEWS2_PARAMETERS, NEWS2_RISKS, TREND_ARROWS } from '../lib/contract/views.ts'
import { STATUSES } from '../lib/bands.ts'
import { AUDIT_ACTIONS, DEVICE_KINDS, MAX_REASON_LENGTH, ROLES } from '../lib/identity/model.ts'

/** A calendar date as Date.parse accepts it after `T00:00:00Z` (month 01-12, day 01-31). */
const DATE_PATTERN = '^\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])$'
/** A reason: 1 to MAX_REASON_LENGTH characters once the surrounding white space is trimmed. */
const REASON_PATTERN = `^\\s*\\S(?:[\\s\\S]{0,${MAX_REASON_LENGTH - 2}}\\S)?\\s*$`

/** What a pattern means, for the 400 message (a regular expression is no message). */
const PATTERN_RULES: ReadonlyMap<string, string> = new Map([
  [ID_POLICY.pattern.source, ID_POLICY.rule],
  [DATE_PATTERN, 'a date YYYY-MM-DD'],
  [REASON_PATTERN, `a reason of 1-${MAX_REASON_LENGTH} characters`],
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

/** The params of a route with one path parameter, `name`. */
const oneParam = <const Name extends string, S extends object>(name: Name, schema: S) =>
  ({ type: 'object', required: [name], properties: { [name]: schema } as Record<Name, S> }) as const

export const idParams = oneParam('id', patientIdSchema)

/** Every refusal the handlers answer themselves: 400, 404, 409 and 503 (the audit trail could not be written). */
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

/**
 * The experimental early-warning risk (docs/CLINICAL.md, Early-warning risk model), present only
 * while the speed layer serves a risk model: never a replacement for NEWS2 and the bands.
 */
const riskState = {
  type: 'object',
  required: ['risk', 'ts', 'model', 'top', 'recent'],
  properties: {
    risk: { type: 'number', description: 'probability 0-1 of an episode within the model horizon' },
    ts: { type: 'number' },
    model: { type: 'string' },
    top: {
      type: 'array',
      items: {
        type: 'object',
        required: ['feature', 'value', 'contribution', 'text'],
        properties: {
          feature: { type: 'string' },
          value: { type: 'number' },
          contribution: { type: 'number', description: 'log-odds' },
          text: { type: 'string' },
        },
      },
    },
    recent: { type: 'array', items: { type: 'array', items: { type: 'number' } }, description: '[ts, risk] pairs of the last hour, oldest first' },
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
    risk: riskState,
  },
} as const

/** What an alert is about: a vital, a device, the NEWS2 aggregate, the glucose forecast or the experimental risk. */
const alertSubject = { enum: [...VITALS, 'device', 'news2', 'glucoseForecast', 'risk'] } as const
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

/** Why an action was taken, kept in the audit trail (docs/SECURITY.md, The audit trail). */
const reason = { type: 'string', pattern: REASON_PATTERN, description: `1-${MAX_REASON_LENGTH} characters once trimmed` } as const

/** PUT /api/patients/:id/bands: the band specs and, always, why (a clinical decision is recorded with its reason). */
export const bandsBody = {
  type: 'object',
  additionalProperties: false,
  required: ['bands', 'reason'],
  properties: { bands: { type: 'array', minItems: 1, maxItems: 50, items: { type: 'string', minLength: 1, maxLength: 200 } }, reason },
} as const

export const ackParams = oneParam('alertId', { type: 'string', minLength: 1, maxLength: 512 } as const)
/** POST /api/alerts/:alertId/ack: who acknowledges is the signed-in user, never the body; an optional note kept as the audit reason. */
export const ackBody = {
  type: 'object',
  additionalProperties: false,
  properties: { note: { type: 'string', maxLength: MAX_REASON_LENGTH } },
} as const

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

/* ---------------------------------------------------------------------------------------------
 * Identity and audit (docs/SECURITY.md): the admin API and the audit trail. No answer holds a
 * credential hash or a password hash: the views list their fields, and the handlers build them.
 * ------------------------------------------------------------------------------------------- */

const epochMs = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'epoch ms' } as const
/** A user name as the schema can state it; the handler adds usernameProblem's rules (no control characters, no surrounding space). */
const usernameSchema = { type: 'string', minLength: 1, maxLength: 64 } as const

export const deviceIdParams = oneParam('deviceId', patientIdSchema)
export const usernameParams = oneParam('username', usernameSchema)

const assignment = {
  type: 'object',
  required: ['patientId', 'from', 'to'],
  properties: { patientId: { type: 'string' }, from: { type: 'number' }, to: nullable({ type: 'number' }) },
} as const

/** A device as the admin API shows it: never its credential hash. `patientId` is the patient it is assigned to now. */
export const deviceView = {
  type: 'object',
  required: ['id', 'kind', 'createdAt', 'revokedAt', 'assignments', 'patientId'],
  properties: {
    id: { type: 'string' },
    kind: { enum: DEVICE_KINDS },
    createdAt: { type: 'number' },
    revokedAt: nullable({ type: 'number' }),
    assignments: { type: 'array', items: assignment },
    patientId: nullable({ type: 'string' }),
  },
} as const

/** POST /api/admin/devices: 201 with the device and its credential, shown this once. */
export const deviceAdded = {
  type: 'object',
  required: ['device', 'credential'],
  properties: { device: deviceView, credential: { type: 'string', description: 'shown once; only its SHA-256 is kept' } },
} as const

export const addDeviceBody = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'kind'],
  properties: { id: patientIdSchema, kind: { enum: DEVICE_KINDS }, patientId: nullable(patientIdSchema), reason },
} as const

/** POST /api/admin/devices/:deviceId/assign: to a patient, or to none (null), from `from` (default now). */
export const assignDeviceBody = {
  type: 'object',
  additionalProperties: false,
  required: ['patientId'],
  properties: { patientId: nullable(patientIdSchema), from: epochMs, reason },
} as const

export const revokeDeviceBody = { type: 'object', additionalProperties: false, required: ['reason'], properties: { reason } } as const

/** A user as the admin API shows it: never the password hash. */
export const userView = {
  type: 'object',
  required: ['username', 'role', 'disabled', 'createdAt', 'updatedAt'],
  properties: {
    username: { type: 'string' },
    role: { enum: ROLES },
    disabled: { type: 'boolean' },
    createdAt: { type: 'number' },
    updatedAt: { type: 'number' },
  },
} as const

/** The password's own rules (length) are the registry's; 1 024 bounds what scrypt is given. */
const password = { type: 'string', minLength: 1, maxLength: 1_024 } as const

export const addUserBody = {
  type: 'object',
  additionalProperties: false,
  required: ['username', 'role', 'password'],
  properties: { username: usernameSchema, role: { enum: ROLES }, password },
} as const

/** PATCH /api/admin/users/:username: any of a new role, a new password, or disabling (there is no re-enabling: add a new user). */
export const patchUserBody = {
  type: 'object',
  additionalProperties: false,
  properties: { role: { enum: ROLES }, password, disabled: { const: true }, reason },
} as const

export const auditEvent = {
  type: 'object',
  required: ['v', 'id', 'at', 'actor', 'action', 'patientId', 'subject', 'before', 'after', 'reason'],
  properties: {
    v: { const: 1 },
    id: { type: 'string' },
    at: { type: 'number' },
    actor: {
      type: 'object',
      required: ['user', 'role', 'via'],
      properties: { user: { type: 'string' }, role: { enum: ROLES }, via: { enum: ['session', 'token', 'cli'] } },
    },
    action: { enum: AUDIT_ACTIONS },
    patientId: nullable({ type: 'string' }),
    subject: { type: 'string' },
    before: { description: 'the state before, as the action records it (null: none)' },
    after: { description: 'the state after' },
    reason: nullable({ type: 'string' }),
  },
} as const

/** The newest `limit` events at or after `since`, answered oldest first. */
const auditWindow = {
  since: epochMs,
  limit: { type: 'integer', minimum: 1, maximum: 10_000, default: 200 },
} as const

export const patientAuditQuery = { type: 'object', properties: auditWindow } as const
export const auditQuery = { type: 'object', properties: { patientId: patientIdSchema, ...auditWindow } } as const
