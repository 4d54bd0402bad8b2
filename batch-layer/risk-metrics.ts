/**
 * How a scorer does on the held-out patients' minutes (docs/CLINICAL.md, Early-warning risk
 * model): pure functions over parallel arrays, one entry per minute, the minutes of one
 * patient consecutive and in time order (`group` is the patient's index).
 *
 *  - AUROC: the probability that a positive minute scores above a negative one, ties counting
 *    half (Mann-Whitney U with average ranks);
 *  - AUPRC: average precision, sum over the distinct thresholds, highest first, of
 *    (recall gained) x (precision there), tied scores taken together;
 *  - Brier: mean squared difference between the prediction (a probability, or a rule's 0/1) and
 *    the label;
 *  - sensitivity at a threshold: the share of positive minutes scoring at or above it;
 *  - alerts: rising edges, a minute at or above the threshold whose previous minute of the same
 *    patient (among the minutes scored) was below it, or that is the patient's first; per
 *    patient-day = alerts / (minutes / 1440).
 */
import type { ScorerMetrics } from '../lib/risk/model.ts'

export const MINUTES_PER_DAY = 1_440

/** The minutes a scorer is measured on. */
export interface Scored {
  scores: ArrayLike<number>
  labels: ArrayLike<number>
  /** The patient of each minute; a patient's minutes are consecutive. */
  groups: ArrayLike<number>
}

/** Indices of `scores` in ascending order of score (ties by index, so the order is deterministic). */
function ascending(scores: ArrayLike<number>): Uint32Array {
  const order = new Uint32Array(scores.length)
  for (let i = 0; i < order.length; i++) order[i] = i
  return order.sort((a, b) => scores[a]! - scores[b]! || a - b)
}

/** AUROC with ties counting half (average ranks); null when there are no positives or no negatives. */
export function auroc(scores: ArrayLike<number>, labels: ArrayLike<number>): number | null {
  const order = ascending(scores)
  let positives = 0
  let rankSum = 0
  for (let i = 0; i < order.length; ) {
    let j = i
    while (j + 1 < order.length && scores[order[j + 1]!] === scores[order[i]!]) j++
    // Ranks i+1..j+1 share their mean.
    const rank = (i + j + 2) / 2
    for (let m = i; m <= j; m++) {
      if (labels[order[m]!] === 1) {
        positives++
        rankSum += rank
      }
    }
    i = j + 1
  }
  const negatives = order.length - positives
  if (positives === 0 || negatives === 0) return null
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives)
}

/** Average precision (area under the precision-recall curve, step-wise); null without positives. */
export function averagePrecision(scores: ArrayLike<number>, labels: ArrayLike<number>): number | null {
  const order = ascending(scores)
  let total = 0
  for (let i = 0; i < labels.length; i++) total += labels[i] === 1 ? 1 : 0
  if (total === 0) return null
  let tp = 0
  let seen = 0
  let ap = 0
  for (let i = order.length - 1; i >= 0; ) {
    let j = i
    while (j - 1 >= 0 && scores[order[j - 1]!] === scores[order[i]!]) j--
    let gained = 0
    for (let m = j; m <= i; m++) gained += labels[order[m]!] === 1 ? 1 : 0
    tp += gained
    seen += i - j + 1
    ap += (gained / total) * (tp / seen)
    i = j - 1
  }
  return ap
}

/** Mean of (prediction - label)^2; null for no minutes. */
export function brier(predictions: ArrayLike<number>, labels: ArrayLike<number>): number | null {
  if (predictions.length === 0) return null
  let s = 0
  for (let i = 0; i < predictions.length; i++) s += (predictions[i]! - labels[i]!) ** 2
  return s / predictions.length
}

