import { ConnectionPool, NetworkError, type Broker } from '@platformatic/kafka'
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

describe('the Kafka client as patched (patches/@platformatic+kafka+1.35.0.patch)', () => {
  it('answers a connection to a broker missing from the metadata with a retriable error with stale metadata, not a TypeError', async () => {
    // Every caller looks a leader or coordinator up with metadata.brokers.get(id): undefined while
    // its broker has just stopped. Unpatched, the pool read undefined.host and the process ended
    // (a speed-layer instance in the quick scale run, seed 1293889280).
    const pool = new ConnectionPool('vigil-test')
    const error = await pool.get(undefined as unknown as Broker).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(NetworkError)
    expect((error as NetworkError).findBy('hasStaleMetadata', true)).toBeTruthy()
    expect((error as NetworkError).findBy('canRetry', true)).toBeTruthy()
    await pool.close()
  })
})
