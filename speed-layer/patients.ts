/**
 * One patient's state in the speed layer and what a batch of their readings does to it: duplicate
 * and late detection, classification under the patient's bands, "latest" per vital and per
 * assessment (oxygen, consciousness), the glucose trend window, the alert state machines (vitals,
 * no signal, NEWS2 aggregate, urgent low soon), the experimental risk when a model is served (its
 * features fed from each reading, its minute closes and RISK_HIGH: risk.ts) and the series entries.
 * Pure: the Redis round trips live in view.ts.
 *
 * Event time (docs/CONTRACT.md, Principles): a reading is placed in order in the series (its score
 * is its event time) unless its own device has already sent a reading newer by more than the
 * tolerance: then it is counted as late and left to the lake (the archiver keeps every reading) and
 * changes nothing in the real-time view. Judging late per device keeps a device whose clock lags
 * the patient's others (or an observation charted afterwards) in the view. A vital's "latest"
 * (and its alert state machine) only ever moves forward in event time.
 *
 * Readings are decided in arrival (offset) order, whatever the batching: duplicate, late, latest
 * and every alert step are then a function of the partition's record sequence and of the stored
 * state alone (open alerts and their pending persistence runs are stored with the view). A replay
 * after a crash or a Redis rebuild, cut into other batches, reaches the same view and the same
 * alert events, with the same ids.
 */
import { bandOf, DEFAULT_BANDS, STATUS_SEVERITY, worse, type BandTable, type Status } from '../lib/bands.ts'
import type { GlucosePoint } from '../lib/contract/codecs/latest.ts'
import type { Consciousness, Reading, Vital } from '../lib/contract/schema.ts'
import {
  type AlertEvent,
  type AssessmentState,
  NEWS2_PARAMETERS,
  type News2Parameter,
  type OpenAlertState,
  type PatientState,
  type PendingAlertState,
  type RiskState,
  type SeriesEntry,
  type VitalState,
} from '../lib/contract/views.ts'
import { isNews2Vital, NEWS2_VITALS, parameterScore, spo2Scale } from '../lib/news2.ts'
import { stepForecastAlert, stepNews2Alert } from './aggregate.ts'
import { sideOf, staleCleared, stepNoSignal, stepVitalAlert, type AlertTiming, type PatientAlertSubject, type StepResult } from './alerts.ts'
import type { Accepted } from './decode.ts'
import { isDuplicate, markSeen, type DeviceState, type StaleTiming } from './devices.ts'
import { type News2Inputs, news2State, observedTs } from './news2.ts'
import { gapSince } from './persistence.ts'
import { closeMinute, currentRisk, emptyRisk, feedVitals, riskNoLongerServed, stepRiskAlert, type PatientRisk, type RiskServing } from './risk.ts'
import { FORECAST_MINUTES, forecastGlucose, glucoseTrend, prunePoints, TREND_WINDOW_MS, URGENT_LOW_SOON_MG_DL } from './trend.ts'

export interface PatientRuntime {
  patientId: string
  /** Event time of the newest reading applied (0: none yet). */
  ts: number
  latest: Partial<Record<Vital, VitalState>>
  /** Newest supplemental-oxygen observation. */
  onOxygen?: AssessmentState<boolean>
  /** Newest ACVPU observation. */
  consciousness?: AssessmentState<Consciousness>
  /** The glucose values of the trend window (trend.ts), oldest first. */
  glucoseRecent: GlucosePoint[]
  /** Open alerts, by subject. */
  alerts: Partial<Record<PatientAlertSubject, OpenAlertState>>
  /** Persistence runs not yet (or no longer) alerted on, by subject. */
  pending: Partial<Record<PatientAlertSubject, PendingAlertState>>
  devices: Map<string, DeviceState>
  /** The patient's bands (defaults merged with their overrides). */
  table: BandTable
  /** The bands version `table` was read under ('' none): read again once Redis holds another. */
  bandsVersion: string
  /** Newest event time when the series was last trimmed (0: not since loaded). */
  trimmedAt: number
  /** The risk model's features and closed minutes (risk.ts); only while a model is served. */
  riskFeatures?: PatientRisk
  /** The risk after the last batch, for the view; only while a model is served. */
  risk?: RiskState
}

export function emptyPatient(patientId: string, table: BandTable = DEFAULT_BANDS): PatientRuntime {
  return { patientId, ts: 0, latest: {}, glucoseRecent: [], alerts: {}, pending: {}, devices: new Map(), table, bandsVersion: '', trimmedAt: 0 }
}

