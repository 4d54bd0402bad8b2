/**
 * The clinical band table: one source of truth for classifying a vital, used by the speed layer
 * (every reading) and the batch layer (readings by status in the daily statistics).
 *
 * A vital's bands are an ordered list of contiguous intervals covering the whole number line;
 * each band has an upper edge (`max`, inclusive or not) and, for NEWS2 parameters, the NEWS2
 * score it carries. Status follows DESIGN.md: score 0 -> NORMAL, 1-2 -> WARNING, 3 ->
 * CRITICAL_LOW or CRITICAL_HIGH by side.
 *
 * Sources:
 * - NEWS2: Royal College of Physicians, "National Early Warning Score (NEWS) 2", 2017, Chart 1.
 *   The chart's bands are whole numbers (pulse 41-50); values between two whole numbers belong
 *   to the lower band up to and including its edge (pulse 50.5 -> the 51-90 band), i.e. each
 *   edge below is "max inclusive" of the chart's band.
 * - Glucose: Battelino T. et al., "Clinical Targets for CGM Data Interpretation:
 *   Recommendations From the International Consensus on Time in Range", Diabetes Care
 *   2019;42:1593-1603, and ADA Standards of Care 6 (level 1/2 hypo- and hyperglycaemia).
 * - Diastolic BP (not a NEWS2 parameter): Vigil's own table, from the ACC/AHA 2017 guideline
 *   (stage 2 hypertension DBP >= 90; hypertensive crisis DBP > 120) and the usual clinical
 *   hypotension threshold (DBP < 50 warning, < 40 critical).
 */
import type { Vital } from '../ingestion/schema.ts'

export const STATUSES = ['NORMAL', 'WARNING', 'CRITICAL_LOW', 'CRITICAL_HIGH'] as const
export type Status = (typeof STATUSES)[number]

/** Worse first: CRITICAL_* > WARNING > NORMAL. */
export const STATUS_SEVERITY: Readonly<Record<Status, number>> = { NORMAL: 0, WARNING: 1, CRITICAL_LOW: 2, CRITICAL_HIGH: 2 }

export interface Band {
  /** Upper edge of the band; the last band's is Infinity. */
  max: number
  /** Whether a value equal to `max` belongs to this band (true) or to the next one (false). */
  maxInclusive: boolean
  status: Status
  /** The NEWS2 parameter score of the band; undefined for vitals NEWS2 does not score. */
  score?: 0 | 1 | 2 | 3
}

export type BandTable = Readonly<Record<Vital, readonly Band[]>>

const le = (max: number, status: Status, score?: 0 | 1 | 2 | 3): Band => ({ max, maxInclusive: true, status, score })
const lt = (max: number, status: Status, score?: 0 | 1 | 2 | 3): Band => ({ max, maxInclusive: false, status, score })
const rest = (status: Status, score?: 0 | 1 | 2 | 3): Band => ({ max: Infinity, maxInclusive: true, status, score })

export const DEFAULT_BANDS: BandTable = Object.freeze({
  // NEWS2 pulse: <=40 3 | 41-50 1 | 51-90 0 | 91-110 1 | 111-130 2 | >=131 3
  heartRate: [le(40, 'CRITICAL_LOW', 3), le(50, 'WARNING', 1), le(90, 'NORMAL', 0), le(110, 'WARNING', 1), le(130, 'WARNING', 2), rest('CRITICAL_HIGH', 3)],
  // NEWS2 SpO2 scale 1: <=91 3 | 92-93 2 | 94-95 1 | >=96 0
  spo2: [le(91, 'CRITICAL_LOW', 3), le(93, 'WARNING', 2), le(95, 'WARNING', 1), rest('NORMAL', 0)],
  // CGM consensus / ADA, mg/dL: <54 level 2 hypo | 54-69 level 1 hypo | 70-180 in range | 181-250 level 1 hyper | >250 level 2 hyper
  glucose: [lt(54, 'CRITICAL_LOW'), lt(70, 'WARNING'), le(180, 'NORMAL'), le(250, 'WARNING'), rest('CRITICAL_HIGH')],
  // NEWS2 systolic BP: <=90 3 | 91-100 2 | 101-110 1 | 111-219 0 | >=220 3
  systolic: [le(90, 'CRITICAL_LOW', 3), le(100, 'WARNING', 2), le(110, 'WARNING', 1), le(219, 'NORMAL', 0), rest('CRITICAL_HIGH', 3)],
  // Vigil's diastolic table (ACC/AHA 2017): <40 critical | 40-49 low | 50-89 normal | 90-120 high | >120 crisis
  diastolic: [lt(40, 'CRITICAL_LOW'), lt(50, 'WARNING'), lt(90, 'NORMAL'), le(120, 'WARNING'), rest('CRITICAL_HIGH')],
  // NEWS2 respiration rate: <=8 3 | 9-11 1 | 12-20 0 | 21-24 2 | >=25 3
  respRate: [le(8, 'CRITICAL_LOW', 3), le(11, 'WARNING', 1), le(20, 'NORMAL', 0), le(24, 'WARNING', 2), rest('CRITICAL_HIGH', 3)],
  // NEWS2 temperature, °C: <=35.0 3 | 35.1-36.0 1 | 36.1-38.0 0 | 38.1-39.0 1 | >=39.1 2 (NEWS2 never scores fever 3)
  temperature: [le(35.0, 'CRITICAL_LOW', 3), le(36.0, 'WARNING', 1), le(38.0, 'NORMAL', 0), le(39.0, 'WARNING', 1), rest('WARNING', 2)],
})

/** The band a value falls in. */
export function bandOf(bands: readonly Band[], value: number): Band {
  for (const b of bands) {
    if (value < b.max || (b.maxInclusive && value === b.max)) return b
  }
  return bands[bands.length - 1] as Band
}

/** Status of one vital's value under a band table (the default one unless overridden). */
export function classifyVital(vital: Vital, value: number, table: BandTable = DEFAULT_BANDS): Status {
  return bandOf(table[vital], value).status
}

/** The worse of two statuses (for a reading: the worst of its vitals). */
export function worse(a: Status, b: Status): Status {
  return STATUS_SEVERITY[b] > STATUS_SEVERITY[a] ? b : a
}
