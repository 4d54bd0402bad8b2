/**
 * The one persistence rule of every alert (docs/CLINICAL.md, Alerts: persistence, escalation, text).
 * A condition (a vital out of NORMAL, in a CRITICAL band, a device with no signal, a NEWS2 trigger
 * level, an urgent low predicted) is confirmed when it has lasted `persistenceMs` of event time
 * since the first sample of its current run, or at once when the gap since the previous sample of
 * the same subject (the vital, the device, the NEWS2 evaluation, the glucose value) is at least
 * `persistenceMs`, or there is none: a spot check, a nurse's charted round, a cuff or a CGM
 * measures deliberately and waiting for a next sample would delay the alert by a whole cycle. So
 * a first sample, or the first after a gap longer than the persistence time (a wearable that
 * reconnects), is judged on its own, while a continuous source needs the persistence time and a
 * single artefact sample among its readings raises nothing.
 *
 * A critical run survives brief returns: it ends only once the subject has stayed out of its
 * CRITICAL band (or below NEWS2 7) for `persistenceResetMs`, or when the sample back follows a gap
 * of at least the persistence time (judged on its own, as an out-of-band one would be). Brief
 * samples back inside a sustained dangerous excursion are themselves typical artefacts or
 * oscillation (a heart rate of 150 with one 80 every 10 s, an SpO2 alternating 88/92), and
 * alarm-delay practice measures the time out of band within a window. A WARNING run (out of
 * NORMAL, NEWS2 5-6 or a single 3, a low forecast) ends at its first sample back: a value hovering
 * on a WARNING edge is the alarm burden the delay is there to remove (measured: the alarm-burden
 * section of docs/ARCHITECTURE.md), and a danger behind it reaches a CRITICAL band or NEWS2 7. Confirmation still
 * needs the current sample out of band.
 *
 * Sources: Görges M, Markewitz BA, Westenskow DR, "Improving alarm performance in the medical
 * intensive care unit using delays and clinical context", Anesth Analg 2009;108:1546-52 (short
 * delays remove most false alarms); Welch J, "An evidence-based approach to reduce nuisance alarms
 * and alarm fatigue", Biomed Instrum Technol 2011;45(s1):46-52 (SpO2 alarm delay 15 s).
 *
 * The runs live in a `PendingAlertState` stored with the open alerts (`{p}:alerts`, field
 * `<subject>:pending`), in the same atomic write, so a replay after a crash decides identically.
 */
import type { PendingAlertState } from '../lib/contract/views.ts'

/** The gap before a subject's first sample: none, so the first sample is judged on its own. */
export const NO_PREVIOUS_SAMPLE = Number.POSITIVE_INFINITY

/** The gap between a subject's previous sample (undefined: none) and this one at `ts`. */
export function gapSince(previousTs: number | undefined, ts: number): number {
  return previousTs === undefined ? NO_PREVIOUS_SAMPLE : ts - previousTs
}

/**
 * Whether a run that started at `since` (null: no run) is confirmed by the sample at `ts`, which
 * came `gapMs` after the subject's previous sample (NO_PREVIOUS_SAMPLE for a first one).
 */
export function isConfirmed(since: number | null, ts: number, persistenceMs: number, gapMs: number): boolean {
  if (since === null) return false
  return ts - since >= persistenceMs || gapMs >= persistenceMs
}

/** What the runs are judged with: the persistence of each run and how long the subject must stay back to end one. */
export interface RunTiming {
  warningPersistenceMs: number
  criticalPersistenceMs: number
  persistenceResetMs: number
}

/** A sample as the runs see it: whether it holds each condition, its event time and the gap before it. */
export interface RunSample {
  /** The condition holds at any level (out of NORMAL, a NEWS2 trigger, a low forecast). */
  out: boolean
  /** Its critical-persistence condition holds (a CRITICAL band, NEWS2_HIGH). */
  critical: boolean
  ts: number
  gapMs: number
}

type Run = readonly [since: number | null, backSince: number | null]

/**
 * One run after a sample: started by the first sample that holds, kept through samples back
 * (`backSince`: the first of them) until the subject has stayed back `resetMs`, or ended by a
 * sample back after a gap of at least `persistenceMs`.
 */
export function nextRun(run: Run, holds: boolean, ts: number, gapMs: number, persistenceMs: number, resetMs: number): Run {
  const [since, backSince] = run
  if (holds) return [since ?? ts, null]
  if (since === null || gapMs >= persistenceMs) return [null, null]
  const back = backSince ?? ts
  return ts - back >= resetMs ? [null, null] : [since, back]
}

/**
 * The runs after a sample: `out` (WARNING persistence) and `critical` (critical persistence).
 * Undefined when neither runs (nothing to store); `prev` itself when nothing changed.
 */
export function nextPending(prev: PendingAlertState | undefined, s: RunSample, t: RunTiming): PendingAlertState | undefined {
  const outRun: Run = [prev?.outSince ?? null, prev?.inSince ?? null]
  const criticalRun: Run = [prev?.criticalSince ?? null, prev?.belowCriticalSince ?? null]
  // A WARNING run ends at its first sample back (reset 0); only the critical run survives brief returns.
  const [outSince, inSince] = nextRun(outRun, s.out, s.ts, s.gapMs, t.warningPersistenceMs, 0)
  const [criticalSince, belowCriticalSince] = nextRun(criticalRun, s.critical, s.ts, s.gapMs, t.criticalPersistenceMs, t.persistenceResetMs)
  if (outSince === null && criticalSince === null) return undefined
  const next: PendingAlertState = { outSince, criticalSince, inSince, belowCriticalSince }
  if (prev !== undefined && samePending(prev, next)) return prev
  return next
}

function samePending(a: PendingAlertState, b: PendingAlertState): boolean {
  return (
    a.outSince === b.outSince &&
    a.criticalSince === b.criticalSince &&
    (a.inSince ?? null) === b.inSince &&
    (a.belowCriticalSince ?? null) === b.belowCriticalSince
  )
}
