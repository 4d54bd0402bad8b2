/**
 * Kafka client plumbing shared by every stage (@platformatic/kafka; chosen by measurement, see
 * docs/ARCHITECTURE.md): client options from the config, consumer-group options, topic creation,
 * readiness. Every client gets all of VIGIL_KAFKA_BROKERS as bootstrap brokers and tries them in
 * order until one answers, so a cluster stays reachable while any listed broker is up.
 */
import { Admin } from '@platformatic/kafka'
import type { Config } from './config.ts'
import { VigilError } from './errors.ts'
import { topicReplication } from './contract/topics.ts'

/** The options every client shares. */
export function kafkaBaseOptions(config: Pick<Config, 'kafkaBrokers'>, clientId: string) {
  return {
    clientId,
    bootstrapBrokers: [...config.kafkaBrokers],
    /** Per-request timeout, in milliseconds. */
    timeout: 10_000,
    /** The client's own retries are kept short: Vigil's stages retry with their own capped backoff. */
    retries: 3,
    retryDelay: 250,
  }
}

/** The consumer-group settings a stage chooses; the rest of a group's options are the same for every stage. */
export interface ConsumerGroupSettings {
  /** A member that sends no heartbeat for this long, in milliseconds, leaves the group and its partitions move. */
  sessionTimeoutMs: number
  /** Longest a fetch waits for records, in milliseconds. */
  fetchMaxWaitMs: number
  /** Longest a rebalance waits for members to rejoin, in milliseconds; unset: the client's default (102 s). */
  rebalanceTimeoutMs?: number
  /** Records the client fetches ahead of the stage; unset: the client's default (1 024). */
  maxBufferedRecords?: number
}

/**
 * The options a consumer is built with: manual commits (every stage commits only what it has made
 * durable), heartbeats ten per session (every 100 ms at least), and the stage's own settings. Given
 * again to `consume()`, they are the ones it joins the group with, but only when they include a
 * rebalance timeout: @platformatic/kafka refuses a join whose heartbeat interval it cannot compare
 * with one (it checks heartbeat < rebalance timeout on the options as given).
 */
export function consumerGroupOptions(s: ConsumerGroupSettings) {
  return {
    autocommit: false,
    sessionTimeout: s.sessionTimeoutMs,
    ...(s.rebalanceTimeoutMs === undefined ? {} : { rebalanceTimeout: s.rebalanceTimeoutMs }),
    heartbeatInterval: Math.max(100, Math.floor(s.sessionTimeoutMs / 10)),
    maxWaitTime: s.fetchMaxWaitMs,
    ...(s.maxBufferedRecords === undefined ? {} : { highWaterMark: s.maxBufferedRecords }),
  } as const
}

export function createAdmin(config: Pick<Config, 'kafkaBrokers'>, clientId = 'vigil-admin'): Admin {
  return new Admin(kafkaBaseOptions(config, clientId))
}

export interface TopicSpec {
  name: string
  partitions: number
  /** Topic configs set at creation (e.g. `cleanup.policy`); an existing topic keeps its own. */
  configs?: ReadonlyArray<{ name: string; value: string }>
}

/**
 * Creates the topics that do not exist yet, with their configs. Idempotent. Their replication
 * follows the cluster (`topicReplication` in lib/contract/topics.ts: three copies and
 * min.insync.replicas 2 from three live brokers on, one per broker below), unless `replicas` is
 * given; a topic's own configs win over the replication's. An existing topic is left as it is.
 */
export async function ensureTopics(admin: Admin, topics: readonly TopicSpec[], replicas?: number): Promise<string[]> {
  const existing = new Set(await admin.listTopics({ includeInternals: false }))
  const missing = topics.filter((t) => !existing.has(t.name))
  if (missing.length === 0) return []
  const replication = topicReplication(replicas ?? (await liveBrokers(admin)))
  const created: string[] = []
  for (const t of missing) {
    const own = new Set((t.configs ?? []).map((c) => c.name))
    const configs = [...replication.configs.filter((c) => !own.has(c.name)), ...(t.configs ?? [])]
    try {
      await admin.createTopics({ topics: [t.name], partitions: t.partitions, replicas: replication.replicas, ...(configs.length > 0 ? { configs } : {}) })
      created.push(t.name)
    } catch (error) {
      // Another process may have created it between the list and the create.
      const now = new Set(await admin.listTopics({ includeInternals: false }))
      if (!now.has(t.name)) throw error
    }
  }
  return created
}

/** The brokers the cluster's metadata lists now (a broker that is down is not listed). */
export async function liveBrokers(admin: Admin): Promise<number> {
  const metadata = await admin.metadata({ topics: [], forceUpdate: true })
  return metadata.brokers.size
}

/** True when the brokers answer a metadata request within `timeoutMs`. */
export async function kafkaAnswers(config: Pick<Config, 'kafkaBrokers'>, timeoutMs = 3_000): Promise<boolean> {
  const admin = new Admin({ ...kafkaBaseOptions(config, 'vigil-probe'), timeout: timeoutMs, retries: 0 })
  try {
    await admin.metadata({ topics: [] })
    return true
  } catch {
    return false
  } finally {
    await admin.close().catch(() => undefined)
  }
}

/** The one sentence a user sees when the broker is unreachable. */
export function kafkaUnreachable(config: Pick<Config, 'kafkaBrokers'>, cause?: unknown): VigilError {
  return new VigilError(
    'KAFKA_UNREACHABLE',
    `Kafka is not reachable at ${config.kafkaBrokers.join(',')}: start it with \`npx vigil stack up\` or set VIGIL_KAFKA_BROKERS.`,
    { cause },
  )
}
