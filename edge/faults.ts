/**
 * Sensor faults, injected on purpose (`--faults RATE`): what real devices send on a bad day.
 * Each reading is, with probability RATE, turned into one fault of a kind drawn uniformly:
 *
 * | kind            | what is sent                                            | expected downstream          |
 * | --------------- | ------------------------------------------------------- | ---------------------------- |
 * | impossibleValue | a vital no body can have (HR 400+, SpO2 > 100, ...)     | dead letter, OUT_OF_RANGE    |
 * | missingField    | a required field removed                                | dead letter, schema          |
 * | wrongType       | a field of the wrong JSON type (`"ts":"2025-..."`)      | dead letter, schema          |
 * | malformedJson   | the JSON cut off mid-way                                | dead letter, malformed JSON  |
 * | duplicate       | the reading sent twice (same deviceId and seq)          | counted once                 |
 * | outOfOrder      | the reading sent after the device's next one            | placed by event time         |
 * | late            | the reading held back 2-10 min of simulated time        | handled as late data         |
 * | clockSkew       | the device clock off by 2 min to 3 h, either way        | classified by its (wrong) ts |
 *
 * Every fault is counted when its record is actually emitted, so the summary matches the stream.
 */
import { VITALS, type Reading } from '../lib/contract/schema.ts'
import type { Prng } from './prng.ts'

export const FAULT_KINDS = ['impossibleValue', 'missingField', 'wrongType', 'malformedJson', 'duplicate', 'outOfOrder', 'late', 'clockSkew'] as const
export type FaultKind = (typeof FAULT_KINDS)[number]

/** Kinds that schema v1 refuses: the gateway answers 400, the speed layer dead-letters them. */
export const SCHEMA_INVALID_FAULTS: ReadonlySet<FaultKind> = new Set(['missingField', 'wrongType', 'malformedJson'])

/** One record on its way to Kafka or the gateway. */
export interface EdgeRecord {
  /** Partition key: the patient id. */
  key: string
  value: string
  /** Event time of the reading it carries (before any skew), for pacing. */
  ts: number
  fault?: FaultKind
}

export type FaultCounts = Record<FaultKind, number>

export function zeroFaultCounts(): FaultCounts {
  return Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as FaultCounts
}

/** `{"v":1,"patientId":"...","deviceId":"...","ts":` per device: ids repeat on every reading. */
const prefixes = new Map<string, { patientId: string; prefix: string }>()

function prefixOf(patientId: string, deviceId: string): string {
  const cached = prefixes.get(deviceId)
  if (cached !== undefined && cached.patientId === patientId) return cached.prefix
  const prefix = `{"v":1,"patientId":${JSON.stringify(patientId)},"deviceId":${JSON.stringify(deviceId)},"ts":`
  if (prefixes.size >= 100_000) prefixes.clear()
  prefixes.set(deviceId, { patientId, prefix })
  return prefix
}

/**
 * A reading v1 as JSON, fields in schema order (onOxygen and consciousness after vitals) and vitals
 * in VITALS order. Written by hand: it is the simulator's hot path and several times faster than
 * JSON.stringify on these small objects; the output is what JSON.stringify gives for the same key
 * order (finite numbers print alike; an ACVPU level is one letter, which needs no escaping).
 */
export function encodeReading(r: Reading): string {
  let vitals = ''
  const v = r.vitals
  for (const k of VITALS) {
    const x = v[k]
    if (x !== undefined) vitals += `${(vitals.length === 0 ? '"' : ',"') + k}":${x}`
  }
  const oxygen = r.onOxygen === undefined ? '' : `,"onOxygen":${r.onOxygen}`
  const consciousness = r.consciousness === undefined ? '' : `,"consciousness":"${r.consciousness}"`
  return `${prefixOf(r.patientId, r.deviceId) + r.ts},"seq":${r.seq},"vitals":{${vitals}}${oxygen}${consciousness}}`
}

/** A vital set to a value outside any living body, keeping the JSON type (a number). */
function impossible(reading: Reading, rng: Prng): Record<string, unknown> {
  const vitals: Record<string, number> = { ...(reading.vitals as Record<string, number>) }
  const keys = Object.keys(vitals)
  const k = keys.length > 0 ? rng.pick(keys) : 'heartRate'
  const values: Record<string, () => number> = {
    heartRate: () => rng.int(400, 999),
    spo2: () => rng.int(101, 150),
    glucose: () => -rng.int(1, 50),
    systolic: () => rng.int(400, 600),
    diastolic: () => -rng.int(1, 40),
    respRate: () => rng.int(120, 300),
    temperature: () => rng.int(55, 80),
  }
  vitals[k] = (values[k] ?? values.heartRate!)()
  return { ...reading, vitals }
}

const REQUIRED = ['v', 'patientId', 'deviceId', 'ts', 'seq', 'vitals'] as const

function missing(reading: Reading, rng: Prng): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...reading }
  delete copy[rng.pick(REQUIRED)]
  return copy
}

