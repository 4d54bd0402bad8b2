/** The Redis Cluster layout of `vigil stack up --redis-cluster` (stack/redis-cluster.ts): its URL and the layouts refused. */
import { describe, expect, it } from 'vitest'
import { checkLayout, redisClusterUrl } from './redis-cluster.ts'

describe('the Redis Cluster layout', () => {
  it('names the masters of the default layout (17000-17002 of 17000-17005) as seeds', () => {
    expect(redisClusterUrl()).toBe('redis://127.0.0.1:17000,127.0.0.1:17001,127.0.0.1:17002')
    expect(redisClusterUrl({ ports: [7000, 7001, 7002], replicas: 0 })).toBe('redis://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002')
  })

  it('refuses fewer than 3 masters, or nodes that do not divide into masters and their replicas', () => {
    expect(() => checkLayout({ ports: [7000, 7001, 7002, 7003], replicas: 1 })).toThrow('it needs at least 3 masters')
    expect(() => checkLayout({ ports: [7000, 7001, 7002, 7003, 7004], replicas: 1 })).toThrow('each with the same number of replicas')
    expect(() => checkLayout({ ports: [7000, 7001, 7002], replicas: 0 })).not.toThrow()
  })
})
