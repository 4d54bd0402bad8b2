/**
 * The archiver's own compaction (`--compact-interval-ms`): every interval, one run of compact.ts
 * over the days that hold small files, beside the archiver's flushes, so a lake the archiver
 * writes alone does not keep its ~52,000 files a day.
 *
 * Pacing: the first run starts one interval after start, each next one an interval after the
 * previous ended, so two never overlap and a slow run delays the next rather than piling up. A
 * run that fails is logged and the next one tries again: compaction is an optimisation, the
 * archiver never stops for it. Stop cancels the next run and aborts the running one (compact.ts
 * stops at its next step and interrupts DuckDB), waiting for it a bounded time: a run still going
 * after that is abandoned, which compaction's crash safety allows (the next run, in this process
 * or another, deletes what it left). The runner is injected, so this pacing is unit-tested
 * without DuckDB.
 */
import { settlesWithin } from '../lib/backoff.ts'
import { describeError } from '../lib/errors.ts'
import { LockHeld } from './lock.ts'
import type { Logger } from '../lib/log.ts'
import type { CompactResult } from './compact.ts'

/** One compaction run; it should stop soon after `signal` aborts. */
export type CompactionRunner = (signal: AbortSignal) => Promise<CompactResult>

export class PeriodicCompaction {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private readonly abort = new AbortController()
  private stopped = false

  /** @param intervalMs time between runs; 0 turns the periodic compaction off. */
  constructor(
    private readonly intervalMs: number,
    private readonly run: CompactionRunner,
    private readonly log: Logger,
  ) {}

  /** Schedules the first run one interval from now (nothing when the interval is 0). */
  start(): void {
    if (this.intervalMs > 0) this.schedule()
  }

  /** Whether a run is in progress. */
  get busy(): boolean {
    return this.running !== undefined
  }

  private schedule(): void {
    if (this.stopped) return
    this.timer = setTimeout(() => {
      this.running = this.once().finally(() => {
        this.running = undefined
        this.schedule()
      })
    }, this.intervalMs)
    // A pending compaction is no reason to keep the process alive.
    this.timer.unref()
  }

  /** One run and its log line; never throws. */
  private async once(): Promise<void> {
    const started = Date.now()
    try {
      this.log.info(compactionLine(await this.run(this.abort.signal)))
    } catch (error) {
      const seconds = ((Date.now() - started) / 1000).toFixed(2)
      if (error instanceof LockHeld) {
        // Another archiver of the group (or `vigil compact`) is compacting the same lake: nothing to do.
        this.log.info(`compaction skipped: ${describeError(error)}; next try in ${describeInterval(this.intervalMs)}`)
      } else if (this.abort.signal.aborted) {
        this.log.info(`compaction stopped with the archiver after ${seconds} s; every offset is still in the lake once, the next run goes on`)
      } else {
        this.log.warn(`compaction failed after ${seconds} s: ${describeError(error)}; next try in ${describeInterval(this.intervalMs)}`)
      }
    }
  }

  /**
   * Cancels the next run and aborts the running one, waiting for it at most `waitMs`. Resolves
   * to true when no run is left, false when one was abandoned still running.
   */
  async stop(waitMs: number): Promise<boolean> {
    this.stopped = true
    clearTimeout(this.timer)
    const running = this.running
    if (running === undefined) return true
    this.abort.abort()
    if (await settlesWithin(running, waitMs)) return true
    this.log.warn(
      `compaction still running ${waitMs} ms after the stop: left to end on its own; the lake stays exact, the next compaction removes what it leaves`,
    )
    return false
  }
}

/** The log line of one run: its days, the files of those days before and after, what it wrote, how long it took. */
export function compactionLine(r: CompactResult): string {
  const days = r.days.length === 0 ? 'no day with small files' : `${r.days.length} day(s) (${describeDays(r.days)})`
  const skipped = r.skipped.length === 0 ? '' : `; ${r.skipped.length} folder(s) with an unreadable file left as they are`
  const cleaned = r.cleaned === 0 ? '' : `, ${r.cleaned} leftover(s) removed`
  const files = `${r.filesBefore} files before, ${r.filesAfter} after, ${r.written} written (${r.rows} rows)${cleaned}`
  return `compaction: ${days}, ${files} in ${r.seconds.toFixed(2)} s${skipped}`
}

function describeDays(days: readonly string[]): string {
  return days.length <= 3 ? days.join(', ') : `${days[0]} to ${days[days.length - 1]}`
}

function describeInterval(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms / 1000} s`
}
