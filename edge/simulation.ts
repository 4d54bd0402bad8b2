/**
 * The simulation as a record source: the simulated ward's readings, stamped and paced by the
 * pacer's schedule, turned into records (and injected faults) and handed to the flow.
 *
 * Event time never runs ahead of the wall clock, whatever the pace, so that the speed layer's
 * clock-skew guard, stale-device alerts and "last seen" stay true: with --speedup K the physiology
 * runs K times faster but each reading is stamped with the moment it leaves; with --rate R, reading
 * i is stamped start + i/R s (its schedule); both are deterministic for a seed and --start. With
 * --rate max there is no schedule: readings keep the simulation's own event time (see pacer.ts).
 *
 * With an event sink, each episode the ward draws is published as a clinical event when the
 * simulation's event time reaches its onset (the first reading at or past it), never before, its
 * phase times stamped as the readings' are (episode-events.ts, episodeTimeMap).
 */
import type { Reading } from '../lib/contract/schema.ts'
import { episodeTimeMap, simulatedEpisodeEvent } from './episode-events.ts'
import type { EventSink } from './event-sink.ts'
import type { EdgeRecord } from './faults.ts'
import type { Flow } from './flow.ts'
import type { Schedule } from './pacer.ts'
import { Simulator } from './simulator.ts'

/** Most records generated between two waits: keeps the sink's I/O running at --rate max. */
const CHUNK = 2_000

/** The simulation's schedule: --rate R, --rate max, or the devices' cadences at --speedup. */
export function simulationSchedule(rate: number | 'max' | undefined, speedup: number, startMs: number): Schedule {
  if (typeof rate === 'number') return { kind: 'rate', perSecond: rate, origin: startMs }
  if (rate === 'max') return { kind: 'asap' }
  return { kind: 'eventTime', speedup, origin: startMs }
}

export class SimulationSource {
  readonly #flow: Flow
  readonly #patients: number
  readonly #seed: number
  readonly #startMs: number
  readonly #out: EdgeRecord[] = []
  /** Where the episodes go; undefined: not published. */
  readonly #events: EventSink | undefined
  #sim: Simulator | undefined
  /** Readings made so far: the index the pacer stamps. */
  #made = 0

  constructor(flow: Flow, patients: number, seed: number, startMs: number, events?: EventSink) {
    this.#flow = flow
    this.#patients = patients
    this.#seed = seed
    this.#startMs = startMs
    this.#events = events
  }

  /** Sends until the limit, the deadline or a stop, then what the fault injector still holds. */
  async run(): Promise<void> {
    // Built once the run's clock has started, as the ward's cadences count from it.
    this.#sim = new Simulator(this.#patients, this.#seed, this.#startMs, { episodes: this.#events !== undefined })
    if (!(await this.#paced())) return
    const flow = this.#flow
    if (flow.stoppedBy === 'duration' && flow.pacer.schedule.kind === 'rate' && !this.#topUp()) return
    this.#out.length = 0
    flow.faults.drain(this.#out)
    flow.emit(this.#out)
  }

  /** Sends chunks of due readings; false when the limit ended the run, true for the deadline or a stop. */
  async #paced(): Promise<boolean> {
    const flow = this.#flow
    const sim = this.#sim!
    for (;;) {
      this.#fillDue()
      if (!flow.emit(this.#out)) {
        flow.endAtLimit()
        return false
      }
      if (!(await flow.wait(flow.pacer.dueAt(flow.sent, sim.peekTs())))) return true
    }
  }

  /** Fills the chunk with the readings due now: by the rate's count or by event time. */
  #fillDue(): void {
    const { pacer, faults, sent } = this.#flow
    const sim = this.#sim!
    const out = this.#out
    const budget = Math.min(CHUNK, pacer.allowed() - sent)
    const eventTimeDue = pacer.eventTimeDue()
    out.length = 0
    while (out.length < budget && sim.peekTs() <= eventTimeDue) faults.process(this.#next(), out)
  }

  /**
   * The deadline may be noticed a moment before the last records due by it went out: --rate R
   * --duration S sends exactly R × S. False when that reached the limit.
   */
  #topUp(): boolean {
    const flow = this.#flow
    const out = this.#out
    out.length = 0
    while (flow.sent + out.length < Math.min(flow.limit, flow.pacer.allowed())) flow.faults.process(this.#next(), out)
    return flow.emit(out)
  }

  #next(): Reading {
    const sim = this.#sim!
    const r = sim.next()
    const ts = this.#flow.pacer.stamp(this.#made, r.ts)
    this.#made++
    if (sim.nextEpisodeAt <= r.ts) this.#publishStarted(r.ts, ts)
    return ts === r.ts ? r : { ...r, ts }
  }

  /** Publishes the episodes whose onset the reading just made (simulated `simulatedTs`, stamped `stampedTs`) reached. */
  #publishStarted(simulatedTs: number, stampedTs: number): void {
    const sim = this.#sim!
    const map = episodeTimeMap(this.#flow.pacer, sim.readingsPerSecond, simulatedTs, stampedTs)
    const recordedAt = Date.now()
    for (const { patientId, episode } of sim.episodesStartedBy(simulatedTs)) this.#events!.send(simulatedEpisodeEvent(patientId, episode, map, recordedAt))
  }
}
