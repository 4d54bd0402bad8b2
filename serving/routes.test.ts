import Fastify, { type FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Config } from '../lib/config.ts'
import type { AuditInput } from '../lib/identity/audit.ts'
import type { Principal, Requirement } from '../lib/identity/model.ts'
import type { AlertView } from './events.ts'
import { servingOptions } from './config.ts'
import { API_AJV_OPTIONS, apiRoutes, type RouteDeps } from './routes.ts'
import { onePatient, validationMessage } from './schemas.ts'
import type { OpenAlertView } from './open-alerts.ts'
import { news2Of } from './state-fixtures.ts'
import type { PatientState } from '../lib/contract/views.ts'

/**
 * The API plugin on a bare app, over stand-ins that record what reached them: no Redis, no broker,
 * no role guard (serving/http.ts has it): a request acts as the user its `x-user` header names.
 */
const calls: string[] = []
let app: FastifyInstance
/** Every route the plugin registered, with the role it requires. */
const roles = new Map<string, Requirement | undefined>()
/** Whether the audit stand-in refuses, as the audit log does when Kafka does not acknowledge. */
let auditDown = false
/** When true, storing an acknowledgement in Redis fails (after its audit event was recorded). */
let storeDown = false
const recorded: AuditInput[] = []

/** Records a call, then answers `value`. */
function record<T>(call: string, value: T): T {
  calls.push(call)
  return value
}

const alert: AlertView = { id: 'a-1', patientId: 'p-1', vital: 'spo2', kind: 'raised', level: 'WARNING', ts: 1, message: 'SpO2 93' }
const acked: AlertView = { ...alert, id: 'a-2', ack: { by: 'Dr Ode', at: 1 } }

/** A patient with every field the state can have: a partial NEWS2 with an old value, oxygen, ACVPU, the glucose trend. */
const full: PatientState = {
  patientId: 'p-full',
  ts: 50_000_000,
  status: 'WARNING',
  news2: news2Of({ spo2: 1, onOxygen: 2, heartRate: 2, consciousness: 0 }, { old: ['systolic'], scale: 2 }),
  vitals: { heartRate: { value: 115, status: 'WARNING', ts: 50_000_000 }, systolic: { value: 88, status: 'CRITICAL_LOW', ts: 28_400_000 } },
  onOxygen: { value: true, ts: 49_000_000 },
  consciousness: { value: 'A', ts: 49_000_000 },
  glucoseTrend: { rate: -2.4, arrow: '↓', ts: 50_000_000 },
}
const news2Alert: AlertView = {
  id: 'a-n',
  patientId: 'p-full',
  vital: 'news2',
  kind: 'raised',
  level: 'NEWS2_MEDIUM',
  value: 5,
  score: 5,
  ts: 50_000_000,
  message: 'p-full: NEWS2 ≥ 5 (partial), urgent response',
  streamId: '1-0',
}
const signalAlert: AlertView = { id: 'a-s', patientId: 'p-full', vital: 'device', kind: 'raised', level: 'NO_SIGNAL', deviceId: 'w-1', ts: 1, message: 'check' }
const open: OpenAlertView[] = [
  { subject: 'heartRate', level: 'WARNING', raisedTs: 1, normalSince: null, value: 115, side: 'high', score: 2, ts: 50_000_000, message: 'heart rate 115' },
]

