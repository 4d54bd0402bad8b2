/**
 * What one pass over a replayed CSV file spans, for --loop: its event times (before the pass's
 * shift) and its highest seq. The next pass is shifted past it so that time and each device's seq
 * keep increasing from pass to pass.
 */

/** The sampling step assumed when the file gives none (one row, or rows all at one instant), ms. */
const DEFAULT_STEP_MS = 1_000

export class PassSpan {
  #minTs = Infinity
  #maxTs = -Infinity
  /** The smallest positive gap between consecutive rows, ms: the file's sampling step. */
  #step = Infinity
  #prevTs: number | undefined
  /** The highest seq of the pass. */
  seqMax = 0

  /** Notes a row: its event time before the pass's shift (epoch ms), and its seq. */
  add(ts: number, seq: number): void {
    if (ts < this.#minTs) this.#minTs = ts
    if (ts > this.#maxTs) this.#maxTs = ts
    if (this.#prevTs !== undefined && ts > this.#prevTs && ts - this.#prevTs < this.#step) this.#step = ts - this.#prevTs
    this.#prevTs = ts
    if (seq > this.seqMax) this.seqMax = seq
  }

  /** True when no row was noted: there is nothing to loop over. */
  get empty(): boolean {
    return !Number.isFinite(this.#minTs)
  }

  /** How far the next pass is shifted, ms: it starts one sampling step after this one ended. */
  get shiftMs(): number {
    return this.#maxTs - this.#minTs + (Number.isFinite(this.#step) ? this.#step : DEFAULT_STEP_MS)
  }
}
