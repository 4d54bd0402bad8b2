/**
 * The NEWS2 aggregate (Royal College of Physicians, 2017) from a patient's latest value of each
 * parameter. Partial by construction: Vigil has no consciousness (ACVPU) or supplemental-oxygen
 * input yet, so those two parameters score 0 and the score is a lower bound of the full NEWS2.
 * Parameter scores come from the patient's band table (lib/bands.ts), so a NEWS2 SpO2 scale 2
 * override scores SpO2 on scale 2.
 */
import { bandOf, type BandTable } from '../lib/bands.ts'
import type { Vital } from '../lib/contract/schema.ts'
import type { News2Risk } from '../lib/contract/views.ts'

/** The NEWS2 parameters Vigil measures (glucose and diastolic are not NEWS2 parameters). */
export const NEWS2_VITALS = ['respRate', 'spo2', 'systolic', 'heartRate', 'temperature'] as const satisfies readonly Vital[]

export interface News2 {
  score: number
  risk: News2Risk
}

/**
 * Risk band (RCP 2017, Chart 2): high for a total of 7 or more, medium for 5-6, low-medium when
 * any single parameter scores 3 (and the total is below 5), low otherwise (0-4).
 */
export function news2Risk(score: number, anyThree: boolean): News2Risk {
  if (score >= 7) return 'high'
  if (score >= 5) return 'medium'
  if (anyThree) return 'low-medium'
  return 'low'
}

/** The aggregate over the parameters present in `latest`. */
export function news2(latest: Partial<Record<Vital, number>>, table: BandTable): News2 {
  let score = 0
  let anyThree = false
  for (const v of NEWS2_VITALS) {
    const value = latest[v]
    if (value === undefined) continue
    const s = bandOf(table[v], value).score ?? 0
    score += s
    if (s === 3) anyThree = true
  }
  return { score, risk: news2Risk(score, anyThree) }
}
