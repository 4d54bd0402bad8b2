/**
 * A Redis lock held by one holder at a time, across processes: `SET key token NX PX ttl` takes it
 * with a random token, and only the holder of that token renews or releases it (a compare-and-set
 * in a Lua script, so a holder whose lock expired and passed to another never touches the new
 * holder's). Used by the identity registry's write lock (lib/identity/registry-lock.ts) and the
 * alert acknowledgement claim (serving/acknowledgements.ts).
 *
 * No fencing: a holder stalled past the TTL (a paused process, a Redis stall) may still act after
 * another has taken the lock. Callers renew just before acting and document what such a window means.
 */
import { randomBytes } from 'node:crypto'
import type { RedisClient } from './redis.ts'

/**
 * KEYS[1] the lock; ARGV[1] the holder's token. Deletes the lock only while it holds that token.
 * Returns 1 when deleted, 0 when it had expired or passed to another holder.
 */
const RELEASE_SCRIPT = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
/**
 * KEYS[1] the lock; ARGV[1] the holder's token; ARGV[2] the TTL in ms. Sets the TTL again only
 * while the lock holds that token. Returns 1 when renewed, 0 when it is not the holder's any more.
 */
const RENEW_SCRIPT = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"

/**
 * Takes the lock `key` for `ttlMs` milliseconds if no one holds it: resolves to the holder's token
 * (pass it to renewLock and releaseLock), or null when another holds the lock. Does not wait.
 */
export async function acquireLock(redis: RedisClient, key: string, ttlMs: number): Promise<string | null> {
  const token = randomBytes(16).toString('hex')
  const set = await redis.set(key, token, { condition: 'NX', expiration: { type: 'PX', value: ttlMs } })
  return set === 'OK' ? token : null
}

/** Sets the lock's TTL to `ttlMs` again if `token` still holds it: false when the lock was lost (expired, or taken since). */
export async function renewLock(redis: RedisClient, key: string, token: string, ttlMs: number): Promise<boolean> {
  return Number(await redis.eval(RENEW_SCRIPT, { keys: [key], arguments: [token, String(ttlMs)] })) === 1
}

/** Deletes the lock if `token` still holds it: false when it had expired or passed to another holder (left as it is). */
export async function releaseLock(redis: RedisClient, key: string, token: string): Promise<boolean> {
  return Number(await redis.eval(RELEASE_SCRIPT, { keys: [key], arguments: [token] })) === 1
}
