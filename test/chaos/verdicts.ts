/**
 * The invariants of a run, checked once every layer has caught up (the chaos run and the scale
 * run share them): the three topics are read back whole and recomputed independently
 * (invariants.ts), then compared with the lake, the ledger of acknowledged records and Redis.
 */
import type { Config } from '../../lib/config.ts'
import type { RedisKeys } from '../../lib/contract/keys.ts'
import { topicNames } from '../../lib/contract/topics.ts'
import type { RedisClient } from '../../lib/redis.ts'
import type { EdgeRecord, EdgeSummary } from '../../edge/index.ts'
import { DEFAULT_SPEED_OPTIONS } from '../../speed-layer/index.ts'
import { checkAlerts, checkConservation, checkLake, checkLatest, checkRejected, checkSeries, classify, expectedView, type Verdict } from './invariants.ts'
import { readWholeTopic } from './ledger.ts'

export interface RunOutcome {
  config: Config
  /** Every record handed to Kafka, in sending order. */
  ledger: readonly EdgeRecord[]
  summary: EdgeSummary
  redis: RedisClient
  keys: RedisKeys
  /** When the run started (ms): the NEWS2 freshness is judged from it. */
  t0: number
}

/** The lake, conservation, dead letters, the view (latest, series, NEWS2) and the alerts, in that order. */
export async function checkInvariants(o: RunOutcome): Promise<Verdict[]> {
  const topics = topicNames(o.config.topicPrefix)
  const readings = await readWholeTopic(o.config, topics.readings)
  const rejected = await readWholeTopic(o.config, topics.rejected)
  const alerts = await readWholeTopic(o.config, topics.alerts)
  const classified = classify(readings.records, DEFAULT_SPEED_OPTIONS.maxClockSkewMs)
  const expected = expectedView(classified, DEFAULT_SPEED_OPTIONS.outOfOrderToleranceMs)
  return [
    ...(await checkLake(o.config.datalakeDir, readings.ends)),
    ...checkConservation(o.ledger, o.summary, readings.records, classified),
    ...checkRejected(classified, rejected.records, o.summary),
    ...(await checkLatest(expected, o.redis, o.keys, o.t0, DEFAULT_SPEED_OPTIONS.news2FreshnessMs)),
    ...(await checkSeries(expected, o.redis, o.keys, DEFAULT_SPEED_OPTIONS.seriesWindowMs)),
    ...(await checkAlerts(alerts.records, o.redis, o.keys)),
  ]
}
