import { describe, expect, it } from 'vitest'
import type { RiskModelInfo } from '../views.ts'
import { decodeRiskModelInfo, encodeRiskModelInfo } from './risk-model.ts'

const info: RiskModelInfo = {
  version: 'lr-0123456789ab',
  cohort: 'simulator, 140 patients, 7 days',
  horizonMinutes: 60,
  testAuroc: 0.83,
  threshold: { raise: 0.3, clear: 0.2 },
}

describe('the risk:model codec', () => {
  it('decodes what it encodes, a model without a test AUROC too', () => {
    expect(decodeRiskModelInfo(encodeRiskModelInfo(info))).toEqual({ ...info, testAurocWithinPatients: null })
    expect(decodeRiskModelInfo(encodeRiskModelInfo({ ...info, testAuroc: null }))).toEqual({ ...info, testAuroc: null, testAurocWithinPatients: null })
    expect(decodeRiskModelInfo(encodeRiskModelInfo({ ...info, testAurocWithinPatients: 0.74 }))?.testAurocWithinPatients).toBe(0.74)
  })

  it('reads a missing key as no model', () => {
    expect(decodeRiskModelInfo(null)).toBeNull()
    expect(decodeRiskModelInfo(undefined)).toBeNull()
    expect(decodeRiskModelInfo('')).toBeNull()
  })

  it('reads a value it cannot trust as no model, never as a model with made-up numbers', () => {
    const json = (over: Record<string, unknown>) => JSON.stringify({ ...info, ...over })
    expect(decodeRiskModelInfo('{"version":')).toBeNull()
    expect(decodeRiskModelInfo('"lr-0123456789ab"')).toBeNull()
    expect(decodeRiskModelInfo(json({ version: '' }))).toBeNull()
    expect(decodeRiskModelInfo(json({ cohort: 7 }))).toBeNull()
    expect(decodeRiskModelInfo(json({ horizonMinutes: 0 }))).toBeNull()
    expect(decodeRiskModelInfo(json({ testAuroc: '0.8' }))).toBeNull()
    expect(decodeRiskModelInfo(json({ threshold: { raise: 0.3 } }))).toBeNull()
    expect(decodeRiskModelInfo(json({ threshold: null }))).toBeNull()
  })

  it('keeps only the fields of RiskModelInfo', () => {
    expect(decodeRiskModelInfo(JSON.stringify({ ...info, weights: [1, 2, 3] }))).toEqual({ ...info, testAurocWithinPatients: null })
  })
})
