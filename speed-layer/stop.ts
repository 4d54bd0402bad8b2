/**
 * The speed layer's stop as bounded waits: each step waits at most its own bound and what is left
 * of the stop's budget, so the whole stop fits the deadline of the process that runs it (`vigil
 * all` stops every stage within 10 s, docs/CONTRACT.md Commands). A step cut short is logged by
 * name and the stop goes on: nothing is lost, an uncommitted batch is replayed at the next start.
 */
import { settlesWithin } from '../lib/backoff.ts'
import type { Logger } from '../lib/log.ts'

export class StopBudget {
  private readonly deadline: number

  constructor(
    budgetMs: number,
    private readonly log: Pick<Logger, 'warn'>,
    private readonly now: () => number = Date.now,
  ) {
    this.deadline = now() + budgetMs
  }

  /** How long a step bounded by `stepMs` may wait now (ms): its bound, or what is left of the budget when less. */
  allot(stepMs: number): number {
    return Math.max(0, Math.min(stepMs, this.deadline - this.now()))
  }

  /** Whether `p` settles within its allotment; the caller says what a `false` means. */
  wait(p: Promise<unknown>, stepMs: number): Promise<boolean> {
    return settlesWithin(p, this.allot(stepMs))
  }

  /** `wait`, with a warning naming the step when it is cut short. */
  async step(what: string, p: Promise<unknown>, stepMs: number): Promise<boolean> {
    const ms = this.allot(stepMs)
    const settled = await settlesWithin(p, ms)
    if (!settled) this.log.warn(`stopping the speed layer: ${what} did not finish within ${ms} ms; going on without it`)
    return settled
  }
}