export interface PatientOptions extends AlertTiming, StaleTiming {
  outOfOrderToleranceMs: number
  noSignalPersistenceMs: number
  news2FreshnessMs: Readonly<Record<News2Parameter, number>>
  /** The risk model served (risk.ts); absent: no risk is computed, at no cost. */
  risk?: RiskServing
}

export interface BatchOutcome {
  /** Series entries to add, in event-time order. */
  entries: SeriesEntry[]
  events: AlertEvent[]
  changedDevices: Set<string>
  /** Subjects whose open alert or pending run changed. */
  changedAlerts: Set<PatientAlertSubject>
  /** Vitals whose latest value changed. */
  changedVitals: Set<Vital>
  duplicates: number
  late: number
  /** Readings placed in order although they arrived after a newer one of the patient (within the tolerance). */
  reordered: number
}

/** What one reading is judged with: the patient's SpO2 scale and the options. */
interface ReadingContext {
  scale: 1 | 2
  options: PatientOptions
  out: BatchOutcome
}

/** Applies one patient's accepted readings, in the order they arrived (offset order), to its runtime state. */
export function applyReadings(p: PatientRuntime, readings: readonly Accepted[], options: PatientOptions): BatchOutcome {
  const out: BatchOutcome = {
    entries: [],
    events: [],
    changedDevices: new Set(),
    changedAlerts: new Set(),
    changedVitals: new Set(),
    duplicates: 0,
    late: 0,
    reordered: 0,
  }
  const scale = spo2Scale(p.table)
  for (const a of readings) {
    const r = a.reading
    const deviceNewest = p.devices.get(r.deviceId)?.ts
    const dev = seeDevice(p, a, options, out)
    if (dev === undefined) continue
    // Late is judged against the reading's own device: a device whose clock lags the patient's other
    // devices (or a nurse's observation charted afterwards) is in order on its own clock, and its
    // values must reach the view; only a reading its own device has already moved past is late.
    if (deviceNewest !== undefined && r.ts < deviceNewest - options.outOfOrderToleranceMs) {
      out.late++
      continue
    }
    const ctx: ReadingContext = { scale, options, out }
    stepDeviceSignal(p, dev, a, gapSince(deviceNewest, r.ts), ctx)
    const previousTs = p.ts === 0 ? undefined : p.ts
    const previousGlucoseTs = p.latest.glucose?.ts
    const spotGapMs = parameterGapMs(p, r)
    if (options.risk !== undefined) applyRisk(p, r, options.risk, ctx)
    else if (p.alerts.risk !== undefined || p.pending.risk !== undefined) setSubject(p, 'risk', riskNoLongerServed(p, r.ts), out)
    if (r.ts < p.ts) out.reordered++
    else p.ts = r.ts
    applyAssessments(p, r)
    const status = applyVitals(p, r, ctx)
    applyGlucose(p, r, gapSince(previousGlucoseTs, r.ts), ctx)
    stepNews2(p, Math.max(gapSince(previousTs, p.ts), spotGapMs), ctx)
    out.entries.push({ ts: r.ts, deviceId: r.deviceId, seq: r.seq, vitals: r.vitals, status })
  }
  // Stable: equal event times keep their arrival order.
  if (out.reordered > 0) out.entries.sort((a, b) => a.ts - b.ts)
  if (options.risk !== undefined && out.entries.length > 0) p.risk = currentRisk(options.risk, riskFeaturesOf(p), p, p.ts)
  return out
}

/** The patient's risk features, new ones for a patient that has none yet. */
function riskFeaturesOf(p: PatientRuntime): PatientRisk {
  if (p.riskFeatures === undefined) p.riskFeatures = emptyRisk()
  return p.riskFeatures
}

/**
 * The risk's part of a reading, before the reading moves the patient's time: a reading that opens a
 * new minute closes the current one (its risk, one RISK_HIGH step: risk.ts), then its vitals go
 * into the features.
 */
function applyRisk(p: PatientRuntime, r: Reading, serving: RiskServing, ctx: ReadingContext): void {
  const risk = riskFeaturesOf(p)
  const closed = closeMinute(serving, risk, p, p.ts, r.ts)
  if (closed !== undefined) {
    const sample = { ...closed, patientId: p.patientId, threshold: serving.threshold, gapMs: gapSince(closed.previousTs, closed.ts) }
    setSubject(p, 'risk', stepRiskAlert(subjectOf(p, 'risk'), sample, ctx.options), ctx.out)
  }
  feedVitals(risk, r.vitals, r.ts)
}

