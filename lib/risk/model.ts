/**
 * The risk model file (docs/CONTRACT.md, The data lake, `models/`) and its scoring: a logistic
 * regression on standardised features (lib/risk/features.ts).
 *
 *   z_i   = (x_i - mean_i) / sd_i,   0 when x_i is missing (NaN): the training mean
 *   logit = intercept + sum_i weight_i * z_i
 *   risk  = 1 / (1 + exp(-logit))
 *
 * Each feature's contribution is weight_i * z_i, in log-odds: the contributions and the intercept
 * add up to the logit exactly, which is what an explanation of a linear model is (for a linear
 * model these are also its exact SHAP values against the training mean, the point every missing
 * feature is put at). `vigil model train` writes the file; the speed layer loads it with
 * `loadRiskModel`, which refuses a file it cannot serve with a message that says why.
 */
import { readFile } from 'node:fs/promises'
import { z } from 'zod'
import { describeIssues } from '../contract/schema.ts'
import { FEATURE_NAMES } from './features.ts'

export const MODEL_FORMAT = 'vigil-risk-model'
export const MODEL_FORMAT_VERSION = 1

const finite = z.number().finite()

/** One row of the comparison table: a scorer on the held-out patients. */
export const scorerMetricsSchema = z.object({
  name: z.string(),
  auroc: finite.nullable(),
  /** Mean AUROC of each held-out patient's own minutes (patients with both classes): *when*, apart from *who*. */
  withinPatientAuroc: finite.nullable().optional(),
  auprc: finite.nullable(),
  brier: finite.nullable(),
  /** Sensitivity and alerts per patient-day at the scorer's own operating point (a rule's threshold). */
  sensitivity: finite.nullable(),
  alertsPerPatientDay: finite.nullable(),
  /** Alerts per patient-day at the lowest threshold that reaches 80 % sensitivity (null: never reached). */
  alertsPerPatientDayAt80: finite.nullable(),
  thresholdAt80: finite.nullable(),
})
export type ScorerMetrics = z.infer<typeof scorerMetricsSchema>

export const riskModelSchema = z.strictObject({
  format: z.literal(MODEL_FORMAT),
  formatVersion: z.literal(MODEL_FORMAT_VERSION),
  /** `lr-` and the first 12 hex digits of the SHA-256 of the model's content: same data and seed, same version. */
  version: z.string().regex(/^lr-[0-9a-f]{12}$/),
  kind: z.literal('logistic'),
  /** An episode starting within this many minutes after a minute makes it positive. */
  horizonMinutes: z.number().int().positive(),
  features: z.array(z.strictObject({ name: z.string(), mean: finite, sd: finite.positive(), weight: finite })).min(1),
  intercept: finite,
  /** The risk above which the speed layer raises a risk alert, and below which it clears it. */
  threshold: z.strictObject({ raise: finite.min(0).max(1), clear: finite.min(0).max(1) }),
  training: z.strictObject({
    cohort: z.string(),
    /** Event time of the first and the last minute used (ms). */
    from: z.number(),
    to: z.number(),
    seed: z.number().int(),
    trainPatients: z.number().int(),
    testPatients: z.number().int(),
    trainMinutes: z.number().int(),
    testMinutes: z.number().int(),
    positives: z.number().int(),
    eventKinds: z.array(z.string()),
    l2: finite,
  }),
  /** On the held-out patients: the model, NEWS2 >= 5 and any per-vital WARNING, side by side. */
  metrics: z.strictObject({
    test: z.array(scorerMetricsSchema),
    /** Calibration of the model on the held-out minutes: predicted against observed per tenth. */
    reliability: z.array(z.strictObject({ from: finite, to: finite, minutes: z.number().int(), predicted: finite.nullable(), observed: finite.nullable() })),
    /** The table as `vigil model train` printed it. */
    table: z.string(),
  }),
})
export type RiskModelFile = z.infer<typeof riskModelSchema>

