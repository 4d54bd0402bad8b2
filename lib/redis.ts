/**
 * Redis client plumbing shared by every stage (node-redis; chosen by measurement, see
 * docs/ARCHITECTURE.md). One connection type, `RedisClient`, for a single Redis server and for a
 * Redis Cluster (docs/ARCHITECTURE.md, Redis Cluster):
 *
 * - `VIGIL_REDIS_URL` names one server (`redis://host:port`) or the seed nodes of a cluster
 *   (`redis://host:port,host:port,...`, any of its nodes). A single URL that turns out to be a
 *   cluster node (INFO: `cluster_enabled:1`) is connected as a cluster too, so pointing Vigil at
 *   any node of a cluster works.
 * - Both clients take the same commands. What differs is what a caller may send together: on a
 *   cluster each MULTI/EXEC, script call or multi-key command must stay in one hash slot (the
 *   keys' hash tags: lib/contract/keys.ts), and commands for many slots are sent as separate
 *   commands at once (each node's connection pipelines what is issued in the same tick, as a
 *   single client does). Every caller in Vigil is written that way, so one code path serves both.
 * - SCAN runs on one server: `scanKeys` runs it on every master of a cluster.
 *
 * Reconnects with capped exponential backoff; every client has an 'error' listener so a lost
 * connection is logged once per outage, never an unhandled event.
 */
import { createClient, createCluster } from 'redis'
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
  /**
   * Fail the first connection as soon as its first attempt does (node-redis would retry it
   * without end): for a caller that must answer that Redis is away rather than wait.
   */
  failFast?: boolean
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5_000

/** Reconnect delays of every connection: 100 ms doubling to 5 s, with jitter. */
const reconnectStrategy = (retries: number) => backoffDelay(retries + 1, 100, 5_000)

function newNodeClient(url: string, options: RedisOptions) {
  return createClient({
    url,
    name: options.name,
    socket: { connectTimeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, reconnectStrategy },
  })
}

/**
 * A cluster client seeded with `seeds`. The credentials and TLS of the first seed apply to every
 * node it discovers (node-redis takes them from `defaults`, not from the seeds). Commands to a
 * node whose connection is down fail at once instead of waiting in the client (what a single
 * client's callers check with `isReady`, which on a cluster only says the topology is known):
 * the caller's retry decides whether the command is still to be sent once the node is back.
 */
function newClusterClient(seeds: readonly string[], options: RedisOptions) {
  const first = new URL(seeds[0] as string)
  return createCluster({
    rootNodes: seeds.map((url) => ({ url })),
    defaults: {
      name: options.name,
      username: first.username === '' ? undefined : decodeURIComponent(first.username),
      password: first.password === '' ? undefined : decodeURIComponent(first.password),
      disableOfflineQueue: true,
      socket: {
        connectTimeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
        reconnectStrategy,
        ...(first.protocol === 'rediss:' ? { tls: true as const } : {}),
      },
    },
  })
}

/** A client of one Redis server. */
export type RedisNodeClient = ReturnType<typeof newNodeClient>
/** A client of a Redis Cluster. */
export type RedisClusterClient = ReturnType<typeof newClusterClient>
/** A connection to Redis: one server, or a cluster (see the header for what callers may send together). */
export type RedisClient = RedisNodeClient | RedisClusterClient

/** Whether `redis` is a cluster client. */
export function isCluster(redis: RedisClient): redis is RedisClusterClient {
  return 'masters' in redis
}

/**
 * The node URLs a Redis URL names: itself, or each of a comma-separated list of seed nodes
 * (`redis://user:pw@h1:7000,h2:7001`: the scheme and credentials of the first apply to the others).
 */
export function redisSeeds(redisUrl: string): string[] {
  const [head = '', ...rest] = redisUrl.split(',')
  if (rest.length === 0) return [head]
  const m = /^(rediss?:\/\/(?:[^@/]*@)?)[^/]*(\/.*)?$/.exec(head)
  if (m === null || (m[2] !== undefined && m[2] !== '/' && m[2] !== '/0')) {
    throw new VigilError(
      'CONFIG_INVALID',
      `VIGIL_REDIS_URL="${redisUrl}" is not valid: a list of cluster nodes is redis://host:port,host:port,... (a Redis Cluster has one database).`,
    )
  }
  const prefix = m[1] as string
  return [head, ...rest.map((r) => (r.includes('://') ? r : `${prefix}${r}`))].map((u) => u.replace(/\/0?$/, ''))
}

/**
 * A client that is not connected yet: a cluster client when the URL lists several nodes, else a
 * client of the one server it names (`connectRedis` also finds out whether that server is a
 * cluster node). Logs an outage once until it recovers.
 */
