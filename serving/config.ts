/**
 * The serving layer's own options (docs/CONTRACT.md, Serving). Everything shared (port, token, Redis,
 * Kafka) comes from lib/config.ts; these are the knobs of the push loop, the API's bounds, sign-in
 * sessions and TLS. A field offered as a flag carries its help in `.describe()` and `.meta()`
 * (cli/options.ts).
 */
import { z } from 'zod'
import { parseOptions, kebabFlag } from '../lib/config.ts'

export const servingOptionsSchema = z
  .object({
    /** Address to listen on. @defaultValue 127.0.0.1: the dashboard is local unless asked otherwise */
    host: z.string().min(1).default('127.0.0.1').describe('address to listen on (0.0.0.0 for every interface)').meta({ arg: 'address' }),
    /**
     * Interval of the push loop, in milliseconds: every client gets at most one `reading` event per
     * interval, whatever the rate of readings. @defaultValue 100 ms: 10 updates/s per chart
     */
    pushIntervalMs: z.coerce.number().int().min(20).max(5_000).default(100).describe('interval of live pushes to each page').meta({ unit: 'ms' }),
    /** Most series entries kept per patient between two pushes (the newest win). @defaultValue 200 */
    maxEntriesPerPush: z.coerce.number().int().min(1).max(10_000).default(200),
    /**
     * A client whose socket holds more than this many unsent packets is skipped and gets a fresh
     * `snapshot` once it drains, so a slow tab never makes the server buffer without bound.
     * @defaultValue 50 packets (5 s of pushes)
     */
    maxPendingPackets: z.coerce.number().int().min(1).max(10_000).default(50),
    /** Largest request body, in bytes. @defaultValue 16 KiB: the API takes only small JSON bodies */
    bodyLimitBytes: z.coerce.number().int().min(1_024).max(10_485_760).default(16_384),
    /** Batch runs allowed per client per minute. @defaultValue 6 */
    batchRunsPerMinute: z.coerce.number().int().min(1).max(1_000).default(6),
    /**
     * Clinical events (POST /api/events) allowed per client per minute. @defaultValue 60: a ward
     * records a few an hour; a file of past episodes goes through the edge's replay (--label)
     */
    eventsPerMinute: z.coerce.number().int().min(1).max(10_000).default(60),
    /**
     * Sign-ins (POST /login) allowed per client address per minute, whatever their outcome; and as
     * many wrong bootstrap tokens (a Bearer header, /login?token=, a Socket.io handshake token),
     * after which the address's tokens get 429 until the minute ends (serving/token-guesses.ts).
     * Failures per user name have their own limit (serving/routes-session.ts). @defaultValue 10: a
     * person who mistypes twice is never stopped; a password guesser gets 14 400 tries a day per address
     */
    signInsPerMinute: z.coerce.number().int().min(1).max(10_000).default(10).describe('sign-ins, and wrong tokens, allowed per client address per minute'),
    /** Alerts returned by GET /api/alerts and sent in a snapshot. @defaultValue 200 */
    alertFeedSize: z.coerce.number().int().min(1).max(10_000).default(200),
    /** Longest series window a client may ask for, in seconds. @defaultValue 900 (15 minutes, what the speed layer keeps) */
    maxSeriesSeconds: z.coerce.number().int().min(10).max(86_400).default(900),
    /** How long /healthz waits for Kafka, in milliseconds. @defaultValue 2 000 ms */
    healthTimeoutMs: z.coerce.number().int().min(100).max(60_000).default(2_000),
    /** A patient whose newest reading is older than this is shown as stale, in milliseconds. @defaultValue 30 000 ms */
    staleAfterMs: z.coerce.number().int().min(1_000).max(86_400_000).default(30_000),
    /**
     * How long a sign-in lasts, in milliseconds, counted from sign-in (absolute: using the page
     * does not prolong it). @defaultValue 43 200 000 ms (12 h): one nursing shift, so a session
     * opened at handover ends by the next one
     */
    sessionTtlMs: z.coerce.number().int().min(60_000).max(604_800_000).default(43_200_000).describe('how long a sign-in lasts').meta({ unit: 'ms' }),
    /**
     * How often open Socket.io connections are checked against their sessions, in milliseconds: a
     * connection whose session expired, or whose user was disabled or changed password, ends
     * within this (sign-out ends its connections at once). @defaultValue 30 000 ms: one Redis
     * round trip per check, whatever the number of connections
     */
    sessionCheckIntervalMs: z.coerce.number().int().min(100).max(3_600_000).default(30_000),
    /** PEM certificate to serve HTTPS with; goes with tlsKey. Unset: plain HTTP (behind a TLS proxy, or on this machine only). */
    tlsCert: z.string().min(1).optional().meta({ description: 'serve HTTPS with this PEM certificate (with --tls-key)', arg: 'file', unset: 'plain HTTP' }),
    /** PEM private key of tlsCert. */
    tlsKey: z.string().min(1).optional().meta({ description: 'the PEM private key of --tls-cert', arg: 'file', unset: 'plain HTTP' }),
    /**
     * Trust the X-Forwarded-For and X-Forwarded-Proto headers of the one reverse proxy in front:
     * the client's address for rate limits (the last X-Forwarded-For entry, the one that proxy
     * added), and https for Secure cookies. @defaultValue false: only behind a proxy that sets them
     * and that no client can bypass, else any client could claim an address
     */
    trustProxy: z
      .boolean()
      .default(false)
      .describe('trust X-Forwarded-For (its last entry) and X-Forwarded-Proto from the one reverse proxy in front (TLS ends there)'),
  })
  .refine((o) => (o.tlsCert === undefined) === (o.tlsKey === undefined), { error: '--tls-cert and --tls-key go together', path: ['tlsCert'] })

export type ServingOptions = Readonly<z.infer<typeof servingOptionsSchema>>

/** The serving options from commander's flags (or from a test), validated and frozen. */
export function servingOptions(flags: Record<string, unknown> = {}): ServingOptions {
  return parseOptions(servingOptionsSchema, flags, kebabFlag)
}
