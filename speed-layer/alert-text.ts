/**
 * The one-line texts of alerts (docs/CLINICAL.md, Alerts: persistence, escalation, text): every text
 * states the current value, its side and, for a NEWS2 parameter, its score, then the alert's level,
 * e.g. `p-0001: heart rate 120 bpm, high (NEWS2 2), WARNING`. Glucose states the consensus level of
 * hypo- or hyperglycaemia; NEWS2 aggregate alerts state the RCP recommended clinical response; the
 * risk alert says it is experimental, names its model and its largest contributions.
 */
import { VITAL_UNITS, type Vital } from '../lib/contract/schema.ts'
import { bandOf, DEFAULT_BANDS, type Status } from '../lib/bands.ts'
import type { AlertLevel, News2Parameter, News2State, RiskContribution, Side } from '../lib/contract/views.ts'

export const VITAL_NAMES: Readonly<Record<Vital, string>> = {
  heartRate: 'heart rate',
  spo2: 'SpO2',
  glucose: 'glucose',
  systolic: 'systolic BP',
  diastolic: 'diastolic BP',
  respRate: 'respiratory rate',
  temperature: 'temperature',
}

export const NEWS2_PARAMETER_NAMES: Readonly<Record<News2Parameter, string>> = {
  respRate: 'respiratory rate',
  spo2: 'SpO2',
  onOxygen: 'supplemental oxygen',
  systolic: 'systolic BP',
  heartRate: 'heart rate',
  consciousness: 'consciousness',
  temperature: 'temperature',
}

/** The consensus level of each default glucose band, in the order of DEFAULT_BANDS.glucose (undefined: in range). */
const GLUCOSE_LEVELS: readonly (string | undefined)[] = [
  'level 2 hypoglycaemia',
  'level 1 hypoglycaemia',
  undefined,
  'level 1 hyperglycaemia',
  'level 2 hyperglycaemia',
]

/**
 * The glucose level of a value, mg/dL (ADA Standards of Care 6, "Glycemic Goals and Hypoglycemia";
 * Battelino T. et al., "Clinical Targets for CGM Data Interpretation", Diabetes Care 2019;42:1593-1603):
 * < 54 level 2 hypoglycaemia, 54-69 level 1, 70-180 in range, 181-250 level 1 hyperglycaemia,
 * > 250 level 2: the default glucose bands of lib/bands.ts, whatever the patient's overrides. Undefined in range.
 */
export function glucoseLevelText(mgdl: number): string | undefined {
  const bands = DEFAULT_BANDS.glucose
  return GLUCOSE_LEVELS[bands.indexOf(bandOf(bands, mgdl))]
}

/** `low`/`high` (glucose: its consensus level when the value has one), or `normal` without a side. */
function sideText(vital: Vital, value: number, side: Side | undefined): string {
  if (side === undefined) return 'normal'
  if (vital === 'glucose') return glucoseLevelText(value) ?? side
  return side
}

export interface VitalText {
  patientId: string
  vital: Vital
  value: number
  status: Status
  side: Side | undefined
  /** The value's NEWS2 parameter score; undefined for vitals NEWS2 does not score. */
  score: number | undefined
}

/**
 * `p-0001: heart rate 120 bpm, high (NEWS2 2), WARNING`; with `(now <status>)` when the value's status
 * is not the alert's level; a value scoring 3 adds the RCP response to a single parameter scoring 3
 * (its NEWS2_SINGLE_3 is not raised apart while this alert is CRITICAL: aggregate.ts).
 */
export function vitalText(t: VitalText, level: AlertLevel): string {
  const score = t.score === undefined ? '' : ` (NEWS2 ${t.score})`
  const now = t.status === level ? '' : ` (now ${t.status})`
  const response = t.score === 3 ? `: ${NEWS2_RESPONSES.NEWS2_SINGLE_3}` : ''
  return `${t.patientId}: ${VITAL_NAMES[t.vital]} ${t.value} ${VITAL_UNITS[t.vital]}, ${sideText(t.vital, t.value, t.side)}${score}, ${level}${now}${response}`
}

export function vitalClearedText(t: VitalText, level: AlertLevel): string {
  return `${t.patientId}: ${VITAL_NAMES[t.vital]} ${t.value} ${VITAL_UNITS[t.vital]}, back to normal (alert ${level} cleared)`
}

/**
 * The RCP recommended clinical response to each NEWS2 trigger (Royal College of Physicians,
 * "National Early Warning Score (NEWS) 2", 2017, "Clinical response to NEWS2 trigger thresholds").
 */
export const NEWS2_RESPONSES = {
  NEWS2_SINGLE_3:
    'a single parameter scores 3: urgent ward-based response, the registered nurse informs the medical team, who decide whether to escalate care; observations at least hourly',
  NEWS2_MEDIUM:
    'key threshold for an urgent response: the registered nurse immediately informs the medical team; urgent assessment by a clinician competent in acute illness; observations at least hourly',
  NEWS2_HIGH:
    'urgent or emergency response: the registered nurse immediately informs the medical team, at least at specialist-registrar level; emergency assessment by a team with critical-care competencies; continuous monitoring; consider transfer to a higher level of care',
} as const satisfies Partial<Record<AlertLevel, string>>
export type News2AlertLevel = keyof typeof NEWS2_RESPONSES