/** Duplicate detection and the device's state after the reading; undefined for a duplicate. Clears an open stale-data alert. */
function seeDevice(p: PatientRuntime, a: Accepted, options: PatientOptions, out: BatchOutcome): DeviceState | undefined {
  const r = a.reading
  const dev = p.devices.get(r.deviceId)
  if (isDuplicate(dev, r.seq)) {
    out.duplicates++
    return undefined
  }
  const next = markSeen(dev, r, a.arrivedAt, a.noSignal, options)
  if (next.staleTs !== null) {
    // On the arrival clock, as the raise was (stale.ts): a lagging device clock would put the clear before the raise.
    out.events.push(staleCleared(p.patientId, r.deviceId, Math.max(a.arrivedAt, next.staleTs)))
    next.staleTs = null
  }
  p.devices.set(r.deviceId, next)
  out.changedDevices.add(r.deviceId)
  return next
}

/** The device's NO_SIGNAL run (alerts.ts stepNoSignal), kept in its device state; `gapMs` since the device's previous reading. */
function stepDeviceSignal(p: PatientRuntime, dev: DeviceState, a: Accepted, gapMs: number, ctx: ReadingContext): void {
  const sample = { patientId: p.patientId, deviceId: a.reading.deviceId, noSignal: a.noSignal, ts: a.reading.ts, gapMs }
  const step = stepNoSignal(dev, sample, ctx.options.noSignalPersistenceMs)
  dev.noSignalSince = step.state.noSignalSince
  dev.noSignalTs = step.state.noSignalTs
  if (step.event !== undefined) ctx.out.events.push(step.event)
}

/**
 * The largest gap between a NEWS2 parameter the reading brings (and that becomes the latest) and
 * that parameter's previous observation; 0 when it brings none. With the gap since the patient's
 * previous evaluation it decides whether the NEWS2 evaluation is judged on its own: a charted set
 * or a nurse's round split into readings at one event time (each after the first has a gap of 0
 * since the patient's previous evaluation) brings parameters not observed for longer than the
 * persistence time, and is a deliberate measurement as a whole.
 */
function parameterGapMs(p: PatientRuntime, r: Reading): number {
  const inputs = news2Inputs(p)
  let gap = 0
  for (const param of NEWS2_PARAMETERS) {
    const present = param === 'onOxygen' || param === 'consciousness' ? r[param] !== undefined : r.vitals[param] !== undefined
    const previous = observedTs(inputs, param)
    if (present && (previous === undefined || r.ts >= previous)) gap = Math.max(gap, gapSince(previous, r.ts))
  }
  return gap
}

/** What the patient's NEWS2 aggregate is computed from: their latest vitals and assessments. */
function news2Inputs(p: PatientRuntime): News2Inputs {
  return { vitals: p.latest, onOxygen: p.onOxygen, consciousness: p.consciousness }
}

/** The reading's oxygen and consciousness observations become the latest unless a newer one is known. */
function applyAssessments(p: PatientRuntime, r: Reading): void {
  if (r.onOxygen !== undefined && (p.onOxygen === undefined || r.ts >= p.onOxygen.ts)) p.onOxygen = { value: r.onOxygen, ts: r.ts }
  if (r.consciousness !== undefined && (p.consciousness === undefined || r.ts >= p.consciousness.ts)) p.consciousness = { value: r.consciousness, ts: r.ts }
}

/** Oxygen as NEWS2 counts it now: the newest observation within its freshness window, else unknown. */
function freshOnOxygen(p: PatientRuntime, options: PatientOptions): boolean | undefined {
  const o = p.onOxygen
  return o !== undefined && o.ts >= p.ts - options.news2FreshnessMs.onOxygen ? o.value : undefined
}

/** Classifies the reading's vitals, moves "latest" forward and steps each vital's alert; returns the reading's worst status. */
function applyVitals(p: PatientRuntime, r: Reading, ctx: ReadingContext): Status {
  let status: Status = 'NORMAL'
  const onOxygen = freshOnOxygen(p, ctx.options)
  for (const [vital, value] of Object.entries(r.vitals) as [Vital, number | undefined][]) {
    if (value === undefined) continue
    const band = bandOf(p.table[vital], value)
    status = worse(status, band.status)
    const cur = p.latest[vital]
    if (cur !== undefined && r.ts < cur.ts) continue
    p.latest[vital] = { value, status: band.status, ts: r.ts }
    ctx.out.changedVitals.add(vital)
    const score = isNews2Vital(vital) ? parameterScore(vital, value, { scale: ctx.scale, onOxygen }) : undefined
    // The gap since the vital's previous value: a first value, or one after a gap of the persistence time, is judged on its own.
    const gapMs = gapSince(cur?.ts, r.ts)
    const sample = { patientId: p.patientId, vital, value, status: band.status, side: sideOf(p.table[vital], band), score, ts: r.ts, gapMs }
    setSubject(p, vital, stepVitalAlert(subjectOf(p, vital), sample, ctx.options), ctx.out)
  }
  return status
}

