/**
 * Small risk model files (lib/risk/model.ts format) with weights chosen by hand, for the tests of
 * the speed layer's risk (the risk each one gives is computed on paper in the tests) and the file
 * around bench/speed.ts's synthetic model.
 */
import type { RiskModelFile } from '../lib/risk/model.ts'

type Feature = RiskModelFile['features'][number]

/** A model file: `features` as given (every other feature weight 0), thresholds and the rest plausible. */
export function riskModelFile(features: Feature[], overrides: Partial<RiskModelFile> = {}): RiskModelFile {
  const metric = { auprc: 0.3, brier: 0.05, sensitivity: 0.8, alertsPerPatientDay: 2, alertsPerPatientDayAt80: 2, thresholdAt80: 0.4 }
  return {
    format: 'vigil-risk-model',
    formatVersion: 1,
    version: 'lr-0123456789ab',
    kind: 'logistic',
    horizonMinutes: 60,
    features,
    intercept: -3,
    threshold: { raise: 0.5, clear: 0.3 },
    training: {
      cohort: 'simulator',
      from: 0,
      to: 7 * 86_400_000,
      seed: 1,
      trainPatients: 100,
      testPatients: 40,
      trainMinutes: 1_000_000,
      testMinutes: 400_000,
      positives: 1_200,
      eventKinds: ['deterioration'],
      l2: 0.01,
    },
    metrics: {
      test: [
        { name: 'risk model', auroc: 0.81, ...metric },
        { name: 'NEWS2 >= 5', auroc: 0.7, ...metric },
        { name: 'any per-vital WARNING', auroc: 0.6, ...metric },
      ],
      reliability: [],
      table: '',
    },
    ...overrides,
  }
}

/**
 * Risk driven by the newest heart rate: logit = -3 + (HR - 80) / 10, so HR 80 gives 0.047, 105
 * gives 0.38 (between clear 0.3 and raise 0.5), 110 gives 0.5 and 130 gives 0.88.
 */
export const HEART_RATE_MODEL = riskModelFile([{ name: 'heartRate.last', mean: 80, sd: 10, weight: 1 }])
