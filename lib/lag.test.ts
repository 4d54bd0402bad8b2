import { describe, expect, it } from 'vitest'
import { describeLag, worstPartition, type GroupLag } from './lag.ts'

const group = (lags: number[]): GroupLag => ({
  group: 'vigil-speed',
  topic: 'vitals.readings',
  total: lags.reduce((a, b) => a + b, 0),
  partitions: lags.map((lag, partition) => ({ partition, start: 0, end: 100, committed: 100 - lag, lag })),
})

describe('the lag in a status line', () => {
  it('is the total alone when no partition is behind', () => {
    expect(describeLag(group([0, 0, 0]))).toBe('lag 0')
    expect(worstPartition(group([0, 0, 0]))).toBeUndefined()
  })

  it('names the partition furthest behind, the lowest-numbered on a tie', () => {
    expect(describeLag(group([3, 9, 0, 9]))).toBe('lag 21 (partition 1: 9)')
  })

  it('says "?" when Kafka did not answer and "-" before the topic exists', () => {
    expect(describeLag(undefined)).toBe('lag ?')
    expect(describeLag(null)).toBe('lag - (no topic yet)')
  })
})
