import { describe, expect, it } from 'vitest'
import { isPlainlyValid, parseReading, readingSchema } from './schema.ts'
import { prng, syntheticReadings } from '../../batch-layer/synthetic.ts'

/** Mutations that each may or may not break schema v1. */
const mutations: ((r: Record<string, unknown>, rnd: () => number) => void)[] = [
  (r) => {
    r.v = 2
  },
  (r) => {
    r.extra = true
  },
  (r) => {
    delete r.seq
  },
  (r) => {
    r.seq = -1
  },
  (r) => {
    r.seq = 1.5
  },
  (r) => {
    r.seq = '7'
  },
  (r) => {
    r.seq = 2 ** 53
  },
  (r) => {
    r.ts = 8_640_000_000_001
  },
  (r) => {
    r.ts = -0
  },
  (r) => {
    r.ts = 0
  },
  (r) => {
    r.patientId = ''
  },
  (r) => {
    r.patientId = 'p{1}'
  },
  (r) => {
    r.patientId = 'x'.repeat(128)
  },
  (r) => {
    r.patientId = 'x'.repeat(129)
  },
  (r) => {
    r.patientId = 'tab\there'
  },
  (r) => {
    r.patientId = '<b>ok</b> ünïcode'
  },
  (r) => {
    r.deviceId = 'dev{1}'
  },
  (r) => {
    r.deviceId = 'a\u007f'
  },
  (r) => {
    r.vitals = {}
  },
  (r) => {
    r.vitals = []
  },
  (r) => {
    r.vitals = null
  },
  (r) => {
    r.vitals = { heartRate: '72' }
  },
  (r) => {
    r.vitals = { pulse: 72 }
  },
  (r) => {
    r.vitals = { heartRate: 72, spo2: null }
  },
  (r) => {
    r.vitals = { temperature: -400 }
  },
  (r, rnd) => {
    r.vitals = { glucose: rnd() * 1e6 }
  },
  (r) => {
    r.onOxygen = true
  },
  (r) => {
    r.onOxygen = 'yes'
  },
  (r) => {
    r.onOxygen = null
  },
  (r) => {
    r.onOxygen = 0
  },
  (r, rnd) => {
    r.consciousness = 'ACVPU'[Math.floor(rnd() * 5)]
  },
  (r) => {
    r.consciousness = 'c'
  },
  (r) => {
    r.consciousness = ''
  },
  (r) => {
    r.vitals = {}
    r.consciousness = 'C'
  },
  (r) => {
    r.vitals = {}
    r.onOxygen = false
  },
  (r) => {
    r.vitals = {}
    r.onOxygen = 'false'
  },
  (r) => {
    r.vitals = {}
    r.consciousness = 'X'
  },
]

describe('the fast path of schema v1 (isPlainlyValid, first step of parseReading)', () => {
  it('accepts the well-formed readings the schema accepts, with the same values', () => {
    for (const r of syntheticReadings({ count: 500, startTs: Date.UTC(2026, 10, 22), seed: 5 })) {
      const d = parseReading(Buffer.from(JSON.stringify(r)))
      expect(d).toEqual({ ok: true, reading: r })
      expect(isPlainlyValid(JSON.parse(JSON.stringify(r)))).toBe(true)
    }
  })

  it("never accepts on its fast path a record the schema refuses, and gives the schema's verdict otherwise", () => {
    const rnd = prng(9)
    const base = syntheticReadings({ count: 50, startTs: Date.UTC(2026, 10, 22), seed: 6 })
    let refused = 0
    for (const r of base) {
      for (const m of mutations) {
        const copy = JSON.parse(JSON.stringify(r)) as Record<string, unknown>
        m(copy, rnd)
        const json = JSON.parse(JSON.stringify(copy)) as unknown
        const schemaOk = readingSchema.safeParse(json).success
        if (isPlainlyValid(json)) expect(schemaOk, JSON.stringify(copy)).toBe(true)
        const d = parseReading(Buffer.from(JSON.stringify(copy)))
        expect(d.ok, JSON.stringify(copy)).toBe(schemaOk)
        if (!schemaOk) refused++
      }
    }
    expect(refused).toBeGreaterThan(base.length * 15)
  })

  it('agrees with the schema on readings with assessments, with empty vitals and with nothing at all', () => {
    const rnd = prng(11)
    const base = syntheticReadings({ count: 200, startTs: Date.UTC(2026, 10, 22), seed: 7 })
    const counts = { accepted: 0, nurseOnly: 0, nothing: 0 }
    for (const r of base) {
      const copy = JSON.parse(JSON.stringify(r)) as Record<string, unknown>
      const pick = rnd()
      if (pick < 0.3) copy.vitals = {}
      if (rnd() < 0.5) copy.onOxygen = rnd() < 0.5
      if (rnd() < 0.5) copy.consciousness = 'ACVPU'[Math.floor(rnd() * 5)]
      const schemaOk = readingSchema.safeParse(copy).success
      expect(isPlainlyValid(copy), JSON.stringify(copy)).toBe(schemaOk)
      const d = parseReading(JSON.stringify(copy))
      expect(d.ok).toBe(schemaOk)
      if (d.ok) {
        expect(d.reading).toEqual(copy)
        counts.accepted++
        if (Object.keys(d.reading.vitals).length === 0) counts.nurseOnly++
      } else {
        expect(d).toMatchObject({ reason: 'SCHEMA', detail: expect.stringContaining('a reading must hold at least one of') })
        counts.nothing++
      }
    }
    expect(counts.nurseOnly).toBeGreaterThan(10)
    expect(counts.nothing).toBeGreaterThan(5)
    expect(counts.accepted).toBeGreaterThan(150)
  })

  it('names malformed JSON as such', () => {
    const d = parseReading(Buffer.from('{"v":1,'))
    expect(d.ok).toBe(false)
    if (!d.ok) expect(d.reason).toBe('MALFORMED_JSON')
  })
})