/** Why a model file cannot be served. */
export class ModelRefused extends Error {
  constructor(file: string, why: string) {
    super(`risk model ${file} refused: ${why}`)
    this.name = 'ModelRefused'
  }
}

/** A loaded model: its file, and its weights in FEATURE_NAMES order for the hot path. */
export interface RiskModel {
  file: RiskModelFile
  version: string
  mean: Float64Array
  sd: Float64Array
  weight: Float64Array
  intercept: number
}

/** Checks a parsed model file and lays out its weights in FEATURE_NAMES order; throws ModelRefused. */
export function compileRiskModel(json: unknown, source = 'model'): RiskModel {
  if (typeof json === 'object' && json !== null && (json as { format?: unknown }).format === MODEL_FORMAT) {
    const v = (json as { formatVersion?: unknown }).formatVersion
    if (v !== MODEL_FORMAT_VERSION) throw new ModelRefused(source, `format version ${String(v)}, this Vigil serves version ${MODEL_FORMAT_VERSION}`)
  }
  const parsed = riskModelSchema.safeParse(json)
  if (!parsed.success) throw new ModelRefused(source, `not a ${MODEL_FORMAT} file: ${describeIssues(parsed.error)}`)
  const file = parsed.data
  const n = FEATURE_NAMES.length
  const mean = new Float64Array(n)
  const sd = new Float64Array(n).fill(1)
  const weight = new Float64Array(n)
  const seen = new Set<string>()
  for (const f of file.features) {
    const i = FEATURE_NAMES.indexOf(f.name)
    if (i < 0) throw new ModelRefused(source, `feature ${f.name} is not one this Vigil computes (lib/risk/features.ts)`)
    if (seen.has(f.name)) throw new ModelRefused(source, `feature ${f.name} is listed twice`)
    seen.add(f.name)
    mean[i] = f.mean
    sd[i] = f.sd
    weight[i] = f.weight
  }
  if (file.threshold.clear > file.threshold.raise)
    throw new ModelRefused(source, `threshold.clear ${file.threshold.clear} is above threshold.raise ${file.threshold.raise}`)
  return { file, version: file.version, mean, sd, weight, intercept: file.intercept }
}

/** Reads and checks a model file; throws ModelRefused (with the path and the reason) when it cannot be served. */
export async function loadRiskModel(file: string): Promise<RiskModel> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    throw new ModelRefused(file, `cannot be read: ${(error as Error).message}`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new ModelRefused(file, `not JSON (corrupt or cut short?): ${(error as Error).message}`)
  }
  return compileRiskModel(json, file)
}

/** The logit of a feature vector; writes each feature's contribution (log-odds) into `contributions` when given. */
export function riskLogit(model: RiskModel, x: Float64Array, contributions?: Float64Array): number {
  let logit = model.intercept
  const { mean, sd, weight } = model
  for (let i = 0; i < x.length; i++) {
    const w = weight[i]!
    const v = x[i]!
    const c = w === 0 || Number.isNaN(v) ? 0 : (w * (v - mean[i]!)) / sd[i]!
    if (contributions !== undefined) contributions[i] = c
    logit += c
  }
  return logit
}

export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x))
}

/** One contribution to a risk, for the view and the dashboard. */
export interface Contribution {
  feature: string
  value: number
  /** Log-odds added to the intercept. */
  contribution: number
}

/** The `k` contributions of largest magnitude (ties by feature order), zero ones left out. */
export function topContributions(x: Float64Array, contributions: Float64Array, k: number): Contribution[] {
  const order: number[] = []
  for (let i = 0; i < contributions.length; i++) if (contributions[i] !== 0) order.push(i)
  order.sort((a, b) => Math.abs(contributions[b]!) - Math.abs(contributions[a]!) || a - b)
  return order.slice(0, k).map((i) => ({ feature: FEATURE_NAMES[i]!, value: x[i]!, contribution: contributions[i]! }))
}
