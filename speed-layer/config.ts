/**
 * The speed layer's own options (its part of the configuration; the shared part is lib/config.ts).
 * Each default is written once, here, with its unit and why; a field offered as a flag carries
 * its help in `.describe()` and `.meta()` (cli/options.ts makes the flags).
 */
import { z } from 'zod'
import { NEWS2_PARAMETERS, type News2Parameter } from '../lib/contract/views.ts'

const ms = (what: string) =>
  z.coerce
    .number({ error: `expected ${what} in milliseconds` })
    .int({ error: `expected whole milliseconds for ${what}` })
    .min(0, { error: `expected ${what} >= 0 ms` })
const count = (what: string, min = 1) =>
  z.coerce
    .number({ error: `expected a count of ${what}` })
    .int({ error: `expected a whole count of ${what}` })
    .min(min, { error: `expected at least ${min} ${what}` })

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|min|h)?$/
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, min: 60_000, h: 3_600_000 }

/** `90s`, `5m`, `1h`, `500ms` or a bare number of milliseconds, as whole milliseconds; undefined when unreadable. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text.trim())
  if (m === null) return undefined
  return Math.round(Number(m[1]) * (UNIT_MS[m[2] ?? 'ms'] as number))
}

/**
 * How recent each NEWS2 parameter's newest observation must be to count in the aggregate (event time, relative to the
 * patient's newest reading; docs/CLINICAL.md, NEWS2). A parameter observed longer ago is shown as old and the score is
 * partial. Continuous wearable values (pulse, SpO2, respiration) age in minutes; a ward cuff cycles every 15 min, so a
 * systolic counts for two cycles; a spot temperature for an hour; the nurse's air/oxygen and ACVPU observations for 4 h
 * (RCP 2017, "Clinical response to NEWS2 trigger thresholds": observations at least 4-6-hourly at a score of 1-4, 12-hourly at 0).
 */
export const DEFAULT_NEWS2_FRESHNESS: Readonly<Record<News2Parameter, string>> = Object.freeze({
  respRate: '5m',
  spo2: '5m',
  onOxygen: '4h',
  systolic: '30m',
  heartRate: '5m',
  consciousness: '4h',
  temperature: '1h',
})
const DEFAULT_NEWS2_FRESHNESS_TEXT = NEWS2_PARAMETERS.map((p) => `${p}=${DEFAULT_NEWS2_FRESHNESS[p]}`).join(',')

/** The defaults with the entries of `respRate=5m,systolic=30m` (or of a partial record of milliseconds) over them. */
function news2Freshness(input: string | Partial<Record<News2Parameter, number>>, ctx: z.RefinementCtx): Record<News2Parameter, number> {
  const out = Object.fromEntries(NEWS2_PARAMETERS.map((p) => [p, parseDuration(DEFAULT_NEWS2_FRESHNESS[p]) as number])) as Record<News2Parameter, number>
  const entries: [string, string | number | undefined][] =
    typeof input === 'string'
      ? input
          .split(',')
          .filter((e) => e.trim() !== '')
          .map((e) => e.split('=', 2).map((x) => x.trim()) as [string, string])
      : Object.entries(input)
  for (const [key, raw] of entries) {
    const param = NEWS2_PARAMETERS.find((p) => p === key)
    const value = typeof raw === 'number' ? raw : raw === undefined ? undefined : parseDuration(raw)
    if (param === undefined) ctx.addIssue({ code: 'custom', message: `unknown NEWS2 parameter "${key}" (expected ${NEWS2_PARAMETERS.join(', ')})` })
    else if (value === undefined || !Number.isInteger(value) || value < 0)
      ctx.addIssue({ code: 'custom', message: `expected a duration such as 5m, 1h or 90s for ${key}` })
    else out[param] = value
  }
  return out
}

