/**
 * The speed layer's status line, every statusIntervalMs (docs/CONTRACT.md, Commands): readings/s,
 * the group's committed-offset lag (lib/lag.ts), rejected (and how many of those only in part: a
 * refused field, the rest classified), duplicates, late, alerts, batches. The
 * lag is read off the batch loop, one read at a time: a slow or absent broker delays the line,
 * never a batch, and lines do not pile up.
 */
import type { Config } from '../lib/config.ts'
import { withTimeout } from '../lib/backoff.ts'
import { describeError } from '../lib/errors.ts'
import { createAdmin } from '../lib/kafka.ts'
import { committedLag } from '../lib/lag.ts'
import type { Logger } from '../lib/log.ts'
import { recordsPerSecond, statusMessage, type SpeedStats } from './stats.ts'

/** How long the status line waits for the consumer lag before saying "lag ?". */
const STATUS_LAG_TIMEOUT_MS = 5_000

export interface StatusLineParts {
  config: Pick<Config, 'kafkaBrokers'>
  groupId: string
  topic: string
  intervalMs: number
  stats: SpeedStats
  log: Logger
  /** The owned partitions, for the line's fields. */
  partitions: () => number[]
}

export class StatusLine {
  private lastAt = Date.now()
  /** The previous line's time and record count, for the rate. */
  private previous = { at: Date.now(), records: 0 }
  /** The line waiting for the lag. */
  private inFlight: Promise<void> | undefined

  constructor(private readonly p: StatusLineParts) {}

  /** The loop starts: the first line comes one interval later. */
  begin(nowMs: number): void {
    this.lastAt = nowMs
  }

  /** Logs a line if the interval has passed since the last one. */
  tick(nowMs: number): void {
    if (nowMs - this.lastAt < this.p.intervalMs) return
    this.lastAt = nowMs
    this.emit()
  }

  private emit(): void {
    if (this.inFlight !== undefined) return
    const now = Date.now()
    const { stats } = this.p
    const rate = recordsPerSecond(stats.records, this.previous.records, now - this.previous.at)
    this.previous = { at: now, records: stats.records }
    this.inFlight = (async () => {
      stats.lag = await this.readLag()
      this.p.log.info({ ...stats, lag: stats.lag?.total ?? null, partitions: this.p.partitions() }, statusMessage(stats, rate))
    })().finally(() => {
      this.inFlight = undefined
    })
  }

  /** The group's lag; undefined when Kafka did not answer in time (the line says "lag ?" and the next one asks again). */
  private async readLag(): Promise<SpeedStats['lag']> {
    const admin = createAdmin(this.p.config, 'vigil-speed-lag')
    try {
      const what = `Kafka did not answer within ${STATUS_LAG_TIMEOUT_MS} ms`
      const lags = await withTimeout(committedLag(admin, { groups: [this.p.groupId], topic: this.p.topic }), STATUS_LAG_TIMEOUT_MS, what)
      return lags?.[0] ?? null
    } catch (error) {
      // The lag is informative only.
      this.p.log.debug({ err: describeError(error) }, 'consumer lag not read')
      return undefined
    } finally {
      await admin.close().catch(() => undefined)
    }
  }
}
