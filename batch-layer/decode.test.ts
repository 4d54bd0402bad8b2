import { describe, expect, it } from 'vitest'
import { readingSchema } from '../ingestion/schema.ts'
import { decodeReading, plainlyWellFormed } from './decode.ts'
import { prng, syntheticReadings } from './synthetic.ts'

/** Mutations that each may or may not break schema v1. */
const mutations: ((r: Record<string, unknown>, rnd: () => number) => void)[] = [
  (r) => { r.v = 2 },
  (r) => { r.extra = true },
  (r) => { delete r.seq },
  (r) => { r.seq = -1 },
  (r) => { r.seq = 1.5 },
  (r) => { r.seq = '7' },
  (r) => { r.seq = 2 ** 53 },
  (r) => { r.ts = 8_640_000_000_001 },
  (r) => { r.ts = -0 },
  (r) => { r.ts = 0 },
  (r) => { r.patientId = '' },
  (r) => { r.patientId = 'p{1}' },
  (r) => { r.patientId = 'x'.repeat(128) },
  (r) => { r.patientId = 'x'.repeat(129) },
  (r) => { r.patientId = 'tab\there' },
  (r) => { r.patientId = '<b>ok</b> ünïcode' },
  (r) => { r.deviceId = 'dev{1}' },
  (r) => { r.deviceId = 'a\u007f' },
  (r) => { r.vitals = {} },
  (r) => { r.vitals = [] },
  (r) => { r.vitals = null },
  (r) => { r.vitals = { heartRate: '72' } },
  (r) => { r.vitals = { pulse: 72 } },
  (r) => { r.vitals = { heartRate: 72, spo2: null } },
  (r) => { r.vitals = { temperature: -400 } },
  (r, rnd) => { r.vitals = { glucose: rnd() * 1e6 } },
]

describe('the archiver decoder', () => {
  it('accepts the well-formed readings the schema accepts, with the same values', () => {
    for (const r of syntheticReadings({ count: 500, startTs: Date.UTC(2026, 10, 22), seed: 5 })) {
      const d = decodeReading(Buffer.from(JSON.stringify(r)))
      expect(d).toEqual({ ok: true, reading: r })
      expect(plainlyWellFormed(JSON.parse(JSON.stringify(r)))).toBe(true)
    }
  })

  it('never accepts on its fast path a record the schema refuses, and gives the schema\'s verdict otherwise', () => {
    const rnd = prng(9)
    const base = syntheticReadings({ count: 50, startTs: Date.UTC(2026, 10, 22), seed: 6 })
    let refused = 0
    for (const r of base) {
      for (const m of mutations) {
        const copy = JSON.parse(JSON.stringify(r)) as Record<string, unknown>
        m(copy, rnd)
        const json = JSON.parse(JSON.stringify(copy)) as unknown
        const schemaOk = readingSchema.safeParse(json).success
        if (plainlyWellFormed(json)) expect(schemaOk, JSON.stringify(copy)).toBe(true)
        const d = decodeReading(Buffer.from(JSON.stringify(copy)))
        expect(d.ok, JSON.stringify(copy)).toBe(schemaOk)
        if (!schemaOk) refused++
      }
    }
    expect(refused).toBeGreaterThan(base.length * 15)
  })

  it('names malformed JSON as such', () => {
    const d = decodeReading(Buffer.from('{"v":1,'))
    expect(d.ok).toBe(false)
    if (!d.ok) expect(d.reason).toBe('MALFORMED_JSON')
  })
})
