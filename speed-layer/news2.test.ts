import { describe, expect, it } from 'vitest'
import { DEFAULT_BANDS, applyBandSpecs, mergeBands, parseBandSpec } from '../lib/bands.ts'
import { news2, news2Risk } from './news2.ts'

describe('the NEWS2 aggregate', () => {
  it.each<[string, Parameters<typeof news2>[0], number, string]>([
    ['all normal', { heartRate: 72, respRate: 14, spo2: 97, systolic: 120, temperature: 36.8 }, 0, 'low'],
    ['pulse 95 and temperature 38.5', { heartRate: 95, temperature: 38.5 }, 2, 'low'],
    ['a single parameter scoring 3 (resp rate 26)', { heartRate: 72, respRate: 26, spo2: 97 }, 3, 'low-medium'],
    ['a total of 4 without any 3', { heartRate: 115, respRate: 22 }, 4, 'low'],
    ['a total of 5', { heartRate: 115, respRate: 22, spo2: 95 }, 5, 'medium'],
    ['a total of 6 including a 3', { heartRate: 135, respRate: 22, spo2: 95 }, 6, 'medium'],
    ['a total of 7', { heartRate: 135, respRate: 22, spo2: 94, temperature: 38.5 }, 7, 'high'],
    ['everything critical', { heartRate: 135, respRate: 26, spo2: 88, systolic: 85, temperature: 34 }, 15, 'high'],
    ['glucose and diastolic only (not NEWS2 parameters)', { glucose: 40, diastolic: 130 }, 0, 'low'],
  ])('scores %s as %d (%s)', (_name, values, score, risk) => {
    expect(news2(values, DEFAULT_BANDS)).toEqual({ score, risk })
  })

  it('scores SpO2 on scale 2 for a patient with the news2-scale2 preset', () => {
    const table = mergeBands(applyBandSpecs({}, [parseBandSpec('spo2:news2-scale2')]))
    expect(news2({ spo2: 89 }, table)).toEqual({ score: 0, risk: 'low' })
    expect(news2({ spo2: 89 }, DEFAULT_BANDS)).toEqual({ score: 3, risk: 'low-medium' })
  })

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
