import { describe, expect, it } from 'vitest'
import { parameterScore, spo2Scale } from './news2.ts'
import {
  BAND_PRESETS,
  BandSpecError,
  DEFAULT_BANDS,
  applyBandSpecs,
  bandOf,
  classifyVital,
  describeBands,
  mergeBands,
  overridesFromHash,
  overridesToHash,
  parseBandSpec,
  parseBands,
  serializeBands,
  worse,
  type Band,
  type Status,
} from './bands.ts'
import type { Vital } from './contract/schema.ts'

// Every edge of every band, the value on the edge and just beyond it (whole units for vitals charted in
// whole numbers, 0.1 °C for temperature), with the status and NEWS2 score the published tables give.
const EDGES: ReadonlyArray<[Vital, number, Status, number | undefined]> = [
  // NEWS2 pulse: <=40 3 | 41-50 1 | 51-90 0 | 91-110 1 | 111-130 2 | >=131 3
  ['heartRate', 0, 'CRITICAL_LOW', 3],
  ['heartRate', 40, 'CRITICAL_LOW', 3],
  ['heartRate', 40.5, 'WARNING', 1],
  ['heartRate', 41, 'WARNING', 1],
  ['heartRate', 50, 'WARNING', 1],
  ['heartRate', 51, 'NORMAL', 0],
  ['heartRate', 90, 'NORMAL', 0],
  ['heartRate', 91, 'WARNING', 1],
  ['heartRate', 110, 'WARNING', 1],
  ['heartRate', 111, 'WARNING', 2],
  ['heartRate', 130, 'WARNING', 2],
  ['heartRate', 131, 'CRITICAL_HIGH', 3],
  ['heartRate', 300, 'CRITICAL_HIGH', 3],
  // NEWS2 SpO2 scale 1: <=91 3 | 92-93 2 | 94-95 1 | >=96 0
  ['spo2', 91, 'CRITICAL_LOW', 3],
  ['spo2', 92, 'WARNING', 2],
  ['spo2', 93, 'WARNING', 2],
  ['spo2', 94, 'WARNING', 1],
  ['spo2', 95, 'WARNING', 1],
  ['spo2', 96, 'NORMAL', 0],
  ['spo2', 100, 'NORMAL', 0],
  // CGM consensus / ADA: <54 | 54-69 | 70-180 | 181-250 | >250 mg/dL
  ['glucose', 53, 'CRITICAL_LOW', undefined],
  ['glucose', 53.9, 'CRITICAL_LOW', undefined],
  ['glucose', 54, 'WARNING', undefined],
  ['glucose', 69, 'WARNING', undefined],
  ['glucose', 70, 'NORMAL', undefined],
  ['glucose', 180, 'NORMAL', undefined],
  ['glucose', 181, 'WARNING', undefined],
  ['glucose', 250, 'WARNING', undefined],
  ['glucose', 251, 'CRITICAL_HIGH', undefined],
  // NEWS2 systolic: <=90 3 | 91-100 2 | 101-110 1 | 111-219 0 | >=220 3
  ['systolic', 90, 'CRITICAL_LOW', 3],
  ['systolic', 91, 'WARNING', 2],
  ['systolic', 100, 'WARNING', 2],
  ['systolic', 101, 'WARNING', 1],
  ['systolic', 110, 'WARNING', 1],
  ['systolic', 111, 'NORMAL', 0],
  ['systolic', 219, 'NORMAL', 0],
  ['systolic', 220, 'CRITICAL_HIGH', 3],
  // Vigil's diastolic table: <40 | 40-49 | 50-89 | 90-120 | >120 mmHg
  ['diastolic', 39, 'CRITICAL_LOW', undefined],
  ['diastolic', 40, 'WARNING', undefined],
  ['diastolic', 49, 'WARNING', undefined],
  ['diastolic', 50, 'NORMAL', undefined],
  ['diastolic', 89, 'NORMAL', undefined],
  ['diastolic', 90, 'WARNING', undefined],
  ['diastolic', 120, 'WARNING', undefined],
  ['diastolic', 121, 'CRITICAL_HIGH', undefined],
  // NEWS2 respiration rate: <=8 3 | 9-11 1 | 12-20 0 | 21-24 2 | >=25 3
  ['respRate', 8, 'CRITICAL_LOW', 3],
  ['respRate', 9, 'WARNING', 1],
  ['respRate', 11, 'WARNING', 1],
  ['respRate', 12, 'NORMAL', 0],
  ['respRate', 20, 'NORMAL', 0],
  ['respRate', 21, 'WARNING', 2],
  ['respRate', 24, 'WARNING', 2],
  ['respRate', 25, 'CRITICAL_HIGH', 3],
  // NEWS2 temperature: <=35.0 3 | 35.1-36.0 1 | 36.1-38.0 0 | 38.1-39.0 1 | >=39.1 2; Vigil: >=41.5 hyperpyrexia, CRITICAL_HIGH, NEWS2 still 2
  ['temperature', 10, 'CRITICAL_LOW', 3],
  ['temperature', 22, 'CRITICAL_LOW', 3],
  ['temperature', 35.0, 'CRITICAL_LOW', 3],
  ['temperature', 35.1, 'WARNING', 1],
  ['temperature', 36.0, 'WARNING', 1],
  ['temperature', 36.1, 'NORMAL', 0],
  ['temperature', 38.0, 'NORMAL', 0],
  ['temperature', 38.1, 'WARNING', 1],
  ['temperature', 39.0, 'WARNING', 1],
  ['temperature', 39.1, 'WARNING', 2],
  ['temperature', 41.4, 'WARNING', 2],
  ['temperature', 41.5, 'CRITICAL_HIGH', 2],
  ['temperature', 42, 'CRITICAL_HIGH', 2],
  ['temperature', 47, 'CRITICAL_HIGH', 2],
]

