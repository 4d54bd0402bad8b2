import { describe, expect, it } from 'vitest'
import { createLogger } from '../lib/log.ts'
import { RereadFromCommit, Retrier } from './outage.ts'

const log = createLogger({ level: 'silent', pretty: false, destination: process.stderr })

describe('Retrier', () => {
  it('retries a failed round trip until it succeeds', async () => {
    let calls = 0
    const result = await new Retrier(log, new AbortController().signal).run('a round trip', async () => {
      if (++calls < 3) throw new Error('connection reset')
      return 'done'
    })
    expect(result).toBe('done')
    expect(calls).toBe(3)
  })

  it('gives a batch up at once when it throws RereadFromCommit', async () => {
    let calls = 0
    const run = new Retrier(log, new AbortController().signal).run('a view write', async () => {
      calls++
      throw new RereadFromCommit('the group rebalanced')
    })
    await expect(run).rejects.toBeInstanceOf(RereadFromCommit)
    expect(calls).toBe(1)
  })
})
