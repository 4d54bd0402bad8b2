/**
 * Retries of the speed layer's round trips to Kafka and Redis (lib/backoff.ts), each outage
 * logged once with what failed, and its end once: a broker or Redis down for a minute is two
 * lines, not one per attempt.
 */
import { retry } from '../lib/backoff.ts'
import { describeError } from '../lib/errors.ts'
import type { Logger } from '../lib/log.ts'

/**
 * A batch given up on purpose, to be read again from the committed offsets (an expected event, not
 * a failure): never retried.
 */
export class RereadFromCommit extends Error {}

export interface OutageReport {
  onRetry(attempt: number, error: unknown, delayMs: number): void
  /** The operation succeeded: logs the end of the outage, if one was reported. */
  done(): void
}

export class Retrier {
  constructor(
    private readonly log: Logger,
    /** Stops the retries (the stop of the layer): the last error is rethrown. */
    readonly signal: AbortSignal,
  ) {}

  /** Logs an outage of `what` once, with the fix, until the operation succeeds again. */
  outage(what: string): OutageReport {
    let reported = false
    return {
      onRetry: (_attempt, error, delayMs) => {
        if (!reported) this.log.warn(`${what} failed (${describeError(error)}); retrying with backoff (next in ${delayMs} ms, at most 10 s apart)`)
        reported = true
      },
      done: () => {
        if (reported) this.log.info(`${what} works again; catching up`)
        reported = false
      },
    }
  }

  /** Runs `fn` until it succeeds (or the layer stops, or it throws RereadFromCommit), reporting the outage of `what`. */
  async run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const o = this.outage(what)
    const result = await retry(fn, { signal: this.signal, onRetry: o.onRetry, isFatal: (error) => error instanceof RereadFromCommit })
    o.done()
    return result
  }
}
