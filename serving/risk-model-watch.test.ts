import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { Logger } from '../lib/log.ts'
import type { RiskModelInfo } from '../lib/contract/views.ts'
import { RISK_MODEL_POLL_MS, sameRiskModel, watchRiskModel } from './risk-model-watch.ts'

const model: RiskModelInfo = {
  version: 'lr-0123456789ab',
  cohort: 'simulator, 140 patients, 7 days',
  horizonMinutes: 60,
  testAuroc: 0.83,
  threshold: { raise: 0.3, clear: 0.2 },
}

/** Reads that answer the scripted values in turn (an Error is thrown), the last one repeated. */
function scripted(values: Array<RiskModelInfo | null | Error>): () => Promise<RiskModelInfo | null> {
  let i = 0
  return async () => {
    const v = values[Math.min(i++, values.length - 1)]!
    if (v instanceof Error) throw v
    return v
  }
}

describe('watchRiskModel: the pages hear of each change of the served model, once', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('announces the first read, then only the reads that differ; a failed read keeps the model and is logged once', async () => {
    const changes: Array<RiskModelInfo | null> = []
    const warnings: string[] = []
    const log = { warn: (m: string) => warnings.push(m) } as unknown as Logger
    const replaced = { ...model, version: 'lr-ffffffffffff' }
    const read = scripted([null, null, model, { ...model }, new Error('ECONNREFUSED'), new Error('ECONNREFUSED'), model, replaced, null])
    const watch = watchRiskModel({ read, changed: (m) => changes.push(m), log })
    for (let i = 0; i < 9; i++) await vi.advanceTimersByTimeAsync(RISK_MODEL_POLL_MS)
    await watch.stop()
    expect(changes).toEqual([null, model, replaced, null])
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain('ECONNREFUSED')
  })

  it('reads no more once stopped', async () => {
    let reads = 0
    const read = async () => {
      reads++
      return null
    }
    const watch = watchRiskModel({ read, changed: () => undefined, log: {} as Logger })
    await vi.advanceTimersByTimeAsync(RISK_MODEL_POLL_MS * 2)
    await watch.stop()
    const seen = reads
    await vi.advanceTimersByTimeAsync(RISK_MODEL_POLL_MS * 3)
    expect(seen).toBe(3)
    expect(reads).toBe(seen)
  })
})

describe('sameRiskModel', () => {
  it('compares every field, and null only with null', () => {
    expect(sameRiskModel(model, { ...model, threshold: { ...model.threshold } })).toBe(true)
    expect(sameRiskModel(model, { ...model, testAuroc: null })).toBe(false)
    expect(sameRiskModel(model, { ...model, threshold: { raise: 0.3, clear: 0.1 } })).toBe(false)
    expect(sameRiskModel(model, { ...model, cohort: 'replay' })).toBe(false)
    expect(sameRiskModel(null, null)).toBe(true)
    expect(sameRiskModel(model, null)).toBe(false)
    expect(sameRiskModel(null, model)).toBe(false)
  })
})
