/**
 * One patient's state in the speed layer and what a batch of their readings does to it: duplicate
 * and late detection, classification under the patient's bands, "latest" per vital, the alert
 * state machines and the series entries. Pure: the Redis round trips live in view.ts.
 *
 * Event time (docs/CONTRACT.md, Principles): a reading older than the patient's newest one by at most
 * the tolerance is placed in order in the series (its score is its event time); a vital's
 * "latest" (and its alert state machine) only ever moves forward in event time. A reading older
 * than the tolerance is counted as late and left to the lake (the archiver keeps every reading);
 * it changes nothing in the real-time view.
 *
 * Readings are decided in arrival (offset) order, whatever the batching: duplicate, late, latest
 * and every alert step are then a function of the partition's record sequence alone. A replay
 * after a crash or a Redis rebuild, cut into other batches, reaches the same view and the same
 * alert events, with the same ids.
 */
import { DEFAULT_BANDS, STATUS_SEVERITY, classifyVital, worse, type BandTable, type Status } from '../lib/bands.ts'
import type { AlertEvent, PatientState, SeriesEntry, VitalState } from '../lib/contract/views.ts'
import type { Reading, Vital } from '../lib/contract/schema.ts'
import { staleCleared, stepVitalAlert, type VitalAlertState } from './alerts.ts'
import { isDuplicate, markSeen, type DeviceState } from './devices.ts'
import { news2 } from './news2.ts'

export interface PatientRuntime {
  patientId: string
  /** Event time of the newest reading applied (0: none yet). */
  ts: number
  latest: Partial<Record<Vital, VitalState>>
  alerts: Partial<Record<Vital, VitalAlertState>>
  devices: Map<string, DeviceState>
  /** The patient's bands (defaults merged with their overrides). */
  table: BandTable
  /** Newest event time when the series was last trimmed (0: not since loaded). */
  trimmedAt: number
}

export function emptyPatient(patientId: string, table: BandTable = DEFAULT_BANDS): PatientRuntime {
  return { patientId, ts: 0, latest: {}, alerts: {}, devices: new Map(), table, trimmedAt: 0 }
}

export interface PatientOptions {
  holdDownMs: number
  outOfOrderToleranceMs: number
}

export interface BatchOutcome {
  /** Series entries to add, in event-time order. */
  entries: SeriesEntry[]
  events: AlertEvent[]
  changedDevices: Set<string>
  changedAlerts: Set<Vital>
  /** Vitals whose latest value changed. */
  changedVitals: Set<Vital>
  duplicates: number
  late: number
  /** Readings placed in order although they arrived after a newer one of the patient (within the tolerance). */
  reordered: number
}

/** Applies one patient's valid readings, in the order they arrived (offset order), to its runtime state. */
export function applyReadings(p: PatientRuntime, readings: readonly Reading[], options: PatientOptions): BatchOutcome {
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
  for (const r of readings) {
    const dev = p.devices.get(r.deviceId)
    if (isDuplicate(dev, r.seq)) {
      out.duplicates++
      continue
    }
    const next = markSeen(dev, r.seq, r.ts)
    if (next.staleTs !== null) {
      out.events.push(staleCleared(p.patientId, r.deviceId, r.ts))
      next.staleTs = null
    }
    p.devices.set(r.deviceId, next)
    out.changedDevices.add(r.deviceId)

    if (p.ts > 0 && r.ts < p.ts - options.outOfOrderToleranceMs) {
      out.late++
      continue
    }
    if (r.ts < p.ts) out.reordered++
    let status: Status = 'NORMAL'
    for (const [vital, value] of Object.entries(r.vitals) as [Vital, number | undefined][]) {
      if (value === undefined) continue
      const s = classifyVital(vital, value, p.table)
      status = worse(status, s)
      const cur = p.latest[vital]
      if (cur !== undefined && r.ts < cur.ts) continue
      p.latest[vital] = { value, status: s, ts: r.ts }
      out.changedVitals.add(vital)
      const step = stepVitalAlert(p.alerts[vital], { patientId: p.patientId, vital, value, status: s, ts: r.ts }, options.holdDownMs)
      if (step.state !== p.alerts[vital]) {
        if (step.state === undefined) delete p.alerts[vital]
        else p.alerts[vital] = step.state
        out.changedAlerts.add(vital)
      }
      if (step.event !== undefined) out.events.push(step.event)
    }
    out.entries.push({ ts: r.ts, deviceId: r.deviceId, seq: r.seq, vitals: r.vitals, status })
    if (r.ts > p.ts) p.ts = r.ts
  }
  // Stable: equal event times keep their arrival order.
  if (out.reordered > 0) out.entries.sort((a, b) => a.ts - b.ts)
  return out
}

/** The patient's state as the API shows it (PatientState in lib/contract/views.ts). */
export function patientState(p: PatientRuntime): PatientState {
  let status: Status = 'NORMAL'
  const values: Partial<Record<Vital, number>> = {}
  for (const [vital, v] of Object.entries(p.latest) as [Vital, VitalState][]) {
    if (STATUS_SEVERITY[v.status] > STATUS_SEVERITY[status]) status = v.status
    values[vital] = v.value
  }
  return { patientId: p.patientId, ts: p.ts, status, news2: news2(values, p.table), vitals: { ...p.latest } }
}
