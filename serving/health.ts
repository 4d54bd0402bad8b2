/**
 * What /healthz reports: whether Kafka and Redis answer, and the lag of the speed layer's and
 * the archiver's consumer groups on vitals.readings (log-end offset minus committed offset,
 * summed over partitions), read with the Kafka Admin API.
 */
import type { Admin } from '@platformatic/kafka'
import { consumerGroups, topicNames } from '../ingestion/topics.ts'
import type { Config } from '../lib/config.ts'
import { describeError } from '../lib/errors.ts'
import { withTimeout } from '../lib/backoff.ts'
import type { RedisClient } from '../lib/redis.ts'

export interface GroupLag {
  group: string
  /** Records behind, summed over partitions; null when the group has committed nothing yet. */
  lag: number | null
}

export interface Health {
  status: 'ok' | 'degraded'
  redis: { reachable: boolean; error?: string }
  kafka: { reachable: boolean; error?: string; lag: GroupLag[] }
}

/** Lag by group (full names, e.g. `vigil-speed`) of the readings topic. */
export async function consumerLag(admin: Admin, config: Pick<Config, 'topicPrefix'>): Promise<GroupLag[]> {
  const topic = topicNames(config.topicPrefix).readings
  const groups = consumerGroups(config.topicPrefix)
  const names = [groups.speed, groups.archiver]
  // Before `vigil init` creates the topic there is nothing to lag behind: the broker answers, lag is unknown.
  if (!(await admin.listTopics()).includes(topic)) return names.map((group) => ({ group, lag: null }))
  const meta = await admin.metadata({ topics: [topic] })
  const partitions = meta.topics.get(topic)?.partitionsCount ?? 0
  const ends = await admin.listOffsets({
    topics: [{ name: topic, partitions: Array.from({ length: partitions }, (_, i) => ({ partitionIndex: i, timestamp: -1n })) }],
  })
  const endOf = new Map<number, bigint>()
  for (const t of ends) for (const p of t.partitions) endOf.set(p.partitionIndex, p.offset)
  const committed = await admin.listConsumerGroupOffsets({ groups: names })
  return names.map((group) => {
    const g = committed.find((c) => c.groupId === group)
    const parts = g?.topics.find((t) => t.name === topic)?.partitions.filter((p) => p.committedOffset >= 0n) ?? []
    if (parts.length === 0) return { group, lag: null }
    let lag = 0n
    for (const [partition, end] of endOf) {
      const c = parts.find((p) => p.partitionIndex === partition)
      // A partition the group never committed on counts from its start: everything is behind.
      lag += end - (c === undefined ? 0n : c.committedOffset)
    }
    return { group, lag: Number(lag) }
  })
}

export async function checkHealth(deps: { admin: Admin; redis: RedisClient; config: Pick<Config, 'topicPrefix'>; timeoutMs: number }): Promise<Health> {
  const redis = withTimeout(deps.redis.ping(), deps.timeoutMs, `Redis did not answer within ${deps.timeoutMs} ms`)
    .then((pong) => ({ reachable: pong === 'PONG' }))
    .catch((error: unknown) => ({ reachable: false, error: describeError(error) }))
  const kafka = withTimeout(consumerLag(deps.admin, deps.config), deps.timeoutMs, `Kafka did not answer within ${deps.timeoutMs} ms`)
    .then((lag) => ({ reachable: true, lag }))
    .catch((error: unknown) => ({ reachable: false, error: describeError(error), lag: [] as GroupLag[] }))
  const [r, k] = await Promise.all([redis, kafka])
  return { status: r.reachable && k.reachable ? 'ok' : 'degraded', redis: r, kafka: k }
}
