/**
 * Whole patient states for the serving layer's tests: the NEWS2 aggregate as the speed layer states
 * it (complete, or partial with what it misses and which values are old), oxygen, consciousness and
 * the glucose trend, written to Redis with the view's codecs (lib/contract/codecs/) and published
 * as the speed layer would, and open alerts in the `{p}:alerts` hash.
 */
import type { RedisKeys } from '../lib/contract/keys.ts'
import type { RedisClient } from '../lib/redis.ts'
import type { AlertSubject, News2Parameter, News2Risk, News2State, OpenAlertState, PatientState, SeriesEntry, Update } from '../lib/contract/views.ts'
import { NEWS2_PARAMETERS } from '../lib/contract/views.ts'
import { seriesMember } from '../lib/contract/codecs/series.ts'
import { encodeAlertState } from '../lib/contract/codecs/alerts.ts'
import { encodeUpdate } from '../lib/contract/codecs/updates.ts'
import { decodeLatestVitals, encodeLatest } from '../lib/contract/codecs/latest.ts'
import { VITALS, type Vital } from '../lib/contract/schema.ts'
import { classifyVital, worse, type Status } from '../lib/bands.ts'
import { NEWS2_VITALS, consciousnessScore, news2Risk, onOxygenScore, parameterScore } from '../lib/news2.ts'

/** One reading of a test (the shape test/view-fixtures.ts also takes). */
export interface TestReading {
  patientId: string
  ts: number
  seq: number
  deviceId?: string
  vitals: Partial<Record<Vital, number>>
}

/** The vitals, worst status and series entry a reading produces, classified with the default bands. */
export function readingState(r: TestReading): { vitals: PatientState['vitals']; status: Status; entry: SeriesEntry } {
  let status: Status = 'NORMAL'
  const vitals: PatientState['vitals'] = {}
  for (const v of VITALS) {
    const value = r.vitals[v]
    if (value === undefined) continue
    const s = classifyVital(v, value)
    status = worse(status, s)
    vitals[v] = { value, status: s, ts: r.ts }
  }
  return { vitals, status, entry: { ts: r.ts, deviceId: r.deviceId ?? `dev-${r.patientId}`, seq: r.seq, vitals: r.vitals, status } }
}

/**
 * The risk the speed layer states (docs/CLINICAL.md, NEWS2): a complete score's RCP band
 * (lib/news2.ts); for a partial one, the band its lower bound reaches, or null when that is only "low".
 */
export function statedRisk(score: number, anyThree: boolean, complete: boolean): News2Risk | null {
  const band = news2Risk(score, anyThree)
  return complete || band !== 'low' ? band : null
}

/**
 * A NEWS2 state from each counted parameter's score; the others are missing, and those in `old`
 * were observed too long ago. Risk as the speed layer states it (docs/CLINICAL.md, NEWS2): a
 * complete score's RCP band; a partial one's lower bound, or null (statedRisk).
 */
export function news2Of(scores: Partial<Record<News2Parameter, number>>, options: { old?: News2Parameter[]; scale?: 1 | 2 } = {}): News2State {
  const counted = NEWS2_PARAMETERS.filter((p) => scores[p] !== undefined)
  const score = counted.reduce((sum, p) => sum + (scores[p] ?? 0), 0)
  const anyThree = counted.some((p) => scores[p] === 3)
  const complete = counted.length === NEWS2_PARAMETERS.length
  return {
    score,
    risk: statedRisk(score, anyThree, complete),
    complete,
    counted,
    scores: Object.fromEntries(counted.map((p) => [p, scores[p]])),
    missing: NEWS2_PARAMETERS.filter((p) => scores[p] === undefined),
    old: NEWS2_PARAMETERS.filter((p) => options.old?.includes(p) === true),
    scale: options.scale ?? 1,
  }
}

/** A complete NEWS2 of `score` (at most 20), spread over the parameters in chart order (at most 3 each, 2 for oxygen). */
export function completeNews2(score: number): News2State {
  let left = score
  const scores: Partial<Record<News2Parameter, number>> = {}
  for (const p of NEWS2_PARAMETERS) {
    const s = Math.min(p === 'onOxygen' ? 2 : 3, left)
    scores[p] = s
    left -= s
  }
  return news2Of(scores)
}

/**
 * The NEWS2 state of a patient's current values by the RCP chart (lib/news2.ts, scale 1): every
 * NEWS2 parameter present counts (the tests choose which are fresh), the others are missing.
 */
export function news2FromState(p: Pick<PatientState, 'vitals' | 'onOxygen' | 'consciousness'>): News2State {
  const scores: Partial<Record<News2Parameter, number>> = {}
  for (const v of NEWS2_VITALS) {
    const value = p.vitals[v]?.value
    if (value !== undefined) scores[v] = parameterScore(v, value, { scale: 1, onOxygen: p.onOxygen?.value })
  }
  if (p.onOxygen !== undefined) scores.onOxygen = onOxygenScore(p.onOxygen.value)
  if (p.consciousness !== undefined) scores.consciousness = consciousnessScore(p.consciousness.value)
  return news2Of(scores)
}

/**
 * Writes readings of one patient as the speed layer would (a vital missing from the last reading
 * keeps its value and status) with the given NEWS2 state (a number: a complete score of that
 * value; none: the RCP chart's score of the patient's values, `news2FromState`), and publishes one
 * `readings` update unless `publish` is false.
 */
export async function writeReadings(
  redis: RedisClient,
  keys: RedisKeys,
  readings: TestReading[],
  options: { news2?: number | News2State; publish?: boolean; extra?: Partial<PatientState> } = {},
): Promise<Update | null> {
  const last = readings.at(-1)
  if (last === undefined) return null
  const { vitals, status } = readingState(last)
  const patient: PatientState = { patientId: last.patientId, ts: last.ts, status, news2: completeNews2(0), vitals, ...options.extra }
  const before = decodeLatestVitals(await redis.hGetAll(keys.latest(last.patientId)), last.ts)
  for (const v of VITALS) {
    const kept = before[v]
    if (patient.vitals[v] !== undefined || kept === undefined) continue
    patient.vitals[v] = kept
    patient.status = worse(patient.status, kept.status)
  }
  const given = options.news2
  patient.news2 = typeof given === 'object' ? given : given === undefined ? news2FromState(patient) : completeNews2(given)
  const entries = readings.map((r) => readingState(r).entry)
  // The patient's keys in one transaction (its view shard's slot), the patients index beside it (the `{view}` slot).
  const m = redis.multi()
  m.hSet(keys.latest(patient.patientId), encodeLatest(patient))
  m.zAdd(keys.series(patient.patientId), entries.map(seriesMember))
  await Promise.all([m.exec(), redis.zAdd(keys.patients, { score: patient.ts, value: patient.patientId })])
  const update: Update = { type: 'readings', patients: [{ patient, entries }] }
  if (options.publish !== false) await redis.publish(keys.updates, encodeUpdate(update))
  return update
}

/** Opens (or updates) a patient's alert on `subject` in the `{p}:alerts` hash. */
export async function writeOpenAlert(redis: RedisClient, keys: RedisKeys, patientId: string, subject: AlertSubject, state: OpenAlertState): Promise<void> {
  await redis.hSet(keys.alertState(patientId), subject, encodeAlertState(state))
}
