/**
 * Writes the Redis view (latest hash, series sorted set, patients sorted set, alerts stream, batch
 * view) with the codecs the speed layer and the batch job use (lib/contract/codecs/), and publishes
 * the matching Update, so that the serving layer's tests and benchmark run against real Redis
 * without the speed layer.
 */
import { VITALS, type Vital } from '../lib/contract/schema.ts'
import { classifyVital, worse, type Status } from '../lib/bands.ts'
import type { RedisKeys } from '../lib/contract/keys.ts'
import type { RedisClient } from '../lib/redis.ts'
import {
  type AlertEvent,
  type BatchMeta,
  type DailyStatsRow,
  NEWS2_PARAMETERS,
  type News2State,
  type PatientState,
  type SeriesEntry,
  type Update,
} from '../lib/contract/views.ts'
import { decodeLatestVitals, encodeLatest } from '../lib/contract/codecs/latest.ts'
import { seriesMember } from '../lib/contract/codecs/series.ts'
import { alertEntry } from '../lib/contract/codecs/alerts.ts'
import { encodeBatchMeta } from '../lib/contract/codecs/batch-meta.ts'
import { encodeDailyDay } from '../lib/contract/codecs/daily-stats.ts'
import { encodeUpdate } from '../lib/contract/codecs/updates.ts'

export interface TestReading {
  patientId: string
  ts: number
  seq: number
  deviceId?: string
  vitals: Partial<Record<Vital, number>>
}

/**
 * A partial NEWS2 of `score` with nothing counted (the serving layer's tests that need a detailed
 * state build one with serving/state-fixtures.ts): its risk is only what the lower bound implies.
 */
export function partialNews2(score: number): News2State {
  const risk = score >= 7 ? 'high' : score >= 5 ? 'medium' : null
  return { score, risk, complete: false, counted: [], scores: {}, missing: [...NEWS2_PARAMETERS], old: [], scale: 1 }
}

/** The state and series entry a reading produces (NEWS2 simplified: the sum is not needed by the serving layer). */
export function stateOf(r: TestReading, news2 = 0): { patient: PatientState; entry: SeriesEntry } {
  let status: Status = 'NORMAL'
  const vitals: PatientState['vitals'] = {}
  for (const v of VITALS) {
    const value = r.vitals[v]
    if (value === undefined) continue
    const s = classifyVital(v, value)
    status = worse(status, s)
    vitals[v] = { value, status: s, ts: r.ts }
  }
  return {
    patient: { patientId: r.patientId, ts: r.ts, status, news2: partialNews2(news2), vitals },
    entry: { ts: r.ts, deviceId: r.deviceId ?? `dev-${r.patientId}`, seq: r.seq, vitals: r.vitals, status },
  }
}

/** Writes readings of one patient into the view (one pipeline) and publishes one `readings` Update. */
export async function writeReadings(
  redis: RedisClient,
  keys: RedisKeys,
  readings: TestReading[],
  options: { news2?: number; publish?: boolean } = {},
): Promise<Update | null> {
  const last = readings.at(-1)
  if (last === undefined) return null
  const entries = readings.map((r) => stateOf(r, options.news2).entry)
  const { patient } = stateOf(last, options.news2)
  // Like the speed layer: a vital missing from this reading keeps its last value and status.
  const before = decodeLatestVitals(await redis.hGetAll(keys.latest(last.patientId)), last.ts)
  for (const v of VITALS) {
    const kept = before[v]
    if (patient.vitals[v] !== undefined || kept === undefined) continue
    patient.vitals[v] = kept
    patient.status = worse(patient.status, kept.status)
  }
  const m = redis.multi()
  m.hSet(keys.latest(last.patientId), encodeLatest(patient))
  m.zAdd(keys.series(last.patientId), entries.map(seriesMember))
  m.zAdd(keys.patients, { score: last.ts, value: last.patientId })
  await m.exec()
  const update: Update = { type: 'readings', patient, entries }
  if (options.publish !== false) await redis.publish(keys.updates, encodeUpdate(update))
  return update
}

export async function writeAlert(redis: RedisClient, keys: RedisKeys, alert: AlertEvent, publish = true): Promise<string> {
  const id = await redis.xAdd(keys.alerts, '*', alertEntry(alert), { TRIM: { strategy: 'MAXLEN', strategyModifier: '~', threshold: 10_000 } })
  if (publish) await redis.publish(keys.updates, encodeUpdate({ type: 'alert', alert }))
  return id
}

export async function writeBatchView(redis: RedisClient, keys: RedisKeys, rows: DailyStatsRow[], meta: BatchMeta): Promise<void> {
  const byDay = new Map<string, DailyStatsRow[]>()
  for (const r of rows) byDay.set(r.date, [...(byDay.get(r.date) ?? []), r])
  const m = redis.multi()
  for (const [date, dayRows] of byDay) m.hSet(keys.batchDaily(date), encodeDailyDay(dayRows))
  m.hSet(keys.batchMeta, encodeBatchMeta(meta))
  await m.exec()
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
