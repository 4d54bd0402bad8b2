/**
 * The simulated ward: N patients, each wearing its persona's devices, every device reporting at
 * its own cadence. `next()` returns the readings of all devices merged in event-time order (ties
 * broken by device number), so a run is one deterministic sequence for a given seed and start.
 *
 * With `episodes` on, the ward also tells which episodes have begun: the episodes its patients
 * drew (an hour ahead, physiology.ts) wait in a queue ordered by onset, and `episodesStartedBy(t)`
 * hands each out once, when event time has reached its onset, never before (an episode from the
 * future would leak into the stream). Nothing extra is drawn, so the readings stay the same.
 */
import type { Reading, Vitals } from '../lib/contract/schema.ts'
import { MinHeap } from './min-heap.ts'
import { Prng } from './prng.ts'
import { EpisodeQueue, type StartedEpisode } from './episode-queue.ts'
import { Patient } from './physiology.ts'
import { DEVICES, deviceId, patientId, personaOf, type DeviceKind } from './personas.ts'

interface Device {
  /** Position in the ward, the tie-breaker between devices due at the same millisecond. */
  index: number
  id: string
  kind: DeviceKind
  patient: Patient
  periodMs: number
  nextTs: number
  seq: number
}

export interface SimulatorOptions {
  /** Keep the episodes drawn for `episodesStartedBy`. @defaultValue false: they are dropped as drawn */
  episodes?: boolean
}

export class Simulator {
  readonly patients: readonly Patient[]
  /** Readings the ward makes per second of simulated time (every device at its cadence). */
  readonly readingsPerSecond: number
  readonly #heap = new MinHeap<Device>((a, b) => a.nextTs < b.nextTs || (a.nextTs === b.nextTs && a.index < b.index))
  /** Episodes drawn and not yet handed out, by onset; undefined when episodes are off. */
  readonly #episodes: EpisodeQueue | undefined

  constructor(patientCount: number, seed: number, startMs: number, options: SimulatorOptions = {}) {
    this.#episodes = options.episodes === true ? new EpisodeQueue() : undefined
    const rng = new Prng(seed)
    const patients: Patient[] = []
    const devices: Device[] = []
    for (let n = 1; n <= patientCount; n++) {
      const persona = personaOf(n)
      const patient = new Patient(patientId(n), persona, rng, startMs)
      patients.push(patient)
      const phase = rng.fork(`${patient.id}/phase`)
      for (const kind of persona.devices) {
        const spec = DEVICES[kind]
        // A device is switched on within its first second (fast devices) or first 30 s (others),
        // so every vital appears early in a run; afterwards it keeps its own cadence.
        const firstMs = Math.floor(phase.uniform(0, Math.min(spec.periodMs, 30_000)))
        devices.push({ index: devices.length, id: deviceId(kind, n), kind, patient, periodMs: spec.periodMs, nextTs: startMs + firstMs, seq: 1 })
      }
    }
    this.patients = patients
    this.readingsPerSecond = devices.reduce((sum, d) => sum + 1000 / d.periodMs, 0)
    for (const d of devices) this.#heap.push(d)
  }

  /** The next reading in event-time order (the stream never ends); a nurse's round sends onOxygen and consciousness. */
  next(): Reading {
    const d = this.#heap.peek()!
    const ts = d.nextTs
    const spec = DEVICES[d.kind]
    const vitals: Vitals = d.patient.measure(spec.vitals, ts)
    const reading: Reading = { v: 1, patientId: d.patient.id, deviceId: d.id, ts, seq: d.seq, vitals }
    if (spec.assessments === true) {
      const { onOxygen, consciousness } = d.patient.assess(ts)
      reading.onOxygen = onOxygen
      reading.consciousness = consciousness
    }
    if (d.patient.hasDrawn) this.#queueDrawn(d.patient)
    d.seq++
    d.nextTs += d.periodMs
    this.#heap.topIncreased()
    return reading
  }

  /** Onset of the next episode to hand out, epoch ms (simulated); Infinity when none is queued or episodes are off. */
  get nextEpisodeAt(): number {
    return this.#episodes?.nextStart ?? Infinity
  }

  /**
   * The episodes whose onset is at or before `t` (simulated event time, epoch ms), each once, by
   * onset. Call it with the event time of the reading just made: every onset up to it has been
   * drawn, as each patient's episodes are drawn an hour ahead of its readings (the nurse's round
   * comes at least hourly).
   */
  episodesStartedBy(t: number): StartedEpisode[] {
    return this.#episodes?.popStartedBy(t) ?? []
  }

  #queueDrawn(patient: Patient): void {
    const drawn = patient.takeDrawn()
    if (this.#episodes !== undefined) for (const episode of drawn) this.#episodes.push(patient.id, episode)
  }

  /** Event time of the next reading. */
  peekTs(): number {
    return this.#heap.peek()!.nextTs
  }
}
