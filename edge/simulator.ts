/**
 * The simulated ward: N patients, each wearing its persona's devices, every device reporting at
 * its own cadence. `next()` returns the readings of all devices merged in event-time order (ties
 * broken by device number), so a run is one deterministic sequence for a given seed and start.
 */
import type { Reading, Vitals } from '../lib/contract/schema.ts'
import { Prng } from './prng.ts'
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

export class Simulator {
  readonly patients: readonly Patient[]
  readonly #heap: Device[] = []

  constructor(patientCount: number, seed: number, startMs: number) {
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
    for (const d of devices) this.#push(d)
  }

  /** The next reading in event-time order (the stream never ends); a nurse's round sends onOxygen and consciousness. */
  next(): Reading {
    const d = this.#heap[0]!
    const ts = d.nextTs
    const spec = DEVICES[d.kind]
    const vitals: Vitals = d.patient.measure(spec.vitals, ts)
    const reading: Reading = { v: 1, patientId: d.patient.id, deviceId: d.id, ts, seq: d.seq, vitals }
    if (spec.assessments === true) {
      const { onOxygen, consciousness } = d.patient.assess(ts)
      reading.onOxygen = onOxygen
      reading.consciousness = consciousness
    }
    d.seq++
    d.nextTs += d.periodMs
    this.#siftDown(0)
    return reading
  }

  /** Event time of the next reading. */
  peekTs(): number {
    return this.#heap[0]!.nextTs
  }

  #less(a: Device, b: Device): boolean {
    return a.nextTs < b.nextTs || (a.nextTs === b.nextTs && a.index < b.index)
  }

  #push(d: Device): void {
    const h = this.#heap
    h.push(d)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.#less(h[i]!, h[p]!)) break
      ;[h[i], h[p]] = [h[p]!, h[i]!]
      i = p
    }
  }

  #siftDown(i: number): void {
    const h = this.#heap
    const n = h.length
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < n && this.#less(h[l]!, h[m]!)) m = l
      if (r < n && this.#less(h[r]!, h[m]!)) m = r
      if (m === i) return
      ;[h[i], h[m]] = [h[m]!, h[i]!]
      i = m
    }
  }
}
