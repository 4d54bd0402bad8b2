/**
 * Options of the edge (`vigil edge`), each default written once with its unit and reason.
 * Each flag's help is the field's `.describe()` and `.meta()` (cli/options.ts makes the flags);
 * parsed from commander's flags with `parseOptions`, then frozen.
 */
import { z } from 'zod'
import { EVENT_KIND } from '../lib/contract/events.ts'

const positiveInt = (what: string) =>
  z.coerce
    .number({ error: `expected ${what}` })
    .int({ error: `expected a whole number of ${what}` })
    .positive({ error: `expected a positive number of ${what}` })

/** `--start`: epoch milliseconds, or an ISO 8601 date-time. */
const instant = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const n = typeof v === 'number' ? v : /^\d+$/.test(v.trim()) ? Number(v) : Date.parse(v)
  if (!Number.isFinite(n) || n < 0) {
    ctx.addIssue({ code: 'custom', message: 'expected epoch milliseconds or an ISO 8601 date-time such as 2025-11-22T10:00:00Z' })
    return z.NEVER
  }
  return Math.floor(n)
})

export const edgeOptionsSchema = z.object({
  /** Simulated patients. @defaultValue 20: every persona three times or more */
  patients: positiveInt('patients')
    .max(100_000, { error: 'expected at most 100000 patients' })
    .default(20)
    .describe('number of simulated patients (p-0001..., personas in a cycle)'),
  /**
   * Total readings per second, paced precisely; `max` sends as fast as the sink takes them.
   * @defaultValue undefined: the devices' own cadences, in simulated time (see speedup)
   */
  rate: z
    .union([z.literal('max'), z.coerce.number().positive()], { error: 'expected a positive number of readings per second, or "max"' })
    .optional()
    .describe('total readings per second, paced precisely; "max": as fast as the broker takes them')
    .meta({ arg: 'readings/s|max', unset: "the devices' own cadences" }),
  /** Simulated seconds per wall-clock second when no --rate is given. @defaultValue 1: real time */
  speedup: z.coerce
    .number({ error: 'expected a factor such as 60' })
    .positive({ error: 'expected a positive factor' })
    .default(1)
    .describe(
      'physiology runs this many times faster than the wall clock, without --rate (60: an hour a minute); readings are stamped with the wall-clock time they leave',
    )
    .meta({ arg: 'factor' }),
  /** Stop after this many seconds of wall-clock time. @defaultValue undefined: run until stopped */
  duration: z.coerce
    .number({ error: 'expected seconds' })
    .positive({ error: 'expected a positive number of seconds' })
    .optional()
    .meta({ description: 'stop after this many seconds', unit: 's', unset: 'run until stopped' }),
  /** Stop after exactly this many records sent. @defaultValue undefined: run until stopped */
  count: positiveInt('readings').optional().meta({ description: 'stop after exactly this many records', unset: 'run until stopped' }),
  /** Seed of every random choice. @defaultValue undefined: drawn at start and printed in the summary */
  seed: z.coerce
    .number({ error: 'expected a whole number' })
    .int({ error: 'expected a whole number' })
    .min(0)
    .max(4_294_967_295)
    .optional()
    .meta({ description: 'random seed, 0-4294967295: same seed and --start, same bytes', unset: 'random, printed' }),
  /** Event time of the simulation's first instant, epoch ms. @defaultValue undefined: now */
  start: instant.optional().meta({ description: 'event time of the first instant, ISO 8601 or epoch ms', arg: 'time', unset: 'now' }),
  /** Fraction of readings turned into injected faults, 0 to 1. @defaultValue 0 */
  faults: z.coerce
    .number({ error: 'expected a fraction from 0 to 1' })
    .min(0, { error: 'expected a fraction from 0 to 1' })
    .max(1, { error: 'expected a fraction from 0 to 1' })
    .default(0)
    .describe('fraction of readings (0-1) turned into injected sensor faults')
    .meta({ arg: 'rate' }),
  /** Where readings go: straight to Kafka, or through the gateway. @defaultValue kafka */
  via: z.enum(['kafka', 'http'], { error: 'expected kafka or http' }).default('kafka').describe('send straight to Kafka or through the gateway'),
  /** Base URL of the gateway for --via http. @defaultValue undefined: http://127.0.0.1:<ingestPort> */
  gatewayUrl: z
    .url({ error: 'expected an http:// URL' })
    .optional()
    .meta({ description: 'gateway base URL for --via http; token: first of VIGIL_DEVICE_TOKENS', arg: 'url', unset: 'http://127.0.0.1:<VIGIL_INGEST_PORT>' }),
  /** Readings per NDJSON request with --via http. @defaultValue 500 */
  httpBatch: positiveInt('readings').max(10_000).default(500).describe('readings per NDJSON request with --via http').meta({ unit: 'readings' }),
  /** Parallel HTTP requests with --via http, each owning a fixed share of the patients so that per-patient order holds. @defaultValue 4 */
  httpLanes: positiveInt('lanes').max(64).default(4).describe('parallel requests with --via http (each owns a share of the patients)'),
  /** CSV file to replay instead of simulating. */
  replay: z.string().min(1).optional().meta({ description: 'stream readings from a CSV file instead of simulating', arg: 'file.csv' }),
  /** Replay the CSV again and again, shifting time forward each pass. @defaultValue false */
  loop: z.boolean().default(false).describe('with --replay: start again at the end, shifting time forward'),
  /** Replay at the file's own timing (divided by --speedup) instead of as fast as possible. @defaultValue false */
  realtime: z.boolean().default(false).describe("with --replay: keep the file's own timing (divided by --speedup)"),
  /** Explicit CSV column mapping, `field=column,...`. */
  columns: z
    .string()
    .optional()
    .meta({
      description:
        'with --replay: explicit column mapping (fields: patientId, deviceId, ts, seq, heartRate, spo2, glucose, systolic, diastolic, respRate, ' +
        'temperature, onOxygen, consciousness)',
      arg: 'field=column,...',
    }),
  /** IANA time zone of CSV timestamps that carry no offset. @defaultValue UTC */
  timezone: z.string().min(1).default('UTC').describe('with --replay: IANA zone of timestamps without an offset').meta({ arg: 'tz' }),
  /**
   * The CSV column whose positive rows (1, true, yes) mark episodes, published to `vitals.events`
   * (docs/CONTRACT.md, Clinical events). @defaultValue undefined: no episodes from a replay
   */
  label: z.string().min(1).optional().meta({
    description: 'with --replay: a run of rows of one patient whose column is 1/true/yes is an episode, published as a clinical event',
    arg: 'column',
  }),
  /** The kind of the episodes of --label. @defaultValue seizure: the label of the CSV export Vigil's tests replay */
  labelKind: z
    .string()
    .regex(EVENT_KIND, { error: 'expected a lowercase word of at most 40 characters (a-z, 0-9, -), e.g. seizure' })
    .default('seizure')
    .describe('with --label: the kind of its episodes')
    .meta({ arg: 'word' }),
  /**
   * Publish each simulated episode as a clinical event when its onset comes (with --via kafka);
   * false is --no-episodes. @defaultValue undefined: published, the risk model learns from them
   */
  episodes: z
    .boolean()
    .optional()
    .meta({ description: 'do not publish simulated episodes to vitals.events', negate: true, unset: 'published with --via kafka' }),
  /** Progress line on stderr (readings/s, total, errors). @defaultValue undefined: when stderr is a TTY */
  progress: z.boolean().optional().meta({ description: 'no progress line', negate: true, unset: 'shown when stderr is a TTY' }),
})

export type EdgeOptions = Readonly<z.infer<typeof edgeOptionsSchema>>
export type EdgeOptionsInput = z.input<typeof edgeOptionsSchema>

/** Options with every default applied, for code that starts the edge without the CLI. */
export function edgeOptions(input: EdgeOptionsInput = {}): EdgeOptions {
  return Object.freeze(edgeOptionsSchema.parse(input))
}
