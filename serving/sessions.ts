/**
 * Signed-in sessions, held in Redis (docs/SECURITY.md, Users, roles and sessions). A session id is
 * 32 random bytes (base64url) that only the browser's cookie holds; Redis keeps the session under
 * the SHA-256 of the id (`keys.session(handle)`), so a copy of Redis opens
 * nothing. The expiry is absolute, counted from sign-in: the key's TTL ends it, and nothing
 * prolongs it.
 */
import { randomBytes } from 'node:crypto'
import { z } from 'zod'
import type { RedisKeys } from '../lib/contract/keys.ts'
import { sha256Hex } from '../lib/identity/model.ts'
import type { RedisClient } from '../lib/redis.ts'

/** What Redis holds for one session. */
export interface Session {
  /** The user name, or `VIGIL_TOKEN` for a session opened with the bootstrap token. */
  user: string
  /** The user's credentialVersion at sign-in: a password change or a disable bumps it and ends the session. */
  credentialVersion: number
  /** Epoch ms. */
  createdAt: number
  /** Epoch ms: createdAt plus the session TTL. */
  expiresAt: number
  /** Only for a bootstrap-token session: an HMAC of the token it was opened with, so that a new VIGIL_TOKEN ends it. */
  tokenTag?: string
}

const sessionSchema = z.object({
  user: z.string(),
  credentialVersion: z.number().int(),
  createdAt: z.number(),
  expiresAt: z.number(),
  tokenTag: z.string().optional(),
})

/** The SHA-256 (hex) of a session id: how Redis and the open sockets know a session. */
export function sessionHandle(id: string): string {
  return sha256Hex(id)
}

export interface SessionStore {
  /** Opens a session; returns its id (the cookie's value, never stored) and what Redis holds. */
  create(input: Pick<Session, 'user' | 'credentialVersion' | 'tokenTag'>): Promise<{ id: string; handle: string; session: Session }>
  /** The session of an id, or null (unknown, or expired: gone by its TTL). */
  lookup(id: string): Promise<Session | null>
  /** The sessions of some handles in one round trip; an expired or unknown one is absent. */
  readMany(handles: readonly string[]): Promise<Map<string, Session>>
  /** Ends a session at once. */
  end(id: string): Promise<void>
  readonly ttlMs: number
}

/** The session in a Redis value, or null when the value is not one (never written by this code). */
function decode(raw: string | null, now: number): Session | null {
  if (raw === null) return null
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch {
    return null
  }
  const parsed = sessionSchema.safeParse(value)
  // The TTL removes the key at expiresAt; the check covers Redis's lazy expiry of a key read at that instant.
  if (!parsed.success || parsed.data.expiresAt <= now) return null
  return parsed.data
}

export function createSessionStore(redis: RedisClient, keys: RedisKeys, ttlMs: number, now: () => number = Date.now): SessionStore {
  const read = async (handle: string) => decode(await redis.get(keys.session(handle)), now())
  return Object.freeze({
    ttlMs,
    async create(input: Pick<Session, 'user' | 'credentialVersion' | 'tokenTag'>) {
      const id = randomBytes(32).toString('base64url')
      const handle = sessionHandle(id)
      const createdAt = now()
      const session: Session = { ...input, createdAt, expiresAt: createdAt + ttlMs }
      await redis.set(keys.session(handle), JSON.stringify(session), { expiration: { type: 'PX', value: ttlMs } })
      return { id, handle, session }
    },
    lookup: (id: string) => read(sessionHandle(id)),
    async readMany(handles: readonly string[]) {
      const found = new Map<string, Session>()
      if (handles.length === 0) return found
      // One GET per key, sent together on the connection (node-redis pipelines them): one round
      // trip, and no cross-slot MGET on a Redis Cluster.
      const values = await Promise.all(handles.map((h) => redis.get(keys.session(h))))
      const at = now()
      handles.forEach((handle, i) => {
        const session = decode(values[i] ?? null, at)
        if (session !== null) found.set(handle, session)
      })
      return found
    },
    async end(id: string) {
      await redis.unlink(keys.session(sessionHandle(id)))
    },
  })
}
