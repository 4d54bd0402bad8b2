/**
 * The view's lag as a nurse sees it: how long the devices' news has been waiting to reach the
 * screen. At each sample, for each patient, the oldest reading the simulator has handed to Kafka
 * that is newer than what the view shows for that patient (the patient's score in the `patients`
 * sorted set: the event time of its newest applied reading) has been waiting since its event
 * time; the view's lag is the longest such wait over every patient, 0 for a patient whose newest
 * reading is on the screen. Event time is the moment the simulator sends a reading (never ahead
 * of the wall clock), so this counts every stage between the device and Redis.
 *
 * - A patient the view no longer holds (a Redis wipe, or Redis down) counts from what it last
 *   showed: the screen lost it then, and waits until the rebuild writes it back. A patient never
 *   shown counts from its first reading.
 * - While the simulator runs, the lag is at least the age of its newest record handed to Kafka:
 *   when the broker is down the devices' readings wait at the edge, which the ledger cannot see yet.
 * - Records carrying an injected fault are left out: refused, duplicated, held back or re-stamped
 *   on purpose, they are never due on the screen at their event time. A device clock skewed ahead
 *   (within the speed layer's tolerance) moves its patient's score ahead and hides that patient's
 *   lag until the wall clock passes it; it concerns a handful of patients in a run.
 */

/** One measurement of the view's lag. */
export interface LagSample {
  /** Wall-clock time of the sample (ms). */
  atMs: number
  /** The longest wait of a produced reading for the screen, over every patient (ms). */
  lagMs: number
  /** The patient waiting longest, or null when none waits. */
  patient: string | null
  /** Patients with readings produced that the view does not hold now. */
  missing: number
  /** False when the view could not be read (Redis down): every patient counted from what it last showed. */
  readable: boolean
}

/** A fault the suite injected, by wall-clock time (ms). */
export interface FaultMark {
  atMs: number
  fault: string
}

/**
 * The readings produced per patient and what the view last showed of each, measuring the lag at
 * each `sample`. Cost per sample: one binary search per patient.
 */
export class ViewLagMeter {
  /** Event times of the readings produced per patient, ascending. */
  readonly #produced = new Map<string, number[]>()
  /** Each patient's score the last time the view held it. */
  readonly #lastShown = new Map<string, number>()
  #newestProduced = Number.NEGATIVE_INFINITY

  /** A reading handed to Kafka (without an injected fault). */
  produced(patientId: string, ts: number): void {
    let times = this.#produced.get(patientId)
    if (times === undefined) {
      times = []
      this.#produced.set(patientId, times)
    }
    // The simulator sends in event-time order: the insertion is an append but for equal clocks.
    let i = times.length
    while (i > 0 && times[i - 1]! > ts) i--
    if (i === times.length) times.push(ts)
    else times.splice(i, 0, ts)
    if (ts > this.#newestProduced) this.#newestProduced = ts
  }

  /**
   * The lag at `now`, given the view's patients (id → score), or null when the view cannot be
   * read. `loading`: the simulator is still sending (its newest record's age counts then).
   */
  sample(now: number, shown: ReadonlyMap<string, number> | null, loading: boolean): LagSample {
    if (shown !== null) for (const [id, score] of shown) this.#lastShown.set(id, score)
    let lagMs = 0
    let patient: string | null = null
    let missing = 0
    for (const [id, times] of this.#produced) {
      const current = shown?.get(id)
      if (current === undefined) missing++
      const oldest = firstAfter(times, current ?? this.#lastShown.get(id) ?? Number.NEGATIVE_INFINITY)
      if (oldest !== undefined && now - oldest > lagMs) {
        lagMs = now - oldest
        patient = id
      }
    }
    if (loading && Number.isFinite(this.#newestProduced) && now - this.#newestProduced > lagMs) {
      lagMs = now - this.#newestProduced
      patient = null
    }
    return { atMs: now, lagMs, patient, missing, readable: shown !== null }
  }
}

/** The first value of ascending `times` greater than `t`, or undefined. */
export function firstAfter(times: readonly number[], t: number): number | undefined {
  let lo = 0
  let hi = times.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (times[mid]! > t) hi = mid
    else lo = mid + 1
  }
  return times[lo]
}

export interface LagSummary {
  /** The sample with the longest lag, and the last fault injected at or before it (null: none yet). */
  longest: { sample: LagSample; after: FaultMark | null } | null
  /** The last sample taken while the simulator ran. */
  atLoadEnd: LagSample | null
  /** The last sample of the run (after the layers caught up). */
  last: LagSample | null
  /** Per fault, the longest lag sampled within `windowMs` after it (null: no sample in the window). */
  perFault: { fault: FaultMark; maxLagMs: number | null }[]
}

/** The figures of a run's samples (in time order) against its faults. */
export function summarizeLag(samples: readonly LagSample[], faults: readonly FaultMark[], options: { loadEndMs: number; windowMs?: number }): LagSummary {
  const windowMs = options.windowMs ?? 30_000
  const byTime = [...faults].sort((a, b) => a.atMs - b.atMs)
  let longest: LagSample | null = null
  for (const s of samples) if (longest === null || s.lagMs > longest.lagMs) longest = s
  const loaded = samples.filter((s) => s.atMs <= options.loadEndMs)
  const perFault = byTime.map((fault) => {
    let maxLagMs: number | null = null
    for (const s of samples) if (s.atMs >= fault.atMs && s.atMs <= fault.atMs + windowMs) maxLagMs = Math.max(maxLagMs ?? 0, s.lagMs)
    return { fault, maxLagMs }
  })
  return {
    longest: longest === null ? null : { sample: longest, after: byTime.filter((f) => f.atMs <= longest.atMs).at(-1) ?? null },
    atLoadEnd: loaded.at(-1) ?? null,
    last: samples.at(-1) ?? null,
    perFault,
  }
}