function wrongType(reading: Reading, rng: Prng): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...reading }
  switch (rng.int(0, 4)) {
    case 0:
      copy.ts = new Date(reading.ts).toISOString()
      break
    case 1:
      copy.seq = String(reading.seq)
      break
    case 2: {
      const vitals: Record<string, unknown> = { ...reading.vitals }
      const k = Object.keys(vitals)[0] ?? 'heartRate'
      vitals[k] = String(vitals[k] ?? 72)
      copy.vitals = vitals
      break
    }
    case 3:
      copy.vitals = Object.values(reading.vitals)
      break
    default:
      copy.patientId = Number(reading.patientId.replace(/\D/g, '')) || 0
  }
  return copy
}

export class FaultInjector {
  readonly counts: FaultCounts = zeroFaultCounts()
  readonly #rate: number
  readonly #rng: Prng
  /** outOfOrder: held until the device's next reading has been emitted. */
  readonly #afterNext = new Map<string, EdgeRecord>()
  /** late: held until the stream's event time passes `release`; kept sorted by release. */
  readonly #late: Array<{ release: number; record: EdgeRecord }> = []

  constructor(rate: number, rng: Prng) {
    this.#rate = rate
    this.#rng = rng
  }

  /** Records held back, not yet emitted. */
  get held(): number {
    return this.#afterNext.size + this.#late.length
  }

  /** Appends to `out` what to send now for `reading` (0 to 3 records, and any released late ones). */
  process(reading: Reading, out: EdgeRecord[]): void {
    this.#releaseLate(reading.ts, out)
    const key = reading.patientId
    const heldForDevice = this.#afterNext.get(reading.deviceId)
    if (heldForDevice !== undefined) this.#afterNext.delete(reading.deviceId)
    const rng = this.#rng
    if (this.#rate > 0 && rng.next() < this.#rate) {
      const kind = rng.pick(FAULT_KINDS)
      switch (kind) {
        case 'impossibleValue':
          this.#emit(out, { key, ts: reading.ts, value: JSON.stringify(impossible(reading, rng)), fault: kind })
          break
        case 'missingField':
          this.#emit(out, { key, ts: reading.ts, value: JSON.stringify(missing(reading, rng)), fault: kind })
          break
        case 'wrongType':
          this.#emit(out, { key, ts: reading.ts, value: JSON.stringify(wrongType(reading, rng)), fault: kind })
          break
        case 'malformedJson': {
          const json = encodeReading(reading)
          this.#emit(out, { key, ts: reading.ts, value: json.slice(0, rng.int(1, json.length - 2)), fault: kind })
          break
        }
        case 'duplicate': {
          const value = encodeReading(reading)
          out.push({ key, ts: reading.ts, value })
          this.#emit(out, { key, ts: reading.ts, value, fault: kind })
          break
        }
        case 'outOfOrder':
          if (heldForDevice === undefined) {
            this.#afterNext.set(reading.deviceId, { key, ts: reading.ts, value: encodeReading(reading), fault: kind })
          } else {
            out.push({ key, ts: reading.ts, value: encodeReading(reading) })
          }
          break
        case 'late': {
          const release = reading.ts + rng.uniform(120_000, 600_000)
          const record: EdgeRecord = { key, ts: reading.ts, value: encodeReading(reading), fault: kind }
          let i = this.#late.length
          while (i > 0 && this.#late[i - 1]!.release > release) i--
          this.#late.splice(i, 0, { release, record })
          break
        }
        case 'clockSkew': {
          const skew = Math.round(rng.uniform(120_000, 3 * 3_600_000)) * (rng.chance(0.5) ? 1 : -1)
          this.#emit(out, { key, ts: reading.ts, value: encodeReading({ ...reading, ts: Math.max(0, reading.ts + skew) }), fault: kind })
          break
        }
      }
    } else {
      out.push({ key, ts: reading.ts, value: encodeReading(reading) })
    }
    if (heldForDevice !== undefined) {
      // Released only after a newer reading of the device has gone out; a late one does not count.
      if (out.length > 0 && out[out.length - 1]!.ts >= heldForDevice.ts && out[out.length - 1]!.key === key) this.#emit(out, heldForDevice)
      else this.#afterNext.set(reading.deviceId, heldForDevice)
    }
  }

  /** Appends every held record (end of a run), in the order they would have been released. */
  drain(out: EdgeRecord[]): void {
    for (const r of this.#afterNext.values()) this.#emit(out, r)
    this.#afterNext.clear()
    for (const { record } of this.#late.splice(0)) this.#emit(out, record)
  }

  #releaseLate(now: number, out: EdgeRecord[]): void {
    while (this.#late.length > 0 && this.#late[0]!.release <= now) this.#emit(out, this.#late.shift()!.record)
  }

  /** Counting happens when the sink takes the record; see `countEmitted`. */
  #emit(out: EdgeRecord[], r: EdgeRecord): void {
    out.push(r)
  }

  /** Counts the fault of a record that was actually sent. */
  countEmitted(r: EdgeRecord): void {
    if (r.fault !== undefined) this.counts[r.fault]++
  }
}
