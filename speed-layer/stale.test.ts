import { describe, expect, it } from 'vitest'
import { PatientCache } from './cache.ts'
import type { Reading } from '../lib/contract/schema.ts'
import type { AlertEvent } from '../lib/contract/views.ts'
import { deviceStaleThresholdMs, markSeen, parseDevice, type DeviceState } from './devices.ts'
import { emptyPatient, type PatientRuntime } from './patients.ts'
import { partitionOf, raiseStaleDevices } from './stale.ts'

const opts = { staleCadences: 3, staleMinMs: 120_000 }

/** A device state as markSeen leaves it, arrived when its event time says unless told otherwise. */
const dev = (ts: number, cadenceMs: number | null, more: Partial<DeviceState> = {}): DeviceState => ({
  seq: 1,
  mask: 0,
  ts,
  cadenceMs,
  staleTs: null,
  kind: 'wearable',
  arrivedAt: ts,
  noSignalSince: null,
  noSignalTs: null,
  ...more,
})

const reading = (seq: number, ts: number, vitals: Reading['vitals'] = { heartRate: 70 }): Reading => ({
  v: 1,
  patientId: 'p-1',
  deviceId: 'd-1',
  seq,
  ts,
  vitals,
})

/** Housekeeping passes every 10 s from `from` to `to` (inclusive), collecting the stale events. */
function housekeep(p: PatientRuntime, from: number, to: number): AlertEvent[] {
  const events: AlertEvent[] = []
  for (let now = from; now <= to; now += 10_000) events.push(...raiseStaleDevices([p], now, opts).events)
  return events
}

