import { describe, expect, it } from 'vitest'
import { bandOf, classifyVital, DEFAULT_BANDS } from '../lib/bands.ts'
import { parseReading, type Vital } from '../lib/contract/schema.ts'
import { observationToReading } from './fhir.ts'
import { bloodPressure, bodyTemperature } from './fixtures/fhir-vitalsigns-examples.ts'

const UCUM = 'http://unitsofmeasure.org'

function observation(loinc: string, value: number, code: string) {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: loinc }] },
    subject: { reference: 'Patient/p1' },
    effectiveDateTime: '2025-01-01T00:00:00Z',
    valueQuantity: { value, system: UCUM, code },
  }
}

/** The value a mapped Observation carries for `vital`; fails the test when the Observation is refused. */
function mapped(obs: unknown, vital: Vital): number {
  const r = observationToReading(obs)
  if (!r.ok) throw new Error(`refused: ${JSON.stringify(r.errors)}`)
  const v = r.reading.vitals[vital]
  if (v === undefined) throw new Error(`no ${vital} in ${JSON.stringify(r.reading.vitals)}`)
  return v
}

const glucoseMmol = (value: number, loinc = '15074-8') => mapped(observation(loinc, value, 'mmol/L'), 'glucose')

/** The CGM consensus bands in mmol/L (Battelino 2019): <3.0 level 2 | 3.0-<3.9 level 1 | 3.9-10.0 in range | >10.0-13.9 level 1 | >13.9 level 2. */
function mmolStatus(x: number): string {
  if (x < 3.0) return 'CRITICAL_LOW'
  if (x < 3.9) return 'WARNING'
  if (x <= 10.0) return 'NORMAL'
  if (x <= 13.9) return 'WARNING'
  return 'CRITICAL_HIGH'
}

describe('glucose in mmol/L classifies as the CGM consensus does in mmol/L', () => {
  it('10.0 mmol/L (top of 3.9-10.0 in range) is 180 mg/dL and NORMAL, not 180.2 and WARNING', () => {
    expect(glucoseMmol(10.0)).toBe(180)
    expect(classifyVital('glucose', glucoseMmol(10.0))).toBe('NORMAL')
  })

  it('13.9 mmol/L (level 1 up to and including 13.9) is 250 mg/dL and WARNING, not 250.4 and CRITICAL_HIGH', () => {
    expect(glucoseMmol(13.9)).toBe(250)
    expect(classifyVital('glucose', glucoseMmol(13.9))).toBe('WARNING')
  })

  it('maps each published edge pair onto itself: 3.0 to 54, 3.9 to 70, 10.0 to 180, 13.9 to 250', () => {
    expect([3.0, 3.9, 10.0, 13.9].map((x) => glucoseMmol(x))).toEqual([54, 70, 180, 250])
    expect([2.9, 3.0, 3.8, 3.9, 10.0, 10.1, 13.9, 14.0].map((x) => classifyVital('glucose', glucoseMmol(x)))).toEqual([
      'CRITICAL_LOW',
      'WARNING',
      'WARNING',
      'NORMAL',
      'NORMAL',
      'WARNING',
      'WARNING',
      'CRITICAL_HIGH',
    ])
  })

  it('classifies every mmol/L value from 0.01 to 40.00 (step 0.01) as its mmol/L band says', () => {
    const disagreements: string[] = []
    for (let i = 1; i <= 4000; i++) {
      const x = Number((i / 100).toFixed(2))
      const status = classifyVital('glucose', glucoseMmol(x))
      if (status !== mmolStatus(x)) disagreements.push(`${x} mmol/L -> ${glucoseMmol(x)} mg/dL ${status}, expected ${mmolStatus(x)}`)
    }
    expect(disagreements.slice(0, 5)).toEqual([])
  })

  it('classifies the doubles next to each edge on their side of it', () => {
    const f = new Float64Array(1)
    const bits = new BigInt64Array(f.buffer)
    const next = (x: number, by: bigint) => {
      f[0] = x
      bits[0] = (bits[0] as bigint) + by
      return f[0] as number
    }
    for (const edge of [3.0, 3.9, 10.0, 13.9]) {
      for (const x of [next(edge, -1n), edge, next(edge, 1n)]) expect(classifyVital('glucose', glucoseMmol(x)), `${x} mmol/L`).toBe(mmolStatus(x))
    }
  })

  it('keeps full precision: 5.55 mmol/L is not rounded to a tenth of a mg/dL', () => {
    const v = glucoseMmol(5.55)
    expect(v).not.toBe(Math.round(v * 10) / 10)
    expect(Math.abs(v - 5.55 * 18.016)).toBeLessThan(0.5)
  })

  it('accepts LOINC 105272-9, glucose [Moles/volume] in interstitial fluid (CGM), in mmol/L', () => {
    // The HL7 CGM IG's molar sensor-reading example: 6.7 mmol/L.
    expect(classifyVital('glucose', glucoseMmol(6.7, '105272-9'))).toBe('NORMAL')
    expect(glucoseMmol(10.0, '105272-9')).toBe(180)
  })
})

