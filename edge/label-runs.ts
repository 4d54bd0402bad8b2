/**
 * Episodes from a label column of a replayed CSV (`--label <column>`): a run of consecutive
 * positive rows of one patient is one episode, from its first positive row's time to its last's.
 * A negative row of that patient ends the run; rows of other patients in between do not (a ward's
 * export interleaves its patients). Pure: the replay feeds it rows in file order and publishes
 * what it returns.
 */
import type { LabelRun } from './episode-events.ts'

export class LabelRuns {
  /** The run under way of each patient. */
  readonly #open = new Map<string, LabelRun>()

  /** Notes a row of `patientId` at event time `ts`; returns the run it ended (a negative row after positive ones), if any. */
  add(patientId: string, ts: number, positive: boolean): LabelRun | undefined {
    const run = this.#open.get(patientId)
    if (positive) {
      if (run === undefined) this.#open.set(patientId, { patientId, onset: ts, end: ts })
      else run.end = Math.max(run.end ?? ts, ts)
      return undefined
    }
    if (run === undefined) return undefined
    this.#open.delete(patientId)
    return run
  }

  /**
   * Ends every run under way, in the order they began: at the end of the file or of a pass they
   * are complete (`complete`); when the replay stopped within them their end is unknown (undefined).
   */
  endAll(complete: boolean): LabelRun[] {
    const runs = [...this.#open.values()].map((r) => (complete ? r : { ...r, end: undefined }))
    this.#open.clear()
    return runs
  }
}
