/**
 * The risk model's features (docs/CLINICAL.md, Early-warning risk model): one definition, used by
 * training (`vigil model train`, fed with per-minute buckets DuckDB computes from the lake) and by
 * the speed layer (fed with each reading as it comes), so that the model is served on exactly
 * the numbers it was trained on.
 *
 * A patient's state is, per vital, one bucket per clock minute (count, sum, sum of squares, last
 * value and its time) for the last 15 minutes, plus the last value ever seen and its time, and
 * the last nurse's observations (oxygen, consciousness). The features "as of" time t (the
 * minute M = floor(t / 60 s) and the 14 before it) are, per vital of RISK_VITALS:
 *  - `last`    the newest value, if it is at most MAX_AGE_MIN old (else missing);
 *  - `mean5`   the mean of the values of minutes M-4..M;
 *  - `mean15`  the mean of minutes M-14..M;
 *  - `slope10` (mean of minutes M-4..M) - (mean of minutes M-14..M-10): the change over 10 minutes;
 *  - `sd15`    the standard deviation of the values of minutes M-14..M (population; 0 for one value);
 *  - `age`     minutes since the newest value, capped at MAX_AGE_MIN (MAX_AGE_MIN when never seen);
 * and for the patient: `news2` (the NEWS2 total of the known parameters: the five vitals' `last`,
 * oxygen and consciousness, SpO2 on scale 1), `news2Max` (the highest single parameter score),
 * `onOxygen` (1|0) and `confused` (1 when consciousness is not A).
 * A feature with no value is NaN: the model standardises and puts it at the training mean, so it
 * contributes nothing (lib/risk/model.ts).
 *
 * Training evaluates at the end of each minute (t = the minute's last millisecond) with complete
 * buckets; the speed layer at the patient's newest event time, with that minute's bucket as far
 * as it has come.
 */
import { consciousnessScore, NEWS2_VITALS, onOxygenScore, parameterScore, type News2Vital } from '../news2.ts'
import type { Consciousness, Vital } from '../contract/schema.ts'

/** The vitals the model looks at (diastolic adds little to systolic; it is left out to keep the model small). */
export const RISK_VITALS = ['heartRate', 'spo2', 'respRate', 'systolic', 'temperature', 'glucose'] as const satisfies readonly Vital[]
export type RiskVital = (typeof RISK_VITALS)[number]

export const VITAL_STATS = ['last', 'mean5', 'mean15', 'slope10', 'sd15', 'age'] as const
export type VitalStat = (typeof VITAL_STATS)[number]

export const PATIENT_FEATURES = ['news2', 'news2Max', 'onOxygen', 'confused'] as const

/** Every feature name, in the order of a feature vector: `heartRate.last`, ..., `glucose.age`, `news2`, ... */
export const FEATURE_NAMES: readonly string[] = [...RISK_VITALS.flatMap((v) => VITAL_STATS.map((s) => `${v}.${s}`)), ...PATIENT_FEATURES]

export const MINUTE_MS = 60_000
/** Minutes of history a feature looks at. */
export const WINDOW_MIN = 15
/** A value older than this (minutes) is no longer the patient's `last`. */
export const MAX_AGE_MIN = 60

/** One vital's readings within one clock minute. */
export interface MinuteBucket {
  /** floor(ts / 60 000). */
  minute: number
  n: number
  sum: number
  sumSq: number
}

/** One vital's state: the buckets of the last WINDOW_MIN minutes (oldest first) and the newest value. */
export class VitalWindow {
  readonly buckets: MinuteBucket[] = []
  lastValue = Number.NaN
  lastTs = Number.NEGATIVE_INFINITY

  /** Adds one value measured at `ts` (ms). Values come in about time order; one older than the window is ignored for the window. */
  add(value: number, ts: number): void {
    const minute = Math.floor(ts / MINUTE_MS)
    if (ts >= this.lastTs) {
      this.lastValue = value
      this.lastTs = ts
    }
    const b = this.buckets
    const newest = b.length > 0 ? b[b.length - 1]! : undefined
    if (newest !== undefined && newest.minute === minute) {
      newest.n++
      newest.sum += value
      newest.sumSq += value * value
      return
    }
    if (newest === undefined || minute > newest.minute) {
      b.push({ minute, n: 1, sum: value, sumSq: value * value })
      while (b[0]!.minute <= minute - WINDOW_MIN) b.shift()
      return
    }
    // Late within the window: its own minute's bucket.
    if (minute <= newest.minute - WINDOW_MIN) return
    let i = b.length - 1
    while (i >= 0 && b[i]!.minute > minute) i--
    if (i >= 0 && b[i]!.minute === minute) {
      const x = b[i]!
      x.n++
      x.sum += value
      x.sumSq += value * value
    } else b.splice(i + 1, 0, { minute, n: 1, sum: value, sumSq: value * value })
  }

  /** Sets the state from a whole bucket (training: DuckDB's per-minute aggregates, fed in minute order). */
  addBucket(bucket: MinuteBucket, lastValue: number, lastTs: number): void {
    const b = this.buckets
    b.push({ ...bucket })
    while (b[0]!.minute <= bucket.minute - WINDOW_MIN) b.shift()
    if (lastTs >= this.lastTs) {
      this.lastValue = lastValue
      this.lastTs = lastTs
    }
  }

