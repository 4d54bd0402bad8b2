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
import type { Consciousness, Vital } from './schema.ts'
import type { Status } from '../bands.ts'

/** NEWS2 risk bands (RCP 2017), lowest first; the `news2Risk` field of the latest hash holds one. */
export const NEWS2_RISKS = ['low', 'low-medium', 'medium', 'high'] as const
export type News2Risk = (typeof NEWS2_RISKS)[number]

/**
 * The seven NEWS2 parameters (RCP 2017, Chart 1), in the chart's order: respiration rate, SpO2,
 * air or oxygen, systolic BP, pulse, consciousness, temperature.
 */
export const NEWS2_PARAMETERS = ['respRate', 'spo2', 'onOxygen', 'systolic', 'heartRate', 'consciousness', 'temperature'] as const
export type News2Parameter = (typeof NEWS2_PARAMETERS)[number]

/**
 * A patient's NEWS2 aggregate as Vigil can honestly state it (docs/CLINICAL.md, NEWS2).
 * Only parameters observed within their freshness window count. `complete` when all seven count;
 * otherwise the score is a lower bound ("NEWS2 ≥ score, partial: counted.length of 7") and `risk`
 * is the risk that lower bound already implies, or null when it implies nothing above `low` (a
 * partial score is never "low risk").
 */
export interface News2State {
  /** Sum of the counted parameters' scores (a lower bound when not complete). */
  score: number
  /** The RCP risk band of a complete score; for a partial one the band its lower bound reaches, or null. */
  risk: News2Risk | null
  complete: boolean
  /** Parameters counted (observed within their freshness window), chart order. */
  counted: News2Parameter[]
  /** Each counted parameter's score (RCP chart). */
  scores: Partial<Record<News2Parameter, number>>
  /** Parameters not counted: never observed, or observed too long ago (those are also in `old`), chart order. */
  missing: News2Parameter[]
  /** Parameters observed, but longer ago than their freshness window (a subset of `missing`). */
  old: News2Parameter[]
  /** The patient's SpO2 scale (1, or 2 for a prescribed 88-92 % target). */
  scale: 1 | 2
}

/** CGM trend arrows (the usual CGM display, docs/CLINICAL.md, Glucose trend and "urgent low soon"): rate in mg/dL per minute. */
export const TREND_ARROWS = ['↑↑', '↑', '↗', '→', '↘', '↓', '↓↓'] as const
export type TrendArrow = (typeof TREND_ARROWS)[number]

export interface GlucoseTrend {
  /** Rate of change, mg/dL per minute. */
  rate: number
  arrow: TrendArrow
  /** Event time of the newest glucose value the trend is computed to (ms). */
  ts: number
}

/** One observed assessment (onOxygen or consciousness) with its event time. */
export interface AssessmentState<T> {
  value: T
  ts: number
}

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
  news2: News2State
  vitals: Partial<Record<Vital, VitalState>>
  /** Newest supplemental-oxygen observation, if any. */
  onOxygen?: AssessmentState<boolean>
  /** Newest ACVPU observation, if any. */
  consciousness?: AssessmentState<Consciousness>
  /** The CGM trend, once enough recent glucose values exist. */
  glucoseTrend?: GlucoseTrend
  /** The experimental early-warning risk, only while the speed layer serves a risk model (lib/risk). */
  risk?: RiskState
}

/** One feature's part in a risk (lib/risk/model.ts): log-odds added to the model's intercept. */
export interface RiskContribution {
  /** A name of lib/risk/features.ts FEATURE_NAMES, e.g. `spo2.slope10`. */
  feature: string
  value: number
  contribution: number
  /** The feature and its value in words: "SpO2 falling 2.0 %/10 min". */
  text: string
}

/**
 * The risk model's output for one patient (docs/CLINICAL.md, Early-warning risk model): the
 * probability that an episode starts within the model's horizon, the model that computed it,
 * the three largest contributions, and the recent risks for its trend. Experimental: never a
 * replacement for NEWS2 and the per-vital bands.
 */
export interface RiskState {
  /** 0-1. */
  risk: number
  /** Event time it was computed for (ms). */
  ts: number
  /** The model's version (`lr-...`). */
  model: string
  top: RiskContribution[]
  /** Risks of the last hour, one per minute at most: [[ts, risk], ...] oldest first. */
  recent: Array<readonly [ts: number, risk: number]>
}

/**
 * What the dashboard says about the model serving the risks (Redis `risk:model`, written by the
 * speed layer when it loads a model, deleted when it runs without one).
 */
export interface RiskModelInfo {
  version: string
  /** The training cohort in words, e.g. "simulator, 140 patients, 7 days". */
  cohort: string
  horizonMinutes: number
  /** AUROC on the held-out patients (null when it could not be computed). */
  testAuroc: number | null
  /**
   * The mean AUROC of each held-out patient's own minutes: whether the model tells *when* an episode
   * is coming, not only *who* has them (absent: a model file without it; null: not computed).
   */
  testAurocWithinPatients?: number | null
  threshold: { raise: number; clear: number }
}

export const ALERT_KINDS = ['raised', 'escalated', 'cleared'] as const
export type AlertKind = (typeof ALERT_KINDS)[number]
/**
 * - WARNING, CRITICAL_LOW, CRITICAL_HIGH: one vital out of its bands (subject: the vital)
 * - STALE: a device silent too long; NO_SIGNAL: a device sending its probe-off value (subject: `device`)
 * - NEWS2_SINGLE_3, NEWS2_MEDIUM, NEWS2_HIGH: the NEWS2 aggregate's RCP trigger levels (subject: `news2`)
 * - URGENT_LOW_SOON: the glucose trend predicts < 55 mg/dL within 20 minutes (subject: `glucoseForecast`)
 * - RISK_HIGH: the experimental risk model's risk above its threshold (subject: `risk`)
 */
