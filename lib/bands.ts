/**
 * The clinical band table: one source of truth for classifying a vital, used by the speed layer
 * (every reading) and the batch layer (readings by status in the daily statistics).
 *
 * A vital's bands are an ordered list of contiguous intervals covering the whole number line;
 * each band has an upper edge (`max`, inclusive or not) and, for NEWS2 parameters, the NEWS2
 * score it carries. Status follows docs/CONTRACT.md: score 0 -> NORMAL, 1-2 -> WARNING, 3 ->
 * CRITICAL_LOW or CRITICAL_HIGH by side, with one documented exception: Vigil's hyperpyrexia band
 * (temperature >= 41.5 °C) is CRITICAL_HIGH while its NEWS2 score stays 2, because NEWS2 scores
 * every temperature >= 39.1 °C as 2 and is not re-scored here (status and score are separate
 * fields of a band; nothing derives one from the other).
 *
 * The NEWS2 score of a value is the RCP chart's (lib/news2.ts `parameterScore`), read from the
 * `score` fields of DEFAULT_BANDS only: a patient's overrides change statuses (when Vigil alerts),
 * never a NEWS2 score. The SpO2 scale (1, or 2 with the `news2-scale2` preset) is the one
 * per-patient NEWS2 setting.
 *
 * Sources:
 * - NEWS2: Royal College of Physicians, "National Early Warning Score (NEWS) 2", 2017, Chart 1.
 *   The chart's bands are whole numbers (pulse 41-50); values between two whole numbers belong
 *   to the lower band up to and including its edge (pulse 50.5 -> the 51-90 band), i.e. each
 *   edge below is "max inclusive" of the chart's band.
 * - Glucose: Battelino T. et al., "Clinical Targets for CGM Data Interpretation:
 *   Recommendations From the International Consensus on Time in Range", Diabetes Care
 *   2019;42:1593-1603, and ADA Standards of Care 6 (level 1/2 hypo- and hyperglycaemia).
 * - Hyperpyrexia (a Vigil band above NEWS2's top temperature band): fever > 41.5 °C, the common
 *   clinical definition (Harrison's Principles of Internal Medicine, 21st ed., 2022, chapter
 *   "Fever": "hyperpyrexia: fevers > 41.5 °C"; a medical emergency). Vigil makes 41.5 itself
 *   critical: readings come to 0.1 °C, and at the edge the safe error is an alert.
 * - Diastolic BP (not a NEWS2 parameter): Vigil's own table, from the ACC/AHA 2017 guideline
 *   (stage 2 hypertension DBP >= 90; hypertensive crisis DBP > 120) and the usual clinical
 *   hypotension threshold (DBP < 50 warning, < 40 critical).
 */
import { VITALS, type Vital } from './contract/schema.ts'

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
  /**
   * The NEWS2 parameter score of the band; undefined for vitals NEWS2 does not score. Only
   * DEFAULT_BANDS' scores are the NEWS2 chart (lib/news2.ts); an override band's score is kept for
   * display and storage, and scores nothing.
   */
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
  // NEWS2 temperature, °C: <=35.0 3 | 35.1-36.0 1 | 36.1-38.0 0 | 38.1-39.0 1 | >=39.1 2 (NEWS2 never scores fever 3);
  // Vigil splits the last band at 41.5: >=41.5 is hyperpyrexia (Harrison's), CRITICAL_HIGH with its NEWS2 score still 2.
  temperature: [
    le(35.0, 'CRITICAL_LOW', 3),
    le(36.0, 'WARNING', 1),
    le(38.0, 'NORMAL', 0),
    le(39.0, 'WARNING', 1),
    lt(41.5, 'WARNING', 2),
    rest('CRITICAL_HIGH', 2),
  ],
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

/* ------------------------------------------------------------------------------------------------
 * Per-patient overrides (docs/CONTRACT.md, Classification: "overridable per patient").
 *
 * An override replaces one vital's whole band list for one patient; vitals without an override
 * keep DEFAULT_BANDS. In Redis (`redisKeys(prefix).bands(patientId)`) the overrides are a hash:
 * field = vital, value = `serializeBands(bands)`. The CLI (`vigil patient set`) and the API take
 * the same text specs, parsed by `parseBandSpec`:
 *
 *   heartRate:normal=40-90    values 40..90 (both inclusive) become NORMAL; the bands around
 *                              are clipped, bands inside the range disappear
 *   spo2:news2-scale2         a named preset (BAND_PRESETS)
 *   heartRate:default         drop the override (back to DEFAULT_BANDS)
 *
 * Overrides never re-score NEWS2: the aggregate takes its scores from the RCP chart (lib/news2.ts),
 * whatever a patient's bands say, so `respRate:warning=21-30` makes a respiratory rate of 28 a
 * WARNING for alerts while NEWS2 still scores it 3. The only override that changes NEWS2 is the
 * `spo2:news2-scale2` preset, which selects SpO2 scale 2 (lib/news2.ts `spo2Scale`).
 * A band written by a range spec still carries a nominal score (NORMAL 0, WARNING 1, CRITICAL_* 3,
 * for vitals NEWS2 scores), stored and shown with the bands but used by no score; presets carry
 * the chart's scores. Bands a range spec does not cover keep their status and score as they are,
 * so the default hyperpyrexia band (CRITICAL_HIGH, score 2) stays CRITICAL_HIGH 2 beside an
 * override; stored bands may pair any status with any score (parseBands checks each on its own).
 * ----------------------------------------------------------------------------------------------*/