/** Paths of `value` a JSON Schema does not describe (no property, or an enum it breaks): the answer's documentation must be whole. */
function undescribed(schema: Record<string, unknown>, value: unknown, at = ''): string[] {
  if (Array.isArray(schema.anyOf)) {
    const each = (schema.anyOf as Record<string, unknown>[]).map((s) => undescribed(s, value, at))
    return each.some((e) => e.length === 0) ? [] : (each[0] ?? [])
  }
  if (Array.isArray(schema.enum)) return (schema.enum as unknown[]).includes(value) ? [] : [`${at} ${JSON.stringify(value)} not in enum`]
  if (schema.type === 'null') return value === null ? [] : [`${at} not null`]
  if (Array.isArray(value))
    return schema.items === undefined ? [] : value.flatMap((v, i) => undescribed(schema.items as Record<string, unknown>, v, `${at}/${i}`))
  if (typeof value !== 'object' || value === null) return []
  const props = (schema.properties ?? {}) as Record<string, Record<string, unknown>>
  const extra = schema.additionalProperties as Record<string, unknown> | undefined
  return Object.entries(value).flatMap(([k, v]) => {
    const s = props[k] ?? (typeof extra === 'object' ? extra : undefined)
    return s === undefined ? [`${at}/${k} not described`] : undescribed(s, v, `${at}/${k}`)
  })
}

beforeAll(async () => {
  const view = {
    patients: async () => [],
    patient: async (id: string) => (id === full.patientId ? full : null),
    openAlerts: async (id: string) => record(`open ${id}`, id === full.patientId ? open : []),
    series: async (id: string, seconds: number) => record(`series ${id} ${seconds}`, { from: 0, to: 0, entries: [] }),
    alerts: async (limit: number, patientId?: string) =>
      record(`alerts ${limit} ${patientId ?? '-'}`, patientId === full.patientId ? [news2Alert, signalAlert] : []),
    recentAlert: async (id: string) => (id === alert.id ? alert : id === acked.id ? acked : null),
    acknowledge: async (a: AlertView, ack: { by: string; at: number }) => {
      if (storeDown) throw new Error('Socket closed unexpectedly')
      return record(`ack ${a.id} ${JSON.stringify(ack.by)}`, { ...a, ack })
    },
    // No acknowledgement is stored: the alerts are as they were read.
    withAcks: async (alerts: AlertView[]) => alerts,
    batchMeta: async () => null,
    daily: async (date: string, patientId?: string) => record(`daily ${date} ${patientId ?? '-'}`, []),
  }
  const batch = {
    running: null,
    start: (request: unknown) => record(`batch ${JSON.stringify(request)}`, { started: true, job: { jobId: 'j-1', startedAt: 5 } }),
  }
  const audit = {
    record: async (input: AuditInput) => {
      if (auditDown) throw new Error('connect ECONNREFUSED 127.0.0.1:9092')
      recorded.push(input)
      return record(`audit ${input.action} ${input.subject} by ${input.actor.user}`, { ...input, v: 1, id: 'e-1', at: input.at ?? 3 })
    },
  }
  // Redis as the band store uses it: no overrides yet, and a write recorded (then the bands version bumped); an acknowledgement's claim always won, and its release.
  const redis = {
    hGetAll: async () => ({}),
    set: async (key: string) => record(`claim ${key}`, 'OK'),
    eval: async (_script: string, options: { keys: string[] }) => record(`release ${options.keys[0]}`, 1),
    multi: () => {
      calls.push('write bands')
      return { del: () => ({ hSet: () => undefined, exec: async () => [] }), hSet: () => undefined, exec: async () => [] }
    },
    incr: async () => 1,
  }
  const deps = {
    config: { redisPrefix: 'unit:' } as Config,
    options: servingOptions({ alertFeedSize: 50, maxSeriesSeconds: 900 }),
    view,
    batch,
    audit,
    redis,
    alertChanged: (a: AlertView) => calls.push(`pushed ${a.id}`),
  } as unknown as RouteDeps
  app = Fastify({ ajv: API_AJV_OPTIONS })
  app.decorateRequest('principal', null)
  app.addHook('onRequest', async (request) => {
    const user = request.headers['x-user']
    request.principal = typeof user === 'string' ? ({ user, role: 'clinician', via: 'session' } satisfies Principal) : null
  })
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') roles.set(`${method} ${route.url}`, route.config?.role)
  })
  await app.register(apiRoutes(deps))
  await app.ready()
})

afterAll(async () => {
  await app?.close()
})

