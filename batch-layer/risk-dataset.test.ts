import { describe, expect, it } from 'vitest'
import { FEATURE_NAMES, PatientFeatures, RISK_VITALS } from '../lib/risk/features.ts'
import { MinuteTable, MinuteWalker, minuteLabel, type BucketRow, type Episode } from './risk-dataset.ts'

const MIN = 60_000
const H30 = 30 * MIN

describe('minute labels', () => {
  const episodes: Episode[] = [{ onset: 100 * MIN, end: 120 * MIN }]

  it('a minute is positive when an onset is within the horizon after its end, and negative before that', () => {
    // The minute 69 ends at 70 min - 1 ms: the onset at 100 min is 30 min + 1 ms later, outside (t, t + 30 min].
    expect(minuteLabel(episodes, 70 * MIN - 1, H30)).toBe(0)
    expect(minuteLabel(episodes, 71 * MIN - 1, H30)).toBe(1)
    expect(minuteLabel(episodes, 100 * MIN - 1, H30)).toBe(1)
  })

  it('minutes from the onset to 10 minutes after the end are left out', () => {
    expect(minuteLabel(episodes, 100 * MIN, H30)).toBeUndefined()
    expect(minuteLabel(episodes, 130 * MIN - 1, H30)).toBeUndefined()
    expect(minuteLabel(episodes, 130 * MIN, H30)).toBe(0)
  })

  it('every minute after an episode without a recorded end is left out', () => {
    expect(minuteLabel([{ onset: 100 * MIN, end: null }], 5_000 * MIN, H30)).toBeUndefined()
  })

  it('a minute after one episode and before the next is positive for the next', () => {
    expect(minuteLabel([...episodes, { onset: 150 * MIN, end: null }], 135 * MIN, H30)).toBe(1)
  })
})

/** A bucket row with one heart-rate value in its minute (and nothing else). */
function heartRate(patientId: string, minute: number, value: number, extra: Partial<BucketRow> = {}): BucketRow {
  const vitals = new Float64Array(RISK_VITALS.length * 5)
  const k = RISK_VITALS.indexOf('heartRate')
  vitals.set([1, value, value * value, value, minute * MIN + 30_000], k * 5)
  return { patientId, minute, vitals, onOxygen: null, consciousness: null, ...extra }
}

describe('the minute walker', () => {
  it("takes every minute from a patient's first bucket to its last, the gaps included, with the speed layer's features", () => {
    const table = new MinuteTable()
    const walker = new MinuteWalker(table, new Map(), H30)
    walker.add(heartRate('a', 10, 80))
    walker.add(heartRate('a', 13, 100, { onOxygen: true, consciousness: 'C' }))
    walker.add(heartRate('b', 5, 60))
    expect(table.n).toBe(5)
    expect([...table.minute.subarray(0, 5)]).toEqual([10, 11, 12, 13, 5])
    expect([...table.group.subarray(0, 5)]).toEqual([0, 0, 0, 0, 1])
    expect(table.patients).toEqual(['a', 'b'])
    // The same features as the speed layer's, fed reading by reading.
    const p = new PatientFeatures()
    p.vitals.heartRate.add(80, 10 * MIN + 30_000)
    p.vitals.heartRate.add(100, 13 * MIN + 30_000)
    p.observations = { onOxygen: true, consciousness: 'C' }
    const out = new Float64Array(FEATURE_NAMES.length)
    expect([...table.row(3, out)]).toEqual([...p.vector(14 * MIN - 1)])
    const gap = table.row(1, new Float64Array(FEATURE_NAMES.length))
    expect(gap[FEATURE_NAMES.indexOf('heartRate.last')]).toBe(80)
    // Minute 11 ends at 12 min - 1 ms, 1.5 min - 1 ms after the reading at 10 min 30 s.
    expect(gap[FEATURE_NAMES.indexOf('heartRate.age')]).toBeCloseTo(1.5 - 1 / MIN, 12)
  })

  it('labels each minute by the episodes of its own patient and leaves out the minutes inside one', () => {
    const table = new MinuteTable()
    const walker = new MinuteWalker(table, new Map([['a', [{ onset: 12 * MIN + 5_000, end: 13 * MIN }]]]), H30)
    walker.add(heartRate('a', 10, 80))
    walker.add(heartRate('a', 30, 80))
    walker.add(heartRate('b', 10, 80))
    // a: minutes 10, 11 positive; 12..22 inside (to end + 10 min); 23..30 negative; b: negative.
    expect([...table.minute.subarray(0, table.n)]).toEqual([10, 11, 23, 24, 25, 26, 27, 28, 29, 30, 10])
    expect([...table.label.subarray(0, table.n)]).toEqual([1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    expect(walker.positives).toBe(2)
    expect(walker.leftOut).toBe(11)
  })

  it('grows past its first allocation without losing a row', () => {
    const table = new MinuteTable()
    const x = new Float64Array(FEATURE_NAMES.length)
    for (let i = 0; i < 5_000; i++) table.push(i % 7, i, (i % 2) as 0 | 1, x.fill(i))
    expect(table.n).toBe(5_000)
    expect(table.row(4_321, x)[0]).toBe(4_321)
    expect(table.group[4_321]).toBe(4_321 % 7)
  })
})
