/**
 * Per-device state of the speed layer: duplicate detection on (deviceId, seq), the device's
 * cadence (for the stale threshold) and whether a stale-data alert is open. Persisted per patient
 * in Redis (`redisKeys(prefix).dedup(patientId)`, field deviceId) so that it survives restarts.
 *
 * Duplicates: the highest seq seen and a 32-bit window of the seqs just below it (bit i set: seq
 * `seq - 1 - i` seen), like an IPsec anti-replay window. A seq more than 32 below the highest is
 * treated as already seen: Kafka keeps one device's readings in order (same key, same partition),
 * so such a record can only be a replay.
 */

export const DEDUP_WINDOW = 32

export interface DeviceState {
  /** Highest seq seen. */
  seq: number
  /** Seen-bits of the DEDUP_WINDOW seqs below `seq`. */
  mask: number
  /** Event time of the device's newest reading (ms). */
  ts: number
  /** Smoothed interval between the device's readings (ms), null until two readings were seen. */
  cadenceMs: number | null
  /** Event time of the open stale-data alert, or null. */
  staleTs: number | null
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

/** The device's state after a (not duplicate) reading. */
export function markSeen(dev: DeviceState | undefined, seq: number, ts: number): DeviceState {
  if (dev === undefined) return { seq, mask: 0, ts, cadenceMs: null, staleTs: null }
  let { mask } = dev
  let top = dev.seq
  if (seq > top) {
    const shift = seq - top
    mask = shift > DEDUP_WINDOW ? 0 : ((shift === DEDUP_WINDOW ? 0 : mask << shift) | (1 << (shift - 1))) >>> 0
    top = seq
  } else {
    mask = (mask | (1 << (top - seq - 1))) >>> 0
  }
  let cadenceMs = dev.cadenceMs
  if (ts > dev.ts) {
    const interval = ts - dev.ts
    cadenceMs = cadenceMs === null ? interval : Math.round(cadenceMs * (1 - CADENCE_WEIGHT) + interval * CADENCE_WEIGHT)
  }
  return { seq: top, mask, ts: Math.max(ts, dev.ts), cadenceMs, staleTs: dev.staleTs }
}

export function serializeDevice(d: DeviceState): string {
  return JSON.stringify([d.seq, d.mask, d.ts, d.cadenceMs, d.staleTs])
}

export function parseDevice(text: string): DeviceState | undefined {
  try {
    const [seq, mask, ts, cadenceMs, staleTs] = JSON.parse(text) as [number, number, number, number | null, number | null]
    if (typeof seq !== 'number' || typeof mask !== 'number' || typeof ts !== 'number') return undefined
    return { seq, mask, ts, cadenceMs: cadenceMs ?? null, staleTs: staleTs ?? null }
  } catch {
    return undefined
  }
}
