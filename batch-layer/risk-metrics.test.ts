import { describe, expect, it } from 'vitest'
import {
  alertCount,
  alertingShare,
  alertsPerPatientDay,
  auroc,
  averagePrecision,
  brier,
  formatMetrics,
  reliability,
  scorerMetrics,
  sensitivity,
  withinPatientAuroc,
  thresholdAtSensitivity,
} from './risk-metrics.ts'

describe('risk metrics', () => {
  it('AUROC counts a tie between a positive and a negative as half', () => {
    // Pairs (positive, negative): (0.8, 0.1) win, (0.8, 0.4) win, (0.4, 0.1) win, (0.4, 0.4) tie: 3.5 / 4.
    expect(auroc([0.1, 0.4, 0.4, 0.8], [0, 0, 1, 1])).toBe(0.875)
    expect(auroc([1, 2, 3, 4], [0, 0, 1, 1])).toBe(1)
    expect(auroc([1, 2, 3, 4], [1, 1, 0, 0])).toBe(0)
    expect(auroc([5, 5, 5, 5], [1, 0, 1, 0])).toBe(0.5)
    expect(auroc([1, 2], [0, 0])).toBeNull()
  })

  it('AUPRC is the average precision, tied scores taken together', () => {
    // Scores 0.9(+), 0.8(-), 0.7(+), 0.1(-): precision at recall 1/2 is 1, at recall 2/2 is 2/3.
    expect(averagePrecision([0.9, 0.8, 0.7, 0.1], [1, 0, 1, 0])).toBeCloseTo(0.5 * 1 + 0.5 * (2 / 3), 12)
    // One tie of a positive and a negative at the top, then a positive: (1/2)(1/2) + (1/2)(2/3).
    expect(averagePrecision([0.9, 0.9, 0.5], [1, 0, 1])).toBeCloseTo(0.25 + 1 / 3, 12)
    // A 0/1 rule: the alerting minutes' precision times the recall they reach, then the rest.
    expect(averagePrecision([1, 1, 0, 0], [1, 0, 1, 0])).toBeCloseTo(0.5 * 0.5 + 0.5 * 0.5, 12)
    expect(averagePrecision([0.3, 0.2], [0, 0])).toBeNull()
  })

  it('Brier is the mean squared error of the predictions', () => {
    expect(brier([1, 0, 0.5, 0.5], [1, 1, 0, 1])).toBeCloseTo((0 + 1 + 0.25 + 0.25) / 4, 12)
    expect(brier([], [])).toBeNull()
  })

  it('sensitivity counts the positive minutes at or above the threshold', () => {
    expect(sensitivity([5, 4, 6, 7], [1, 1, 0, 1], 5)).toBeCloseTo(2 / 3, 12)
    expect(sensitivity([1], [0], 0)).toBeNull()
  })

  it("an alert is a rising edge within one patient's consecutive minutes, and a patient's first minute above starts one", () => {
    const scores = [0, 1, 1, 0, 1, 1, 1, 0, 1]
    const groups = [0, 0, 0, 0, 0, 1, 1, 1, 1]
    // Patient 0: edges at minutes 1 and 4; patient 1: starts above (edge), then an edge at its last minute.
    expect(alertCount(scores, groups, 1)).toBe(4)
    expect(alertCount(scores, groups, 2)).toBe(0)
    // 4 alerts in 9 minutes = 9/1440 patient-days.
    expect(alertsPerPatientDay({ scores, labels: new Array(9).fill(0), groups }, 1)).toBeCloseTo(4 / (9 / 1440), 9)
    expect(alertingShare(scores, 1)).toBeCloseTo(6 / 9, 12)
    // A threshold the score is always above: one long alert per patient, every minute alerting.
    expect(alertCount(scores, groups, 0)).toBe(2)
    expect(alertingShare(scores, 0)).toBe(1)
  })

  it('the threshold at 80 % sensitivity is the highest at which 80 % of the positive minutes are at or above it', () => {
    const scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.95]
    const labels = [1, 1, 1, 1, 1, 0]
    expect(thresholdAtSensitivity(scores, labels, 0.8)).toBe(0.6)
    expect(sensitivity(scores, labels, 0.6)).toBe(0.8)
    expect(thresholdAtSensitivity([0.2, 0.1], [1, 0], 0.8)).toBe(0.2)
    expect(thresholdAtSensitivity([0.2], [0], 0.8)).toBeNull()
  })

  it("a rule's row takes its Brier score on the rule's 0/1 and its own threshold for sensitivity and alerts", () => {
    const scores = [2, 6, 7, 3]
    const labels = [0, 1, 0, 1]
    const groups = [0, 0, 0, 0]
    const row = scorerMetrics({ name: 'NEWS2 >= 5', scores, threshold: 5, brierOf: 'rule' }, labels, groups, 0.8)
    expect(row.brier).toBe(0.5)
    expect(row.sensitivity).toBe(0.5)
    expect(row.alertsPerPatientDayAt80).toBeCloseTo(1 / (4 / 1440), 9)
    expect(row.thresholdAt80).toBe(3)
    expect(row.alertsPerPatientDay).toBeCloseTo(1 / (4 / 1440), 9)
  })

  it('the reliability table puts each minute in its tenth of predicted risk, 1.0 in the last', () => {
    const rows = reliability([0.05, 0.15, 0.12, 1], [0, 1, 0, 1])
    expect(rows).toHaveLength(10)
    expect(rows[0]).toEqual({ from: 0, to: 0.1, minutes: 1, predicted: 0.05, observed: 0 })
    expect(rows[1]!.minutes).toBe(2)
    expect(rows[1]!.predicted).toBeCloseTo(0.135, 12)
    expect(rows[1]!.observed).toBe(0.5)
    expect(rows[5]).toEqual({ from: 0.5, to: 0.6, minutes: 0, predicted: null, observed: null })
    expect(rows[9]!.minutes).toBe(1)
    expect(formatMetrics([], rows, 0.8)).toMatch(/\n0\.1-0\.2 +2 +0\.135 +0\.500\n/)
  })
})

describe('withinPatientAuroc', () => {
  it('rates when, not who: a score that only ranks the patient with episodes above the one without', () => {
    // Patient 0 has episodes and always scores 0.9; patient 1 has none and always scores 0.1.
    const scores = [0.9, 0.9, 0.9, 0.9, 0.1, 0.1, 0.1, 0.1]
    const labels = [0, 1, 1, 1, 0, 0, 0, 0]
    const groups = [0, 0, 0, 0, 1, 1, 1, 1]
    expect(auroc(scores, labels)).toBeCloseTo(13.5 / 15, 12)
    expect(withinPatientAuroc(scores, labels, groups)).toBe(0.5)
  })

  it('averages the patients that have both classes and skips the others', () => {
    const scores = [0.1, 0.2, 0.3, 0.4, 0.9, 0.8, 0.7, 0.6, 0.5, 0.5]
    const labels = [0, 0, 1, 1, 0, 0, 1, 1, 1, 1]
    const groups = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]
    expect(withinPatientAuroc(scores, labels, groups)).toBe(0.5)
    expect(withinPatientAuroc([0.1, 0.2], [0, 0], [0, 1])).toBeNull()
  })
})
