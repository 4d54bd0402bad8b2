/**
 * Redis client plumbing shared by every stage (node-redis; chosen by measurement, see
 * docs/ARCHITECTURE.md). Reconnects with capped exponential backoff; every client has an
 * 'error' listener so a lost connection is logged, never an unhandled event.
 */
import { createClient } from 'redis'
import type { Logger } from 'pino'
import type { Config } from './config.ts'
import { backoffDelay } from './backoff.ts'
import { VigilError, describeError } from './errors.ts'

export interface RedisOptions {
  log?: Logger
  /** Name shown in CLIENT LIST. */
  name?: string
  /** Fail the first connection after this many milliseconds instead of retrying forever. */
  connectTimeoutMs?: number
}

function newClient(config: Pick<Config, 'redisUrl'>, options: RedisOptions) {
  return createClient({
    url: config.redisUrl,
    name: options.name,
    socket: {
      connectTimeout: options.connectTimeoutMs ?? 5_000,
      reconnectStrategy: (retries: number) => backoffDelay(retries + 1, 100, 5_000),
    },
  })
}

export type RedisClient = ReturnType<typeof newClient>

export function createRedis(config: Pick<Config, 'redisUrl'>, options: RedisOptions = {}): RedisClient {
  const client = newClient(config, options)
  let reported = false
  client.on('error', (error: unknown) => {
    // node-redis emits an error per failed reconnect; report the outage once until it recovers.
    if (!reported) options.log?.warn(`Redis at ${config.redisUrl} is unreachable (${describeError(error)}); retrying`)
    reported = true
  })
  client.on('ready', () => {
    if (reported) options.log?.info(`Redis at ${config.redisUrl} is reachable again`)
    reported = false
  })
  return client
}

/** Connects, or throws the one sentence a user sees when Redis is unreachable. */
export async function connectRedis(config: Pick<Config, 'redisUrl'>, options: RedisOptions = {}): Promise<RedisClient> {
  const client = createRedis(config, options)
  try {
    await client.connect()
    return client
  } catch (error) {
    client.destroy()
    throw redisUnreachable(config, error)
  }
}

/** True when a PING answers within `timeoutMs`. */
export async function redisAnswers(config: Pick<Config, 'redisUrl'>, timeoutMs = 2_000): Promise<boolean> {
  const client = createClient({ url: config.redisUrl, socket: { connectTimeout: timeoutMs, reconnectStrategy: false } })
  client.on('error', () => undefined)
  try {
    await client.connect()
    return (await client.ping()) === 'PONG'
  } catch {
    return false
  } finally {
    if (client.isOpen) client.destroy()
  }
}

export function redisUnreachable(config: Pick<Config, 'redisUrl'>, cause?: unknown): VigilError {
  return new VigilError('REDIS_UNREACHABLE', `Redis is not reachable at ${config.redisUrl}: start it with \`npx vigil stack up\` or set VIGIL_REDIS_URL.`, {
    cause,
  })
}

/**
 * Deletes every key matching a SCAN pattern (a prefix's `redisKeys(prefix).everything`) with
 * SCAN + UNLINK, never FLUSHALL or FLUSHDB: another application's keys survive. Returns the count.
 */
export async function deleteKeys(redis: RedisClient, match: string): Promise<number> {
  let n = 0
  for await (const keys of redis.scanIterator({ MATCH: match, COUNT: 1000 })) {
    if (keys.length > 0) n += await redis.unlink(keys)
  }
  return n
}