/**
 * Adds a glucose value to the trend window (pruned to the patient's newest time) and steps the
 * urgent-low-soon alert; `gapMs` since the previous glucose value. Without a glucose value the
 * window is pruned only when a value fell out of it: the window is already thinned (prunePoints),
 * so pruning it again changes nothing else.
 */
function applyGlucose(p: PatientRuntime, r: Reading, gapMs: number, ctx: ReadingContext): void {
  const glucose = r.vitals.glucose
  if (glucose === undefined) {
    if (p.glucoseRecent.some(([ts]) => ts < p.ts - TREND_WINDOW_MS)) p.glucoseRecent = prunePoints(p.glucoseRecent, p.ts)
    return
  }
  const pruned = prunePoints([...p.glucoseRecent, [r.ts, glucose] as const], p.ts)
  p.glucoseRecent = pruned
  if (p.latest.glucose?.ts !== r.ts) return
  const trend = glucoseTrend(pruned)
  const sample = {
    patientId: p.patientId,
    glucose,
    rate: trend?.rate,
    forecast: forecastGlucose(pruned, trend),
    minutes: FORECAST_MINUTES,
    thresholdMgDl: URGENT_LOW_SOON_MG_DL,
    ts: r.ts,
    gapMs,
  }
  setSubject(p, 'glucoseForecast', stepForecastAlert(subjectOf(p, 'glucoseForecast'), sample, ctx.options), ctx.out)
}

/**
 * The NEWS2 aggregate alert, judged at the patient's newest time after every reading (so a value
 * from a lagging device counts at once); `gapMs` since the patient's previous evaluation.
 */
function stepNews2(p: PatientRuntime, gapMs: number, ctx: ReadingContext): void {
  const inputs = news2Inputs(p)
  const news2 = news2State(inputs, p.ts, ctx.scale, ctx.options.news2FreshnessMs)
  const observedAt: Partial<Record<News2Parameter, number>> = {}
  for (const param of news2.missing) {
    const at = observedTs(inputs, param)
    if (at !== undefined) observedAt[param] = at
  }
  const sample = { patientId: p.patientId, news2, ts: p.ts, gapMs, covered: criticalVitals(p), observedAt }
  setSubject(p, 'news2', stepNews2Alert(subjectOf(p, 'news2'), sample, ctx.options), ctx.out)
}

/** The NEWS2 vitals with an open CRITICAL alert: their score of 3 is already alerted on (aggregate.ts news2AlertLevel). */
function criticalVitals(p: PatientRuntime): Set<News2Parameter> {
  const out = new Set<News2Parameter>()
  for (const v of NEWS2_VITALS) {
    const level = p.alerts[v]?.level
    if (level === 'CRITICAL_LOW' || level === 'CRITICAL_HIGH') out.add(v)
  }
  return out
}

function subjectOf(p: PatientRuntime, subject: PatientAlertSubject) {
  return { open: p.alerts[subject], pending: p.pending[subject] }
}

/** Stores a subject's new alert state (marking it changed when it is) and collects its event. */
function setSubject(p: PatientRuntime, subject: PatientAlertSubject, step: StepResult, out: BatchOutcome): void {
  const { open, pending } = step.state
  if (open !== p.alerts[subject] || pending !== p.pending[subject]) out.changedAlerts.add(subject)
  if (open === undefined) delete p.alerts[subject]
  else p.alerts[subject] = open
  if (pending === undefined) delete p.pending[subject]
  else p.pending[subject] = pending
  if (step.event !== undefined) out.events.push(step.event)
}

/** The patient's state as the API shows it (PatientState in lib/contract/views.ts), with the honest NEWS2 at the newest reading's time. */
export function patientState(p: PatientRuntime, news2FreshnessMs: Readonly<Record<News2Parameter, number>>): PatientState {
  let status: Status = 'NORMAL'
  for (const v of Object.values(p.latest) as VitalState[]) if (STATUS_SEVERITY[v.status] > STATUS_SEVERITY[status]) status = v.status
  const inputs = news2Inputs(p)
  const state: PatientState = {
    patientId: p.patientId,
    ts: p.ts,
    status,
    news2: news2State(inputs, p.ts, spo2Scale(p.table), news2FreshnessMs),
    vitals: { ...p.latest },
  }
  if (p.onOxygen !== undefined) state.onOxygen = p.onOxygen
  if (p.consciousness !== undefined) state.consciousness = p.consciousness
  const trend = glucoseTrend(p.glucoseRecent)
  if (trend !== undefined) state.glucoseTrend = trend
  if (p.risk !== undefined) state.risk = p.risk
  return state
}
