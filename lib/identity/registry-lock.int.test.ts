/**
 * The registry's write lock (lib/identity/registry-lock.ts) against the real Redis: a lock that
 * passed to another holder is known lost, and a refused connection is answered at once.
 */
import { randomUUID } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { freePort } from '../../test/support.ts'
import { loadConfig } from '../config.ts'
import { redisKeys } from '../contract/keys.ts'
import { VigilError } from '../errors.ts'
import { createLogger } from '../log.ts'
import { connectRedis, deleteKeys } from '../redis.ts'
import { sha256Hex } from './model.ts'
import { RegistryLocks } from './registry-lock.ts'
import { testRedisUrl } from '../../test/support.ts'

const log = createLogger({ level: 'silent', pretty: false, destination: process.stderr })
const config = loadConfig({ redisPrefix: `test-${randomUUID().slice(0, 8)}:`, ...testRedisUrl() }, {})
const locks: RegistryLocks[] = []

afterEach(async () => {
  for (const l of locks.splice(0)) await l.close()
  const redis = await connectRedis(config)
  await deleteKeys(redis, redisKeys(config.redisPrefix).everything)
  redis.destroy()
})

function registryLocks(overrides: Partial<typeof config> = {}): RegistryLocks {
  const l = new RegistryLocks({ ...config, ...overrides }, log, 'test-registry-lock')
  locks.push(l)
  return l
}

describe('the registry write lock', () => {
  it('is held until released, and a lock taken since by another is known lost: not confirmed, not released', async () => {
    const a = registryLocks()
    const lock = await a.acquire('device:wear-7', 'device wear-7')
    await lock.confirm()
    expect(await lock.held()).toBe(true)

    // The lock expired (Redis stalled past its TTL) and another write took it.
    const key = redisKeys(config.redisPrefix).registryLock(sha256Hex('device:wear-7'))
    const redis = await connectRedis(config)
    try {
      await redis.set(key, 'another-holder')
      expect(await lock.held()).toBe(false)
      await expect(lock.confirm()).rejects.toMatchObject({ code: 'CONFLICT' })
      await lock.release()
      expect(await redis.get(key)).toBe('another-holder')
    } finally {
      redis.destroy()
    }
  })

  it('answers a refused connection with REDIS_UNREACHABLE caused by the refusal, not by waiting out its timeout', async () => {
    const away = registryLocks({ redisUrl: `redis://127.0.0.1:${await freePort()}` })
    const error = await away.acquire('user:kim', 'user kim').then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(VigilError)
    expect(error).toMatchObject({ code: 'REDIS_UNREACHABLE' })
    expect(String((error as VigilError).cause)).toMatch(/ECONNREFUSED/)
  })
})