export const ALERT_LEVELS = [
  'WARNING',
  'CRITICAL_LOW',
  'CRITICAL_HIGH',
  'STALE',
  'NO_SIGNAL',
  'NEWS2_SINGLE_3',
  'NEWS2_MEDIUM',
  'NEWS2_HIGH',
  'URGENT_LOW_SOON',
  'RISK_HIGH',
] as const
export type AlertLevel = (typeof ALERT_LEVELS)[number]

/** What an alert is about: a vital, a device (stale, no signal), the NEWS2 aggregate, or the glucose forecast. */
export type AlertSubject = Vital | 'device' | 'news2' | 'glucoseForecast' | 'risk'

/** Which side of the normal band a value is on. */
export type Side = 'low' | 'high'

/**
 * One open alert, as the `{p}:alerts` hash stores it (field: the subject, `news2` or
 * `glucoseForecast` or a vital; value this as JSON); absent when none is open. Updated with every
 * reading while open, so its message always shows the current value and side. The speed layer's
 * alert state machines (speed-layer/alerts.ts) own it.
 */
export interface OpenAlertState {
  /** The open alert's level: the worst since it was raised. */
  level: AlertLevel
  /** Event time of the raise (ms). */
  raisedTs: number
  /** Event time since which the subject has been back to normal without interruption, or null while it is not. */
  normalSince: number | null
  /** The current value (a vital's value, the NEWS2 score, the predicted glucose). */
  value?: number
  /** The current side of a vital's value. */
  side?: Side
  /** The worst NEWS2 parameter score of a vital since the raise, or the aggregate's worst score (the current one is in the message). */
  score?: number
  /** Event time of the value (ms). */
  ts: number
  /** The current one-line text: value, side, level (and, for NEWS2, the RCP response). */
  message: string
  /**
   * A `news2` alert's parameters that scored more than 0 while it was open, chart order: it
   * clears only once each of them is counted (observed within its freshness window) again, never
   * because their values aged out. Absent for other subjects.
   */
  parameters?: News2Parameter[]
}

/**
 * Persistence of an out-of-band run not yet alerted on (docs/CLINICAL.md, Alerts: persistence, escalation, text): stored in
 * the `{p}:alerts` hash under `<subject>:pending` so that a replay after a crash decides as the
 * first run did.
 */
export interface PendingAlertState {
  /** Event time of the first sample of the current run out of NORMAL, or null. */
  outSince: number | null
  /** Event time of the first sample of the current run in a CRITICAL band, or null. */
  criticalSince: number | null
  /**
   * Event time of the first sample back in NORMAL during the out run, or null while out (a run
   * survives brief returns: it ends once the subject has stayed back for the persistence reset
   * time). Absent from runs stored before it existed: read as null.
   */
  inSince?: number | null
  /** Event time of the first sample out of the CRITICAL band during the critical run, or null (absent: null). */
  belowCriticalSince?: number | null
}

export interface AlertEvent {
  /** Deterministic id (patient, subject, event time of the transition, kind): a replay produces the same id. */
  id: string
  patientId: string
  /** What the alert is about (the field keeps its historical name). */
  vital: AlertSubject
  kind: AlertKind
  level: AlertLevel
  /** Value that caused the transition (absent for stale and no-signal alerts). */
  value?: number
  /** Side of a vital's value. */
  side?: Side
  /** NEWS2 parameter score of the vital, or the aggregate score for a `news2` alert. */
  score?: number
  /** The device of a STALE or NO_SIGNAL alert. */
  deviceId?: string
  /** Event time of the reading that caused the transition (ms). */
  ts: number
  /** Human-readable one-line description for the feed (for NEWS2 alerts, with the RCP recommended response). */
  message: string
}

/** One patient's part of a `readings` update: the patient's new state and the batch's series entries, oldest first. */
export interface PatientReadings {
  patient: PatientState
  entries: SeriesEntry[]
}

/**
 * A notification on the `updates` channel. The speed layer publishes one `readings` update per
 * processed batch, holding every patient the batch changed: the channel's rate is bounded by
 * batches, not by readings or patients (a hospital's batch touches thousands of patients).
 */
export type Update = { type: 'readings'; patients: PatientReadings[] } | { type: 'alert'; alert: AlertEvent } | { type: 'batch'; meta: BatchMeta }

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
  /**
   * Values of this vital that day left out of every statistic above because the speed layer
   * refuses them (outside the plausible range, or a diastolic not below its systolic:
   * lib/plausibility.ts), and no-signal values (a heart rate or SpO2 of 0, a probe off).
   * Absent from rows written before the batch job judged values (docs/CONTRACT.md, Daily statistics).
   */
  nRefused?: number
  nNoSignal?: number
  /**
   * The patient-day's NEWS2 assessments (docs/CONTRACT.md, Daily statistics), the same on each of
   * its rows: readings that said the patient was on supplemental oxygen, on air (a reading that
   * does not say is in neither), and at each ACVPU level. Absent from rows written before
   * schema v1 had the assessments.
   */
  nOnOxygen?: number
  nOnAir?: number
  nAcvpuA?: number
  nAcvpuC?: number
  nAcvpuV?: number
  nAcvpuP?: number
  nAcvpuU?: number
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
