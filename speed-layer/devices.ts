/**
 * Per-device state of the speed layer: duplicate detection on (deviceId, seq), the device's kind
 * and cadence (for the stale threshold and the alert persistence rule), when its newest reading
 * arrived, whether a stale-data alert is open and its no-signal run. Persisted per patient in
 * Redis (`redisKeys(prefix).dedup(patientId)`, field deviceId) so that it survives restarts.
 *
 * Duplicates: the highest seq seen and a 32-bit window of the seqs just below it (bit i set: seq
 * `seq - 1 - i` seen), like an IPsec anti-replay window. A seq more than 32 below the highest is
 * treated as already seen: Kafka keeps one device's readings in order (same key, same partition),
 * so such a record can only be a replay.
 */
import type { Reading, Vital } from '../lib/contract/schema.ts'
import { staleThresholdMs } from './alerts.ts'
import { DEFAULT_SPEED_OPTIONS, type SpeedOptions } from './config.ts'

export const DEDUP_WINDOW = 32

export const DEVICE_KINDS = ['wearable', 'cgm', 'cuff', 'thermometer', 'observation'] as const
/** What a device is, inferred from its first reading (deviceKindOf) and kept. */
export type DeviceKind = (typeof DEVICE_KINDS)[number]

/**
 * The cadence a device of each kind is assumed to have before its readings give an estimate, and
 * the prior the estimate starts from (markSeen): the stale threshold of its first interval, and a
 * first interval weighs no more than any later one (a cuff re-measuring 30 s after its first
 * reading is still judged as a cuff). Sources:
 * - wearable, 1 s: continuous pulse oximeters and wearables report about once a second.
 * - cgm, 5 min: CGMs report a glucose every 5 minutes (Dexcom G6/G7, FreeStyle Libre 3 sensors).
 * - cuff, 15 min: an automated ward cuff cycles every 15 minutes (the shortest routine ward
 *   interval; intensive care uses 1-5 min, and the estimated cadence takes over from the second reading).
 * - thermometer, 30 min: an intermittent temperature probe or continuous patch reporting periodically.
 * - observation, 4 h: nurse observations (oxygen, ACVPU) for a NEWS2 of 1-4 are due at least every
 *   4-6 hours (Royal College of Physicians, National Early Warning Score (NEWS) 2, 2017, "Clinical response to NEWS2 trigger thresholds").
 */
export const KIND_CADENCE_MS: Readonly<Record<DeviceKind, number>> = Object.freeze({
  wearable: 1_000,
  cgm: 300_000,
  cuff: 900_000,
  thermometer: 1_800_000,
  observation: 14_400_000,
})

/**
 * The kind of device a reading comes from: glucose → cgm; a blood pressure → cuff; a temperature
 * alone → thermometer; only onOxygen/consciousness → observation; anything else (heart rate, SpO2,
 * respiration) → wearable. `noSignal`: the reading's no-signal fields (validate.ts), removed from
 * its vitals but still telling what measured them; a reading left with nothing at all came from a
 * wearable (only heart rate and SpO2 have no-signal values).
 */
export function deviceKindOf(r: Reading, noSignal: readonly Vital[] = []): DeviceKind {
  const present = new Set<Vital>(noSignal)
  for (const [vital, value] of Object.entries(r.vitals) as [Vital, number | undefined][]) if (value !== undefined) present.add(vital)
  if (present.has('glucose')) return 'cgm'
  if (present.has('systolic') || present.has('diastolic')) return 'cuff'
  if (present.size === 1 && present.has('temperature')) return 'thermometer'
  if (present.size === 0 && (r.onOxygen !== undefined || r.consciousness !== undefined)) return 'observation'
  return 'wearable'
}

export interface DeviceState {
  /** Highest seq seen. */
  seq: number
  /** Seen-bits of the DEDUP_WINDOW seqs below `seq`. */
  mask: number
  /** Event time of the device's newest reading (ms). */
  ts: number
  /** Smoothed interval between the device's readings' event times (ms), from its kind's default; null until two readings were seen. */
  cadenceMs: number | null
  /** Event time of the open stale-data alert, or null. */
  staleTs: number | null
  /** Inferred from the device's first reading. */
  kind: DeviceKind
  /** Broker timestamp (ms) of the device's newest-arriving reading: what the stale check measures silence from. */
  arrivedAt: number
  /** Event time of the first no-signal sample of the device's current no-signal run, or null (set by the alert code). */
  noSignalSince: number | null
  /** Event time of the open NO_SIGNAL alert, or null (set by the alert code). */
  noSignalTs: number | null
}

/** The device's cadence: estimated once two readings were seen (from its kind's default as the prior), the kind's default before. */
export function effectiveCadenceMs(dev: DeviceState): number {
  return dev.cadenceMs ?? KIND_CADENCE_MS[dev.kind]
}

/** Whether (device, seq) was seen before. */
export function isDuplicate(dev: DeviceState | undefined, seq: number): boolean {
  if (dev === undefined || seq > dev.seq) return false
  if (seq === dev.seq) return true
  const d = dev.seq - seq
  if (d > DEDUP_WINDOW) return true
  return (dev.mask & (1 << (d - 1))) !== 0
}

