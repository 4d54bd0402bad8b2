import { describe, expect, it } from 'vitest'
import { FEATURE_NAMES } from '../lib/risk/features.ts'
import { compileRiskModel } from '../lib/risk/model.ts'
import { riskCostLines, syntheticRiskModel, updateEntries, type SpeedRun } from './speed.ts'

describe('updateEntries', () => {
  const entry = (deviceId: string, ts: number) => ({ deviceId, ts, vitals: { heartRate: 70 } })
  it('reads the entries of every patient of a batch update', () => {
    const message = JSON.stringify({
      type: 'readings',
      patients: [
        { patient: { patientId: 'p-1' }, entries: [entry('a-lat', 1), entry('b', 2)] },
        { patient: { patientId: 'p-2' }, entries: [entry('c-lat', 3)] },
      ],
    })
    expect(updateEntries(message).map((e) => [e.deviceId, e.ts])).toEqual([
      ['a-lat', 1],
      ['b', 2],
      ['c-lat', 3],
    ])
  })
  it('reads the entries of a per-patient update', () => {
    const message = JSON.stringify({ type: 'readings', patient: { patientId: 'p-1' }, entries: [entry('a-lat', 5)] })
    expect(updateEntries(message).map((e) => e.ts)).toEqual([5])
  })
  it('finds no entries in an alert or batch update', () => {
    expect(updateEntries(JSON.stringify({ type: 'alert', alert: { entries: [entry('x', 1)] } }))).toEqual([])
    expect(updateEntries(JSON.stringify({ type: 'batch', meta: {} }))).toEqual([])
  })
})

describe('the risk model run', () => {
  it('serves a synthetic model that weights every feature, as the speed layer loads it', () => {
    const model = compileRiskModel(syntheticRiskModel())
    expect(model.weight.length).toBe(FEATURE_NAMES.length)
    expect([...model.weight].every((w) => w !== 0)).toBe(true)
  })
  it('sets each run with a model beside the run of the same patient count without one', () => {
    const run = (patients: number, cpu: number, riskModel?: string) =>
      ({ patients, ...(riskModel === undefined ? {} : { riskModel }), drain: { cpuMicrosPerItem: cpu } }) as unknown as SpeedRun
    expect(riskCostLines([run(100, 10), run(100, 12.5, 'lr-000000000000'), run(1000, 20)])).toEqual([
      '100 patients: 10 µs CPU/reading without a risk model, 12.5 µs with lr-000000000000 (+25 %)',
    ])
  })
})
