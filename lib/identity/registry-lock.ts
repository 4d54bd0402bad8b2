/**
 * One writer per registry record at a time, across processes (docs/SECURITY.md, The identity
 * registry): a Redis lock per record key (lib/redis-lock.ts), held by a write from before it reads
 * the topic's end until its record is applied. The registry connects to Redis on its first write, so a process that only reads the
 * registry (the gateway) never needs Redis.
 *
 * Why a lock and not a compare-and-set on the log: Kafka has no conditional produce, so a check on
 * the log could only happen when the records are applied (a record built from an older version of
 * its key refused by every reader). But the topic is compacted, and compaction keeps the last
 * record of each key whether readers refused it or not: a refused record written after the
 * accepted one would outlive it, and the registry read after compaction would be the refused one.
 * So the check must come before producing, with no other writer of the key in between.
 */
import { retry, withTimeout } from '../backoff.ts'
import type { Config } from '../config.ts'
import { redisKeys } from '../contract/keys.ts'
import { VigilError, describeError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { acquireLock, releaseLock, renewLock } from '../redis-lock.ts'
import { type RedisClient, connectRedis, redisUnreachable } from '../redis.ts'
import { sha256Hex } from './model.ts'

/**
 * How long a lock lives without being renewed, in milliseconds: the longest a key stays locked
 * after its holder died. A live holder renews it every third of that, so a slow write keeps it.
 */
const LOCK_TTL_MS = 10_000
/** Longest a write waits for another process's write of the same record, in milliseconds (one takes tens of ms). */
const LOCK_WAIT_MS = 5_000
/** Longest one Redis command of the lock may take, in milliseconds: node-redis queues commands while it reconnects. */
const REDIS_COMMAND_TIMEOUT_MS = 5_000

/** A lock this process holds. */
export interface HeldLock {
  /** Renews the lock, or throws CONFLICT when it was lost (expired, e.g. Redis stalled): call it just before producing. */
  confirm(): Promise<void>
  /**
   * Whether the lock is still this write's, renewing it if so; false when it was lost, or Redis
   * did not answer. Never throws: asked after the write, to warn of a write the lock may not have covered.
   */
  held(): Promise<boolean>
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
   * Connects, or fails as soon as the first attempt does (a refused connection answers at once),
   * and within REDIS_COMMAND_TIMEOUT_MS when Redis does not answer at all: node-redis retries a
   * failed first connection without end, and a write must answer that Redis is away rather than
   * hang. A Redis Cluster is connected as one (lib/redis.ts).
   */
  async #connect(): Promise<RedisClient> {
    const connecting = connectRedis(this.#config, { log: this.#log, name: this.#name, failFast: true })
    try {
      return await withTimeout(connecting, REDIS_COMMAND_TIMEOUT_MS, 'Redis did not answer')
    } catch (error) {
      // A connection that completes after the timeout is closed rather than left open.
      connecting.then((late) => late.destroy()).catch(() => undefined)
      throw error instanceof VigilError ? error : redisUnreachable(this.#config, error)
    }
  }

  /**
   * One Redis command, bounded. Refused at once while the connection is down (node-redis would
   * queue it until Redis is back), and after REDIS_COMMAND_TIMEOUT_MS when Redis stops answering.
   */
  async #command<T>(run: (redis: RedisClient) => Promise<T>): Promise<T> {
    const redis = await this.#client()
    if (!redis.isReady) throw redisUnreachable(this.#config, new Error('the connection to Redis is down; reconnecting'))
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
    const key = redisKeys(this.#config.redisPrefix).registryLock(sha256Hex(recordKey))
    try {
      const token = await retry(
        async () => {
          const taken = await this.#command((r) => acquireLock(r, key, LOCK_TTL_MS))
          if (taken === null) throw new Busy()
          return taken
        },
        { initialDelayMs: 10, maxDelayMs: 200, deadlineMs: LOCK_WAIT_MS, isFatal: (error) => !(error instanceof Busy) },
      )
      return this.#held(key, token, what)
    } catch (error) {
      if (error instanceof Busy) throw new VigilError('CONFLICT', `Another change to ${what} is in progress: try again.`)
      throw error
    }
  }

  #held(key: string, token: string, what: string): HeldLock {
    const renew = () => this.#command((r) => renewLock(r, key, token, LOCK_TTL_MS))
    let lost = false
    const timer = setInterval(() => {
      renew().then(
        (renewed) => {
          if (!renewed) lost = true
        },
        (error: unknown) => this.#log.debug({ err: describeError(error) }, 'registry lock not renewed; trying again'),
      )
    }, LOCK_TTL_MS / 3)
    // A write in progress must not keep the process alive on its own.
    timer.unref()
    return {
      confirm: async () => {
        if (!lost && (await renew())) return
        lost = true
        throw new VigilError('CONFLICT', `The change to ${what} took too long and another may have started: nothing was written, try again.`)
      },
      held: async () => {
        if (!lost) lost = !(await renew().catch(() => false))
        return !lost
      },
      release: async () => {
        clearInterval(timer)
        await this.#command((r) => releaseLock(r, key, token)).catch((error: unknown) =>
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
