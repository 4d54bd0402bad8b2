/**
 * Housekeeping's pure parts: which cached devices fell silent, and which patients belong to the
 * owned partitions. The round trips are housekeeping.ts's.
 */
import { murmur2 } from '@platformatic/kafka'
import type { AlertEvent } from '../lib/contract/views.ts'
import { staleRaised, staleThresholdMs } from './alerts.ts'
import { serializeDevice } from './devices.ts'
import type { PatientRuntime } from './patients.ts'
import type { SpeedOptions } from './config.ts'

/**
 * The partition a patient's readings go to: the default partitioner's, murmur2 of the key (the
 * patientId, docs/CONTRACT.md Topics) modulo the partition count.
 */
export function partitionOf(patientId: string, partitionCount: number): number {
  return (murmur2(Buffer.from(patientId)) >>> 0) % partitionCount
}

export interface DeviceChange {
  patientId: string
  deviceId: string
  /** The device's new state, serialised (devices.ts). */
  text: string
}

/**
 * Raises the stale-data alert of every device silent for longer than its threshold at `nowMs`
 * (wall-clock time: a silent device sends no event time) and not stale already. Marks those
 * devices stale in `patients` and returns their new state and the alert events, in cache order.
 */
export function raiseStaleDevices(
  patients: Iterable<PatientRuntime>,
  nowMs: number,
  opts: Pick<SpeedOptions, 'staleCadences' | 'staleMinMs'>,
): { changes: DeviceChange[]; events: AlertEvent[] } {
  const changes: DeviceChange[] = []
  const events: AlertEvent[] = []
  for (const p of patients) {
    for (const [deviceId, d] of p.devices) {
      if (d.staleTs !== null) continue
      const threshold = staleThresholdMs(d.cadenceMs, opts.staleCadences, opts.staleMinMs)
      if (nowMs - d.ts <= threshold) continue
      const e = staleRaised(p.patientId, deviceId, d.ts, threshold)
      d.staleTs = e.ts
      changes.push({ patientId: p.patientId, deviceId, text: serializeDevice(d) })
      events.push(e)
    }
  }
  return { changes, events }
}
