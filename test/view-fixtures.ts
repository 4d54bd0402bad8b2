/**
 * Writes the Redis view exactly as lib/contract/views.ts describes it (latest hash, series sorted set,
 * patients sorted set, alerts stream, batch view) and publishes the matching Update, so that
 * the serving layer's tests and benchmark run against real Redis without the speed layer.
 */
import { VITALS, type Vital } from '../lib/contract/schema.ts'
import { classifyVital, worse, type Status } from '../lib/bands.ts'
import type { RedisKeys } from '../lib/contract/keys.ts'
import type { RedisClient } from '../lib/redis.ts'
import type { AlertEvent, BatchMeta, DailyStatsRow, PatientState, SeriesEntry, Update } from '../lib/contract/views.ts'

export interface TestReading {
  patientId: string
  ts: number
  seq: number
  deviceId?: string
  vitals: Partial<Record<Vital, number>>
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
  const risk = news2 >= 7 ? 'high' : news2 >= 5 ? 'medium' : news2 >= 1 ? 'low-medium' : 'low'
  return {
    patient: { patientId: r.patientId, ts: r.ts, status, news2: { score: news2, risk }, vitals },
    entry: { ts: r.ts, deviceId: r.deviceId ?? `dev-${r.patientId}`, seq: r.seq, vitals: r.vitals, status },
  }
}

/** Writes readings of one patient into the view (one pipeline) and publishes one `readings` Update. */
export async function writeReadings(redis: RedisClient, keys: RedisKeys, readings: TestReading[], options: { news2?: number; publish?: boolean } = {}): Promise<Update | null> {
  const last = readings.at(-1)
  if (last === undefined) return null
  const entries = readings.map((r) => stateOf(r, options.news2).entry)
  const { patient } = stateOf(last, options.news2)
  // Like the speed layer: a vital missing from this reading keeps its last value and status.
  const before = await redis.hGetAll(keys.latest(last.patientId))
  for (const v of VITALS) {
    if (patient.vitals[v] !== undefined || before[v] === undefined) continue
    const status = (before[`${v}:status`] ?? 'NORMAL') as Status
    patient.vitals[v] = { value: Number(before[v]), status, ts: Number(before[`${v}:ts`] ?? last.ts) }
    patient.status = worse(patient.status, status)
  }
  const latest: Record<string, string> = { status: patient.status, news2: String(patient.news2.score), news2Risk: patient.news2.risk, ts: String(patient.ts) }
  for (const [v, s] of Object.entries(patient.vitals)) {
    latest[v] = String(s.value)
    latest[`${v}:status`] = s.status
    latest[`${v}:ts`] = String(s.ts)
  }
  const m = redis.multi()
  m.hSet(keys.latest(last.patientId), latest)
  m.zAdd(keys.series(last.patientId), entries.map((e) => ({ score: e.ts, value: JSON.stringify(e) })))
  m.zAdd(keys.patients, { score: last.ts, value: last.patientId })
  await m.exec()
  const update: Update = { type: 'readings', patient, entries }
  if (options.publish !== false) await redis.publish(keys.updates, JSON.stringify(update))
  return update
}

export async function writeAlert(redis: RedisClient, keys: RedisKeys, alert: AlertEvent, publish = true): Promise<string> {
  const id = await redis.xAdd(keys.alerts, '*', { event: JSON.stringify(alert) }, { TRIM: { strategy: 'MAXLEN', strategyModifier: '~', threshold: 10_000 } })
  if (publish) await redis.publish(keys.updates, JSON.stringify({ type: 'alert', alert } satisfies Update))
  return id
}

export async function writeBatchView(redis: RedisClient, keys: RedisKeys, rows: DailyStatsRow[], meta: BatchMeta): Promise<void> {
  const byDay = new Map<string, Map<string, DailyStatsRow[]>>()
  for (const r of rows) {
    const day = byDay.get(r.date) ?? new Map<string, DailyStatsRow[]>()
    byDay.set(r.date, day)
    day.set(r.patientId, [...(day.get(r.patientId) ?? []), r])
  }
  const m = redis.multi()
  for (const [date, patients] of byDay) {
    for (const [patientId, list] of patients) m.hSet(keys.batchDaily(date), patientId, JSON.stringify(list))
  }
  m.hSet(keys.batchMeta, {
    runId: meta.runId,
    cutoffTs: String(meta.cutoffTs),
    startedAt: String(meta.startedAt),
    finishedAt: String(meta.finishedAt),
    dates: JSON.stringify(meta.dates),
    rows: String(meta.rows),
  })
  await m.exec()
}

/** A daily row with the given figures and the rest filled plausibly. */
export function dailyRow(date: string, patientId: string, vital: Vital, f: { count: number; mean: number; min: number; max: number; tir?: [number, number, number, number, number] }): DailyStatsRow {
  const t = f.tir
  return {
    date, patientId, vital, count: f.count, mean: f.mean, min: f.min, max: f.max, stddev: 1, p05: f.min, p50: f.mean, p95: f.max,
    nNormal: f.count, nWarning: 0, nCriticalLow: 0, nCriticalHigh: 0,
    tirLt54: t?.[0] ?? null, tir54_69: t?.[1] ?? null, tir70_180: t?.[2] ?? null, tir181_250: t?.[3] ?? null, tirGt250: t?.[4] ?? null,
    cv: vital === 'glucose' ? 0.2 : null,
  }
}

/** A TCP port free right now on 127.0.0.1 (the config refuses port 0). */
export { freePort } from './support.ts'
