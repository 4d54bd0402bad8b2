/** The Redis lock (lib/redis-lock.ts) against the real Redis: one holder, and only the holder renews or releases. */
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from './config.ts'
import { redisKeys } from './contract/keys.ts'
import { acquireLock, releaseLock, renewLock } from './redis-lock.ts'
import { connectRedis, deleteKeys, type RedisClient } from './redis.ts'
import { testRedisUrl } from '../test/support.ts'

const keys = redisKeys(`test-${randomUUID().slice(0, 8)}:`)
let redis: RedisClient

beforeAll(async () => {
  redis = await connectRedis(loadConfig({ redisPrefix: keys.prefix, ...testRedisUrl() }, {}))
})

afterAll(async () => {
  await deleteKeys(redis, keys.everything)
  redis.destroy()
})

describe('acquireLock, renewLock, releaseLock', () => {
  it('gives the lock to one holder, refuses a second, and frees it on release', async () => {
    const key = keys.other('lock', 'one')
    const token = await acquireLock(redis, key, 60_000)
    expect(token).toEqual(expect.any(String))
    expect(await acquireLock(redis, key, 60_000)).toBeNull()
    expect(await releaseLock(redis, key, token!)).toBe(true)
    expect(await redis.exists(key)).toBe(0)
    expect(await acquireLock(redis, key, 60_000)).toEqual(expect.any(String))
  })

  it('leaves a lock another holder took alone: neither renewed nor released by the old token', async () => {
    const key = keys.other('lock', 'taken')
    const old = await acquireLock(redis, key, 60_000)
    // The old holder's lock expired and another took it.
    await redis.del(key)
    const current = await acquireLock(redis, key, 60_000)
    expect(current).not.toBeNull()
    expect(await renewLock(redis, key, old!, 60_000)).toBe(false)
    expect(await releaseLock(redis, key, old!)).toBe(false)
    expect(await redis.get(key)).toBe(current)
  })

  it('renews the holder’s TTL', async () => {
    const key = keys.other('lock', 'renew')
    const token = await acquireLock(redis, key, 1_000)
    expect(await renewLock(redis, key, token!, 600_000)).toBe(true)
    expect(await redis.pTTL(key)).toBeGreaterThan(1_000)
  })
})
