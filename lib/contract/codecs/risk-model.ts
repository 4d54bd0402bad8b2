/**
 * The codec of the `risk:model` key (docs/CONTRACT.md, Redis): the description of the risk model
 * the speed layer serves, a `RiskModelInfo` as JSON. The speed layer sets it when it loads a model
 * and deletes it when it runs without one; the serving layer reads it for the dashboard, which
 * shows the risk panel only while it is set.
 */
import type { RiskModelInfo } from '../views.ts'

export function encodeRiskModelInfo(info: RiskModelInfo): string {
  return JSON.stringify({
    version: info.version,
    cohort: info.cohort,
    horizonMinutes: info.horizonMinutes,
    testAuroc: info.testAuroc,
    testAurocWithinPatients: info.testAurocWithinPatients ?? null,
    threshold: { raise: info.threshold.raise, clear: info.threshold.clear },
  })
}

const isFiniteNumber = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x)

/**
 * The model's description, or null when the key is missing (no model served) or unreadable: a
 * value the speed layer did not write shows no risk panel rather than one with made-up numbers.
 */
export function decodeRiskModelInfo(text: string | null | undefined): RiskModelInfo | null {
  if (text === null || text === undefined || text === '') return null
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return null
  }
  if (typeof raw !== 'object' || raw === null) return null
  const { version, cohort, horizonMinutes, testAuroc, testAurocWithinPatients, threshold } = raw as Record<string, unknown>
  if (typeof version !== 'string' || version === '' || typeof cohort !== 'string') return null
  if (!isFiniteNumber(horizonMinutes) || horizonMinutes <= 0) return null
  if (testAuroc !== null && !isFiniteNumber(testAuroc)) return null
  if (typeof threshold !== 'object' || threshold === null) return null
  const { raise, clear } = threshold as Record<string, unknown>
  if (!isFiniteNumber(raise) || !isFiniteNumber(clear)) return null
  const within = isFiniteNumber(testAurocWithinPatients) ? testAurocWithinPatients : null
  return { version, cohort, horizonMinutes, testAuroc, testAurocWithinPatients: within, threshold: { raise, clear } }
}