describe('the default band table', () => {
  it.each(EDGES)('classifies %s %d as %s with NEWS2 score %s', (vital, value, status, score) => {
    expect(classifyVital(vital, value)).toBe(status)
    expect(bandOf(DEFAULT_BANDS[vital], value).score).toBe(score)
  })

  it('covers every vital with bands whose edges ascend and end at Infinity', () => {
    for (const bands of Object.values(DEFAULT_BANDS)) {
      const edges = bands.map((b) => b.max)
      expect([...edges].sort((a, b) => a - b)).toEqual(edges)
      expect(edges[edges.length - 1]).toBe(Infinity)
    }
  })

  it('ranks a critical status above a warning and a warning above normal', () => {
    expect(worse('NORMAL', 'WARNING')).toBe('WARNING')
    expect(worse('CRITICAL_LOW', 'WARNING')).toBe('CRITICAL_LOW')
    expect(worse('NORMAL', 'CRITICAL_HIGH')).toBe('CRITICAL_HIGH')
    expect(worse('WARNING', 'NORMAL')).toBe('WARNING')
  })
})

describe('the hyperpyrexia band, whose status and NEWS2 score disagree', () => {
  it('is the only default band whose status is not the one its score implies (docs/CONTRACT.md, Classification)', () => {
    const implied = (b: Band) => (b.score === 0 ? 'NORMAL' : b.score === 3 ? 'CRITICAL' : 'WARNING')
    const odd = Object.entries(DEFAULT_BANDS).flatMap(([vital, bands]) =>
      bands.filter((b) => b.score !== undefined && !b.status.startsWith(implied(b))).map((b) => [vital, b.max, b.status, b.score]),
    )
    expect(odd).toEqual([['temperature', Infinity, 'CRITICAL_HIGH', 2]])
  })

  it('keeps hyperpyrexia CRITICAL_HIGH with score 2 beside a temperature override, and through the Redis hash form', () => {
    const overrides = applyBandSpecs({}, [parseBandSpec('temperature:normal=36-38.5')])
    const table = mergeBands(overrides)
    expect(classifyVital('temperature', 38.5, table)).toBe('NORMAL')
    expect(bandOf(table.temperature, 41.4)).toMatchObject({ status: 'WARNING', score: 2 })
    expect(bandOf(table.temperature, 41.5)).toMatchObject({ status: 'CRITICAL_HIGH', score: 2 })
    const stored = overridesFromHash(overridesToHash(overrides))
    expect(stored).toEqual(overrides)
    expect(bandOf(stored.temperature ?? [], 41.5)).toMatchObject({ status: 'CRITICAL_HIGH', score: 2 })
    expect(describeBands(DEFAULT_BANDS.temperature)).toContain('<41.5 WARNING (2) | rest CRITICAL_HIGH (2)')
  })

  it('accepts stored bands that pair a critical status with score 2', () => {
    expect(parseBands('[[41.5,0,"WARNING",2],[null,1,"CRITICAL_HIGH",2]]')).toEqual([
      { max: 41.5, maxInclusive: false, status: 'WARNING', score: 2 },
      { max: Infinity, maxInclusive: true, status: 'CRITICAL_HIGH', score: 2 },
    ])
  })
})