  /** Writes this vital's VITAL_STATS as of `t` into `out` from index `at`. */
  features(t: number, out: Float64Array, at: number): void {
    const m = Math.floor(t / MINUTE_MS)
    let n5 = 0
    let s5 = 0
    let n15 = 0
    let s15 = 0
    let q15 = 0
    let nOld = 0
    let sOld = 0
    for (const b of this.buckets) {
      const back = m - b.minute
      if (back < 0 || back >= WINDOW_MIN) continue
      n15 += b.n
      s15 += b.sum
      q15 += b.sumSq
      if (back < 5) {
        n5 += b.n
        s5 += b.sum
      } else if (back >= 10) {
        nOld += b.n
        sOld += b.sum
      }
    }
    const ageMin = (t - this.lastTs) / MINUTE_MS
    out[at] = ageMin <= MAX_AGE_MIN ? this.lastValue : Number.NaN
    out[at + 1] = n5 > 0 ? s5 / n5 : Number.NaN
    const mean15 = n15 > 0 ? s15 / n15 : Number.NaN
    out[at + 2] = mean15
    out[at + 3] = n5 > 0 && nOld > 0 ? s5 / n5 - sOld / nOld : Number.NaN
    out[at + 4] = n15 > 0 ? Math.sqrt(Math.max(0, q15 / n15 - mean15 * mean15)) : Number.NaN
    out[at + 5] = Math.min(MAX_AGE_MIN, Math.max(0, ageMin))
  }
}

/** The nurse's observations as last recorded (undefined: never). */
export interface Observations {
  onOxygen?: boolean
  consciousness?: Consciousness
}

/** One patient's feature state. */
export class PatientFeatures {
  readonly vitals: Record<RiskVital, VitalWindow>
  observations: Observations = {}

  constructor() {
    const vitals = {} as Record<RiskVital, VitalWindow>
    for (const v of RISK_VITALS) vitals[v] = new VitalWindow()
    this.vitals = vitals
  }

  /** The feature vector as of `t`, in FEATURE_NAMES order (NaN: missing). */
  vector(t: number, out: Float64Array = new Float64Array(FEATURE_NAMES.length)): Float64Array {
    let at = 0
    for (const v of RISK_VITALS) {
      this.vitals[v].features(t, out, at)
      at += VITAL_STATS.length
    }
    let total = 0
    let max = 0
    for (const v of NEWS2_VITALS) {
      const value = out[RISK_VITALS.indexOf(v as RiskVital) * VITAL_STATS.length]!
      if (Number.isNaN(value)) continue
      const s = parameterScore(v as News2Vital, value, { scale: 1, onOxygen: this.observations.onOxygen })
      total += s
      if (s > max) max = s
    }
    const { onOxygen, consciousness } = this.observations
    if (onOxygen !== undefined) {
      const s = onOxygenScore(onOxygen)
      total += s
      if (s > max) max = s
    }
    if (consciousness !== undefined) {
      const s = consciousnessScore(consciousness)
      total += s
      if (s > max) max = s
    }
    out[at] = total
    out[at + 1] = max
    out[at + 2] = onOxygen === undefined ? Number.NaN : onOxygen ? 1 : 0
    out[at + 3] = consciousness === undefined ? Number.NaN : consciousness === 'A' ? 0 : 1
    return out
  }
}

const LABELS: Readonly<Record<RiskVital, { name: string; unit: string; digits: number }>> = {
  heartRate: { name: 'Heart rate', unit: 'bpm', digits: 0 },
  spo2: { name: 'SpO2', unit: '%', digits: 0 },
  respRate: { name: 'Respiratory rate', unit: '/min', digits: 0 },
  systolic: { name: 'Systolic BP', unit: 'mmHg', digits: 0 },
  temperature: { name: 'Temperature', unit: '°C', digits: 1 },
  glucose: { name: 'Glucose', unit: 'mg/dL', digits: 0 },
}

/** A feature and its value in words, for the dashboard: "SpO2 falling 2 %/10 min", "NEWS2 6". */
export function describeFeature(name: string, value: number): string {
  if (name === 'news2') return `NEWS2 ${value}`
  if (name === 'news2Max') return `highest NEWS2 parameter score ${value}`
  if (name === 'onOxygen') return value === 1 ? 'on supplemental oxygen' : 'on air'
  if (name === 'confused') return value === 1 ? 'not alert (ACVPU)' : 'alert (ACVPU)'
  const [vital, stat] = name.split('.') as [RiskVital, VitalStat]
  const l = LABELS[vital]
  if (l === undefined) return name
  if (Number.isNaN(value)) return `${l.name} not measured`
  const fmt = (x: number) => x.toFixed(stat === 'sd15' || stat === 'slope10' ? Math.max(1, l.digits) : l.digits)
  const unit = l.unit === '%' || l.unit === '°C' ? ` ${l.unit}` : ` ${l.unit}`
  switch (stat) {
    case 'last':
      return `${l.name} ${fmt(value)}${unit}`
    case 'mean5':
      return `${l.name} 5-min mean ${fmt(value)}${unit}`
    case 'mean15':
      return `${l.name} 15-min mean ${fmt(value)}${unit}`
    case 'slope10':
      return value === 0 ? `${l.name} steady` : `${l.name} ${value < 0 ? 'falling' : 'rising'} ${fmt(Math.abs(value))}${unit}/10 min`
    case 'sd15':
      return `${l.name} varying ±${fmt(value)}${unit} (15 min)`
    case 'age':
      return value >= MAX_AGE_MIN ? `no ${l.name} for ${MAX_AGE_MIN}+ min` : `${l.name} last measured ${Math.round(value)} min ago`
  }
}
