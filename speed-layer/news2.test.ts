import { describe, expect, it } from 'vitest'
import { applyBandSpecs, mergeBands, parseBandSpec } from '../lib/bands.ts'
import { spo2Scale } from '../lib/news2.ts'
import type { Vital } from '../lib/contract/schema.ts'
import { NEWS2_PARAMETERS } from '../lib/contract/views.ts'
import { DEFAULT_SPEED_OPTIONS } from './config.ts'
import { type News2Inputs, news2State, partialRisk } from './news2.ts'

const T = 1_763_805_600_000
const MIN = 60_000
const HOUR = 60 * MIN
const FRESH = DEFAULT_SPEED_OPTIONS.news2FreshnessMs

const at = (values: Partial<Record<Vital, number>>, ts = T): News2Inputs['vitals'] =>
  Object.fromEntries(Object.entries(values).map(([v, value]) => [v, { value, ts }]))

/** All seven parameters observed now: the five vitals, air or oxygen, and ACVPU. */
const full = (values: Partial<Record<Vital, number>>, onOxygen = false, consciousness: 'A' | 'C' | 'V' | 'P' | 'U' = 'A'): News2Inputs => ({
  vitals: at(values),
  onOxygen: { value: onOxygen, ts: T },
  consciousness: { value: consciousness, ts: T },
})

const NORMAL = { respRate: 14, spo2: 97, systolic: 120, heartRate: 72, temperature: 36.8 }

