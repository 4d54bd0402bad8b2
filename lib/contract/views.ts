/**
 * The shapes the layers exchange through Redis (docs/CONTRACT.md, Redis): what the speed layer and the
 * batch job write, and what the serving layer reads and pushes. Keys come from `keys.ts`.
 *
 * - `{p}:latest` hash: a `PatientState` as flat string fields, one value, status and event time per
 *   vital present, and the patient's worst status, NEWS2 score and risk, newest event time.
 * - `{p}:alerts` hash: field vital, value an `OpenAlertState` as JSON.
 * - `{p}:series` sorted set scored by event time (ms); each member is a `SeriesEntry` as JSON.
 *   The member is a pure function of the reading, so writing it again is a no-op (idempotent).
 * - `patients` sorted set: member patientId, score newest event time.
 * - `alerts` stream (XADD MAXLEN ~): field `event` holding an `AlertEvent` as JSON.
 * - `updates` channel: each message is an `Update` as JSON.
 * - `batch:daily:<date>` hash: field patientId, value a JSON array of `DailyStatsRow`.
 * - `batch:meta` hash: `BatchMeta` fields as strings.
 * Each view is encoded and decoded by one module of `codecs/` (latest.ts, series.ts, alerts.ts,
 * updates.ts, batch-meta.ts, daily-stats.ts); no other code spells a field or parses a value.
 */
import type { Vital } from './schema.ts'
import type { Status } from '../bands.ts'

/** NEWS2 risk bands (RCP 2017), lowest first; the `news2Risk` field of the latest hash holds one. */
export const NEWS2_RISKS = ['low', 'low-medium', 'medium', 'high'] as const
export type News2Risk = (typeof NEWS2_RISKS)[number]

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

export const ALERT_KINDS = ['raised', 'escalated', 'cleared'] as const
export type AlertKind = (typeof ALERT_KINDS)[number]
export const ALERT_LEVELS = ['WARNING', 'CRITICAL_LOW', 'CRITICAL_HIGH', 'STALE'] as const
export type AlertLevel = (typeof ALERT_LEVELS)[number]

/**
 * One vital's open alert, as the `{p}:alerts` hash stores it (field vital, value this as JSON);
 * absent when none is open. The speed layer's alert state machine (speed-layer/alerts.ts) owns it.
 */
export interface OpenAlertState {
  /** The open alert's level: the worst status since it was raised. */
  level: Exclude<Status, 'NORMAL'>
  /** Event time of the raise (ms). */
  raisedTs: number
  /** Event time since which the vital has been NORMAL without interruption, or null while it is not. */
  normalSince: number | null
}

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

export const UPDATE_TYPES = ['readings', 'alert', 'batch'] as const satisfies readonly Update['type'][]

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