describe('the fast path on ids and edge values', () => {
  const good = { v: 1, patientId: 'p-1', deviceId: 'd-1', ts: 1_000, seq: 0, vitals: { heartRate: 70, temperature: 36.6 } }
  const cases: unknown[] = [
    good,
    { ...good, v: 2 },
    { ...good, extra: 1 },
    { ...good, patientId: '' },
    { ...good, patientId: 'p{1}' },
    { ...good, patientId: 'x'.repeat(129) },
    { ...good, patientId: 'x'.repeat(64) },
    { ...good, patientId: 'x'.repeat(65) },
    { ...good, patientId: '_x' },
    { ...good, patientId: 'jose\u0301' },
    { ...good, patientId: 'p-\u202e1' },
    { ...good, patientId: '<b>' },
    { ...good, deviceId: '\u{1F600}' },
    { ...good, deviceId: 'd.1_a-B' },
    { ...good, deviceId: 'a\nb' },
    { ...good, ts: 1.5 },
    { ...good, ts: -1 },
    { ...good, seq: 2 ** 53 },
    { ...good, vitals: {} },
    { ...good, vitals: { pulse: 70 } },
    { ...good, vitals: { heartRate: '70' } },
    { ...good, vitals: [] },
    { ...good, vitals: null },
    [],
    null,
    'reading',
    { v: 1, patientId: 'p', deviceId: 'd', ts: 0, seq: 0, vitals: { glucose: 100 }, seqq: 1 },
    { ...good, onOxygen: true },
    { ...good, onOxygen: false, consciousness: 'A' },
    { ...good, consciousness: 'U' },
    { ...good, vitals: {}, consciousness: 'C' },
    { ...good, vitals: {}, onOxygen: false },
    { ...good, vitals: {}, onOxygen: true, consciousness: 'V' },
    { ...good, vitals: {}, onOxygen: undefined },
    { ...good, vitals: {}, consciousness: undefined },
    { ...good, vitals: {}, onOxygen: 'true' },
    { ...good, vitals: {}, onOxygen: 1 },
    { ...good, vitals: {}, onOxygen: null },
    { ...good, vitals: {}, consciousness: 'c' },
    { ...good, vitals: {}, consciousness: 'Alert' },
    { ...good, consciousness: 3 },
    { ...good, vitals: null, consciousness: 'A' },
    { ...good, vitals: { pulse: 1 }, onOxygen: true },
    { ...good, onOxygen: true, oxygen: true },
  ]
  it.each(cases.map((c) => [JSON.stringify(c)?.slice(0, 60) ?? String(c), c]))('agrees with the zod schema on %s', (_name, value) => {
    const zodOk = readingSchema.safeParse(value).success
    expect(isPlainlyValid(value)).toBe(zodOk)
  })
})
