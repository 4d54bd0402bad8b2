/**
 * One run's passage from a source (the simulation or a CSV replay) to the sink: the records
 * handed over (never past --count), the --duration deadline, the stop signal, and the wait for the
 * sink's capacity and the pacer's next due time. Both sources drive it; it is the one place where
 * the edge sleeps.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { FaultInjector, EdgeRecord } from './faults.ts'
import type { Pacer } from './pacer.ts'
import type { Sink, SinkStats } from './sinks.ts'
import type { StoppedBy } from './summary.ts'

/** Longest single sleep, ms: a stop or the deadline is noticed within it. */
const MAX_TICK_MS = 100

/** The edge's counters (its `stats()`, lib/stage.ts): the flow's and the sink's, as its progress line reports them. */
export interface EdgeStats extends SinkStats {
  /** Records handed to the sink. */
  sent: number
  /** CSV rows skipped. */
  skipped: number
  /** CSV cells left out of their row's reading (the rest of the row sent). */
  leftOut: number
}

export interface FlowLimits {
  /** --count: records to send. */
  count?: number
  /** --duration, seconds of wall-clock time. */
  durationS?: number
  /** --rate: with --duration, the count is rate × duration. */
  rate?: number | 'max'
}

export class Flow {
  /** Records handed to the sink. */
  sent = 0
  /** CSV rows skipped (counted here for the progress line). */
  skipped = 0
  /** CSV cells left out of their row's reading (counted here for the progress line). */
  leftOut = 0
  stoppedBy: StoppedBy = 'stop'
  /** Records the run may send: --count, or --rate × --duration. */
  readonly limit: number
  /** Clock time at which --duration ends the run. */
  readonly deadline: number
  readonly sink: Sink
  readonly faults: FaultInjector
  readonly pacer: Pacer
  readonly #byLimit: StoppedBy
  readonly #abort = new AbortController()

  constructor(sink: Sink, faults: FaultInjector, pacer: Pacer, limits: FlowLimits) {
    this.sink = sink
    this.faults = faults
    this.pacer = pacer
    const { count, durationS, rate } = limits
    this.limit = count ?? (typeof rate === 'number' && durationS !== undefined ? Math.floor(rate * durationS) : Infinity)
    this.deadline = durationS === undefined ? Infinity : pacer.t0 + durationS * 1000
    this.#byLimit = count !== undefined ? 'count' : 'duration'
  }

  /** The counters now, a copy. */
  stats(): EdgeStats {
    return { sent: this.sent, skipped: this.skipped, leftOut: this.leftOut, ...this.sink.stats }
  }

  /** True once stop() was called. */
  get stopping(): boolean {
    return this.#abort.signal.aborted
  }

  stop(): void {
    this.#abort.abort()
  }

  /** Records that the run ended because the limit was reached. */
  endAtLimit(): void {
    this.stoppedBy = this.#byLimit
  }

  /** Hands records to the sink, never past the limit; false once the limit is reached. */
  emit(records: EdgeRecord[]): boolean {
    if (records.length === 0) return this.sent < this.limit
    let n = records.length
    if (this.sent + n > this.limit) n = this.limit - this.sent
    if (n <= 0) return false
    // A copy: the sources reuse their arrays, the sink keeps what it is given.
    const batch = n === records.length ? records.slice() : records.slice(0, n)
    for (const r of batch) this.faults.countEmitted(r)
    this.sent += n
    this.sink.send(batch)
    return this.sent < this.limit
  }

  /**
   * Waits for the sink's capacity, then towards `dueAt` (clock ms) for at most MAX_TICK_MS; false
   * when the run must end (stopped, or past the deadline). Throws the sink's fatal error.
   */
  async wait(dueAt: number): Promise<boolean> {
    const cap = this.sink.waitForCapacity()
    if (cap !== undefined) await cap
    if (this.sink.fatal !== undefined) throw this.sink.fatal
    if (this.stopping) return false
    const t = this.pacer.now()
    if (t >= this.deadline) {
      this.stoppedBy = 'duration'
      return false
    }
    const wait = Math.min(dueAt - t, this.deadline - t, MAX_TICK_MS)
    if (wait > 0) {
      try {
        await sleep(wait, undefined, { signal: this.#abort.signal })
      } catch {
        // Only stop() rejects the sleep (AbortError): the run ends.
        return false
      }
    } else {
      // Let the sink's I/O run between chunks.
      await new Promise((resolve) => setImmediate(resolve))
    }
    return !this.stopping
  }
}