/** The share of positive minutes scoring at or above `threshold`; null without positives. */
export function sensitivity(scores: ArrayLike<number>, labels: ArrayLike<number>, threshold: number): number | null {
  let positives = 0
  let caught = 0
  for (let i = 0; i < scores.length; i++) {
    if (labels[i] !== 1) continue
    positives++
    if (scores[i]! >= threshold) caught++
  }
  return positives === 0 ? null : caught / positives
}

/** Rising edges of `score >= threshold` within each patient's consecutive minutes. */
export function alertCount(scores: ArrayLike<number>, groups: ArrayLike<number>, threshold: number): number {
  let alerts = 0
  for (let i = 0; i < scores.length; i++) {
    const above = scores[i]! >= threshold
    const wasAbove = i > 0 && groups[i - 1] === groups[i] && scores[i - 1]! >= threshold
    if (above && !wasAbove) alerts++
  }
  return alerts
}

/**
 * The share of minutes at or above `threshold`: beside alerts per patient-day, which a threshold
 * the score is always above makes small (one long alert per patient); null for no minutes.
 */
export function alertingShare(scores: ArrayLike<number>, threshold: number): number | null {
  if (scores.length === 0) return null
  let above = 0
  for (let i = 0; i < scores.length; i++) if (scores[i]! >= threshold) above++
  return above / scores.length
}

/** Alerts per patient-day at `threshold`: alerts / (minutes / 1440); null for no minutes. */
export function alertsPerPatientDay(s: Scored, threshold: number): number | null {
  if (s.scores.length === 0) return null
  return alertCount(s.scores, s.groups, threshold) / (s.scores.length / MINUTES_PER_DAY)
}

/**
 * The highest threshold at which sensitivity reaches `target`: lowering a threshold from the top,
 * the first at which `target` of the positive minutes score at or above it. Null without positives.
 */
export function thresholdAtSensitivity(scores: ArrayLike<number>, labels: ArrayLike<number>, target: number): number | null {
  const positive: number[] = []
  for (let i = 0; i < scores.length; i++) if (labels[i] === 1) positive.push(scores[i]!)
  if (positive.length === 0) return null
  positive.sort((a, b) => b - a)
  const need = Math.max(1, Math.ceil(target * positive.length - 1e-9))
  return positive[need - 1]!
}

/**
 * The mean, over the patients whose minutes hold both classes, of the AUROC of each patient's own
 * minutes (`groups`: a patient's minutes are consecutive): how well a score tells *when* an episode
 * is coming, apart from *who* has episodes. A pooled AUROC also rewards a score that only ranks
 * patients with frequent episodes above patients with none; this one cannot. Null when no patient
 * has both classes.
 */
export function withinPatientAuroc(scores: ArrayLike<number>, labels: ArrayLike<number>, groups: ArrayLike<number>): number | null {
  let sum = 0
  let patients = 0
  let start = 0
  for (let i = 1; i <= scores.length; i++) {
    if (i < scores.length && groups[i] === groups[start]) continue
    const a = auroc(Array.prototype.slice.call(scores, start, i) as number[], Array.prototype.slice.call(labels, start, i) as number[])
    if (a !== null) {
      sum += a
      patients++
    }
    start = i
  }
  return patients === 0 ? null : sum / patients
}

/** How a scorer is measured: its scores, its own threshold, and what the Brier score is taken on. */
export interface Scorer {
  name: string
  scores: ArrayLike<number>
  /** The scorer's own operating point (a rule's threshold; the model's threshold.raise). */
  threshold: number
  /** Brier's predictions: the model's probability, or a rule's 0/1 at its threshold. */
  brierOf: 'score' | 'rule'
}

