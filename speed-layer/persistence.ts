/**
 * The one persistence rule of every alert (docs/CLINICAL.md, Alerts: persistence, escalation, text).
 * A condition (a vital out of NORMAL, in a CRITICAL band, a device with no signal, a NEWS2 trigger
 * level, an urgent low predicted) is confirmed when it has lasted `persistenceMs` of event time
 * since the first sample of its current uninterrupted run, or at once when the sample comes from
 * a device whose cadence is at least `persistenceMs`: an intermittent device (cuff, CGM,
 * thermometer, nurse observation) takes deliberate measurements, and waiting for its next one
 * would delay the alert by a whole cycle. A single artefact sample of a continuous device raises
 * nothing.
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

/** Whether a run that started at `since` (null: no run) is confirmed by the sample at `ts` from a device of cadence `cadenceMs`. */
export function isConfirmed(since: number | null, ts: number, persistenceMs: number, cadenceMs: number): boolean {
  if (since === null) return false
  return ts - since >= persistenceMs || cadenceMs >= persistenceMs
}

/**
 * The runs after a sample: `out` (the condition holds at any level) and `critical` (its
 * critical-persistence condition holds) each start at the first sample that holds and end at the
 * first that does not. Undefined when neither runs (nothing to store).
 */
export function nextPending(prev: PendingAlertState | undefined, out: boolean, critical: boolean, ts: number): PendingAlertState | undefined {
  const outSince = out ? (prev?.outSince ?? ts) : null
  const criticalSince = critical ? (prev?.criticalSince ?? ts) : null
  if (outSince === null && criticalSince === null) return undefined
  if (prev !== undefined && prev.outSince === outSince && prev.criticalSince === criticalSince) return prev
  return { outSince, criticalSince }
}
