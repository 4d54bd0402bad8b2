/**
 * What /healthz reports: whether Kafka and Redis answer, and the lag of the speed layer's and
 * the archiver's consumer groups on vitals.readings: lib/lag.ts's committed-offset lag (high
 * watermark minus committed offset, a partition without a commit counted from its log start),
 * summed over partitions.
 */
import type { Admin } from '@platformatic/kafka'
import { consumerGroups, topicNames } from '../lib/contract/topics.ts'
import type { Config } from '../lib/config.ts'
import { describeError } from '../lib/errors.ts'
import { withTimeout } from '../lib/backoff.ts'
import { committedLag } from '../lib/lag.ts'
import type { RedisClient } from '../lib/redis.ts'

export interface GroupLagTotal {
  group: string
  /** Records behind, summed over partitions; null before the topic exists. */
  lag: number | null
}

export interface Health {
  status: 'ok' | 'degraded'
  redis: { reachable: boolean; error?: string }
  kafka: { reachable: boolean; error?: string; lag: GroupLagTotal[] }
}

/** Lag by group (full names, e.g. `vigil-speed`) of the readings topic. */
export async function consumerLag(admin: Admin, config: Pick<Config, 'topicPrefix'>): Promise<GroupLagTotal[]> {
  const groups = consumerGroups(config.topicPrefix)
  const names = [groups.speed, groups.archiver]
  const lags = await committedLag(admin, { groups: names, topic: topicNames(config.topicPrefix).readings })
  return names.map((group, i) => ({ group, lag: lags?.[i]?.total ?? null }))
}

export async function checkHealth(deps: { admin: Admin; redis: RedisClient; config: Pick<Config, 'topicPrefix'>; timeoutMs: number }): Promise<Health> {
  const redis = withTimeout(deps.redis.ping(), deps.timeoutMs, `Redis did not answer within ${deps.timeoutMs} ms`)
    .then((pong) => ({ reachable: pong === 'PONG' }))
    .catch((error: unknown) => ({ reachable: false, error: describeError(error) }))
  const kafka = withTimeout(consumerLag(deps.admin, deps.config), deps.timeoutMs, `Kafka did not answer within ${deps.timeoutMs} ms`)
    .then((lag) => ({ reachable: true, lag }))
    .catch((error: unknown) => ({ reachable: false, error: describeError(error), lag: [] as GroupLagTotal[] }))
  const [r, k] = await Promise.all([redis, kafka])
  return { status: r.reachable && k.reachable ? 'ok' : 'degraded', redis: r, kafka: k }
}
