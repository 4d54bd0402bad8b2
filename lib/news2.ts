/**
 * The NEWS2 chart (Royal College of Physicians, "National Early Warning Score (NEWS) 2", 2017,
 * Chart 1) and its risk bands (Chart 2): one parameter's score, and the risk of an aggregate.
 *
 * The chart is a standard, so it is independent of a patient's band overrides: an override
 * (an athlete's `heartRate:normal=40-90`, a `respRate:warning=21-30`) changes when Vigil alerts,
 * never the NEWS2 score. Scale 1 and the other parameters' scores are the `score` fields of
 * DEFAULT_BANDS (lib/bands.ts, where each band cites its chart row). The one per-patient NEWS2
 * setting is the SpO2 scale: scale 2 (prescribed target 88-92 %, hypercapnic respiratory failure)
 * is chosen by the `spo2:news2-scale2` preset, and it scores SpO2 >= 93 % by air or oxygen.
 *
 * Values between two whole numbers of the chart belong to the lower band up to and including its
 * edge, then to the next one (SpO2 92.5 on scale 2 and oxygen is in the 93-94 band), as in
 * lib/bands.ts.
 */
import { BAND_PRESETS, type Band, type BandTable, bandOf, DEFAULT_BANDS, serializeBands } from './bands.ts'
import type { Consciousness } from './contract/schema.ts'
import type { News2Risk } from './contract/views.ts'

/** The five NEWS2 parameters that are measured vitals (glucose and diastolic are not NEWS2 parameters). */
export const NEWS2_VITALS = ['respRate', 'spo2', 'systolic', 'heartRate', 'temperature'] as const
export type News2Vital = (typeof NEWS2_VITALS)[number]

/** Whether a vital or NEWS2 parameter is one of the measured NEWS2 vitals. */
export const isNews2Vital = (p: string): p is News2Vital => (NEWS2_VITALS as readonly string[]).includes(p)

export type ParameterScore = 0 | 1 | 2 | 3

/** What scores SpO2: the patient's scale and, on scale 2, whether the patient is on oxygen (undefined: unknown). */
export interface SpO2Context {
  scale: 1 | 2
  onOxygen: boolean | undefined
}

const le = (max: number, score: ParameterScore): Band => ({ max, maxInclusive: true, status: 'NORMAL', score })
const rest = (score: ParameterScore): Band => ({ max: Infinity, maxInclusive: true, status: 'NORMAL', score })

/** SpO2 scale 2 (RCP 2017, Chart 1) up to 92 %, whatever the oxygen: <=83 3 | 84-85 2 | 86-87 1 | 88-92 0. */
const SCALE2_LOW: readonly Band[] = [le(83, 3), le(85, 2), le(87, 1), le(92, 0)]
/** SpO2 scale 2 on air: >= 93 % scores 0. */
const SCALE2_ON_AIR: readonly Band[] = [...SCALE2_LOW, rest(0)]
/** SpO2 scale 2 on oxygen: 93-94 1 | 95-96 2 | >= 97 3 (over-oxygenation risks hypercapnia). */
const SCALE2_ON_OXYGEN: readonly Band[] = [...SCALE2_LOW, le(94, 1), le(96, 2), rest(3)]

/**
 * One measured parameter's NEWS2 score (RCP 2017, Chart 1). SpO2 on scale 2 with `onOxygen`
 * unknown scores as on air: a lower bound (the aggregate then lists oxygen as missing).
 */
export function parameterScore(vital: News2Vital, value: number, ctx: SpO2Context): ParameterScore {
  if (vital === 'spo2' && ctx.scale === 2) return bandOf(ctx.onOxygen === true ? SCALE2_ON_OXYGEN : SCALE2_ON_AIR, value).score ?? 0
  return bandOf(DEFAULT_BANDS[vital], value).score ?? 0
}

/** NEWS2 "Air or oxygen?" (RCP 2017, Chart 1): any supplemental oxygen scores 2, air 0. */
export function onOxygenScore(onOxygen: boolean): 0 | 2 {
  return onOxygen ? 2 : 0
}

/** NEWS2 "Consciousness" (RCP 2017, Chart 1): Alert 0; new Confusion, Voice, Pain, Unresponsive 3. */
export function consciousnessScore(level: Consciousness): 0 | 3 {
  return level === 'A' ? 0 : 3
}

const SCALE2_SPO2 = serializeBands((BAND_PRESETS['news2-scale2'] as { bands: readonly Band[] }).bands)

/** Each band list's scale, once: a table is built once per override change, and asked on every batch. */
const SCALES = new WeakMap<readonly Band[], 1 | 2>()

/** The patient's SpO2 scale: 2 when the patient's SpO2 bands are the `news2-scale2` preset's, else 1. */
export function spo2Scale(table: BandTable): 1 | 2 {
  const bands = table.spo2
  if (bands === DEFAULT_BANDS.spo2) return 1
  let scale = SCALES.get(bands)
  if (scale === undefined) {
    scale = serializeBands(bands) === SCALE2_SPO2 ? 2 : 1
    SCALES.set(bands, scale)
  }
  return scale
}

/**
 * Risk band (RCP 2017, Chart 2) of a complete aggregate: high for a total of 7 or more, medium for
 * 5-6, low-medium when any single parameter scores 3 (and the total is below 5), low otherwise (0-4).
 */
export function news2Risk(score: number, anyThree: boolean): News2Risk {
  if (score >= 7) return 'high'
  if (score >= 5) return 'medium'
  if (anyThree) return 'low-medium'
  return 'low'
}
