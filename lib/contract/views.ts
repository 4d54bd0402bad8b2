/**
 * The shapes the layers exchange through Redis (docs/CONTRACT.md, Redis): what the speed layer and the
 * batch job write, and what the serving layer reads and pushes. Keys come from `keys.ts`.
 *
 * - `{p}:latest` hash: for each vital present `<vital>` (value), `<vital>:status`, `<vital>:ts`;
 *   and `status` (worst), `news2` (aggregate score), `news2Risk`, `ts` (newest event time).
 * - `{p}:series` sorted set scored by event time (ms); each member is a `SeriesEntry` as JSON.
 *   The member is a pure function of the reading, so writing it again is a no-op (idempotent).
 * - `patients` sorted set: member patientId, score newest event time.
 * - `alerts` stream (XADD MAXLEN ~): field `event` holding an `AlertEvent` as JSON.
 * - `updates` channel: each message is an `Update` as JSON.
 * - `batch:daily:<date>` hash: field patientId, value a JSON array of `DailyStatsRow`.
 * - `batch:meta` hash: `BatchMeta` fields as strings.
 */
import type { Vital } from './schema.ts'
import type { Status } from '../bands.ts'

export type News2Risk = 'low' | 'low-medium' | 'medium' | 'high'

export interface SeriesEntry {
  ts: number
  deviceId: string
  seq: number
  /** The reading's vitals (only those present). */
  vitals: Partial<Record<Vital, number>>
  /** The reading's worst status. */
  status: Status
}

export interface VitalState {
  value: number
  status: Status
  ts: number
}

/** The API's and the page's view of a patient (GET /api/patients/:id, without alerts). */
export interface PatientState {
  patientId: string
  ts: number
  status: Status
  news2: { score: number; risk: News2Risk }
  vitals: Partial<Record<Vital, VitalState>>
}

export type AlertKind = 'raised' | 'escalated' | 'cleared'
export type AlertLevel = 'WARNING' | 'CRITICAL_LOW' | 'CRITICAL_HIGH' | 'STALE'

export interface AlertEvent {
  /** Deterministic id (patient, vital, event time of the transition, kind): a replay produces the same id. */
  id: string
  patientId: string
  /** The vital, or 'device' for a stale-data alert. */
  vital: Vital | 'device'
  kind: AlertKind
  level: AlertLevel
  /** Value that caused the transition (absent for stale alerts). */
  value?: number
  /** Event time of the reading that caused the transition (ms). */
  ts: number
  /** Human-readable one-line description for the feed. */
  message: string
}

/**
 * A notification on the `updates` channel. The speed layer publishes one `readings` update per
 * patient per processed batch (the patient's new state and the batch's series entries, oldest
 * first), never one per reading, so the channel's rate is bounded by batches, not readings.
 */
export type Update =
  | { type: 'readings'; patient: PatientState; entries: SeriesEntry[] }
  | { type: 'alert'; alert: AlertEvent }
  | { type: 'batch'; meta: BatchMeta }

export interface DailyStatsRow {
  date: string
  patientId: string
  vital: Vital
  count: number
  mean: number
  min: number
  max: number
  stddev: number | null
  p05: number
  p50: number
  p95: number
  nNormal: number
  nWarning: number
  nCriticalLow: number
  nCriticalHigh: number
  tirLt54: number | null
  tir54_69: number | null
  tir70_180: number | null
  tir181_250: number | null
  tirGt250: number | null
  cv: number | null
}

export interface BatchMeta {
  runId: string
  /** Event time (ms) up to which (exclusive) the batch view is complete; the speed layer covers what follows. */
  cutoffTs: number
  startedAt: number
  finishedAt: number
  /** Days computed, YYYY-MM-DD. */
  dates: string[]
  rows: number
}
