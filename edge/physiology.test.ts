import { describe, expect, it } from 'vitest'
import { classifyVital, type Status } from '../lib/bands.ts'
import { VITALS, validateReading, type Reading, type Vital } from '../lib/contract/schema.ts'
import { Simulator } from './simulator.ts'
import { PERSONAS, personaOf, patientId } from './personas.ts'
import { encodeReading } from './faults.ts'
import { Prng } from './prng.ts'

const START = Date.UTC(2025, 10, 22, 6, 0, 0)

/** Every reading of the first `simulatedMs` of a run. */
function collect(patients: number, seed: number, simulatedMs: number): Reading[] {
  const sim = new Simulator(patients, seed, START)
  const out: Reading[] = []
  while (sim.peekTs() < START + simulatedMs) out.push(sim.next())
  return out
}

function statusesBy(readings: Reading[], patient: string, vital: Vital): Set<Status> {
  const s = new Set<Status>()
  for (const r of readings) {
    const v = r.vitals[vital]
    if (r.patientId === patient && v !== undefined) s.add(classifyVital(vital, v))
  }
  return s
}

describe('the seeded generator', () => {
  it('gives the same numbers for the same seed and different ones for another seed', () => {
    const a = new Prng(7)
    const b = new Prng(7)
    const c = new Prng(8)
    const xs = Array.from({ length: 5 }, () => a.next())
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(xs)
    expect(Array.from({ length: 5 }, () => c.next())).not.toEqual(xs)
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true)
  })

  it('draws normals with the requested mean and spread', () => {
    const r = new Prng(1)
    const xs = Array.from({ length: 20_000 }, () => r.normal(10, 2))
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length
    const sd = Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length)
    expect(mean).toBeCloseTo(10, 1)
    expect(sd).toBeCloseTo(2, 1)
  })
})

