/**
 * Housekeeping's pure parts: which cached devices fell silent, and which patients belong to the
 * owned partitions. The round trips are housekeeping.ts's.
 */
import { murmur2 } from '@platformatic/kafka'
import type { AlertEvent } from '../lib/contract/views.ts'
import { staleRaised } from './alerts.ts'
import { deviceStaleThresholdMs, serializeDevice, type StaleTiming } from './devices.ts'
import type { PatientRuntime } from './patients.ts'

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
 * Raises the stale-data alert of every device whose newest reading ARRIVED longer than its
 * threshold before `nowMs` (wall-clock time: a silent device sends no event time) and not stale
 * already. Silence is measured on the broker's arrival timestamps, not the device's clock: a
 * device whose clock lags never looks silent while it keeps sending, and a replay of old readings
 * arriving now raises nothing. The alert's ts is the arrival plus the threshold, the moment it
 * became stale. Marks those devices stale in `patients` and returns their new state and the alert
 * events, in cache order.
 */
export function raiseStaleDevices(patients: Iterable<PatientRuntime>, nowMs: number, opts: StaleTiming): { changes: DeviceChange[]; events: AlertEvent[] } {
  const changes: DeviceChange[] = []
  const events: AlertEvent[] = []
  for (const p of patients) {
    for (const [deviceId, d] of p.devices) {
      if (d.staleTs !== null) continue
      const threshold = deviceStaleThresholdMs(d, opts)
      if (nowMs - d.arrivedAt <= threshold) continue
      const e = staleRaised(p.patientId, deviceId, d.arrivedAt, threshold)
      d.staleTs = e.ts
      changes.push({ patientId: p.patientId, deviceId, text: serializeDevice(d) })
      events.push(e)
    }
  }
  return { changes, events }
}