async function call(method: 'GET' | 'POST' | 'PUT', url: string, body?: unknown) {
  calls.length = 0
  recorded.length = 0
  const res = await app.inject({ method, url, headers: { 'x-user': 'Nurse Kim' }, ...(body === undefined ? {} : { payload: body as object }) })
  return { status: res.statusCode, body: res.body === '' ? null : (res.json() as { error?: string; message?: string }) }
}

describe("the API's route schemas", () => {
  it.each([
    ['GET', '/api/patients/p-1/series?seconds=100000', undefined, 'querystring/seconds must be <= 900'],
    ['GET', '/api/patients/p-1/series?seconds=0', undefined, 'querystring/seconds must be >= 1'],
    ['GET', '/api/patients/p-1/series?seconds=ten', undefined, 'querystring/seconds must be integer'],
    [
      'GET',
      `/api/patients/${encodeURIComponent('<script>')}/series`,
      undefined,
      "params/id must be 1-64 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit",
    ],
    ['GET', '/api/alerts?limit=51', undefined, 'querystring/limit must be <= 50'],
    [
      'GET',
      '/api/alerts?patientId=-x',
      undefined,
      "querystring/patientId must be 1-64 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit",
    ],
    ['GET', '/api/stats/daily?date=2026-13-45', undefined, 'querystring/date must be a date YYYY-MM-DD'],
    ['POST', '/api/alerts/a-1/ack', { by: 'Mallory' }, 'body must not have the property "by"'],
    ['POST', '/api/alerts/a-1/ack', { note: 'x'.repeat(501) }, 'body/note must NOT have more than 500 characters'],
    ['PUT', '/api/patients/p-1/bands', { bands: [], reason: 'COPD' }, 'body/bands must NOT have fewer than 1 items'],
    ['PUT', '/api/patients/p-1/bands', { bands: ['spo2:news2-scale2'] }, "body must have required property 'reason'"],
    ['PUT', '/api/patients/p-1/bands', { bands: ['spo2:news2-scale2'], reason: ' \n ' }, 'body/reason must be a reason of 1-500 characters'],
    ['PUT', '/api/patients/p-1/bands', { bands: ['spo2:news2-scale2'], reason: 'x'.repeat(501) }, 'body/reason must be a reason of 1-500 characters'],
    ['PUT', '/api/patients/p-1/bands', { bands: ['pulse:normal=1-2'], reason: 'athlete' }, null],
    ['GET', '/api/patients/p-1/audit?limit=10001', undefined, 'querystring/limit must be <= 10000'],
    ['GET', '/api/audit?since=yesterday', undefined, 'querystring/since must be integer'],
    ['POST', '/api/batch/runs', { probe: true }, 'body must not have the property "probe"'],
    ['POST', '/api/batch/runs', { from: '2026-11-20' }, 'give both from and to, or neither'],
    ['POST', '/api/batch/runs', { date: '2026-11-20', full: 'yes' }, 'body/full must be boolean'],
  ] as const)('%s %s %j is refused with 400: %s', async (method, url, body, message) => {
    const res = await call(method, url, body)
    expect(res.status).toBe(400)
    expect(res.body?.error).toBe('Bad Request')
    if (message !== null) expect(res.body?.message).toBe(message)
    else expect(res.body?.message).toContain('"pulse:normal=1-2"')
    expect(calls).toEqual([])
  })

  it('passes what is valid to the handler, with the defaults filled in', async () => {
    expect((await call('GET', '/api/patients/p-1/series')).status).toBe(200)
    expect(calls).toEqual(['series p-1 60'])
    expect((await call('GET', '/api/alerts?patientId=p-1')).status).toBe(200)
    expect(calls).toEqual(['alerts 50 p-1'])
    expect((await call('GET', '/api/stats/daily?date=2026-11-20')).status).toBe(200)
    expect(calls).toEqual(['daily 2026-11-20 -'])
  })

  it('acknowledges as the signed-in user: claims the alert, records the audit event before writing the ack, releases the claim, then pushes the alert', async () => {
    const ok = await call('POST', '/api/alerts/a-1/ack', { note: '  called the rapid response team ' })
    expect(ok.status).toBe(200)
    expect(ok.body).toEqual({ ...alert, ack: { by: 'Nurse Kim', at: expect.any(Number) } })
    expect(calls).toEqual([
      'claim unit:ack-claim:a-1',
      'audit alert.acknowledge a-1 by Nurse Kim',
      'ack a-1 "Nurse Kim"',
      'release unit:ack-claim:a-1',
      'pushed a-1',
    ])
    expect(recorded).toEqual([
      {
        at: (ok.body as AlertView).ack?.at,
        actor: { user: 'Nurse Kim', role: 'clinician', via: 'session' },
        action: 'alert.acknowledge',
        patientId: 'p-1',
        subject: 'a-1',
        before: null,
        after: (ok.body as AlertView).ack,
        reason: 'called the rapid response team',
      },
    ])
    // No body at all is an acknowledgement without a note.
    expect((await call('POST', '/api/alerts/a-1/ack')).status).toBe(200)
    expect(recorded[0]?.reason).toBeNull()
  })

  it('answers an alert already acknowledged as it stands, with no second audit event, and 404 for an alert it does not know', async () => {
    expect(await call('POST', '/api/alerts/a-2/ack', {})).toEqual({ status: 200, body: acked })
    expect(calls).toEqual([])
    expect(await call('POST', '/api/alerts/nope/ack', {})).toEqual({ status: 404, body: { error: 'Not Found', message: 'no such recent alert' } })
    expect(calls).toEqual([])
  })

  it('refuses an acknowledgement or a band change with 503 and changes nothing when the audit trail cannot be written (the claim on the alert is released)', async () => {
    auditDown = true
    try {
      for (const [method, url, body, expected] of [
        ['POST', '/api/alerts/a-1/ack', {}, ['claim unit:ack-claim:a-1', 'release unit:ack-claim:a-1']],
        ['PUT', '/api/patients/p-1/bands', { bands: ['spo2:news2-scale2'], reason: 'COPD, target 88-92 %' }, []],
      ] as const) {
        const res = await call(method, url, body)
        expect(res.status).toBe(503)
        expect(res.body?.error).toBe('Service Unavailable')
        expect(res.body?.message).toMatch(/^the audit trail could not be written, so nothing was changed/)
        expect(calls).toEqual(expected)
      }
    } finally {
      auditDown = false
    }
  })

  it('releases the claim on the alert when its acknowledgement cannot be stored after the event was recorded, so that another request may take it', async () => {
    storeDown = true
    try {
      expect((await call('POST', '/api/alerts/a-1/ack', {})).status).toBe(500)
      expect(calls).toEqual(['claim unit:ack-claim:a-1', 'audit alert.acknowledge a-1 by Nurse Kim', 'release unit:ack-claim:a-1'])
    } finally {
      storeDown = false
    }
  })

  it('records a band change with its reason and the overrides before and after, then writes it', async () => {
    const res = await call('PUT', '/api/patients/p-1/bands', { bands: ['spo2:news2-scale2'], reason: ' COPD, target 88-92 % ' })
    expect(res.status).toBe(200)
    expect(calls).toEqual(['audit patient.bands p-1 by Nurse Kim', 'write bands'])
    const event = recorded[0]!
    expect(event).toMatchObject({ action: 'patient.bands', patientId: 'p-1', before: {}, reason: 'COPD, target 88-92 %' })
    const after = event.after as Record<string, unknown[]>
    expect(Object.keys(after)).toEqual(['spo2'])
    expect(after.spo2?.at(-1)).toEqual({ max: null, maxInclusive: true, status: 'NORMAL', score: 0 })
  })

  it('starts a batch run for a day, a range, or everything when the body is empty or missing', async () => {
    expect(await call('POST', '/api/batch/runs', { date: '2026-11-20' })).toEqual({ status: 202, body: { jobId: 'j-1', startedAt: 5 } })
    expect(calls).toEqual(['batch {"dates":["2026-11-20"]}'])
    await call('POST', '/api/batch/runs', { from: '2026-11-01', to: '2026-11-20', full: true })
    expect(calls).toEqual(['batch {"from":"2026-11-01","to":"2026-11-20","full":true}'])
    await call('POST', '/api/batch/runs')
    expect(calls).toEqual(['batch {}'])
  })

  it('answers a patient whole: the partial NEWS2, oxygen, ACVPU, the trend, NEWS2 and no-signal alerts and the open alerts, every field described', async () => {
    const res = await call('GET', '/api/patients/p-full')
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ ...full, alerts: [news2Alert, signalAlert], openAlerts: open })
    expect(calls.sort()).toEqual(['alerts 50 p-full', 'open p-full'])
    expect(undescribed(onePatient as unknown as Record<string, unknown>, res.body)).toEqual([])
    // The check can fail: a risk word the contract does not know, a field no schema lists.
    expect(undescribed(onePatient as unknown as Record<string, unknown>, { ...full, news2: { ...full.news2, risk: 'fine' }, extra: 1 })).toEqual([
      '/news2/risk "fine" not in enum',
      '/extra not described',
    ])
  })

  it('answers 404 for a patient it does not know', async () => {
    expect(await call('GET', '/api/patients/nobody')).toEqual({ status: 404, body: { error: 'Not Found', message: 'no such patient' } })
  })
})

