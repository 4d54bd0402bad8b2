/** The Redis URL's nodes (lib/redis.ts redisSeeds): one server, or the seed nodes of a Redis Cluster. */
import { describe, expect, it } from 'vitest'
import { redisSeeds } from './redis.ts'

describe('redisSeeds', () => {
  it.each([
    ['redis://127.0.0.1:6379', ['redis://127.0.0.1:6379']],
    ['redis://127.0.0.1:6379/2', ['redis://127.0.0.1:6379/2']],
    ['redis://127.0.0.1:17000,127.0.0.1:17001,127.0.0.1:17002', ['redis://127.0.0.1:17000', 'redis://127.0.0.1:17001', 'redis://127.0.0.1:17002']],
    ['rediss://vigil:s%40cret@r1.example:7000,r2.example:7001', ['rediss://vigil:s%40cret@r1.example:7000', 'rediss://vigil:s%40cret@r2.example:7001']],
    ['redis://a:7000/0,b:7001', ['redis://a:7000', 'redis://b:7001']],
    ['redis://a:7000,redis://b:7001', ['redis://a:7000', 'redis://b:7001']],
  ])('reads %s as %j', (url, seeds) => {
    expect(redisSeeds(url)).toEqual(seeds)
  })

  it('refuses a database number for a cluster, which has only database 0', () => {
    expect(() => redisSeeds('redis://a:7000/3,b:7001')).toThrow(
      'VIGIL_REDIS_URL="redis://a:7000/3,b:7001" is not valid: a list of cluster nodes is redis://host:port,host:port,... (a Redis Cluster has one database).',
    )
  })
})
