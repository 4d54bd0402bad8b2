/**
 * The edge's one pacing rule, pure: given a schedule and a clock, when record i is due on the wall
 * clock, and which event time (`ts`) a simulated reading carries. Both sources use it: the
 * simulation (--rate, --speedup, --rate max) and the CSV replay (--rate, --realtime).
 *
 * | schedule    | record i (0-based) is due                     | simulated reading i is stamped       |
 * | ----------- | --------------------------------------------- | ------------------------------------ |
 * | `rate` R    | once i + 1 records fit: t0 + (i + 1)/R s      | origin + i/R s (its schedule)        |
 * | `eventTime` | when its event time comes, event time running | origin + (ts − origin)/speedup: the  |
 * |             | `speedup` times faster than the wall clock    | moment it is due, never ahead of the |
 * |             | from `origin`: t0 + (ts − origin)/speedup     | wall clock                           |
 * | `asap`      | now                                           | its own event time                   |
 *
 * With --rate R, --count and --duration are exact (R × duration records). `asap` is --rate max, or
 * a replay with neither --rate nor --realtime: as fast as the sink takes records, so a simulated
 * reading keeps the simulation's event time, which then runs ahead of the wall clock (a producer
 * benchmark, or a --start in the past). All times are milliseconds: the clock's (performance.now()
 * in production) for due times, epoch ms for event times.
 */

export type Schedule =
  /** `perSecond` records per second; `origin`: the event time of reading 0, epoch ms. */
  | { kind: 'rate'; perSecond: number; origin: number }
  /** `origin`: the event time that leaves at t0; unset, the first record's (`anchor`). */
  | { kind: 'eventTime'; speedup: number; origin?: number }
  | { kind: 'asap' }

export class Pacer {
  /** The clock's reading when the run started: every due time counts from it. */
  readonly t0: number
  readonly schedule: Schedule
  readonly #clock: () => number
  #origin: number | undefined

  constructor(schedule: Schedule, clock: () => number) {
    this.schedule = schedule
    this.#clock = clock
    this.t0 = clock()
    this.#origin = schedule.kind === 'asap' ? undefined : schedule.origin
  }

  /** The clock's reading now. */
  now(): number {
    return this.#clock()
  }

  /** Sets the event-time origin from the first record when the schedule gave none (a replayed file's first row). */
  anchor(eventTs: number): void {
    this.#origin ??= eventTs
  }

  /** How many records may have left by now under `rate`; Infinity under the other schedules. */
  allowed(): number {
    const s = this.schedule
    if (s.kind !== 'rate') return Infinity
    return Math.floor(((this.#clock() - this.t0) / 1000) * s.perSecond)
  }

  /** The newest event time due by now under `eventTime`; Infinity under the other schedules. */
  eventTimeDue(): number {
    const s = this.schedule
    if (s.kind !== 'eventTime') return Infinity
    return (this.#origin ?? 0) + (this.#clock() - this.t0) * s.speedup
  }

  /** When record `index` (0-based, counting every record sent), of event time `eventTs`, is due on the clock. */
  dueAt(index: number, eventTs: number): number {
    const s = this.schedule
    switch (s.kind) {
      case 'rate':
        return this.t0 + ((index + 1) / s.perSecond) * 1000
      case 'eventTime':
        return this.t0 + (eventTs - (this.#origin ?? eventTs)) / s.speedup
      case 'asap':
        return this.#clock()
    }
  }

  /**
   * The event time of simulated reading `index` (0-based, counting readings made) whose simulated
   * event time is `eventTs`: whole epoch milliseconds.
   */
  stamp(index: number, eventTs: number): number {
    const s = this.schedule
    switch (s.kind) {
      case 'rate':
        return s.origin + Math.floor((index * 1000) / s.perSecond)
      case 'eventTime': {
        const origin = this.#origin ?? eventTs
        return origin + Math.round((eventTs - origin) / s.speedup)
      }
      case 'asap':
        return eventTs
    }
  }
}