/** One row of the comparison table. */
export function scorerMetrics(scorer: Scorer, labels: ArrayLike<number>, groups: ArrayLike<number>, target: number): ScorerMetrics {
  const { scores, threshold } = scorer
  const predictions = scorer.brierOf === 'score' ? scores : Float64Array.from({ length: scores.length }, (_, i) => (scores[i]! >= threshold ? 1 : 0))
  const at80 = thresholdAtSensitivity(scores, labels, target)
  const s: Scored = { scores, labels, groups }
  return {
    name: scorer.name,
    auroc: auroc(scores, labels),
    withinPatientAuroc: withinPatientAuroc(scores, labels, groups),
    auprc: averagePrecision(scores, labels),
    brier: brier(predictions, labels),
    sensitivity: sensitivity(scores, labels, threshold),
    alertsPerPatientDay: alertsPerPatientDay(s, threshold),
    alertsPerPatientDayAt80: at80 === null ? null : alertsPerPatientDay(s, at80),
    thresholdAt80: at80,
  }
}

export interface ReliabilityRow {
  from: number
  to: number
  minutes: number
  predicted: number | null
  observed: number | null
}

/** Calibration in tenths of predicted risk: [0, 0.1), ..., [0.9, 1]; mean predicted and observed rate per tenth. */
export function reliability(predicted: ArrayLike<number>, labels: ArrayLike<number>): ReliabilityRow[] {
  const n = new Float64Array(10)
  const sumP = new Float64Array(10)
  const sumY = new Float64Array(10)
  for (let i = 0; i < predicted.length; i++) {
    const b = Math.min(9, Math.max(0, Math.floor(predicted[i]! * 10)))
    n[b] = n[b]! + 1
    sumP[b] = sumP[b]! + predicted[i]!
    sumY[b] = sumY[b]! + labels[i]!
  }
  return Array.from({ length: 10 }, (_, b) => ({
    from: b / 10,
    to: (b + 1) / 10,
    minutes: n[b]!,
    predicted: n[b]! > 0 ? sumP[b]! / n[b]! : null,
    observed: n[b]! > 0 ? sumY[b]! / n[b]! : null,
  }))
}

const fmt = (x: number | null, digits = 3) => (x === null ? '-' : x.toFixed(digits))

/**
 * The comparison and the reliability table, as `vigil model train` prints them and the model file
 * keeps them; `alerting[i]` is row i's share of minutes alerting at its threshold at `target`
 * (alertingShare), printed beside its alerts.
 */
export function formatMetrics(
  rows: readonly ScorerMetrics[],
  calibration: readonly ReliabilityRow[],
  target: number,
  alerting: readonly (number | null)[] = [],
): string {
  const pct = Math.round(target * 100)
  const head = [
    'scorer',
    'AUROC',
    'AUROC within patients',
    'AUPRC',
    'Brier',
    'sensitivity',
    'alerts/patient-day',
    `alerts/patient-day at ${pct} % sens.`,
    `minutes alerting at ${pct} %`,
    `threshold at ${pct} %`,
  ]
  const body = rows.map((r, i) => [
    r.name,
    fmt(r.auroc),
    fmt(r.withinPatientAuroc ?? null),
    fmt(r.auprc),
    fmt(r.brier),
    fmt(r.sensitivity),
    fmt(r.alertsPerPatientDay, 2),
    fmt(r.alertsPerPatientDayAt80, 2),
    alerting[i] === undefined || alerting[i] === null ? '-' : `${((alerting[i] as number) * 100).toFixed(1)} %`,
    fmt(r.thresholdAt80, 4),
  ])
  const calHead = ['predicted risk', 'minutes', 'mean predicted', 'observed rate']
  const calBody = calibration.map((c) => [`${c.from.toFixed(1)}-${c.to.toFixed(1)}`, String(c.minutes), fmt(c.predicted), fmt(c.observed)])
  return `${table(head, body)}\n\nreliability of the model on the held-out minutes:\n${table(calHead, calBody)}\n`
}

/** A plain text table: columns padded, the first left-aligned, the others right-aligned. */
function table(head: readonly string[], body: readonly string[][]): string {
  const widths = head.map((h, c) => Math.max(h.length, ...body.map((r) => (r[c] ?? '').length)))
  const line = (r: readonly string[]) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n')
}
