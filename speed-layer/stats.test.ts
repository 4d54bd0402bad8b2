import { describe, expect, it } from 'vitest'
import { emptyStats, recordsPerSecond, statusMessage } from './stats.ts'

describe('the status line', () => {
  it('says the rate, the lag, the rejected total (and how many were refused only in part) and the counters', () => {
    const s = emptyStats()
    s.rejected.SCHEMA = 2
    s.rejected.OUT_OF_RANGE = 1
    Object.assign(s, { partialRejects: 1, duplicates: 4, late: 5, alertEvents: 6, batches: 7 })
    s.lag = { group: 'vigil-speed', topic: 'vitals.readings', total: 12, partitions: [{ partition: 3, start: 0, end: 12, committed: 0, lag: 12 }] }
    expect(statusMessage(s, 1234.4)).toBe('1234 readings/s, lag 12 (partition 3: 12), rejected 3 (1 in part), duplicates 4, late 5, alerts 6, batches 7')
    s.lag = undefined
    expect(statusMessage(s, 0)).toMatch(/^0 readings\/s, lag \?, rejected 3/)
  })

  it('computes the rate per second over at least one millisecond', () => {
    expect(recordsPerSecond(15_000, 5_000, 10_000)).toBe(1_000)
    expect(recordsPerSecond(10, 0, 0)).toBe(10_000)
  })
})
