/**
 * Writes the Redis view (latest hash, series sorted set, patients sorted set, alerts stream, batch
 * view) with the codecs the speed layer and the batch job use (lib/contract/codecs/), and publishes
 * the matching Update, so that the serving layer's tests and benchmark run against real Redis
 * without the speed layer.
 */
import type { Vital } from '../lib/contract/schema.ts'
import type { RedisKeys } from '../lib/contract/keys.ts'
import type { RedisClient } from '../lib/redis.ts'
import type { AlertEvent, BatchMeta, DailyStatsRow, News2State, PatientState, SeriesEntry, Update } from '../lib/contract/views.ts'
import { alertEntry } from '../lib/contract/codecs/alerts.ts'
import { encodeBatchMeta } from '../lib/contract/codecs/batch-meta.ts'
import { encodeDailyDay } from '../lib/contract/codecs/daily-stats.ts'
import { encodeUpdate } from '../lib/contract/codecs/updates.ts'
import { news2Of, readingState, statedRisk, type TestReading, writeReadings as writeState } from '../serving/state-fixtures.ts'

export type { TestReading }

/** A partial NEWS2 of `score` with nothing counted: its risk is only what the lower bound implies. */
export function partialNews2(score: number): News2State {
  return { ...news2Of({}), score, risk: statedRisk(score, false, false) }
}

/** The state and series entry a reading produces, with a partial NEWS2 of `news2` (serving/state-fixtures.ts builds detailed ones). */
export function stateOf(r: TestReading, news2 = 0): { patient: PatientState; entry: SeriesEntry } {
  const { vitals, status, entry } = readingState(r)
  return { patient: { patientId: r.patientId, ts: r.ts, status, news2: partialNews2(news2), vitals }, entry }
}

/** Writes readings of one patient into the view (serving/state-fixtures.ts writeReadings) with a partial NEWS2 of `news2`. */
export function writeReadings(
  redis: RedisClient,
  keys: RedisKeys,
  readings: TestReading[],
  options: { news2?: number; publish?: boolean } = {},
): Promise<Update | null> {
  return writeState(redis, keys, readings, { news2: partialNews2(options.news2 ?? 0), publish: options.publish })
}

export async function writeAlert(redis: RedisClient, keys: RedisKeys, alert: AlertEvent, publish = true): Promise<string> {
  const id = await redis.xAdd(keys.alerts, '*', alertEntry(alert), { TRIM: { strategy: 'MAXLEN', strategyModifier: '~', threshold: 10_000 } })
  if (publish) await redis.publish(keys.updates, encodeUpdate({ type: 'alert', alert }))
  return id
}

export async function writeBatchView(redis: RedisClient, keys: RedisKeys, rows: DailyStatsRow[], meta: BatchMeta): Promise<void> {
  const byDay = new Map<string, DailyStatsRow[]>()
  for (const r of rows) byDay.set(r.date, [...(byDay.get(r.date) ?? []), r])
  // One command per key, sent at once: the keys are in different Redis Cluster slots.
  await Promise.all([
    ...[...byDay].map(([date, dayRows]) => redis.hSet(keys.batchDaily(date), encodeDailyDay(dayRows))),
    redis.hSet(keys.batchMeta, encodeBatchMeta(meta)),
  ])
}

/** A daily row with the given figures and the rest filled plausibly. */
export function dailyRow(
  date: string,
  patientId: string,
  vital: Vital,
  f: { count: number; mean: number; min: number; max: number; tir?: [number, number, number, number, number] },
): DailyStatsRow {
  const t = f.tir
  return {
    date,
    patientId,
    vital,
    count: f.count,
    mean: f.mean,
    min: f.min,
    max: f.max,
    stddev: 1,
    p05: f.min,
    p50: f.mean,
    p95: f.max,
    nNormal: f.count,
    nWarning: 0,
    nCriticalLow: 0,
    nCriticalHigh: 0,
    tirLt54: t?.[0] ?? null,
    tir54_69: t?.[1] ?? null,
    tir70_180: t?.[2] ?? null,
    tir181_250: t?.[3] ?? null,
    tirGt250: t?.[4] ?? null,
    cv: vital === 'glucose' ? 0.2 : null,
  }
}

/** A TCP port free right now on 127.0.0.1 (the config refuses port 0). */
export { freePort } from './support.ts'
