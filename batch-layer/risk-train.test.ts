import { describe, expect, it } from 'vitest'
import { isVigilError } from '../lib/errors.ts'
import { FEATURE_NAMES } from '../lib/risk/features.ts'
import { MinuteTable } from './risk-dataset.ts'
import type { RiskModelFile } from '../lib/risk/model.ts'
import { canonicalJson, isTestPatient, promotionOf, splitPatients } from './risk-train.ts'

/** A table of `patients` patients (`p-<i>`) with `minutes` minutes each, the minutes `positive` says positive. */
function table(patients: number, minutes: number, positive: (patient: number, minute: number) => boolean): MinuteTable {
  const t = new MinuteTable()
  const x = new Float64Array(FEATURE_NAMES.length)
  for (let p = 0; p < patients; p++) {
    t.patients.push(`p-${p}`)
    for (let m = 0; m < minutes; m++) t.push(p, m, positive(p, m) ? 1 : 0, x)
  }
  return t
}

function failure(fn: () => unknown): string {
  try {
    fn()
  } catch (error) {
    expect(isVigilError(error)).toBe(true)
    return (error as Error).message
  }
  throw new Error('expected a VigilError')
}

describe('the patient split', () => {
  it('holds out about the asked fraction of patients, the same ones for the same seed', () => {
    const ids = Array.from({ length: 10_000 }, (_, i) => `patient-${i}`)
    const held = ids.filter((id) => isTestPatient(1, id, 0.3)).length
    expect(held / ids.length).toBeGreaterThan(0.28)
    expect(held / ids.length).toBeLessThan(0.32)
    expect(ids.filter((id) => isTestPatient(1, id, 0.3))).toEqual(ids.filter((id) => isTestPatient(1, id, 0.3)))
    expect(ids.filter((id) => isTestPatient(2, id, 0.3))).not.toEqual(ids.filter((id) => isTestPatient(1, id, 0.3)))
  })

  it("puts all of a patient's minutes on one side", () => {
    const t = table(40, 20, (_, m) => m % 5 === 0)
    const split = splitPatients(t, { seed: 1, testFraction: 0.3 })
    const trainPatients = new Set([...split.train].map((i) => t.group[i]))
    const testPatients = new Set([...split.test].map((i) => t.group[i]))
    expect([...trainPatients].filter((p) => testPatients.has(p))).toEqual([])
    expect(trainPatients.size + testPatients.size).toBe(40)
    expect(split.train.length + split.test.length).toBe(800)
    expect(split.testPatients).toBe(testPatients.size)
  })

  it('refuses a split without patients on one side, or without the minutes each side needs, and says what to do', () => {
    expect(
      failure(() =>
        splitPatients(
          table(1, 20, (_, m) => m % 5 === 0),
          { seed: 1, testFraction: 0.3 },
        ),
      ),
    ).toMatch(/of 1 patients left no patient for (training|testing); train on a lake of more patients, or try another --seed/)
    const trainOnly = (p: number, m: number) => !isTestPatient(1, `p-${p}`, 0.3) && m % 5 === 0
    expect(failure(() => splitPatients(table(40, 20, trainOnly), { seed: 1, testFraction: 0.3 }))).toMatch(
      /left the test patients without a positive minute to measure sensitivity on; train on a lake of more patients and episodes, or try another --seed/,
    )
    expect(
      failure(() =>
        splitPatients(
          table(40, 20, () => true),
          { seed: 1, testFraction: 0.3 },
        ),
      ),
    ).toMatch(/left the training patients without a negative minute/)
  })
})

describe('canonical JSON', () => {
  it('sorts keys at every level and leaves out undefined, so the same content hashes alike', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: undefined, b: 'x' }], c: null })).toBe('{"a":[{"b":"x","d":2}],"b":1,"c":null}')
  })
})

describe('the promotion check', () => {
  /** A model file whose comparison has the model's pooled and within-patient AUROC and NEWS2's AUROC. */
  function measured(auroc: number, within: number | null, news2: number): RiskModelFile {
    const row = (name: string, a: number, w: number | null) => ({
      name,
      auroc: a,
      withinPatientAuroc: w,
      auprc: null,
      brier: null,
      sensitivity: null,
      alertsPerPatientDay: null,
      alertsPerPatientDayAt80: null,
      thresholdAt80: null,
    })
    return { metrics: { test: [row('risk model', auroc, within), row('NEWS2 >= 5', news2, 0.5)], reliability: [], table: '' } } as unknown as RiskModelFile
  }

  it('serves a model that tells when an episode is coming and beats NEWS2', () => {
    expect(promotionOf(measured(0.85, 0.74, 0.6), false).promoted).toBe(true)
  })

  it('keeps, and does not serve, a model that only tells who has episodes (the 7-day simulated cohort: 0.960 pooled, 0.497 within)', () => {
    const p = promotionOf(measured(0.96, 0.497, 0.57), false)
    expect(p.promoted).toBe(false)
    expect(p.reason).toContain('AUROC within patients 0.497 (needs 0.7)')
    expect(p.reason).toContain('--promote')
  })

  it('does not serve a model no better than NEWS2, or one whose within-patient AUROC could not be measured', () => {
    expect(promotionOf(measured(0.6, 0.8, 0.6), false).promoted).toBe(false)
    expect(promotionOf(measured(0.9, null, 0.6), false).promoted).toBe(false)
  })

  it('serves a failing model with --promote, and says it failed', () => {
    const p = promotionOf(measured(0.96, 0.497, 0.57), true)
    expect(p.promoted).toBe(true)
    expect(p.reason).toContain('failed the promotion check')
  })
})