describe('the NEWS2 aggregate of a patient', () => {
  it('heart rate 115 and SpO2 95 alone are a partial score of at least 3 with no risk band, never "low"', () => {
    const n = news2State({ vitals: at({ heartRate: 115, spo2: 95 }) }, T, 1, FRESH)
    expect(n).toEqual({
      score: 3,
      risk: null,
      complete: false,
      counted: ['spo2', 'heartRate'],
      scores: { spo2: 1, heartRate: 2 },
      missing: ['respRate', 'onOxygen', 'systolic', 'consciousness', 'temperature'],
      old: [],
      scale: 1,
    })
    expect(n.risk).not.toBe('low')
  })

  it('does not count a systolic 88 and a respiratory rate 26 from six hours ago beside a fresh heart rate: they are old', () => {
    const n = news2State({ vitals: { ...at({ systolic: 88, respRate: 26 }, T - 6 * HOUR), ...at({ heartRate: 80 }) } }, T, 1, FRESH)
    expect(n.score).toBe(0)
    expect(n.counted).toEqual(['heartRate'])
    expect(n.old).toEqual(['respRate', 'systolic'])
    expect(n.missing).toEqual(['respRate', 'spo2', 'onOxygen', 'systolic', 'consciousness', 'temperature'])
    expect(n.complete).toBe(false)
    expect(n.risk).toBeNull()
  })

  it('heart rate 105, respiration 22, SpO2 94, systolic 105, temperature 38.5, alert and on air is a complete 6, medium', () => {
    const n = news2State(full({ heartRate: 105, respRate: 22, spo2: 94, systolic: 105, temperature: 38.5 }), T, 1, FRESH)
    expect(n).toMatchObject({ score: 6, risk: 'medium', complete: true, missing: [], old: [] })
    expect(n.counted).toEqual([...NEWS2_PARAMETERS])
    expect(n.scores).toEqual({ respRate: 2, spo2: 1, onOxygen: 0, systolic: 1, heartRate: 1, consciousness: 0, temperature: 1 })
  })

  it('adds 2 for supplemental oxygen', () => {
    expect(news2State(full(NORMAL, false), T, 1, FRESH)).toMatchObject({ score: 0, risk: 'low', complete: true })
    expect(news2State(full(NORMAL, true), T, 1, FRESH)).toMatchObject({ score: 2, risk: 'low', scores: { onOxygen: 2 } })
    expect(news2State({ vitals: {}, onOxygen: { value: true, ts: T } }, T, 1, FRESH)).toMatchObject({ score: 2, counted: ['onOxygen'], risk: null })
  })

  it('scores new confusion (C) 3: a single 3 is low-medium when complete, and low-medium already when partial', () => {
    expect(news2State(full(NORMAL, false, 'C'), T, 1, FRESH)).toMatchObject({ score: 3, risk: 'low-medium', complete: true, scores: { consciousness: 3 } })
    expect(news2State({ vitals: {}, consciousness: { value: 'C', ts: T } }, T, 1, FRESH)).toMatchObject({ score: 3, risk: 'low-medium', complete: false })
  })

  it('scores SpO2 97 on scale 2 as 3 on oxygen (plus 2 for the oxygen) and 0 on air', () => {
    const onO2 = news2State(full({ ...NORMAL, spo2: 97 }, true), T, 2, FRESH)
    expect(onO2).toMatchObject({ score: 5, risk: 'medium', scale: 2, scores: { spo2: 3, onOxygen: 2 } })
    expect(news2State(full({ ...NORMAL, spo2: 97 }, false), T, 2, FRESH)).toMatchObject({ score: 0, risk: 'low', scale: 2, scores: { spo2: 0 } })
  })

  it('scores scale 2 as on air when the oxygen is unknown or old, and lists oxygen as missing', () => {
    const noOxygen = news2State({ vitals: at({ spo2: 97 }) }, T, 2, FRESH)
    expect(noOxygen).toMatchObject({ score: 0, scores: { spo2: 0 } })
    expect(noOxygen.missing).toContain('onOxygen')
    const oldOxygen = news2State({ vitals: at({ spo2: 97 }), onOxygen: { value: true, ts: T - 5 * HOUR } }, T, 2, FRESH)
    expect(oldOxygen).toMatchObject({ score: 0, scores: { spo2: 0 }, old: ['onOxygen'] })
  })

  it('is not changed by a respRate:warning=21-30 override: respiration 28 still scores 3', () => {
    const t = mergeBands(applyBandSpecs({}, [parseBandSpec('respRate:warning=21-30')]))
    expect(news2State({ vitals: at({ respRate: 28 }) }, T, spo2Scale(t), FRESH)).toMatchObject({ score: 3, scores: { respRate: 3 }, risk: 'low-medium' })
  })

  it('counts a parameter exactly at the edge of its window and not a millisecond older', () => {
    for (const [param, windowMs] of [
      ['heartRate', 5 * MIN],
      ['systolic', 30 * MIN],
      ['temperature', HOUR],
    ] as const) {
      expect(news2State({ vitals: at({ [param]: 0 }, T - windowMs) }, T, 1, FRESH).counted).toEqual([param])
      expect(news2State({ vitals: at({ [param]: 0 }, T - windowMs - 1) }, T, 1, FRESH).old).toEqual([param])
    }
    const nurse = (ts: number): News2Inputs => ({ vitals: {}, onOxygen: { value: false, ts }, consciousness: { value: 'A', ts } })
    expect(news2State(nurse(T - 4 * HOUR), T, 1, FRESH).counted).toEqual(['onOxygen', 'consciousness'])
    expect(news2State(nurse(T - 4 * HOUR - 1), T, 1, FRESH).old).toEqual(['onOxygen', 'consciousness'])
  })

  it('uses the configured windows', () => {
    const n = news2State({ vitals: at({ systolic: 88 }, T - HOUR) }, T, 1, { ...FRESH, systolic: 2 * HOUR })
    expect(n).toMatchObject({ score: 3, counted: ['systolic'], old: [] })
  })

  it('gives a partial score the risk its lower bound reaches: 7 or more high, 5-6 medium, a single 3 low-medium', () => {
    expect(news2State({ vitals: at({ heartRate: 135, respRate: 26, spo2: 95 }) }, T, 1, FRESH)).toMatchObject({ score: 7, risk: 'high', complete: false })
    expect(news2State({ vitals: at({ heartRate: 115, respRate: 22, spo2: 95 }) }, T, 1, FRESH)).toMatchObject({ score: 5, risk: 'medium', complete: false })
    expect(news2State({ vitals: at({ heartRate: 131 }) }, T, 1, FRESH)).toMatchObject({ score: 3, risk: 'low-medium', complete: false })
    expect(news2State({ vitals: at({ heartRate: 115, respRate: 22 }) }, T, 1, FRESH)).toMatchObject({ score: 4, risk: null, complete: false })
    expect(news2State({ vitals: {} }, T, 1, FRESH)).toMatchObject({ score: 0, risk: null, counted: [], missing: [...NEWS2_PARAMETERS] })
  })

  it('ignores glucose and diastolic (not NEWS2 parameters)', () => {
    expect(news2State({ vitals: at({ glucose: 40, diastolic: 130 }) }, T, 1, FRESH)).toMatchObject({ score: 0, counted: [] })
  })

  it.each<[number, boolean, string | null]>([
    [0, false, null],
    [4, false, null],
    [3, true, 'low-medium'],
    [5, false, 'medium'],
    [7, false, 'high'],
  ])('a partial total of %d (a single 3: %s) has the risk %s', (score, anyThree, risk) => {
    expect(partialRisk(score, anyThree)).toBe(risk)
  })
})
