import { describe, expect, it } from 'vitest'
import {
  FORECAST_MINUTES,
  forecastGlucose,
  type GlucosePoint,
  glucoseTrend,
  prunePoints,
  TREND_WINDOW_MS,
  trendArrow,
  URGENT_LOW_SOON_MG_DL,
  urgentLowSoon,
} from './trend.ts'

const T = 1_763_805_600_000
const MIN = 60_000

/** CGM values every 5 minutes ending at T, oldest first. */
const cgm = (...values: number[]): GlucosePoint[] => values.map((v, i) => [T - (values.length - 1 - i) * 5 * MIN, v])

describe('the glucose trend arrows (Dexcom)', () => {
  it.each<[number, string]>([
    [3.01, '↑↑'],
    [3, '↑'],
    [2.01, '↑'],
    [2, '↗'],
    [1.01, '↗'],
    [1, '→'],
    [0, '→'],
    [-1, '→'],
    [-1.01, '↘'],
    [-2, '↘'],
    [-2.01, '↓'],
    [-3, '↓'],
    [-3.01, '↓↓'],
  ])('shows a rate of %d mg/dL/min as %s (each edge belongs to the flatter arrow)', (rate, arrow) => {
    expect(trendArrow(rate)).toBe(arrow)
  })
})

describe('the glucose trend', () => {
  it('is the least-squares slope in mg/dL per minute, to the newest value', () => {
    expect(glucoseTrend(cgm(100, 90, 80))).toEqual({ rate: -2, arrow: '↘', ts: T })
    expect(glucoseTrend(cgm(100, 115, 130, 145))).toEqual({ rate: 3, arrow: '↑', ts: T })
    // A noisy, level series: (0 min, 100) (5, 104) (10, 96) (15, 100): Σdx·dy = -20, Σdx² = 125, slope -0.16 mg/dL/min, steady.
    expect(glucoseTrend(cgm(100, 104, 96, 100))).toEqual({ rate: expect.closeTo(-0.16, 10), arrow: '→', ts: T })
  })

  it('needs at least 3 values spanning at least 10 minutes', () => {
    expect(glucoseTrend([])).toBeUndefined()
    expect(glucoseTrend(cgm(100, 90))).toBeUndefined()
    const short: GlucosePoint[] = [
      [T - 9 * MIN, 100],
      [T - 5 * MIN, 95],
      [T, 90],
    ]
    expect(glucoseTrend(short)).toBeUndefined()
    expect(glucoseTrend([[T - 10 * MIN, 100], ...short.slice(1)])).toMatchObject({ rate: -1, arrow: '→' })
  })

  it('uses only the last 15 minutes before the newest value', () => {
    // A value 20 minutes old (a steep fall) is outside the window: the trend is the flat last 15 minutes.
    expect(glucoseTrend(cgm(300, 100, 100, 100, 100))).toEqual({ rate: 0, arrow: '→', ts: T })
    // In any order.
    expect(glucoseTrend(cgm(100, 90, 80).reverse())).toEqual({ rate: -2, arrow: '↘', ts: T })
  })

  it('forecasts newest + rate × 20 minutes: 80 mg/dL falling 2 mg/dL/min is 40, an urgent low soon', () => {
    expect(FORECAST_MINUTES).toBe(20)
    expect(forecastGlucose(cgm(100, 90, 80))).toBe(40)
    expect(urgentLowSoon(cgm(100, 90, 80))).toBe(true)
    expect(40).toBeLessThan(URGENT_LOW_SOON_MG_DL)
  })

  it('raises no urgent low soon at exactly 55, nor without a trend', () => {
    // 95, 85, 75: falling 2/min, 75 - 40 = 35; 115, 105, 95: 95 - 40 = 55, not below.
    expect(forecastGlucose(cgm(115, 105, 95))).toBe(55)
    expect(urgentLowSoon(cgm(115, 105, 95))).toBe(false)
    expect(forecastGlucose(cgm(60, 58))).toBeUndefined()
    expect(urgentLowSoon(cgm(60, 58))).toBe(false)
  })
})

describe('the trend window of a patient', () => {
  it('keeps the values of the last 15 minutes before atTs, sorted, the edge included', () => {
    const points: GlucosePoint[] = [
      [T, 80],
      [T - TREND_WINDOW_MS - 1, 120],
      [T - TREND_WINDOW_MS, 110],
      [T - 5 * MIN, 90],
    ]
    expect(prunePoints(points, T)).toEqual([
      [T - TREND_WINDOW_MS, 110],
      [T - 5 * MIN, 90],
      [T, 80],
    ])
  })

  it('keeps one value per event time, the later one, so a replayed reading adds nothing', () => {
    const points: GlucosePoint[] = [
      [T - 5 * MIN, 90],
      [T, 80],
      [T, 81],
      [T - 5 * MIN, 90],
    ]
    expect(prunePoints(points, T)).toEqual([
      [T - 5 * MIN, 90],
      [T, 81],
    ])
  })
})

describe('a glucose source faster than a CGM', () => {
  it('keeps its newest value per minute, so the window stays at about 16 values and the trend is the same line', () => {
    let points: GlucosePoint[] = []
    const t0 = 1_763_805_600_000
    // 1 Hz for 15 minutes, falling 2 mg/dL per minute.
    for (let s = 0; s < 900; s++) points = prunePoints([...points, [t0 + s * 1000, 150 - (2 * s) / 60]], t0 + s * 1000)
    expect(points.length).toBeLessThanOrEqual(17)
    expect(points.length).toBeGreaterThanOrEqual(15)
    expect(points[points.length - 1]).toEqual([t0 + 899_000, 150 - (2 * 899) / 60])
    // Every gap but the newest one is at least a minute.
    for (let i = 1; i < points.length - 1; i++) expect((points[i] as GlucosePoint)[0] - (points[i - 1] as GlucosePoint)[0]).toBeGreaterThanOrEqual(60_000)
    expect(glucoseTrend(points)?.rate).toBeCloseTo(-2, 6)
  })
})
