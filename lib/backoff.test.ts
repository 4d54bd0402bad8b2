import { describe, expect, it } from 'vitest'
import { backoffDelay, retry, pollUntil, settlesWithin } from './backoff.ts'

describe('backoffDelay', () => {
  it('doubles from the initial delay up to the cap, with jitter in the upper half', () => {
    expect(backoffDelay(1, 100, 1_000, () => 0)).toBe(50)
    expect(backoffDelay(1, 100, 1_000, () => 0.999999)).toBe(100)
    expect(backoffDelay(3, 100, 1_000, () => 0.999999)).toBe(400)
    expect(backoffDelay(10, 100, 1_000, () => 0.999999)).toBe(1_000)
    expect(backoffDelay(10, 100, 1_000, () => 0)).toBe(500)
  })
})

describe('retry', () => {
  it('retries until the operation succeeds and reports each retry', async () => {
    const seen: number[] = []
    const result = await retry(
      async (attempt) => {
        if (attempt < 3) throw new Error(`fail ${attempt}`)
        return attempt
      },
      { initialDelayMs: 1, maxDelayMs: 2, onRetry: (a) => seen.push(a) },
    )
    expect(result).toBe(3)
    expect(seen).toEqual([1, 2])
  })

  it('rethrows a fatal error at once', async () => {
    let calls = 0
    await expect(
      retry(
        async () => {
          calls++
          throw new Error('fatal')
        },
        { initialDelayMs: 1, isFatal: () => true },
      ),
    ).rejects.toThrow('fatal')
    expect(calls).toBe(1)
  })

  it('gives up with the last error once the deadline would pass', async () => {
    await expect(retry(async () => Promise.reject(new Error('down')), { initialDelayMs: 5, maxDelayMs: 5, deadlineMs: 20 })).rejects.toThrow('down')
  })
})

describe('pollUntil', () => {
  it('returns the first truthy value', async () => {
    let n = 0
    expect(await pollUntil(async () => (++n >= 3 ? n : undefined), { timeoutMs: 1_000, intervalMs: 1, what: 'n' })).toBe(3)
  })

  it('gives up at once when told the awaited thing will never come', async () => {
    const started = Date.now()
    await expect(
      pollUntil(async () => false, { timeoutMs: 10_000, intervalMs: 5, what: 'the broker', giveUpIf: () => 'the broker process exited' }),
    ).rejects.toThrow('the broker process exited while waiting for the broker')
    expect(Date.now() - started).toBeLessThan(1_000)
  })

  it('names what it waited for when it times out', async () => {
    await expect(pollUntil(async () => false, { timeoutMs: 20, intervalMs: 5, what: 'the broker' })).rejects.toThrow('waiting for the broker')
  })
})

const never = () => new Promise<never>(() => undefined)

describe('settlesWithin', () => {
  it('is true for a promise that settles either way within the time, false for one that does not', async () => {
    expect(await settlesWithin(Promise.resolve(1), 50)).toBe(true)
    expect(await settlesWithin(Promise.reject(new Error('x')), 50)).toBe(true)
    expect(await settlesWithin(new Promise((resolve) => setTimeout(resolve, 10)), 500)).toBe(true)
    expect(await settlesWithin(never(), 10)).toBe(false)
  })
})
