import { describe, expect, it } from 'vitest'
import { consumerGroupOptions } from './kafka.ts'

describe('consumer-group options', () => {
  it("commits by hand, heartbeats ten times a session, and leaves unset settings to the client's defaults", () => {
    // The archiver's settings: no rebalance timeout, no read-ahead bound.
    expect(consumerGroupOptions({ sessionTimeoutMs: 10_000, fetchMaxWaitMs: 500 })).toEqual({
      autocommit: false,
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
      maxWaitTime: 500,
    })
  })

  it('passes a rebalance timeout and a read-ahead bound when the stage sets them', () => {
    expect(consumerGroupOptions({ sessionTimeoutMs: 6_000, rebalanceTimeoutMs: 6_000, fetchMaxWaitMs: 100, maxBufferedRecords: 2_000 })).toEqual({
      autocommit: false,
      sessionTimeout: 6_000,
      rebalanceTimeout: 6_000,
      heartbeatInterval: 600,
      maxWaitTime: 100,
      highWaterMark: 2_000,
    })
  })

  it('never heartbeats more often than every 100 ms', () => {
    expect(consumerGroupOptions({ sessionTimeoutMs: 500, fetchMaxWaitMs: 100 }).heartbeatInterval).toBe(100)
  })
})
