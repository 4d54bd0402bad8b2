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
import { encodeLatest } from '../lib/contract/codecs/latest.ts'
import { seriesMember } from '../lib/contract/codecs/series.ts'
import { encodeAlertState } from '../lib/contract/codecs/alerts.ts'
import { encodeUpdate } from '../lib/contract/codecs/updates.ts'

/**
 * A NEWS2 state from each counted parameter's score; the others are missing, and those in `old`
 * were observed too long ago. Risk as the speed layer states it (docs/CLINICAL.md, NEWS2): a
 * complete score's RCP band; a partial one's lower bound, or null.
 */
export function news2Of(scores: Partial<Record<News2Parameter, number>>, options: { old?: News2Parameter[]; scale?: 1 | 2 } = {}): News2State {
  const counted = NEWS2_PARAMETERS.filter((p) => scores[p] !== undefined)
  const score = counted.reduce((sum, p) => sum + (scores[p] ?? 0), 0)
  const anyThree = counted.some((p) => scores[p] === 3)
  const complete = counted.length === NEWS2_PARAMETERS.length
  let risk: News2Risk | null = score >= 7 ? 'high' : score >= 5 ? 'medium' : anyThree ? 'low-medium' : null
  if (complete && risk === null) risk = 'low'
  return {
    score,
    risk,
    complete,
    counted,
    scores: Object.fromEntries(counted.map((p) => [p, scores[p]])),
    missing: NEWS2_PARAMETERS.filter((p) => scores[p] === undefined),
    old: NEWS2_PARAMETERS.filter((p) => options.old?.includes(p) === true),
    scale: options.scale ?? 1,
  }
}

/** A complete NEWS2 of `score` (put on the respiration rate; the other parameters score 0). */
export function completeNews2(score: number): News2State {
  return news2Of({ respRate: score, spo2: 0, onOxygen: 0, systolic: 0, heartRate: 0, consciousness: 0, temperature: 0 })
}

/** Writes a patient's whole state and series entries into the view (one transaction), and publishes the `readings` update unless told not to. */
export async function writePatientState(redis: RedisClient, keys: RedisKeys, patient: PatientState, entries: SeriesEntry[], publish = true): Promise<Update> {
  const m = redis.multi()
  m.del(keys.latest(patient.patientId))
  m.hSet(keys.latest(patient.patientId), encodeLatest(patient))
  if (entries.length > 0) m.zAdd(keys.series(patient.patientId), entries.map(seriesMember))
  m.zAdd(keys.patients, { score: patient.ts, value: patient.patientId })
  await m.exec()
  const update: Update = { type: 'readings', patient, entries }
  if (publish) await redis.publish(keys.updates, encodeUpdate(update))
  return update
}

/** Opens (or updates) a patient's alert on `subject` in the `{p}:alerts` hash. */
export async function writeOpenAlert(redis: RedisClient, keys: RedisKeys, patientId: string, subject: AlertSubject, state: OpenAlertState): Promise<void> {
  await redis.hSet(keys.alertState(patientId), subject, encodeAlertState(state))
}
