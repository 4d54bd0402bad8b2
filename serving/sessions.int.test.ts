import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestEnv, type TestEnv } from '../test/support.ts'
import { pollUntil } from '../lib/backoff.ts'
import { redisKeys, type RedisKeys } from '../lib/contract/keys.ts'
import { disabled, newUser } from '../lib/identity/records.ts'
import { RegistryState, userKey } from '../lib/identity/registry-state.ts'
import type { UserRecord } from '../lib/identity/model.ts'
import { connectRedis, type RedisClient } from '../lib/redis.ts'
import { SESSION_COOKIE, createAuth } from './auth.ts'
import { createSessionStore, sessionHandle } from './sessions.ts'

let env: TestEnv
let redis: RedisClient
let keys: RedisKeys

beforeAll(async () => {
  env = await createTestEnv()
  keys = redisKeys(env.config.redisPrefix)
  redis = await connectRedis(env.config)
})

afterAll(async () => {
  redis?.destroy()
  await env?.cleanup()
})

function apply(state: RegistryState, user: UserRecord): void {
  expect(state.apply(userKey(user.username), Buffer.from(JSON.stringify(user)))).toEqual({ ok: true })
}

describe('sessions in Redis', () => {
  it('keeps a session under the SHA-256 of its random id, with a TTL of the session life, and ends it on demand', async () => {
    const store = createSessionStore(redis, keys, 60_000)
    const { id, handle, session } = await store.create({ user: 'nurse.ode', credentialVersion: 3 })
    expect(id).toMatch(/^[\w-]{43}$/)
    expect(handle).toBe(sessionHandle(id))
    expect(session.expiresAt - session.createdAt).toBe(60_000)
    expect(await redis.exists(keys.session(id))).toBe(0)
    const ttl = await redis.pTTL(keys.session(handle))
    expect(ttl).toBeGreaterThan(50_000)
    expect(ttl).toBeLessThanOrEqual(60_000)
    expect(await redis.get(keys.session(handle))).not.toContain(id)
    expect(await store.lookup(id)).toEqual(session)
    expect(await store.readMany([handle, sessionHandle('unknown')])).toEqual(new Map([[handle, session]]))
    expect((await store.create({ user: 'nurse.ode', credentialVersion: 3 })).id).not.toBe(id)
    await store.end(id)
    expect(await store.lookup(id)).toBeNull()
  })

  it('forgets a session once its TTL has run out', async () => {
    const store = createSessionStore(redis, keys, 150)
    const { id } = await store.create({ user: 'nurse.ode', credentialVersion: 1 })
    expect(await store.lookup(id)).not.toBeNull()
    await pollUntil(async () => (await store.lookup(id)) === null, { timeoutMs: 5_000, intervalMs: 50, what: 'the session to expire' })
    expect(await redis.exists(keys.session(sessionHandle(id)))).toBe(0)
  })

  it('refuses what is not a session it wrote', async () => {
    const store = createSessionStore(redis, keys, 60_000)
    await redis.set(keys.session(sessionHandle('planted')), '{"user":"admin"}')
    await redis.set(keys.session(sessionHandle('not-json')), 'admin')
    expect(await store.lookup('planted')).toBeNull()
    expect(await store.lookup('not-json')).toBeNull()
  })
})

/** Where these requests come from. */
const FROM = { address: '127.0.0.1' }

describe('a request with a session cookie', () => {
  const nurse = newUser({ username: 'nurse.ode', role: 'clinician', passwordHash: 'scrypt$unused' }, 1)
  const cookie = (id: string) => ({ cookie: `theme=dark; ${SESSION_COOKIE}=${id}` })

  it("acts as the session's user with the registry's role, until the user is disabled", async () => {
    const registry = new RegistryState()
    apply(registry, nurse)
    const auth = createAuth({ token: 'a-configured-token-123456', sessions: createSessionStore(redis, keys, 60_000), registry, wrongTokensPerMinute: 10 })
    const { id, session } = await auth.openSession(nurse)
    expect(await auth.identify(cookie(id), FROM)).toEqual({
      principal: { user: 'nurse.ode', role: 'clinician', via: 'session' },
      session: { handle: sessionHandle(id), expiresAt: session.expiresAt },
    })
    apply(registry, disabled(nurse, 2))
    expect(await auth.identify(cookie(id), FROM)).toBeNull()
  })

  it('acts as the bootstrap admin after /login?token=, and not once the server runs with another token', async () => {
    const sessions = createSessionStore(redis, keys, 60_000)
    const auth = createAuth({ token: 'a-configured-token-123456', sessions, registry: new RegistryState(), wrongTokensPerMinute: 10 })
    const { id } = await auth.openSession('token')
    expect((await auth.identify(cookie(id), FROM))?.principal).toEqual({ user: 'VIGIL_TOKEN', role: 'admin', via: 'session' })
    const rotated = createAuth({ token: 'another-configured-token-123', sessions, registry: new RegistryState(), wrongTokensPerMinute: 10 })
    expect(await rotated.identify(cookie(id), FROM)).toBeNull()
  })

  it('refuses a forged, ended or malformed cookie, and a bearer header that is wrong even beside a good cookie', async () => {
    const registry = new RegistryState()
    apply(registry, nurse)
    const auth = createAuth({ token: 'a-configured-token-123456', sessions: createSessionStore(redis, keys, 60_000), registry, wrongTokensPerMinute: 10 })
    const { id } = await auth.openSession(nurse)
    expect(await auth.identify(cookie('forged'), FROM)).toBeNull()
    expect(await auth.identify(cookie('%E0%A4%A'), FROM)).toBeNull()
    expect(await auth.identify({ ...cookie(id), authorization: 'Bearer wrong' }, FROM)).toBeNull()
    await auth.sessions.end(id)
    expect(await auth.identify(cookie(id), FROM)).toBeNull()
  })
})
