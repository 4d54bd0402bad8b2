import { describe, expect, it } from 'vitest'
import { applyBandSpecs, classifyVital, mergeBands, parseBandSpec } from './bands.ts'
import { consciousnessScore, type News2Vital, news2Risk, onOxygenScore, parameterScore, spo2Scale } from './news2.ts'

const scale1 = { scale: 1, onOxygen: undefined } as const
const air = { scale: 2, onOxygen: false } as const
const oxygen = { scale: 2, onOxygen: true } as const
const unknown = { scale: 2, onOxygen: undefined } as const

const table = (...specs: string[]) => mergeBands(applyBandSpecs({}, specs.map(parseBandSpec)))

describe('the NEWS2 chart (RCP 2017, Chart 1)', () => {
  it.each<[News2Vital, number, number]>([
    ['respRate', 8, 3],
    ['respRate', 9, 1],
    ['respRate', 11, 1],
    ['respRate', 12, 0],
    ['respRate', 20, 0],
    ['respRate', 21, 2],
    ['respRate', 24, 2],
    ['respRate', 25, 3],
    ['respRate', 28, 3],
    ['spo2', 91, 3],
    ['spo2', 92, 2],
    ['spo2', 93, 2],
    ['spo2', 94, 1],
    ['spo2', 95, 1],
    ['spo2', 96, 0],
    ['systolic', 90, 3],
    ['systolic', 91, 2],
    ['systolic', 100, 2],
    ['systolic', 101, 1],
    ['systolic', 110, 1],
    ['systolic', 111, 0],
    ['systolic', 219, 0],
    ['systolic', 220, 3],
    ['heartRate', 40, 3],
    ['heartRate', 41, 1],
    ['heartRate', 50, 1],
    ['heartRate', 51, 0],
    ['heartRate', 90, 0],
    ['heartRate', 91, 1],
    ['heartRate', 110, 1],
    ['heartRate', 111, 2],
    ['heartRate', 130, 2],
    ['heartRate', 131, 3],
    ['temperature', 35, 3],
    ['temperature', 35.1, 1],
    ['temperature', 36, 1],
    ['temperature', 36.1, 0],
    ['temperature', 38, 0],
    ['temperature', 38.1, 1],
    ['temperature', 39, 1],
    ['temperature', 39.1, 2],
    ['temperature', 41.5, 2],
  ])('scores %s %d as %d on scale 1', (vital, value, score) => {
    expect(parameterScore(vital, value, scale1)).toBe(score)
  })

  it.each<[number, number, number, number]>([
    // SpO2, on air, on oxygen, oxygen unknown (scored as air: a lower bound)
    [83, 3, 3, 3],
    [84, 2, 2, 2],
    [85, 2, 2, 2],
    [86, 1, 1, 1],
    [87, 1, 1, 1],
    [88, 0, 0, 0],
    [92, 0, 0, 0],
    [92.5, 0, 1, 0],
    [93, 0, 1, 0],
    [94, 0, 1, 0],
    [95, 0, 2, 0],
    [96, 0, 2, 0],
    [97, 0, 3, 0],
    [100, 0, 3, 0],
  ])('scores SpO2 %d on scale 2 as %d on air, %d on oxygen, %d with oxygen unknown', (spo2, onAir, onOxygen, unknownOxygen) => {
    expect(parameterScore('spo2', spo2, air)).toBe(onAir)
    expect(parameterScore('spo2', spo2, oxygen)).toBe(onOxygen)
    expect(parameterScore('spo2', spo2, unknown)).toBe(unknownOxygen)
  })

  it('scores SpO2 97 on scale 2 as 3 on oxygen and 0 on air; on scale 1 the oxygen does not change the SpO2 score', () => {
    expect(parameterScore('spo2', 97, oxygen)).toBe(3)
    expect(parameterScore('spo2', 97, air)).toBe(0)
    expect(parameterScore('spo2', 89, { scale: 1, onOxygen: true })).toBe(3)
  })

  it('scores supplemental oxygen 2 and air 0', () => {
    expect(onOxygenScore(true)).toBe(2)
    expect(onOxygenScore(false)).toBe(0)
  })

  it.each([
    ['A', 0],
    ['C', 3],
    ['V', 3],
    ['P', 3],
    ['U', 3],
  ] as const)('scores consciousness %s as %d (new confusion scores 3)', (level, score) => {
    expect(consciousnessScore(level)).toBe(score)
  })
})

describe('the SpO2 scale of a band table', () => {
  it('is 2 only with the news2-scale2 preset', () => {
    expect(spo2Scale(table())).toBe(1)
    expect(spo2Scale(table('spo2:news2-scale2'))).toBe(2)
    expect(spo2Scale(table('spo2:news2-scale2', 'spo2:default'))).toBe(1)
    expect(spo2Scale(table('spo2:normal=88-100'))).toBe(1)
    expect(spo2Scale(table('spo2:news2-scale2', 'heartRate:normal=40-90'))).toBe(2)
  })
})

describe('overrides never re-score NEWS2', () => {
  it('a respRate:warning=21-30 override makes 28 a WARNING for alerts, while NEWS2 still scores it 3', () => {
    const t = table('respRate:warning=21-30')
    expect(classifyVital('respRate', 28, t)).toBe('WARNING')
    expect(spo2Scale(t)).toBe(1)
    expect(parameterScore('respRate', 28, { scale: spo2Scale(t), onOxygen: undefined })).toBe(3)
  })
})

describe('the NEWS2 risk band (RCP 2017, Chart 2)', () => {
  it.each<[number, boolean, string]>([
    [0, false, 'low'],
    [4, false, 'low'],
    [3, true, 'low-medium'],
    [4, true, 'low-medium'],
    [5, true, 'medium'],
    [6, false, 'medium'],
    [7, false, 'high'],
    [20, true, 'high'],
  ])('puts a total of %d (a single 3: %s) in the %s risk band', (score, anyThree, risk) => {
    expect(news2Risk(score, anyThree)).toBe(risk)
  })
})