describe('blood pressure in kPa scores NEWS2 as the same value in mmHg', () => {
  const systolicKpa = (value: number) =>
    mapped(
      {
        ...bloodPressure,
        component: [{ code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueQuantity: { value, system: UCUM, code: 'kPa' } }],
      },
      'systolic',
    )

  it('a systolic of 12.0 kPa is 90 mmHg and scores 3 (NEWS2 systolic <= 90), not 90.01 scoring 2', () => {
    expect(systolicKpa(12.0)).toBe(90)
    expect(bandOf(DEFAULT_BANDS.systolic, systolicKpa(12.0)).score).toBe(3)
  })

  it('keeps full precision: 13.37 kPa is not rounded to a hundredth of a mmHg', () => {
    expect(systolicKpa(13.37)).toBe(100.275)
  })
})

describe('temperature conversions land on the NEWS2 edges exactly', () => {
  const tempIn = (value: number, code: string) => mapped({ ...bodyTemperature, valueQuantity: { value, system: UCUM, code } }, 'temperature')

  it('100.4 [degF] and 311.15 K are 38.0 Cel and score 0 (NEWS2 36.1-38.0)', () => {
    expect(tempIn(100.4, '[degF]')).toBe(38)
    expect(tempIn(311.15, 'K')).toBe(38)
    expect(bandOf(DEFAULT_BANDS.temperature, tempIn(100.4, '[degF]')).score).toBe(0)
  })

  it('keeps full precision: 100.1 [degF] is 37.8333... Cel, not 37.83', () => {
    expect(tempIn(100.1, '[degF]')).toBe(681 / 18)
  })
})

describe("a unit that does not fit its LOINC code's property is refused, naming code and unit", () => {
  it.each([
    ['15074-8', 5.5, 'mg/dL'],
    ['14749-6', 5.5, 'mg/dL'],
    ['105272-9', 99, 'mg/dL'],
    ['14743-9', 1.2, 'g/L'],
    ['2339-0', 5.5, 'mmol/L'],
    ['99504-3', 5.5, 'mmol/L'],
    ['41653-7', 5.5, 'mmol/L'],
  ])('glucose %s with %s %s', (loinc, value, unit) => {
    expect(observationToReading(observation(loinc, value, unit))).toEqual({
      ok: false,
      errors: [{ pointer: '/valueQuantity/code', detail: expect.stringMatching(new RegExp(`"${unit}".*LOINC ${loinc}`)) }],
    })
  })

  it('accepts each glucose code with the units of its property', () => {
    expect(mapped(observation('14749-6', 5.5, 'mmol/L'), 'glucose')).toBeCloseTo(99.2, 0)
    expect(mapped(observation('2345-7', 99, 'mg/dL'), 'glucose')).toBe(99)
    expect(mapped(observation('2339-0', 1.8, 'g/L'), 'glucose')).toBe(180)
  })

  it('refuses a pressure unit under a temperature code and a temperature unit under a pressure code', () => {
    expect(observationToReading(observation('8310-5', 5, 'kPa'))).toEqual({
      ok: false,
      errors: [{ pointer: '/valueQuantity/code', detail: expect.stringMatching(/"kPa".*LOINC 8310-5/) }],
    })
    const bp = {
      ...bloodPressure,
      component: [{ code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueQuantity: { value: 37, system: UCUM, code: 'Cel' } }],
    }
    expect(observationToReading(bp)).toEqual({
      ok: false,
      errors: [{ pointer: '/component/0/valueQuantity/code', detail: expect.stringMatching(/"Cel".*LOINC 8480-6/) }],
    })
  })
})

describe('the reading keeps the unrounded value', () => {
  it('through JSON and the schema, so the speed layer classifies the value the gateway computed', () => {
    const r = observationToReading(observation('15074-8', 5.55, 'mmol/L'))
    if (!r.ok) throw new Error('refused')
    const back = parseReading(JSON.stringify(r.reading))
    expect(back).toEqual({ ok: true, reading: r.reading })
  })
})
