import { describe, expect, it } from 'vitest'
import { PatientCache } from './cache.ts'
import { parseDevice } from './devices.ts'
import { emptyPatient } from './patients.ts'
import { partitionOf, raiseStaleDevices } from './stale.ts'

const opts = { staleCadences: 3, staleMinMs: 120_000 }

describe('the stale-device check', () => {
  it('raises a device silent past max(3 cadences, 2 min) once, at the moment it became stale', () => {
    const p = emptyPatient('p-1')
    p.devices.set('slow', { seq: 1, mask: 0, ts: 0, cadenceMs: 60_000, staleTs: null })
    p.devices.set('fast', { seq: 1, mask: 0, ts: 0, cadenceMs: 1_000, staleTs: null })
    p.devices.set('fresh', { seq: 1, mask: 0, ts: 100_000, cadenceMs: 1_000, staleTs: null })
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
