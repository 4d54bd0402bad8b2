import { describe, expect, it } from 'vitest'
import { topicReplication } from './topics.ts'

describe('topic replication', () => {
  it.each([
    [1, 1, []],
    [2, 2, []],
    [3, 3, [{ name: 'min.insync.replicas', value: '2' }]],
    [5, 3, [{ name: 'min.insync.replicas', value: '2' }]],
  ])('on %i live broker(s) a topic gets %i replica(s) and the configs %j', (brokers, replicas, configs) => {
    expect(topicReplication(brokers)).toEqual({ replicas, configs })
  })

  it('never asks for fewer than one replica (a cluster whose metadata lists no broker yet)', () => {
    expect(topicReplication(0).replicas).toBe(1)
  })
})