/** Smoothing of the cadence estimate: each new interval weighs 1/5. */
const CADENCE_WEIGHT = 0.2

/** What a device's stale threshold is made of (config.ts): `max(staleMinMs, staleCadences × cadence)`. */
export type StaleTiming = Pick<SpeedOptions, 'staleCadences' | 'staleMinMs'>

/**
 * A device's stale threshold: `staleCadences` of its cadence (estimated, or its kind's default
 * before two readings were seen), never below `staleMinMs`.
 */
export function deviceStaleThresholdMs(d: DeviceState, timing: StaleTiming): number {
  return staleThresholdMs(effectiveCadenceMs(d), timing.staleCadences, timing.staleMinMs)
}

/**
 * The cadence estimate after an interval of `intervalMs` between event times: an exponentially
 * weighted mean starting from the kind's default (the prior), each interval weighing 1/5. An
 * interval longer than the device's current stale threshold is folded in at that threshold: an
 * outage (a wearable off for an hour) is an outage, already alerted on as STALE, not a new pace, so
 * it cannot make a wearable look like a cuff (a 36-minute stale threshold, a reconnecting sample's
 * artefact judged as a spot check). A device that really slows down still converges: each capped
 * interval raises the threshold, so the estimate grows by 40 % a reading until it reaches the pace
 * and the threshold covers the interval after a few readings.
 */
export function nextCadenceMs(dev: DeviceState, intervalMs: number, timing: StaleTiming): number {
  const capped = Math.min(intervalMs, deviceStaleThresholdMs(dev, timing))
  return Math.round(effectiveCadenceMs(dev) * (1 - CADENCE_WEIGHT) + capped * CADENCE_WEIGHT)
}

/**
 * The device's state after a (not duplicate) reading `r` that arrived at `arrivedAt` (its broker
 * timestamp, ms). `noSignal`: the reading's no-signal fields, for the kind of a first reading;
 * `timing`: the stale options, which cap an interval folded into the cadence (nextCadenceMs).
 * The no-signal run is carried unchanged (the alert code sets it).
 */
export function markSeen(
  dev: DeviceState | undefined,
  r: Reading,
  arrivedAt: number,
  noSignal: readonly Vital[] = [],
  timing: StaleTiming = DEFAULT_SPEED_OPTIONS,
): DeviceState {
  const { seq, ts } = r
  if (dev === undefined) {
    return { seq, mask: 0, ts, cadenceMs: null, staleTs: null, kind: deviceKindOf(r, noSignal), arrivedAt, noSignalSince: null, noSignalTs: null }
  }
  let { mask } = dev
  let top = dev.seq
  if (seq > top) {
    const shift = seq - top
    mask = shift > DEDUP_WINDOW ? 0 : ((shift === DEDUP_WINDOW ? 0 : mask << shift) | (1 << (shift - 1))) >>> 0
    top = seq
  } else {
    mask = (mask | (1 << (top - seq - 1))) >>> 0
  }
  const cadenceMs = ts > dev.ts ? nextCadenceMs(dev, ts - dev.ts, timing) : dev.cadenceMs
  return {
    seq: top,
    mask,
    ts: Math.max(ts, dev.ts),
    cadenceMs,
    staleTs: dev.staleTs,
    kind: dev.kind,
    arrivedAt: Math.max(arrivedAt, dev.arrivedAt),
    noSignalSince: dev.noSignalSince,
    noSignalTs: dev.noSignalTs,
  }
}

/** A JSON array; fields added since the first version go at its end. */
export function serializeDevice(d: DeviceState): string {
  return JSON.stringify([d.seq, d.mask, d.ts, d.cadenceMs, d.staleTs, d.kind, d.arrivedAt, d.noSignalSince, d.noSignalTs])
}

const KIND_SET: ReadonlySet<string> = new Set(DEVICE_KINDS)
const numberOrNull = (x: unknown): number | null => (typeof x === 'number' ? x : null)

/** A serialised device; an array written before kinds and arrival times gives kind 'wearable', arrivedAt = ts and no no-signal run. */
export function parseDevice(text: string): DeviceState | undefined {
  try {
    const a = JSON.parse(text) as unknown[]
    if (!Array.isArray(a)) return undefined
    const [seq, mask, ts, cadenceMs, staleTs, kind, arrivedAt, noSignalSince, noSignalTs] = a
    if (typeof seq !== 'number' || typeof mask !== 'number' || typeof ts !== 'number') return undefined
    return {
      seq,
      mask,
      ts,
      cadenceMs: numberOrNull(cadenceMs),
      staleTs: numberOrNull(staleTs),
      kind: typeof kind === 'string' && KIND_SET.has(kind) ? (kind as DeviceKind) : 'wearable',
      arrivedAt: typeof arrivedAt === 'number' ? arrivedAt : ts,
      noSignalSince: numberOrNull(noSignalSince),
      noSignalTs: numberOrNull(noSignalTs),
    }
  } catch {
    return undefined
  }
}
