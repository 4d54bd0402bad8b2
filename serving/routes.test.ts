import Fastify, { type FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Config } from '../lib/config.ts'
import type { AlertView } from './events.ts'
import { servingOptions } from './config.ts'
import { API_AJV_OPTIONS, apiRoutes, type RouteDeps } from './routes.ts'
import { onePatient, validationMessage } from './schemas.ts'
import type { OpenAlertView } from './open-alerts.ts'
import { news2Of } from './state-fixtures.ts'
import type { PatientState } from '../lib/contract/views.ts'

/** The API plugin on a bare app, over stand-ins that record what reached them: no Redis, no broker. */
const calls: string[] = []
let app: FastifyInstance

/** Records a call, then answers `value`. */
function record<T>(call: string, value: T): T {
  calls.push(call)
  return value
}

const alert: AlertView = { id: 'a-1', patientId: 'p-1', vital: 'spo2', kind: 'raised', level: 'WARNING', ts: 1, message: 'SpO2 93' }

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
    acknowledge: async (id: string, by: string) => record(`ack ${id} ${JSON.stringify(by)}`, id === alert.id ? { ...alert, ack: { by, at: 2 } } : null),
    batchMeta: async () => null,
    daily: async (date: string, patientId?: string) => record(`daily ${date} ${patientId ?? '-'}`, []),
  }
  const batch = {
    running: null,
    start: (request: unknown) => record(`batch ${JSON.stringify(request)}`, { started: true, job: { jobId: 'j-1', startedAt: 5 } }),
  }
  const deps = {
    config: { redisPrefix: 'unit:' } as Config,
    options: servingOptions({ alertFeedSize: 50, maxSeriesSeconds: 900 }),
    view,
    batch,
    alertChanged: (a: AlertView) => calls.push(`pushed ${a.id}`),
  } as unknown as RouteDeps
  app = Fastify({ ajv: API_AJV_OPTIONS })
  await app.register(apiRoutes(deps))
  await app.ready()
})

afterAll(async () => {
  await app?.close()
})

async function call(method: 'GET' | 'POST' | 'PUT', url: string, body?: unknown) {
  calls.length = 0
  const res = await app.inject({ method, url, ...(body === undefined ? {} : { payload: body as object }) })
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
    ['POST', '/api/alerts/a-1/ack', { by: '   ' }, 'body/by must be a name of 1-64 characters'],
    ['POST', '/api/alerts/a-1/ack', { by: 'x'.repeat(65) }, 'body/by must be a name of 1-64 characters'],
    ['POST', '/api/alerts/a-1/ack', {}, "body must have required property 'by'"],
    ['PUT', '/api/patients/p-1/bands', { bands: [] }, 'body/bands must NOT have fewer than 1 items'],
    ['PUT', '/api/patients/p-1/bands', { bands: ['pulse:normal=1-2'] }, null],
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

  it('acknowledges with the name trimmed, pushes the alert, and answers 404 for an alert it does not know', async () => {
    const ok = await call('POST', '/api/alerts/a-1/ack', { by: '  Nurse Kim ' })
    expect(ok).toEqual({ status: 200, body: { ...alert, ack: { by: 'Nurse Kim', at: 2 } } })
    expect(calls).toEqual(['ack a-1 "Nurse Kim"', 'pushed a-1'])
    expect(await call('POST', '/api/alerts/nope/ack', { by: 'Kim' })).toEqual({ status: 404, body: { error: 'Not Found', message: 'no such recent alert' } })
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