describe('the stale-device check', () => {
  it('raises a device silent past max(3 cadences, 2 min) once, at the moment it became stale', () => {
    const p = emptyPatient('p-1')
    p.devices.set('slow', dev(0, 60_000))
    p.devices.set('fast', dev(0, 1_000))
    p.devices.set('fresh', dev(100_000, 1_000))
    const first = raiseStaleDevices([p], 150_000, opts)
    expect(first.events.map((e) => [e.patientId, e.ts])).toEqual([['p-1', 120_000]])
    expect(first.changes.map((c) => c.deviceId)).toEqual(['fast'])
    expect(p.devices.get('fast')!.staleTs).toBe(120_000)
    expect(parseDevice(first.changes[0]!.text)?.staleTs).toBe(120_000)
    const later = raiseStaleDevices([p], 181_000, opts)
    expect(later.events.map((e) => e.ts)).toEqual([180_000])
    expect(raiseStaleDevices([p], 400_000, opts).events.map((e) => e.ts)).toEqual([220_000])
    expect(raiseStaleDevices([p], 500_000, opts).events).toEqual([])
  })

  it('measures silence from the arrival, not the event time, and dates the alert arrival + threshold', () => {
    const p = emptyPatient('p-1')
    p.devices.set('lagging', dev(0, 1_000, { arrivedAt: 500_000 }))
    expect(raiseStaleDevices([p], 600_000, opts).events).toEqual([])
    expect(raiseStaleDevices([p], 620_001, opts).events.map((e) => e.ts)).toEqual([620_000])
  })

  it('raises nothing for a device whose clock is 2 minutes behind, reading every second, over 5 minutes', () => {
    const p = emptyPatient('p-1')
    const start = 1_763_805_600_000
    const events: AlertEvent[] = []
    for (let s = 0; s <= 300; s++) {
      const arrivedAt = start + s * 1_000
      p.devices.set('d-1', markSeen(p.devices.get('d-1'), reading(s + 1, arrivedAt - 120_000), arrivedAt))
      if (s % 10 === 0) events.push(...raiseStaleDevices([p], arrivedAt, opts).events)
    }
    expect(events).toEqual([])
    expect(p.devices.get('d-1')!.staleTs).toBeNull()
  })

  it("gives a new CGM its kind's cadence: not stale 120 s after its first reading, stale after 3 × 5 min", () => {
    const p = emptyPatient('p-1')
    const t0 = 1_763_805_600_000
    p.devices.set('cgm', markSeen(undefined, reading(1, t0, { glucose: 120 }), t0))
    expect(deviceStaleThresholdMs(p.devices.get('cgm')!, opts)).toBe(900_000)
    expect(housekeep(p, t0 + 10_000, t0 + 900_000)).toEqual([])
    expect(raiseStaleDevices([p], t0 + 900_001, opts).events.map((e) => e.ts)).toEqual([t0 + 900_000])
  })

  it("gives a new cuff its kind's cadence: not stale within 45 minutes", () => {
    const p = emptyPatient('p-1')
    const t0 = 1_763_805_600_000
    p.devices.set('cuff', markSeen(undefined, reading(1, t0, { systolic: 120, diastolic: 80 }), t0))
    expect(housekeep(p, t0 + 10_000, t0 + 2_700_000)).toEqual([])
  })

  it('raises nothing for a cuff re-measuring 30 s after its first reading, 5 minutes later', () => {
    const p = emptyPatient('p-1')
    const t0 = 1_763_805_600_000
    p.devices.set('cuff', markSeen(undefined, reading(1, t0, { systolic: 120, diastolic: 80 }), t0))
    p.devices.set('cuff', markSeen(p.devices.get('cuff'), reading(2, t0 + 30_000, { systolic: 118, diastolic: 79 }), t0 + 30_000))
    expect(housekeep(p, t0 + 40_000, t0 + 30_000 + 300_000)).toEqual([])
  })

  it('judges a wearable back from an hour off as a wearable: stale again after 2 minutes of silence', () => {
    const p = emptyPatient('p-1')
    const t0 = 1_763_805_600_000
    for (let i = 0; i < 600; i++) p.devices.set('d-1', markSeen(p.devices.get('d-1'), reading(i + 1, t0 + i * 1_000), t0 + i * 1_000))
    const back = t0 + 600_000 + 3_600_000
    p.devices.set('d-1', { ...p.devices.get('d-1')!, staleTs: null })
    p.devices.set('d-1', markSeen(p.devices.get('d-1'), reading(601, back), back))
    expect(deviceStaleThresholdMs(p.devices.get('d-1')!, opts)).toBe(120_000)
    expect(housekeep(p, back + 10_000, back + 120_000)).toEqual([])
    expect(raiseStaleDevices([p], back + 120_001, opts).events.map((e) => e.ts)).toEqual([back + 120_000])
  })

  it("raises no stale storm for a replay of last year's readings arriving now, and one alert when the replay stops", () => {
    const p = emptyPatient('p-1')
    const now = 1_763_805_600_000
    const lastYear = now - 365 * 86_400_000
    const events: AlertEvent[] = []
    for (let i = 0; i < 600; i++) {
      // Replayed ten times faster than recorded: 10 s of event time per second of arrival.
      const arrivedAt = now + i * 1_000
      p.devices.set('d-1', markSeen(p.devices.get('d-1'), reading(i + 1, lastYear + i * 10_000), arrivedAt))
      if (i % 10 === 0) events.push(...raiseStaleDevices([p], arrivedAt, opts).events)
    }
    expect(events).toEqual([])
    const end = now + 599_000
    expect(housekeep(p, end + 10_000, end + 120_000)).toEqual([])
    expect(raiseStaleDevices([p], end + 120_001, opts).events.map((e) => e.ts)).toEqual([end + 120_000])
  })

  it("places a patient in the default partitioner's partition (murmur2 of the patientId)", () => {
    expect(['p-0001', 'p-0002', 'patient-42'].map((id) => partitionOf(id, 6))).toEqual([4, 0, 3])
  })
})

describe('the patient cache', () => {
  it('drops its patients at the first use after an invalidation, not before', () => {
    const cache = new PatientCache()
    cache.set('a', emptyPatient('a'))
    cache.invalidate()
    expect(cache.has('a')).toBe(true)
    cache.settle()
    expect(cache.has('a')).toBe(false)
    cache.set('b', emptyPatient('b'))
    cache.settle()
    expect([...cache.values()].map((p) => p.patientId)).toEqual(['b'])
  })
})
