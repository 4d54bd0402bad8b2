/**
 * The speed layer's own options (its part of the configuration; the shared part is lib/config.ts).
 * Each default is written once, here, with its unit and why; a field offered as a flag carries
 * its help in `.describe()` and `.meta()` (cli/options.ts makes the flags).
 */
import { z } from 'zod'

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

export const speedOptionsSchema = z.object({
  /**
   * How long a vital must stay NORMAL (event time) before its alert clears.
   * @defaultValue 60 000 ms: one minute of good values; a value jittering on an edge never clears and re-raises.
   */
  holdDownMs: ms('the hold-down time').default(60_000).describe('how long a vital must stay normal before its alert clears').meta({ unit: 'ms' }),
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
   * Readings up to this much older than the patient's newest reading are placed in order; older ones are counted as late
   * and left to the lake.
   * @defaultValue 5 000 ms
   */
  outOfOrderToleranceMs: ms('the out-of-order tolerance')
    .default(5_000)
    .describe('readings this much older than the newest are placed in order')
    .meta({ unit: 'ms' }),
  /**
   * Event-time span of the `{p}:series` sorted set, trimmed by event time.
   * @defaultValue 900 000 ms: the 15 minutes docs/CONTRACT.md promises the dashboard
   */
  seriesWindowMs: ms('the series window').default(900_000).describe("event-time span of each patient's series in Redis").meta({ unit: 'ms' }),
  /**
   * Most readings processed in one batch (one Redis round trip, one commit).
   * @defaultValue 5 000 readings: large enough to amortise the round trip, small enough to keep p99 latency low
   */
  maxBatchReadings: count('readings per batch').default(5_000).describe('readings per batch: one Redis round trip and one commit').meta({ unit: 'readings' }),
  /**
   * Bound of the consumer's in-memory queue of fetched records (the stream's highWaterMark).
   * @defaultValue 10 000 records
   */
  maxBufferedRecords: count('buffered records').default(10_000).describe('bound of the records fetched ahead of processing').meta({ unit: 'records' }),
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