export function createRedis(config: Pick<Config, 'redisUrl'>, options: RedisOptions = {}): RedisClient {
  const seeds = redisSeeds(config.redisUrl)
  return seeds.length === 1 ? reportOutages(newNodeClient(seeds[0] as string, options), config, options) : clusterOf(seeds, config, options)
}

function clusterOf(seeds: readonly string[], config: Pick<Config, 'redisUrl'>, options: RedisOptions): RedisClusterClient {
  const cluster = newClusterClient(seeds, options)
  const down = new Set<string>()
  // The cluster's own errors (a failed topology discovery) and each node's, once per node and outage.
  cluster.on('error', (error: unknown) => options.log?.warn(`Redis Cluster at ${config.redisUrl}: ${describeError(error)}`))
  cluster.on('node-error', (error: unknown, node: { host: string; port: number }) => {
    const address = `${node.host}:${node.port}`
    if (!down.has(address)) options.log?.warn(`Redis Cluster node ${address} is unreachable (${describeError(error)}); retrying`)
    down.add(address)
  })
  cluster.on('node-ready', (node: { host: string; port: number }) => {
    const address = `${node.host}:${node.port}`
    if (down.delete(address)) options.log?.info(`Redis Cluster node ${address} is reachable again`)
  })
  return cluster
}

function reportOutages(client: RedisNodeClient, config: Pick<Config, 'redisUrl'>, options: RedisOptions): RedisNodeClient {
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

/**
 * Connects, or throws the one sentence a user sees when Redis is unreachable. A URL naming one
 * server that is a cluster node is connected as a cluster seeded with it.
 */
export async function connectRedis(config: Pick<Config, 'redisUrl'>, options: RedisOptions = {}): Promise<RedisClient> {
  const client = createRedis(config, options)
  try {
    await open(client, options)
    if (isCluster(client) || !(await clusterEnabled(client))) return client
  } catch (error) {
    client.destroy()
    throw redisUnreachable(config, error)
  }
  client.destroy()
  const cluster = clusterOf(redisSeeds(config.redisUrl), config, options)
  try {
    await open(cluster, options)
    return cluster
  } catch (error) {
    cluster.destroy()
    throw redisUnreachable(config, error)
  }
}

/** Connects `client`; with `failFast`, fails on the first error the connection reports. */
async function open(client: RedisClient, options: RedisOptions): Promise<void> {
  if (options.failFast !== true) {
    await client.connect()
    return
  }
  let onError: (error: unknown) => void = () => undefined
  const failed = new Promise<never>((_, reject) => {
    onError = reject
  })
  const events = isCluster(client) ? ['error', 'node-error'] : ['error']
  for (const e of events) client.once(e, onError)
  try {
    await Promise.race([client.connect(), failed])
  } finally {
    for (const e of events) client.off(e, onError)
  }
}

/** Whether the server is a node of a Redis Cluster (its INFO says `cluster_enabled:1`). */
async function clusterEnabled(client: RedisNodeClient): Promise<boolean> {
  return /^cluster_enabled:1\s*$/m.test(await client.info('cluster'))
}

/** True when a PING answers within `timeoutMs` (on a cluster: from one of its seed nodes). */
export async function redisAnswers(config: Pick<Config, 'redisUrl'>, timeoutMs = 2_000): Promise<boolean> {
  for (const url of redisSeeds(config.redisUrl)) if (await nodeAnswers(url, timeoutMs)) return true
  return false
}

async function nodeAnswers(url: string, timeoutMs: number): Promise<boolean> {
  const client = createClient({ url, socket: { connectTimeout: timeoutMs, reconnectStrategy: false } })
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
 * The keys matching a SCAN pattern, in batches (a key may come twice, as SCAN promises no
 * better): on a cluster, from every master in turn (SCAN walks one server's keys).
 */
export async function* scanKeys(redis: RedisClient, match: string, count = 1_000): AsyncGenerator<string[]> {
  const servers = isCluster(redis) ? await Promise.all(redis.masters.map((m) => redis.nodeClient(m))) : [redis]
  for (const server of servers) yield* server.scanIterator({ MATCH: match, COUNT: count })
}

/**
 * Deletes every key matching a SCAN pattern (a prefix's `redisKeys(prefix).everything`) with
 * SCAN + UNLINK on every server, never FLUSHALL or FLUSHDB: another application's keys survive.
 * One UNLINK per key (sent at once per SCAN batch): on a cluster a multi-key UNLINK must stay in
 * one slot. Returns the count.
 */
export async function deleteKeys(redis: RedisClient, match: string): Promise<number> {
  let n = 0
  for await (const keys of scanKeys(redis, match)) {
    for (const deleted of await Promise.all(keys.map((k) => redis.unlink(k)))) n += deleted
  }
  return n
}