describe('the simulator', () => {
  it('produces the same bytes for the same seed and start, and different ones for another seed', () => {
    const a = collect(12, 42, 120_000).map(encodeReading)
    const b = collect(12, 42, 120_000).map(encodeReading)
    const c = collect(12, 43, 120_000).map(encodeReading)
    expect(a.length).toBeGreaterThan(12 * 100)
    expect(b).toEqual(a)
    expect(c).not.toEqual(a)
  })

  it('emits readings in event-time order, each valid against schema v1, with per-device seq counting up from 1', () => {
    const readings = collect(12, 1, 600_000)
    const lastSeq = new Map<string, number>()
    for (let i = 0; i < readings.length; i++) {
      const r = readings[i]!
      if (i > 0) expect(r.ts).toBeGreaterThanOrEqual(readings[i - 1]!.ts)
      expect(validateReading(JSON.parse(encodeReading(r))).ok).toBe(true)
      expect(r.seq).toBe((lastSeq.get(r.deviceId) ?? 0) + 1)
      lastSeq.set(r.deviceId, r.seq)
    }
  })

  it('gives patients stable ids and personas in a cycle', () => {
    expect(patientId(1)).toBe('p-0001')
    expect(patientId(123)).toBe('p-0123')
    expect(PERSONAS.map((_, i) => personaOf(i + 1).name)).toEqual(['healthy', 'diabetic', 'copd', 'postop', 'tachycardia', 'hypertensive'])
    expect(personaOf(7).name).toBe('healthy')
  })

  it('keeps each device at its real cadence: HR/SpO2 1 s, respiratory rate 10 s, CGM 5 min, cuff 15 min, thermometer 30 min, nurse round 1 h', () => {
    const readings = collect(6, 3, 2 * 3_600_000)
    const gaps = new Map<string, Set<number>>()
    const last = new Map<string, number>()
    for (const r of readings) {
      const prev = last.get(r.deviceId)
      if (prev !== undefined) gaps.set(r.deviceId, (gaps.get(r.deviceId) ?? new Set()).add(r.ts - prev))
      last.set(r.deviceId, r.ts)
    }
    expect(gaps.get('wrist-0001')).toEqual(new Set([1_000]))
    expect(gaps.get('resp-0003')).toEqual(new Set([10_000]))
    expect(gaps.get('cgm-0002')).toEqual(new Set([300_000]))
    expect(gaps.get('bp-0004')).toEqual(new Set([900_000]))
    expect(gaps.get('thermo-0004')).toEqual(new Set([1_800_000]))
    expect(gaps.get('obs-0001')).toEqual(new Set([3_600_000]))
  })

  it("sends every patient's hourly nurse observation: onOxygen and ACVPU, no vitals; the COPD patient on oxygen with the scale-2 preset", () => {
    const readings = collect(6, 3, 3 * 3_600_000 + 60_000)
    const rounds = readings.filter((r) => r.deviceId.startsWith('obs-'))
    expect(new Set(rounds.map((r) => r.patientId))).toEqual(new Set(['p-0001', 'p-0002', 'p-0003', 'p-0004', 'p-0005', 'p-0006']))
    expect(rounds).toHaveLength(6 * 4)
    for (const r of rounds) {
      expect(r.vitals).toEqual({})
      expect(r.onOxygen).toBe(r.patientId === 'p-0003')
      expect(['A', 'C']).toContain(r.consciousness)
      expect(validateReading(JSON.parse(encodeReading(r)))).toEqual({ ok: true, reading: r })
    }
    for (const r of readings) if (!r.deviceId.startsWith('obs-')) expect('onOxygen' in r || 'consciousness' in r).toBe(false)
    expect(personaOf(3)).toMatchObject({ name: 'copd', onOxygen: true, bands: ['spo2:news2-scale2'] })
    expect(PERSONAS.filter((p) => p.onOxygen).map((p) => p.name)).toEqual(['copd'])
    expect(PERSONAS.every((p) => p.devices.includes('obs'))).toBe(true)
  })

  it('shows the post-operative patient newly confused (C) on a round and alert again later; every other persona stays alert', () => {
    for (const seed of [3, 5, 11]) {
      const rounds = collect(12, seed, 6 * 3_600_000).filter((r) => r.deviceId.startsWith('obs-'))
      const postop = rounds.filter((r) => personaOf(Number(r.patientId.slice(2))).name === 'postop').map((r) => r.consciousness)
      expect(postop, `seed ${seed}`).toContain('C')
      expect(postop.indexOf('A'), `seed ${seed}`).toBe(0)
      expect(postop.lastIndexOf('A'), `seed ${seed}`).toBeGreaterThan(postop.indexOf('C'))
      const others = rounds.filter((r) => personaOf(Number(r.patientId.slice(2))).name !== 'postop')
      expect(new Set(others.map((r) => r.consciousness))).toEqual(new Set(['A']))
    }
  })

  it('confuses the post-operative patient while a confusion episode is at half intensity or more, with no effect on a sensor', () => {
    const sim = new Simulator(4, 5, START)
    const postop = sim.patients[3]!
    postop.assess(START)
    const episode = postop.episodes.find((e) => e.kind === 'confusion')!
    expect(episode.recovery - episode.plateau).toBeGreaterThan(3_600_000)
    expect(postop.assess(episode.start).consciousness).toBe('A')
    expect(postop.assess(episode.plateau + 1).consciousness).toBe('C')
    expect(postop.assess(episode.end + 1).consciousness).toBe('A')
  })

  it('makes every status appear within the first simulated hours: episodes reach warning and critical bands and recover', () => {
    const readings = collect(6, 5, 3 * 3_600_000)
    // p-0001 healthy: heart rate and SpO2 stay normal.
    expect(statusesBy(readings, 'p-0001', 'spo2')).toEqual(new Set(['NORMAL']))
    // p-0002 diabetic: hypoglycaemia (critical low) and hyperglycaemia.
    const glucose = statusesBy(readings, 'p-0002', 'glucose')
    expect(glucose).toContain('CRITICAL_LOW')
    expect(glucose).toContain('NORMAL')
    expect([...glucose].some((s) => s === 'WARNING' || s === 'CRITICAL_HIGH')).toBe(true)
    // p-0003 COPD: desaturation below the NEWS2 scale-1 critical line (<= 91 %).
    expect(statusesBy(readings, 'p-0003', 'spo2')).toContain('CRITICAL_LOW')
    // p-0004 post-op: fever and hypotension.
    const temp = readings.filter((r) => r.patientId === 'p-0004' && r.vitals.temperature !== undefined).map((r) => r.vitals.temperature!)
    expect(Math.max(...temp)).toBeGreaterThanOrEqual(38.5)
    expect(statusesBy(readings, 'p-0004', 'systolic')).toContain('CRITICAL_LOW')
    // p-0005 paroxysmal tachycardia: critical high heart rate, then back to normal.
    const hr = statusesBy(readings, 'p-0005', 'heartRate')
    expect(hr).toContain('CRITICAL_HIGH')
    expect(hr).toContain('NORMAL')
    // p-0006 hypertensive: systolic critical high (NEWS2: >= 220) during a crisis.
    expect(statusesBy(readings, 'p-0006', 'systolic')).toContain('CRITICAL_HIGH')
  })

  it('shows the tachycardia episode within the first five minutes of a real-time demo', () => {
    const readings = collect(6, 11, 5 * 60_000)
    expect(statusesBy(readings, 'p-0005', 'heartRate')).toContain('CRITICAL_HIGH')
    expect(statusesBy(readings, 'p-0003', 'spo2')).toContain('CRITICAL_LOW')
  })

  it('correlates signals: heart rate rises with fever', () => {
    const readings = collect(6, 5, 4 * 3_600_000)
    const p4 = readings.filter((r) => r.patientId === 'p-0004')
    const hrNear = (ts: number) => {
      const xs = p4.filter((r) => r.vitals.heartRate !== undefined && Math.abs(r.ts - ts) < 60_000).map((r) => r.vitals.heartRate!)
      return xs.reduce((s, x) => s + x, 0) / xs.length
    }
    const temps = p4.filter((r) => r.vitals.temperature !== undefined)
    const coolest = temps.reduce((a, b) => (b.vitals.temperature! < a.vitals.temperature! ? b : a))
    const hottest = temps.reduce((a, b) => (b.vitals.temperature! > a.vitals.temperature! ? b : a))
    expect(hottest.vitals.temperature! - coolest.vitals.temperature!).toBeGreaterThan(1)
    expect(hrNear(hottest.ts)).toBeGreaterThan(hrNear(coolest.ts) + 5)
  })

  it('drives glucose with meals: the diabetic patient rises after breakfast', () => {
    // Start at 06:00 UTC; breakfast is around 07:30; a healthy day without episodes needs another seed's patient 8 (diabetic).
    const readings = collect(8, 21, 6 * 3_600_000)
    const g = readings.filter((r) => r.patientId === 'p-0008' && r.vitals.glucose !== undefined).map((r) => r.vitals.glucose!)
    expect(Math.max(...g) - Math.min(...g)).toBeGreaterThan(40)
  })

  it("holds only the vitals the persona's devices measure", () => {
    const readings = collect(6, 2, 3_600_000)
    const seen = new Map<string, Set<string>>()
    for (const r of readings) for (const v of Object.keys(r.vitals)) seen.set(r.patientId, (seen.get(r.patientId) ?? new Set()).add(v))
    expect(seen.get('p-0001')).toEqual(new Set(['heartRate', 'spo2', 'temperature']))
    expect(seen.get('p-0002')).toEqual(new Set(['heartRate', 'spo2', 'glucose']))
    expect(seen.get('p-0004')).toEqual(new Set(VITALS.filter((v) => v !== 'glucose')))
  })
})