describe('per-patient band overrides', () => {
  it('makes an athlete resting heart rate of 45 NORMAL with heartRate:normal=40-90', () => {
    const table = mergeBands(applyBandSpecs({}, [parseBandSpec('heartRate:normal=40-90')]))
    expect(classifyVital('heartRate', 45, table)).toBe('NORMAL')
    expect(classifyVital('heartRate', 40, table)).toBe('NORMAL')
    expect(classifyVital('heartRate', 39, table)).toBe('CRITICAL_LOW')
    expect(classifyVital('heartRate', 90, table)).toBe('NORMAL')
    expect(classifyVital('heartRate', 91, table)).toBe('WARNING')
    expect(classifyVital('heartRate', 131, table)).toBe('CRITICAL_HIGH')
    // other vitals keep their defaults
    expect(classifyVital('spo2', 93, table)).toBe('WARNING')
  })

  it.each<[number, Status, number]>([
    [83, 'CRITICAL_LOW', 3],
    [84, 'WARNING', 2],
    [85, 'WARNING', 2],
    [86, 'WARNING', 1],
    [87, 'WARNING', 1],
    [88, 'NORMAL', 0],
    [92, 'NORMAL', 0],
    [97, 'NORMAL', 0],
  ])('applies NEWS2 SpO2 scale 2 with the news2-scale2 preset: %d is %s', (value, status, score) => {
    const table = mergeBands(applyBandSpecs({}, [parseBandSpec('spo2:news2-scale2')]))
    expect(classifyVital('spo2', value, table)).toBe(status)
    expect(bandOf(table.spo2, value).score).toBe(score)
  })

  it('keeps a scale-2 patient on scale 2 for NEWS2 through the Redis hash form, and scores NEWS2 from the chart whatever the override', () => {
    const stored = mergeBands(overridesFromHash(overridesToHash(applyBandSpecs({}, [parseBandSpec('spo2:news2-scale2')]))))
    expect(spo2Scale(stored)).toBe(2)
    // On oxygen, 97 % is NORMAL in the preset's (on-air) bands, and scores 3 on the NEWS2 chart.
    expect(classifyVital('spo2', 97, stored)).toBe('NORMAL')
    expect(parameterScore('spo2', 97, { scale: spo2Scale(stored), onOxygen: true })).toBe(3)
    // A range override changes the status only: its band's nominal score is not the NEWS2 score.
    const athlete = mergeBands(applyBandSpecs({}, [parseBandSpec('heartRate:normal=40-90')]))
    expect(bandOf(athlete.heartRate, 45)).toMatchObject({ status: 'NORMAL', score: 0 })
    expect(parameterScore('heartRate', 45, { scale: spo2Scale(athlete), onOxygen: undefined })).toBe(1)
  })

  it('goes back to the default bands with <vital>:default', () => {
    const withOverride = applyBandSpecs({}, [parseBandSpec('spo2:news2-scale2')])
    expect(applyBandSpecs(withOverride, [parseBandSpec('spo2:default')])).toEqual({})
  })

  it('round-trips overrides through the Redis hash form', () => {
    const overrides = applyBandSpecs({}, [parseBandSpec('spo2:news2-scale2'), parseBandSpec('glucose:normal=70-200')])
    const back = overridesFromHash(overridesToHash(overrides))
    expect(back).toEqual(overrides)
    expect(parseBands(serializeBands(DEFAULT_BANDS.heartRate))).toEqual(DEFAULT_BANDS.heartRate)
    expect(classifyVital('glucose', 190, mergeBands(back))).toBe('NORMAL')
  })

  it.each(['pulse:normal=40-90', 'heartRate:normal=90-40', 'heartRate:fine=1-2', 'heartRate:news2-scale2', 'heartRate'])(
    'refuses the malformed spec %s with a message naming what is accepted',
    (spec) => {
      expect(() => parseBandSpec(spec)).toThrow(BandSpecError)
    },
  )

  it('refuses stored bands that do not reach Infinity', () => {
    expect(() => parseBands('[[10,1,"NORMAL",null]]')).toThrow(/Infinity/)
  })

  it('names its preset for NEWS2 SpO2 scale 2', () => {
    expect(BAND_PRESETS['news2-scale2']?.vital).toBe('spo2')
  })
})