export type BandOverrides = Partial<Record<Vital, readonly Band[]>>

export interface BandPreset {
  vital: Vital
  description: string
  bands: readonly Band[]
}

/**
 * Named presets. `news2-scale2`: NEWS2 (RCP 2017) SpO2 scale 2, for patients with hypercapnic
 * respiratory failure (e.g. COPD) whose prescribed target is 88-92 %. Its bands are the patient's
 * SpO2 alert statuses, the scale on air: <=83 3 | 84-85 2 | 86-87 1 | 88-92 0 | >=93 0. The preset
 * also makes the patient a scale-2 patient for NEWS2 (lib/news2.ts `spo2Scale`), where SpO2 >= 93
 * on oxygen scores 93-94 1, 95-96 2, >=97 3 (over-oxygenation); that score is the NEWS2 chart's,
 * not these bands', so a scale-2 patient at 97 % on oxygen is NORMAL here and raises the NEWS2
 * single-parameter-3 alert instead.
 */
export const BAND_PRESETS: Readonly<Record<string, BandPreset>> = Object.freeze({
  'news2-scale2': {
    vital: 'spo2',
    description: 'NEWS2 SpO2 scale 2 (target 88-92 %, hypercapnic respiratory failure), on air',
    bands: [le(83, 'CRITICAL_LOW', 3), le(85, 'WARNING', 2), le(87, 'WARNING', 1), rest('NORMAL', 0)],
  },
})

export type BandSpec =
  | { vital: Vital; kind: 'range'; status: Status; min: number; max: number }
  | { vital: Vital; kind: 'preset'; preset: string }
  | { vital: Vital; kind: 'default' }

const VITAL_NAMES: readonly Vital[] = ['heartRate', 'spo2', 'glucose', 'systolic', 'diastolic', 'respRate', 'temperature']
const STATUS_WORDS: Readonly<Record<string, Status>> = {
  normal: 'NORMAL',
  warning: 'WARNING',
  critical_low: 'CRITICAL_LOW',
  'critical-low': 'CRITICAL_LOW',
  critical_high: 'CRITICAL_HIGH',
  'critical-high': 'CRITICAL_HIGH',
}

/** Thrown for a spec that cannot be parsed; the message names what is accepted. */
export class BandSpecError extends Error {
  override readonly name = 'BandSpecError'
}

