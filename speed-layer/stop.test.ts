import { describe, expect, it } from 'vitest'
import type { Logger } from '../lib/log.ts'
import { StopBudget } from './stop.ts'

/** A clock the test moves, and the warnings logged. */
function setup(budgetMs: number) {
  let t = 1_000
  const warnings: string[] = []
  const budget = new StopBudget(budgetMs, { warn: (msg: string) => void warnings.push(msg) } as unknown as Pick<Logger, 'warn'>, () => t)
  const advance = (ms: number) => {
    t += ms
  }
  return { budget, warnings, advance }
}

const never = () => new Promise<void>(() => undefined)

describe('StopBudget', () => {
  it('allots a step its own bound while the budget has more, then what is left of the budget, never less than 0', () => {
    const { budget, advance } = setup(5_000)
    expect(budget.allot(3_000)).toBe(3_000)
    advance(3_000)
    expect(budget.allot(3_000)).toBe(2_000)
    expect(budget.allot(500)).toBe(500)
    advance(1_500)
    expect(budget.allot(2_000)).toBe(500)
    advance(4_000)
    expect(budget.allot(2_000)).toBe(0)
  })

  it('a step that settles in time, resolved or rejected, is not reported', async () => {
    const { budget, warnings } = setup(5_000)
    expect(await budget.step('closing the Kafka producer', Promise.resolve(), 2_000)).toBe(true)
    expect(await budget.step('leaving the consumer group', Promise.reject(new Error('not a member')), 2_000)).toBe(true)
    expect(warnings).toEqual([])
  })

  it('a step cut short is named in a warning with the time it was given, and the stop goes on', async () => {
    const { budget, warnings } = setup(5_000)
    expect(await budget.step('leaving the consumer group', never(), 20)).toBe(false)
    expect(warnings).toEqual(['stopping the speed layer: leaving the consumer group did not finish within 20 ms; going on without it'])
  })

  it('once the budget is spent a pending step is cut short at once, a settled one still counts as done', async () => {
    const { budget, warnings, advance } = setup(1_000)
    advance(1_000)
    const t0 = Date.now()
    expect(await budget.step('closing the Kafka producer', never(), 2_000)).toBe(false)
    expect(Date.now() - t0).toBeLessThan(500)
    expect(await budget.step('closing the consumer stream', Promise.resolve(), 2_000)).toBe(true)
    expect(warnings).toEqual(['stopping the speed layer: closing the Kafka producer did not finish within 0 ms; going on without it'])
  })

  it('wait reports without logging', async () => {
    const { budget, warnings } = setup(5_000)
    expect(await budget.wait(never(), 10)).toBe(false)
    expect(warnings).toEqual([])
  })
})