describe("the API's route table", () => {
  it('gives every route its role: reads a viewer, acting on a patient a clinician, devices, users and the whole trail an admin', () => {
    expect(Object.fromEntries(roles)).toEqual({
      'GET /healthz': 'public',
      'GET /metrics': 'viewer',
      'GET /api/bands': 'viewer',
      'GET /api/patients': 'viewer',
      'GET /api/patients/:id': 'viewer',
      'GET /api/patients/:id/bands': 'viewer',
      'PUT /api/patients/:id/bands': 'clinician',
      'GET /api/patients/:id/series': 'viewer',
      'GET /api/alerts': 'viewer',
      'POST /api/alerts/:alertId/ack': 'clinician',
      'POST /api/events': 'clinician',
      'GET /api/stats/daily': 'viewer',
      'POST /api/batch/runs': 'clinician',
      'GET /api/batch/runs/current': 'viewer',
      'GET /api/admin/devices': 'admin',
      'POST /api/admin/devices': 'admin',
      'POST /api/admin/devices/:deviceId/assign': 'admin',
      'POST /api/admin/devices/:deviceId/revoke': 'admin',
      'GET /api/admin/users': 'admin',
      'POST /api/admin/users': 'admin',
      'PATCH /api/admin/users/:username': 'admin',
      'GET /api/patients/:id/audit': 'clinician',
      'GET /api/audit': 'admin',
    })
  })
})

describe('validationMessage', () => {
  it("names where, then the rule: a pattern by its meaning, an extra property by its name, else ajv's words", () => {
    expect(validationMessage([], 'body')).toBe('body is invalid')
    expect(
      validationMessage(
        [
          {
            keyword: 'pattern',
            instancePath: '/date',
            schemaPath: '',
            params: { pattern: '^\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])$' },
            message: 'must match',
          },
        ],
        'querystring',
      ),
    ).toBe('querystring/date must be a date YYYY-MM-DD')
    expect(
      validationMessage([{ keyword: 'pattern', instancePath: '/x', schemaPath: '', params: { pattern: '^a$' }, message: 'must match pattern "^a$"' }], 'body'),
    ).toBe('body/x must match pattern "^a$"')
    expect(
      validationMessage([{ keyword: 'additionalProperties', instancePath: '', schemaPath: '', params: { additionalProperty: 'x' }, message: 'no' }], 'body'),
    ).toBe('body must not have the property "x"')
  })
})