/** Parses one `--band` spec (see the section comment). Throws BandSpecError naming the problem. */
export function parseBandSpec(spec: string): BandSpec {
  const colon = spec.indexOf(':')
  const vitalName = colon < 0 ? spec : spec.slice(0, colon)
  const vital = VITAL_NAMES.find((v) => v === vitalName)
  if (vital === undefined) throw new BandSpecError(`"${spec}": expected <vital>:<rule> with vital one of ${VITAL_NAMES.join(', ')}`)
  const rule = colon < 0 ? '' : spec.slice(colon + 1).trim()
  if (rule === 'default') return { vital, kind: 'default' }
  const preset = BAND_PRESETS[rule]
  if (preset !== undefined) {
    if (preset.vital !== vital) throw new BandSpecError(`"${spec}": preset ${rule} applies to ${preset.vital}, not ${vital}`)
    return { vital, kind: 'preset', preset: rule }
  }
  const m = /^([a-z_-]+)=(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/i.exec(rule)
  const status = m === null ? undefined : STATUS_WORDS[(m[1] ?? '').toLowerCase()]
  if (m === null || status === undefined) {
    throw new BandSpecError(
      `"${spec}": expected ${vital}:<status>=<min>-<max> (status normal, warning, critical_low or critical_high), ${vital}:default, or a preset (${Object.keys(BAND_PRESETS).join(', ')})`,
    )
  }
  const min = Number(m[2])
  const max = Number(m[3])
  if (!(min <= max)) throw new BandSpecError(`"${spec}": the range's minimum ${min} is above its maximum ${max}`)
  return { vital, kind: 'range', status, min, max }
}

function scoreFor(status: Status, scored: boolean): Band['score'] {
  if (!scored) return undefined
  return status === 'NORMAL' ? 0 : status === 'WARNING' ? 1 : 3
}

/** One vital's bands after a range spec: [min, max] (both inclusive) gets `status`, the neighbours are clipped. */
export function applyRange(bands: readonly Band[], status: Status, min: number, max: number): Band[] {
  const scored = bands.some((b) => b.score !== undefined)
  const below: Band[] = []
  let lowerEdge = -Infinity
  for (const b of bands) {
    if (b.max < min || (b.max === min && !b.maxInclusive)) {
      below.push(b)
    } else {
      // The band holding the values just below min (if any) is clipped to end there.
      if (lowerEdge < min) below.push({ ...b, max: min, maxInclusive: false })
      break
    }
    lowerEdge = b.max
  }
  const inserted: Band = { max, maxInclusive: true, status, score: scoreFor(status, scored) }
  return [...below, inserted, ...bands.filter((b) => b.max > max)]
}

/** The overrides after applying `specs` (in order) on top of `current`. */
export function applyBandSpecs(current: BandOverrides, specs: readonly BandSpec[], base: BandTable = DEFAULT_BANDS): BandOverrides {
  const next: Partial<Record<Vital, readonly Band[]>> = { ...current }
  for (const s of specs) {
    if (s.kind === 'default') delete next[s.vital]
    else if (s.kind === 'preset') next[s.vital] = (BAND_PRESETS[s.preset] as BandPreset).bands
    else next[s.vital] = applyRange(next[s.vital] ?? base[s.vital], s.status, s.min, s.max)
  }
  return next
}

/** A band table with the patient's overrides in place of the defaults. */
export function mergeBands(overrides: BandOverrides, base: BandTable = DEFAULT_BANDS): BandTable {
  if (Object.keys(overrides).length === 0) return base
  return Object.freeze({ ...base, ...overrides }) as BandTable
}

/** Bands as JSON (Infinity has no JSON form: the open upper edge is null), as the API answers them. */
export function bandListJson(bands: readonly Band[]) {
  return bands.map((b) => ({ max: Number.isFinite(b.max) ? b.max : null, maxInclusive: b.maxInclusive, status: b.status, score: b.score ?? null }))
}

/**
 * A patient's overrides as the audit trail records them (`patient.bands` before and after, from
 * `vigil patient set` and `PUT /api/patients/:id/bands` alike): each overridden vital's bands as
 * JSON, {} when none.
 */
export function overridesJson(overrides: BandOverrides) {
  return Object.fromEntries(VITALS.flatMap((v) => (overrides[v] === undefined ? [] : [[v, bandListJson(overrides[v]!)]])))
}

/** One vital's bands as stored in Redis: JSON `[[max|null, inclusive 0|1, status, score|null], ...]` (null max = Infinity). */
export function serializeBands(bands: readonly Band[]): string {
  return JSON.stringify(bands.map((b) => [b.max === Infinity ? null : b.max, b.maxInclusive ? 1 : 0, b.status, b.score ?? null]))
}

/** Parses `serializeBands` output; throws BandSpecError when it is not a valid, ascending band list ending at Infinity. */
export function parseBands(text: string): Band[] {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    throw new BandSpecError(`stored bands are not JSON: ${text.slice(0, 80)}`)
  }
  if (!Array.isArray(raw) || raw.length === 0) throw new BandSpecError('stored bands must be a non-empty array')
  const bands: Band[] = []
  let prev = -Infinity
  for (const item of raw as unknown[]) {
    if (!Array.isArray(item) || item.length !== 4) throw new BandSpecError('each stored band must be [max, inclusive, status, score]')
    const [max, inc, status, score] = item as [unknown, unknown, unknown, unknown]
    const m = max === null ? Infinity : max
    if (typeof m !== 'number' || !(m >= prev)) throw new BandSpecError('stored band edges must be ascending numbers')
    if (!STATUSES.includes(status as Status)) throw new BandSpecError(`unknown status ${String(status)} in stored bands`)
    if (score !== null && score !== 0 && score !== 1 && score !== 2 && score !== 3) throw new BandSpecError('stored band scores must be 0-3 or null')
    bands.push({ max: m, maxInclusive: inc === 1, status: status as Status, score: score ?? undefined })
    prev = m
  }
  if ((bands[bands.length - 1] as Band).max !== Infinity) throw new BandSpecError('the last stored band must reach Infinity (max null)')
  return bands
}

/** Overrides read from the Redis hash (HGETALL of `bands(patientId)`); unknown fields are ignored. */
export function overridesFromHash(hash: Readonly<Record<string, string>>): BandOverrides {
  const out: Partial<Record<Vital, readonly Band[]>> = {}
  for (const v of VITAL_NAMES) {
    const text = hash[v]
    if (text !== undefined) out[v] = parseBands(text)
  }
  return out
}

/** The Redis hash fields of a set of overrides. */
export function overridesToHash(overrides: BandOverrides): Record<string, string> {
  const out: Record<string, string> = {}
  for (const v of VITAL_NAMES) {
    const b = overrides[v]
    if (b !== undefined) out[v] = serializeBands(b)
  }
  return out
}

/** One line per band, e.g. `<=40 CRITICAL_LOW (3) | <=50 WARNING (1) | ...`, for the CLI. */
export function describeBands(bands: readonly Band[]): string {
  return bands
    .map((b) => `${b.max === Infinity ? 'rest' : `${b.maxInclusive ? '<=' : '<'}${b.max}`} ${b.status}${b.score === undefined ? '' : ` (${b.score})`}`)
    .join(' | ')
}
