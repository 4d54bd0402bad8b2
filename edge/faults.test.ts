import { describe, expect, it } from 'vitest'
import { parseReading, VITALS, type Reading } from '../lib/contract/schema.ts'
import { FAULT_KINDS, FaultInjector, SCHEMA_INVALID_FAULTS, encodeReading, type EdgeRecord } from './faults.ts'
import { Prng } from './prng.ts'
import { Simulator } from './simulator.ts'

const START = Date.UTC(2025, 10, 22, 6, 0, 0)

function inject(rate: number, n: number, seed = 9): { records: EdgeRecord[]; injector: FaultInjector; readings: Reading[]; drainedFrom: number } {
  const sim = new Simulator(6, seed, START)
  const injector = new FaultInjector(rate, new Prng(seed).fork('faults'))
  const records: EdgeRecord[] = []
  const readings: Reading[] = []
  for (let i = 0; i < n; i++) {
    const r = sim.next()
    readings.push(r)
    injector.process(r, records)
  }
  const drainedFrom = records.length
  injector.drain(records)
  for (const r of records) injector.countEmitted(r)
  return { records, injector, readings, drainedFrom }
}

/** Impossible for a living body: the speed layer's plausibility check must refuse these. */
function implausible(r: Reading): boolean {
  const v = r.vitals
  return (
    (v.heartRate ?? 70) > 300 ||
    (v.spo2 ?? 95) > 100 ||
    (v.glucose ?? 100) < 0 ||
    (v.systolic ?? 120) > 300 ||
    (v.diastolic ?? 80) < 0 ||
    (v.respRate ?? 15) > 100 ||
    (v.temperature ?? 37) > 45
  )
}

describe('the fault injector', () => {
  it('encodes a reading exactly as JSON.stringify does', () => {
    const r: Reading = { v: 1, patientId: 'p-0001', deviceId: 'wrist-0001', ts: 1763805600123, seq: 42, vitals: { heartRate: 72, spo2: 98, temperature: 36.8 } }
    expect(encodeReading(r)).toBe(JSON.stringify(r))
  })

  it('encodes a nurse observation (no vitals, onOxygen and consciousness) as JSON.stringify does', () => {
    for (const r of [
      { v: 1, patientId: 'p-0003', deviceId: 'obs-0003', ts: 1, seq: 2, vitals: {}, onOxygen: true, consciousness: 'C' },
      { v: 1, patientId: 'p-0003', deviceId: 'obs-0003', ts: 1, seq: 3, vitals: {}, onOxygen: false },
      { v: 1, patientId: 'p-0003', deviceId: 'wrist-3', ts: 1, seq: 4, vitals: { spo2: 90 }, consciousness: 'U' },
    ] satisfies Reading[])
      expect(encodeReading(r)).toBe(JSON.stringify(r))
  })

  it('passes readings through untouched at rate 0', () => {
    const { records, injector, readings } = inject(0, 500)
    expect(records.map((r) => r.value)).toEqual(readings.map(encodeReading))
    expect(Object.values(injector.counts).every((n) => n === 0)).toBe(true)
  })

  it('produces every kind of fault and counts each one it emitted', () => {
    const { records, injector } = inject(0.5, 4_000)
    for (const kind of FAULT_KINDS) {
      expect(injector.counts[kind], kind).toBeGreaterThan(50)
      expect(records.filter((r) => r.fault === kind).length, kind).toBe(injector.counts[kind])
    }
  })

  it('makes schema faults fail schema v1 and impossible values pass it but fail plausibility', () => {
    const { records } = inject(0.5, 4_000)
    for (const r of records) {
      const parsed = parseReading(r.value)
      if (r.fault === 'malformedJson') expect(parsed).toMatchObject({ ok: false, reason: 'MALFORMED_JSON' })
      else if (r.fault !== undefined && SCHEMA_INVALID_FAULTS.has(r.fault)) expect(parsed).toMatchObject({ ok: false, reason: 'SCHEMA' })
      else {
        expect(parsed.ok, r.value).toBe(true)
        if (parsed.ok) expect(implausible(parsed.reading), r.value).toBe(r.fault === 'impossibleValue')
      }
    }
  })

  it('sends a duplicate as the same bytes twice (same deviceId and seq)', () => {
    const { records } = inject(0.5, 2_000)
    const dups = records.map((r, i) => ({ r, i })).filter(({ r }) => r.fault === 'duplicate')
    expect(dups.length).toBeGreaterThan(0)
    for (const { r, i } of dups) expect(records[i - 1]!.value).toBe(r.value)
  })

  it("sends an out-of-order reading after the same device's next one, and a late one minutes behind the stream", () => {
    const { records: all, drainedFrom } = inject(0.5, 4_000)
    // What the end of a run flushes has no successor to follow.
    const records = all.slice(0, drainedFrom)
    // Tracked per patient on the records' true event times: the successor may itself be a fault.
    const lastTsOfPatient = new Map<string, number>()
    let maxTs = 0
    let outOfOrder = 0
    let late = 0
    for (const r of records) {
      const prev = lastTsOfPatient.get(r.key)
      if (r.fault === 'outOfOrder') {
        expect(r.ts).toBeLessThan(prev!)
        outOfOrder++
      }
      if (r.fault === 'late') {
        expect(maxTs - r.ts).toBeGreaterThanOrEqual(100_000)
        late++
      }
      lastTsOfPatient.set(r.key, Math.max(prev ?? 0, r.ts))
      maxTs = Math.max(maxTs, r.ts)
    }
    expect(outOfOrder).toBeGreaterThan(0)
    expect(late).toBeGreaterThan(0)
  })

  it('shifts a skewed clock by two minutes to three hours', () => {
    const { records, readings } = inject(0.5, 2_000)
    const byKey = new Map(readings.map((r) => [`${r.deviceId}/${r.seq}`, r.ts]))
    const skewed = records.filter((r) => r.fault === 'clockSkew').map((r) => JSON.parse(r.value) as Reading)
    expect(skewed.length).toBeGreaterThan(0)
    for (const s of skewed) {
      const shift = Math.abs(s.ts - byKey.get(`${s.deviceId}/${s.seq}`)!)
      expect(shift).toBeGreaterThanOrEqual(120_000)
      expect(shift).toBeLessThanOrEqual(3 * 3_600_000)
    }
  })

  it('is reproducible: the same seed injects the same faults into the same readings', () => {
    const a = inject(0.2, 2_000, 4).records.map((r) => r.value)
    const b = inject(0.2, 2_000, 4).records.map((r) => r.value)
    expect(b).toEqual(a)
    expect(VITALS.length).toBe(7)
  })
})
