/**
 * The options of `vigil model train` (risk-train.ts; docs/CLINICAL.md, Early-warning risk model).
 * Kept beside config.ts, in a file of their own, because training is a command of its own and
 * not one of the batch layer's running parts. Each default is written once, here, with its unit
 * and why; cli/options.ts makes the flags from `.describe()` and `.meta()`.
 */
import { z } from 'zod'
import { EVENT_KIND } from '../lib/contract/events.ts'

export const modelTrainOptionsSchema = z.strictObject({
  /**
   * A minute is positive when an episode starts within this many minutes after it.
   * @defaultValue 30 min: the lead time in which a ward team can still act on a warning (a review,
   * more frequent observations) before the episode, and short enough that the vitals of the
   * minute still carry a trace of what is coming.
   */
  horizonMin: z.coerce
    .number()
    .int()
    .min(1, { error: 'expected whole minutes, at least 1' })
    .max(1_440, { error: 'expected whole minutes, at most 1440 (a day)' })
    .default(30)
    .describe('a minute is positive when an episode starts within this many minutes after it')
    .meta({ unit: 'min' }),
  /** The event kinds that count as an episode; unset: every kind in the lake. */
  kinds: z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((k) => k.trim())
        .filter((k) => k !== ''),
    )
    .pipe(z.array(z.string().regex(EVENT_KIND, { error: 'expected event kinds, comma-separated, e.g. hypotension,desaturation' })).min(1))
    .optional()
    .meta({ description: 'the event kinds that count as an episode, comma-separated', arg: 'kind,...', unset: 'every kind in the lake' }),
  /**
   * The share of patients held out to measure the model; the split is by patient, so no patient's
   * minutes are on both sides.
   * @defaultValue 0.3 (30 % of patients): enough held-out episodes to measure sensitivity on a
   * cohort of tens of patients, most of them left to fit 41 coefficients.
   */
  testFraction: z.coerce
    .number()
    .gt(0, { error: 'expected a fraction between 0 and 1' })
    .lt(1, { error: 'expected a fraction between 0 and 1' })
    .default(0.3)
    .describe('the share of patients held out for the metrics, 0-1'),
  /**
   * Which patients are held out: a patient is in the test set when the hash of (seed, patientId)
   * falls below --test-fraction. Same seed, same split.
   * @defaultValue 1
   */
  seed: z.coerce.number().int({ error: 'expected a whole number' }).default(1).describe('the seed of the patient split'),
  /**
   * The L2 penalty on the weights (not the intercept), per training minute: the fit minimises the
   * mean log-loss plus l2/2 times the sum of the squared weights of the standardised features.
   * @defaultValue 0.001: small against the mean log-loss, enough to keep the fit finite when
   * features move together (a vital's last value and its 5-minute mean) or an event is perfectly
   * predicted in a small cohort.
   */
  l2: z.coerce
    .number()
    .min(0, { error: 'expected a penalty of 0 or more' })
    .max(100, { error: 'expected a penalty of at most 100' })
    .default(0.001)
    .describe('L2 penalty of the weights (mean log-loss + l2/2 x sum of squared weights)'),
  /**
   * Serve the model (write latest.json) even when it fails the promotion check (PROMOTE_MIN_WITHIN_AUROC below).
   * @defaultValue false: a model that cannot tell when an episode is coming is kept, not served.
   */
  promote: z.boolean().default(false).describe('make it the served model (latest.json) even when it fails the promotion check'),
  /** Words that say which patients the model was trained on, kept in the model file; unset: `lake <path>`. */
  cohort: z
    .string()
    .min(1, { error: 'expected some words about the cohort' })
    .max(200, { error: 'expected at most 200 characters' })
    .optional()
    .meta({ description: 'which patients the model was trained on, in words, kept in the model file', arg: 'words', unset: 'lake <path>' }),
})

export type ModelTrainOptions = z.infer<typeof modelTrainOptionsSchema>

/** Training's options from a partial input (tests), defaults filled in and frozen. */
export function modelTrainOptions(input: z.input<typeof modelTrainOptionsSchema> = {}): ModelTrainOptions {
  return Object.freeze(modelTrainOptionsSchema.parse(input))
}

/**
 * Newton steps of the fit at most; it stops sooner when no weight moves by more than
 * FIT_TOLERANCE. A fixed bound and a fixed tolerance: same data, same steps, same bytes.
 * @defaultValue 100 steps: an L2-penalised logistic fit of 41 coefficients converges in 10-20.
 */
export const FIT_MAX_ITERATIONS = 100
/** @defaultValue 1e-9 (log-odds per standard deviation): far below what the file's numbers show. */
export const FIT_TOLERANCE = 1e-9
/**
 * Minutes after an episode's end that are left out with the episode: the vitals are still
 * recovering and a warning then is about the episode just had, not one coming.
 * @defaultValue 10 min
 */
export const AFTER_EPISODE_MIN = 10
/**
 * The sensitivity at which the model's alert threshold is set (threshold.raise), and at which
 * every scorer's alert burden is compared.
 * @defaultValue 0.8: four in five episodes warned of, the operating point the comparison uses.
 */
export const TARGET_SENSITIVITY = 0.8
/**
 * threshold.clear = threshold.raise times this: a risk alert clears only when the risk has fallen
 * clearly below where it was raised, so a risk hovering at the threshold does not raise and clear
 * every minute (hysteresis, as the per-vital bands' hold-down).
 * @defaultValue 0.8
 */
export const CLEAR_RATIO = 0.8

/**
 * The promotion check: the model becomes the served one (latest.json) only when, on the held-out
 * patients, its AUROC within patients (the mean of each patient's own AUROC: whether it tells *when*
 * an episode is coming, not only *who* has them) is at least PROMOTE_MIN_WITHIN_AUROC, and its
 * pooled AUROC is above NEWS2's. Else the file is written beside the others and the speed layer goes
 * on serving what it served: a model that only learned which patients have episodes would raise
 * RISK_HIGH for those patients all day long.
 * @defaultValue 0.7: "acceptable" discrimination (Hosmer DW, Lemeshow S, Sturdivant RX, Applied
 * Logistic Regression, 3rd ed., Wiley 2013, section 5.2.4: 0.5 none, 0.7-0.8 acceptable).
 */
export const PROMOTE_MIN_WITHIN_AUROC = 0.7
