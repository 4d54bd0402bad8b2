import { describe, expect, it } from 'vitest'
import { updateEntries } from './speed.ts'

describe('updateEntries', () => {
  const entry = (deviceId: string, ts: number) => ({ deviceId, ts, vitals: { heartRate: 70 } })
  it('reads the entries of every patient of a batch update', () => {
    const message = JSON.stringify({
      type: 'readings',
      patients: [
        { patient: { patientId: 'p-1' }, entries: [entry('a-lat', 1), entry('b', 2)] },
        { patient: { patientId: 'p-2' }, entries: [entry('c-lat', 3)] },
      ],
    })
    expect(updateEntries(message).map((e) => [e.deviceId, e.ts])).toEqual([
      ['a-lat', 1],
      ['b', 2],
      ['c-lat', 3],
    ])
  })
  it('reads the entries of a per-patient update', () => {
    const message = JSON.stringify({ type: 'readings', patient: { patientId: 'p-1' }, entries: [entry('a-lat', 5)] })
    expect(updateEntries(message).map((e) => e.ts)).toEqual([5])
  })
  it('finds no entries in an alert or batch update', () => {
    expect(updateEntries(JSON.stringify({ type: 'alert', alert: { entries: [entry('x', 1)] } }))).toEqual([])
    expect(updateEntries(JSON.stringify({ type: 'batch', meta: {} }))).toEqual([])
  })
})