/** `NEWS2 6 (complete)`, or `NEWS2 ≥ 3 (partial: 2 of 7)`, naming the parameters that score 3. */
export function news2ScoreText(s: News2State): string {
  const total = s.complete ? `NEWS2 ${s.score} (complete` : `NEWS2 ≥ ${s.score} (partial: ${s.counted.length} of 7`
  const threes = s.counted.filter((p) => s.scores[p] === 3).map((p) => NEWS2_PARAMETER_NAMES[p])
  return `${total}${threes.length === 0 ? '' : `; ${threes.join(', ')} ${threes.length === 1 ? 'scores' : 'score'} 3`})`
}

/** An open NEWS2 alert: the current score, the alert's level (and the current one when lower), and the level's RCP response. */
export function news2Text(patientId: string, s: News2State, current: News2AlertLevel | undefined, level: News2AlertLevel): string {
  const now = current === level ? '' : ` (now ${current ?? 'below every trigger'})`
  return `${patientId}: ${news2ScoreText(s)}, ${level}${now}: ${NEWS2_RESPONSES[level]}`
}

/** An event time as ISO 8601 UTC to the second: `21:03:00Z` on the day of `nowTs`, `2025-11-21T21:03:00Z` on another day. */
function utcTimeText(ts: number, nowTs: number): string {
  const iso = `${new Date(ts).toISOString().slice(0, 19)}Z`
  return iso.slice(0, 10) === new Date(nowTs).toISOString().slice(0, 10) ? iso.slice(11) : iso
}

/**
 * An open NEWS2 alert whose score fell below every trigger while parameters that scored are no
 * longer counted: `p-1: NEWS2 ≥ 2 (partial: 4 of 7), heart rate, SpO2 not observed since 21:03:00Z;
 * NEWS2_HIGH stays open until they are`. `observedAt`: each parameter's newest observation (the
 * same time names the parameters together); `ts` the state's time.
 */
export function news2WaitingText(
  patientId: string,
  s: News2State,
  level: News2AlertLevel,
  waiting: readonly News2Parameter[],
  observedAt: Readonly<Partial<Record<News2Parameter, number>>>,
  ts: number,
): string {
  const byTime = new Map<number | undefined, string[]>()
  for (const p of waiting) {
    const at = observedAt[p]
    byTime.set(at, [...(byTime.get(at) ?? []), NEWS2_PARAMETER_NAMES[p]])
  }
  const parts = [...byTime].map(([at, names]) => `${names.join(', ')} not observed ${at === undefined ? 'again' : `since ${utcTimeText(at, ts)}`}`)
  return `${patientId}: ${news2ScoreText(s)}, ${parts.join(', ')}; ${level} stays open until ${waiting.length === 1 ? 'it is' : 'they are'}`
}

export function news2ClearedText(patientId: string, s: News2State, level: News2AlertLevel): string {
  return `${patientId}: ${news2ScoreText(s)}, below every NEWS2 trigger (alert ${level} cleared)`
}

/** Glucose `rate` in mg/dL per minute. */
function rateText(rate: number | undefined): string {
  if (rate === undefined) return 'no trend'
  return `${rate < 0 ? 'falling' : 'rising'} ${Math.abs(rate).toFixed(1)} mg/dL/min`
}

export function forecastText(patientId: string, glucose: number, rate: number | undefined, forecast: number | undefined, minutes: number): string {
  const predicted = forecast === undefined ? 'no forecast' : `predicted ${Math.round(forecast)} mg/dL in ${minutes} min`
  return `${patientId}: glucose ${glucose} mg/dL, ${rateText(rate)}, ${predicted}`
}

export function urgentLowSoonText(patientId: string, glucose: number, rate: number | undefined, forecast: number | undefined, minutes: number): string {
  return `${forecastText(patientId, glucose, rate, forecast, minutes)}: URGENT_LOW_SOON (below 55 mg/dL predicted), check the patient's glucose`
}

export function noSignalText(patientId: string, deviceId: string, vitals: readonly Vital[]): string {
  const what = vitals.map((v) => `${VITAL_NAMES[v]} 0`).join(', ')
  return `${patientId}: no signal from device ${deviceId} (${what}): check the sensor (probe off, poor contact or low perfusion); not a clinical reading`
}

export function signalBackText(patientId: string, deviceId: string): string {
  return `${patientId}: device ${deviceId} has a signal again (NO_SIGNAL cleared)`
}

/** A contribution in log-odds, signed: `+0.8`, `-0.3`. */
function logOddsText(c: number): string {
  return `${c < 0 ? '-' : '+'}${Math.abs(c).toFixed(1)}`
}

/**
 * `p-1: experimental risk 42 % (model lr-0123456789ab): SpO2 falling 2.0 %/10 min +0.8, NEWS2 5 +0.3, RISK_HIGH`:
 * the risk, the model and each shown contribution's log-odds (docs/CLINICAL.md, Serving the risk model).
 */
/** A risk as a nurse reads it: `42 %` (`0.4 %` below 1 %). */
function percent(p: number): string {
  const x = p * 100
  return `${x < 1 ? x.toFixed(1) : Math.round(x)} %`
}

export function riskText(patientId: string, risk: number, model: string, top: readonly RiskContribution[]): string {
  const why = top.map((c) => `${c.text} ${logOddsText(c.contribution)}`).join(', ')
  return `${patientId}: experimental risk ${percent(risk)} (model ${model})${why === '' ? '' : `: ${why}`}, RISK_HIGH`
}

export function riskClearedText(patientId: string, risk: number, model: string, clear: number): string {
  return `${patientId}: experimental risk ${percent(risk)} (model ${model}), below ${percent(clear)} (alert RISK_HIGH cleared)`
}

export function riskNotServedText(patientId: string): string {
  return `${patientId}: no risk model is served any more (alert RISK_HIGH cleared)`
}
