/**
 * How the records flowed through a scale run, from samples taken every quarter second: the
 * producer's acknowledged count, and per partition of `vitals.readings` its end offset (what the
 * brokers acknowledged) and each consumer group's committed offset (what a layer has made
 * durable: the speed layer commits after each batch, the archiver after each flush). From them,
 * pure functions measure a fault by its pause: the longest time within a window in which a count
 * did not move (the producer's acknowledgements, a partition's writes or a group's commits on it:
 * for the partitions of a killed instance, the session timeout, the rebalance and the takeover).
 * A sample's time is when its answer came back, so a sample delayed by the fault itself counts
 * against the fault, never for it. Resolution: the sampling interval (250 ms), and for the
 * archiver its flush interval (a partition's commit moves once per flush).
 */

export interface FlowSample {
  /** When the answer came back (ms, Date.now()). */
  at: number
  /** Records the producer had acknowledged then. */
  acked: number
  /** Per partition: the end offset. */
  end: number[]
  /** Per group name, per partition: the committed offset (-1: none yet). */
  committed: Record<string, number[]>
}

/** Reads one count out of a sample. */
export type Pick = (s: FlowSample) => number

export const acked: Pick = (s) => s.acked
export const endOf =
  (partition: number): Pick =>
  (s) =>
    s.end[partition] ?? 0
export const committedOf =
  (group: string, partition: number): Pick =>
  (s) =>
    s.committed[group]?.[partition] ?? -1

/** The times of the samples at which the count was higher than in the sample before. */
export function advanceTimes(samples: readonly FlowSample[], pick: Pick): number[] {
  const times: number[] = []
  for (let i = 1; i < samples.length; i++) if (pick(samples[i]!) > pick(samples[i - 1]!)) times.push(samples[i]!.at)
  return times
}

/**
 * The longest time within [from, to] in which the count did not move: between `from` and its
 * first advance, between two advances, or from its last advance to `to`.
 */
export function pauseMs(samples: readonly FlowSample[], pick: Pick, from: number, to: number): number {
  let last = from
  let longest = 0
  for (const t of advanceTimes(samples, pick)) {
    if (t <= from) continue
    if (t > to) break
    longest = Math.max(longest, t - last)
    last = t
  }
  return Math.max(longest, to - last)
}

/** The largest of per-partition figures; undefined when one of them is. */
export function worst(values: ReadonlyArray<number | undefined>): number | undefined {
  let max = 0
  for (const v of values) {
    if (v === undefined) return undefined
    max = Math.max(max, v)
  }
  return max
}

/** Seconds with one decimal, or the reason there is no figure. */
export function seconds(ms: number | undefined, never = 'never in the window'): string {
  return ms === undefined ? never : `${(ms / 1000).toFixed(1)} s`
}
