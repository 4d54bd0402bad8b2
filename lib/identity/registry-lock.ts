/**
 * One writer per registry record at a time, across processes (docs/SECURITY.md, The identity
 * registry): a Redis lock per record key (`SET NX PX` with a random token, released by a
 * compare-and-delete), held by a write from before it reads the topic's end until its record is
 * applied. The registry connects to Redis on its first write, so a process that only reads the
 * registry (the gateway) never needs Redis.
 *
 * Why a lock and not a compare-and-set on the log: Kafka has no conditional produce, so a check on
 * the log could only happen when the records are applied (a record built from an older version of
 * its key refused by every reader). But the topic is compacted, and compaction keeps the last
 * record of each key whether readers refused it or not: a refused record written after the
 * accepted one would outlive it, and the registry read after compaction would be the refused one.
 * So the check must come before producing, with no other writer of the key in between.
 */
import { createHash, randomBytes } from 'node:crypto'
import { retry, withTimeout } from '../backoff.ts'
import type { Config } from '../config.ts'
import { redisKeys } from '../contract/keys.ts'
import { VigilError, describeError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { type RedisClient, createRedis, redisUnreachable } from '../redis.ts'

/**
 * How long a lock lives without being renewed, in milliseconds: the longest a key stays locked
 * after its holder died. A live holder renews it every third of that, so a slow write keeps it.
 */
const LOCK_TTL_MS = 10_000
/** Longest a write waits for another process's write of the same record, in milliseconds (one takes tens of ms). */
const LOCK_WAIT_MS = 5_000
/** Longest one Redis command of the lock may take, in milliseconds: node-redis queues commands while it reconnects. */
const REDIS_COMMAND_TIMEOUT_MS = 5_000

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

/** A lock this process holds. */
export interface HeldLock {
  /** Renews the lock, or throws CONFLICT when it was lost (expired, e.g. Redis stalled): call it just before producing. */
  confirm(): Promise<void>
  /** Releases the lock if it is still ours; never throws (a lock not released expires on its own). */
  release(): Promise<void>
}

/** Thrown inside the acquire loop while another holder has the lock. */
class Busy extends Error {}

export class RegistryLocks {
  readonly #config: Pick<Config, 'redisUrl' | 'redisPrefix'>
  readonly #log: Logger
  readonly #name: string
  #redis: Promise<RedisClient> | undefined

  constructor(config: Pick<Config, 'redisUrl' | 'redisPrefix'>, log: Logger, clientName: string) {
    this.#config = config
    this.#log = log
    this.#name = clientName
  }

  /** The Redis client, connected on first use; a failed connection is tried again by the next write. */
  #client(): Promise<RedisClient> {
    this.#redis ??= this.#connect().catch((error: unknown) => {
      this.#redis = undefined
      throw error
    })
    return this.#redis
  }

  /**
   * Connects within REDIS_COMMAND_TIMEOUT_MS. Not `connectRedis`: node-redis retries a refused
   * first connection without end, and a write must answer that Redis is away rather than hang.
   */
  async #connect(): Promise<RedisClient> {
    const client = createRedis(this.#config, { log: this.#log, name: this.#name })
    try {
      await withTimeout(client.connect(), REDIS_COMMAND_TIMEOUT_MS, 'Redis did not answer')
      return client
    } catch (error) {
      client.destroy()
      throw redisUnreachable(this.#config, error)
    }
  }

  /** One Redis command, bounded: a command queued while Redis is away fails instead of waiting forever. */
  async #command<T>(run: (redis: RedisClient) => Promise<T>): Promise<T> {
    const redis = await this.#client()
    try {
      return await withTimeout(run(redis), REDIS_COMMAND_TIMEOUT_MS, 'Redis did not answer')
    } catch (error) {
      throw redisUnreachable(this.#config, error)
    }
  }

  /**
   * Takes the lock of `recordKey` (`device:<id>`, `user:<name>`), waiting with a short backoff
   * while another process holds it; after LOCK_WAIT_MS, CONFLICT. `what` names the record in the
   * message ("device wear-7").
   */
  async acquire(recordKey: string, what: string): Promise<HeldLock> {
    const key = redisKeys(this.#config.redisPrefix).registryLock(createHash('sha256').update(recordKey).digest('hex'))
    const token = randomBytes(16).toString('hex')
    try {
      await retry(
        async () => {
          const set = await this.#command((r) => r.set(key, token, { condition: 'NX', expiration: { type: 'PX', value: LOCK_TTL_MS } }))
          if (set !== 'OK') throw new Busy()
        },
        { initialDelayMs: 10, maxDelayMs: 200, deadlineMs: LOCK_WAIT_MS, isFatal: (error) => !(error instanceof Busy) },
      )
    } catch (error) {
      if (error instanceof Busy) throw new VigilError('CONFLICT', `Another change to ${what} is in progress: try again.`)
      throw error
    }
    return this.#held(key, token, what)
  }

  #held(key: string, token: string, what: string): HeldLock {
    const renew = () => this.#command((r) => r.eval(RENEW_SCRIPT, { keys: [key], arguments: [token, String(LOCK_TTL_MS)] }))
    let lost = false
    const timer = setInterval(() => {
      renew().then(
        (renewed) => {
          if (renewed !== 1) lost = true
        },
        (error: unknown) => this.#log.debug({ err: describeError(error) }, 'registry lock not renewed; trying again'),
      )
    }, LOCK_TTL_MS / 3)
    // A write in progress must not keep the process alive on its own.
    timer.unref()
    return {
      confirm: async () => {
        if (!lost && (await renew()) === 1) return
        lost = true
        throw new VigilError('CONFLICT', `The change to ${what} took too long and another may have started: nothing was written, try again.`)
      },
      release: async () => {
        clearInterval(timer)
        await this.#command((r) => r.eval(RELEASE_SCRIPT, { keys: [key], arguments: [token] })).catch((error: unknown) =>
          this.#log.debug({ err: describeError(error) }, `registry lock of ${what} not released; it expires within ${LOCK_TTL_MS} ms`),
        )
      },
    }
  }

  async close(): Promise<void> {
    const redis = await this.#redis?.catch(() => undefined)
    this.#redis = undefined
    if (redis?.isOpen === true) await redis.close().catch(() => redis.destroy())
  }
}