export const speedOptionsSchema = z.object({
  /**
   * How long a vital must stay NORMAL (event time) before its alert clears.
   * @defaultValue 60 000 ms: one minute of good values; a value jittering on an edge never clears and re-raises.
   */
  holdDownMs: ms('the hold-down time').default(60_000).describe('how long a vital must stay normal before its alert clears').meta({ unit: 'ms' }),
  /**
   * How long a vital must stay out of its NORMAL band (event time) before a WARNING alert is raised, unless the sample came
   * at least this long after the vital's previous one (a first value, a spot check, a cuff, a nurse's round), which alerts
   * on the reading.
   * Görges M, Markewitz BA, Westenskow DR, "Improving alarm performance in the medical intensive care unit using delays and
   * clinical context", Anesth Analg 2009;108:1546-52: short delays remove most false (self-correcting) alarms.
   * @defaultValue 60 000 ms: one minute; a single artefact sample or a brief excursion raises nothing
   */
  warningPersistenceMs: ms('the warning persistence')
    .default(60_000)
    .describe('how long a vital must stay out of its normal band before a warning is raised')
    .meta({ unit: 'ms' }),
  /**
   * How long a vital must stay in a CRITICAL band before a CRITICAL alert is raised (a sample this long after the vital's
   * previous one alerts on the reading).
   * Welch J, "An evidence-based approach to reduce nuisance alarms and alarm fatigue", Biomed Instrum Technol
   * 2011;45(s1):46-52: a 15 s SpO2 alarm delay removed most nuisance alarms without missing a true desaturation.
   * @defaultValue 15 000 ms
   */
  criticalPersistenceMs: ms('the critical persistence')
    .default(15_000)
    .describe('how long a vital must stay in a critical band before a critical alert is raised')
    .meta({ unit: 'ms' }),
  /**
   * How long a device must keep sending its no-signal value (probe off: heart rate 0, SpO2 0) before NO_SIGNAL is raised.
   * @defaultValue 15 000 ms: as a critical value (Welch 2011); a probe repositioned within seconds raises nothing
   */
  noSignalPersistenceMs: ms('the no-signal persistence')
    .default(15_000)
    .describe('how long a device must send its no-signal value before a no-signal alert is raised')
    .meta({ unit: 'ms' }),
  /**
   * How long a subject must stay out of its CRITICAL band (a NEWS2 score below 7) before its critical persistence run
   * ends; a WARNING run ends at its first sample back. A critical run survives shorter returns: brief samples back
   * inside a sustained dangerous excursion are themselves typical artefacts or oscillation (a heart rate of 150 with one 80 every
   * 10 s, an SpO2 alternating 88/92), and alarm-delay practice measures the time out of band within a window (Görges M,
   * Markewitz BA, Westenskow DR, Anesth Analg 2009;108:1546-52). 0: any sample back ends it.
   * @defaultValue 10 000 ms: shorter than any persistence time, so one artefact among normal values still raises nothing
   */
  persistenceResetMs: ms('the persistence reset')
    .default(10_000)
    .describe('how long a value must stay out of its critical band before its critical run ends (shorter returns do not restart it)')
    .meta({ unit: 'ms' }),
  /**
   * Freshness window of each NEWS2 parameter (see DEFAULT_NEWS2_FRESHNESS). As a flag, `param=duration` pairs separated by
   * commas, each over the default: `--news2-freshness systolic=1h,temperature=2h`.
   * @defaultValue heart rate, SpO2, respiration 5 min; systolic 30 min; temperature 60 min; air/oxygen and consciousness 4 h
   */
  news2FreshnessMs: z
    .union([z.string(), z.partialRecord(z.enum(NEWS2_PARAMETERS), z.number())])
    .transform(news2Freshness)
    .prefault(DEFAULT_NEWS2_FRESHNESS_TEXT)
    .describe("how recent each NEWS2 parameter's value must be to count, e.g. systolic=1h,temperature=2h (units ms, s, m, h; a bare number is ms)")
    .meta({ arg: 'param=duration,...' }),
  /**
   * A device is stale after this many of its own cadences without a reading.
   * @defaultValue 3 cadences
   */
  staleCadences: count('cadences').default(3),
  /**
   * Lower bound of the stale threshold, whatever the cadence.
   * @defaultValue 120 000 ms: two minutes, so a 1 Hz oximeter does not raise on a short radio gap
   */
  staleMinMs: ms('the minimum stale time').default(120_000).describe('a device is stale after 3 cadences, never less than this').meta({ unit: 'ms' }),
  /**
   * Readings up to this much older than their own device's newest reading are placed in order; older ones are counted as
   * late and left to the lake. Per device, so that a device whose clock lags the patient's others still reaches the view.
   * @defaultValue 5 000 ms
   */
  outOfOrderToleranceMs: ms('the out-of-order tolerance')
    .default(5_000)
    .describe("readings this much older than their device's newest are placed in order")
    .meta({ unit: 'ms' }),
  /**
   * Event-time span of the `{p}:series` sorted set, trimmed by event time.
   * @defaultValue 900 000 ms: the 15 minutes docs/CONTRACT.md promises the dashboard
   */
  seriesWindowMs: ms('the series window').default(900_000).describe("event-time span of each patient's series in Redis").meta({ unit: 'ms' }),
  /**
   * Most readings processed in one batch (one Redis round trip, one commit). A batch takes what is
   * buffered, so at a steady rate batches stay small (latency is unaffected); the bound matters
   * when draining a backlog, where each patient in a batch costs once (its state encoded, its keys
   * written), so a batch should hold several readings per patient. `npx tsx bench/speed.ts
   * --readings 400000 --patients 10000 --no-clients`, snappy: 25.4k readings/s at 31.8 µs CPU per
   * reading with 5,000; 42.7k/s at 17.6 µs with 20,000; 55.0k/s at 15.2 µs with 50,000 (100
   * patients: 90.3k/s at 10.1 µs); the peak RSS was the same (1.1-1.3 GB).
   * @defaultValue 50 000 readings
   */
  maxBatchReadings: count('readings per batch').default(50_000).describe('readings per batch: one Redis round trip and one commit').meta({ unit: 'readings' }),
  /**
   * Bound of the consumer's in-memory queue of fetched records (the stream's highWaterMark).
   * @defaultValue 100 000 records: two batches, so the next batch is fetched while one is processed
   */
  maxBufferedRecords: count('buffered records').default(100_000).describe('bound of the records fetched ahead of processing').meta({ unit: 'records' }),
  /**
   * Longest wait of the broker for new records when there are none (Kafka fetch max wait).
   * @defaultValue 100 ms: bounds the latency of a reading arriving on an idle partition
   */
  fetchMaxWaitMs: ms('the fetch wait').default(100),
  /**
   * Interval of the one-line status log (readings/s, lag, rejected, alerts).
   * @defaultValue 10 000 ms
   */
  statusIntervalMs: ms('the status interval').default(10_000),
  /**
   * Interval of the stale-device check and of the Redis-wipe check while no readings arrive.
   * @defaultValue 5 000 ms
   */
  housekeepingIntervalMs: ms('the housekeeping interval').default(5_000),
  /**
   * Approximate length of the `alerts` stream (XADD MAXLEN ~).
   * @defaultValue 10 000 events
   */
  alertStreamMaxLen: count('alert events').default(10_000),
  /**
   * Readings whose event time is this far ahead of the broker's timestamp are rejected (FUTURE_TS): a wrong device clock
   * would otherwise pin "latest" in the future.
   * @defaultValue 300 000 ms: five minutes of clock skew
   */
  maxClockSkewMs: ms('the clock skew').default(300_000),
  /**
   * Kafka group session timeout: how long a crashed instance keeps its partitions before the group hands them over.
   * @defaultValue 10 000 ms: a kill -9 costs at most ten seconds of latency on that instance's patients
   */
  sessionTimeoutMs: ms('the session timeout').default(10_000),
  /**
   * Static group membership (Kafka's group.instance.id): an instance restarted with the same id
   * takes its partitions back at once, instead of after the crashed one's session timeout. Each
   * running instance needs its own id; one started with an id already in use fences the other.
   * @defaultValue none: dynamic membership
   */
  /**
   * The risk model file to serve (docs/CLINICAL.md, Serving the risk model; written by `vigil model train`). A file that
   * cannot be served (corrupt, another format version, unknown features) is refused with one warning and the layer runs
   * without it; the risk is experimental and never holds up NEWS2 and the bands.
   * @defaultValue `<data lake>/models/latest.json` when that file exists, else none (no risk is computed, at no cost)
   */
  riskModel: z
    .string()
    .min(1, { error: 'expected a model file path' })
    .optional()
    .meta({ description: 'risk model file to serve', arg: 'file', unset: '<datalake>/models/latest.json if it exists' }),
  /**
   * The risk at and above which RISK_HIGH is raised, over the model file's `threshold.raise`; the clear threshold keeps the
   * file's ratio of clear to raise (hysteresis: a risk hovering on the threshold does not raise and clear in turn).
   * @defaultValue the model file's threshold
   */
  riskThreshold: z.coerce
    .number({ error: 'expected a risk threshold between 0 and 1' })
    .gt(0, { error: 'expected a risk threshold above 0' })
    .max(1, { error: 'expected a risk threshold of at most 1' })
    .optional()
    .meta({ description: "risk at which RISK_HIGH is raised, over the model file's threshold", arg: 'risk', unset: "the model file's" }),
  instanceId: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,128}$/, { error: 'expected an instance id of letters, digits, ".", "_" or "-"' })
    .optional()
    .meta({
      description:
        'static group membership: a restart with the same id takes its partitions back at once instead of after the session timeout; one id per running instance',
      arg: 'id',
      unset: 'none',
    }),
})

export type SpeedOptions = Readonly<z.infer<typeof speedOptionsSchema>>

/** The defaults, for tests and `vigil all`. */
export const DEFAULT_SPEED_OPTIONS: SpeedOptions = Object.freeze(speedOptionsSchema.parse({}))
