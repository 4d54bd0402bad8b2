/**
 * A patient's NEWS2 aggregate as Vigil can honestly state it (docs/CLINICAL.md, NEWS2): only the
 * parameters observed within their freshness window count; the others are listed as missing (and
 * as old when they were observed too long ago). With all seven counted the score is the RCP score
 * and its risk band; otherwise it is a lower bound, and its risk is only what that lower bound
 * already implies, never "low". Scores come from the RCP chart (lib/news2.ts), never from the
 * patient's band overrides; the SpO2 scale is the one per-patient setting.
 */
import { consciousnessScore, isNews2Vital, news2Risk, onOxygenScore, parameterScore } from '../lib/news2.ts'
import type { Consciousness, Vital } from '../lib/contract/schema.ts'
import { type AssessmentState, NEWS2_PARAMETERS, type News2Parameter, type News2Risk, type News2State } from '../lib/contract/views.ts'

/** What the aggregate is computed from: each parameter's newest observation with its event time. */
export interface News2Inputs {
  vitals: Partial<Record<Vital, { value: number; ts: number }>>
  onOxygen?: AssessmentState<boolean>
  consciousness?: AssessmentState<Consciousness>
}

/** The newest observation's event time of one parameter, or undefined when it was never observed. */
export function observedTs(inputs: News2Inputs, param: News2Parameter): number | undefined {
  if (param === 'onOxygen') return inputs.onOxygen?.ts
  if (param === 'consciousness') return inputs.consciousness?.ts
  return inputs.vitals[param]?.ts
}

/** One counted parameter's score; `onOxygen` is the fresh air/oxygen observation (undefined: unknown, scored as air). */
function scoreOf(inputs: News2Inputs, param: News2Parameter, scale: 1 | 2, onOxygen: boolean | undefined): number {
  if (param === 'onOxygen') return onOxygenScore(inputs.onOxygen?.value === true)
  if (param === 'consciousness') return consciousnessScore(inputs.consciousness?.value ?? 'A')
  if (!isNews2Vital(param)) return 0
  const observed = inputs.vitals[param]
  return observed === undefined ? 0 : parameterScore(param, observed.value, { scale, onOxygen })
}

/**
 * Risk of a partial aggregate: what its lower bound already implies (RCP 2017, Chart 2 thresholds:
 * >= 7 high, >= 5 medium, a single 3 low-medium), or null when it implies nothing above low.
 */
export function partialRisk(score: number, anyThree: boolean): News2Risk | null {
  const risk = news2Risk(score, anyThree)
  return risk === 'low' ? null : risk
}

/**
 * The aggregate at event time `atTs` (the patient's newest reading): a parameter counts when its
 * newest observation has `ts >= atTs - freshnessMs[param]`. Parameters in chart order.
 */
export function news2State(inputs: News2Inputs, atTs: number, scale: 1 | 2, freshnessMs: Readonly<Record<News2Parameter, number>>): News2State {
  const counted: News2Parameter[] = []
  const missing: News2Parameter[] = []
  const old: News2Parameter[] = []
  for (const param of NEWS2_PARAMETERS) {
    const ts = observedTs(inputs, param)
    if (ts !== undefined && ts >= atTs - freshnessMs[param]) counted.push(param)
    else {
      missing.push(param)
      if (ts !== undefined) old.push(param)
    }
  }
  const onOxygen = counted.includes('onOxygen') ? inputs.onOxygen?.value : undefined
  const scores: Partial<Record<News2Parameter, number>> = {}
  let score = 0
  for (const param of counted) {
    const s = scoreOf(inputs, param, scale, onOxygen)
    scores[param] = s
    score += s
  }
  const anyThree = Object.values(scores).some((s) => s === 3)
  const complete = missing.length === 0
  const risk = complete ? news2Risk(score, anyThree) : partialRisk(score, anyThree)
  return { score, risk, complete, counted, scores, missing, old, scale }
}
