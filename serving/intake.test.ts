import { describe, expect, it } from 'vitest'
import { RateWindow, decodeUpdate } from './intake.ts'
import { news2Of } from './state-fixtures.ts'

const patient = { patientId: 'p-1', ts: 1, status: 'NORMAL', news2: { score: 0, risk: 'low' }, vitals: {} }

describe('decodeUpdate', () => {
  it.each([
    ['not JSON', '{', { kind: 'malformed' }],
    ['a JSON string', '"readings"', { kind: 'malformed' }],
    ['JSON null', 'null', { kind: 'malformed' }],
    ['an unknown type', '{"type":"gossip"}', { kind: 'ignored', type: 'unknown' }],
    ['a readings update without a list of patients', '{"type":"readings","patient":{}}', { kind: 'ignored', type: 'readings' }],
    ['an alert without an id', '{"type":"alert","alert":{"patientId":"p-1"}}', { kind: 'ignored', type: 'alert' }],
  ])('reads %s as %j', (_label, message, expected) => {
    expect(decodeUpdate(message)).toEqual(expected)
  })

  it('reads a readings update, with no entries when they are not a list, leaving out parts without a patient id', () => {
    expect(decodeUpdate(JSON.stringify({ type: 'readings', patients: [{ patient, entries: [{ seq: 1 }] }] }))).toEqual({
      kind: 'readings',
      type: 'readings',
      patients: [{ patient, entries: [{ seq: 1 }] }],
      skipped: 0,
    })
    const odd = { type: 'readings', patients: [{ patient, entries: 'x' }, { patient: {} }, null, { patient: { ...patient, patientId: 'p-2' }, entries: [] }] }
    expect(decodeUpdate(JSON.stringify(odd))).toEqual({
      kind: 'readings',
      type: 'readings',
      patients: [
        { patient, entries: [] },
        { patient: { ...patient, patientId: 'p-2' }, entries: [] },
      ],
      skipped: 2,
    })
  })

  it('labels an alert by level and kind, and an unknown level or kind as unknown', () => {
    const alert = { id: 'a-1', patientId: 'p-1', level: 'CRITICAL_LOW', kind: 'raised' }
    expect(decodeUpdate(JSON.stringify({ type: 'alert', alert }))).toEqual({ kind: 'alert', type: 'alert', alert, level: 'CRITICAL_LOW', alertKind: 'raised' })
    const odd = { ...alert, level: 'PANIC', kind: 42 }
    expect(decodeUpdate(JSON.stringify({ type: 'alert', alert: odd }))).toMatchObject({ level: 'unknown', alertKind: 'unknown' })
  })

  it('passes the whole patient state and the new alert levels through unchanged (partial NEWS2, oxygen, ACVPU, trend; NEWS2 and no-signal alerts)', () => {
    const whole = {
      ...patient,
      news2: news2Of({ heartRate: 2, spo2: 1 }, { old: ['systolic'] }),
      onOxygen: { value: false, ts: 1 },
      consciousness: { value: 'C', ts: 1 },
      glucoseTrend: { rate: -1.2, arrow: '↘', ts: 1 },
    }
    expect(decodeUpdate(JSON.stringify({ type: 'readings', patients: [{ patient: whole, entries: [] }] }))).toEqual({
      kind: 'readings',
      type: 'readings',
      patients: [{ patient: whole, entries: [] }],
      skipped: 0,
    })
    for (const level of ['NEWS2_HIGH', 'NEWS2_SINGLE_3', 'NO_SIGNAL', 'URGENT_LOW_SOON']) {
      const alert = { id: 'a-1', patientId: 'p-1', vital: 'news2', level, kind: 'escalated', side: 'low', score: 7, deviceId: 'w-1', message: 'm' }
      expect(decodeUpdate(JSON.stringify({ type: 'alert', alert }))).toEqual({ kind: 'alert', type: 'alert', alert, level, alertKind: 'escalated' })
    }
  })

  it('reads a batch notice', () => {
    expect(decodeUpdate('{"type":"batch","meta":{"runId":"r-1"}}')).toEqual({ kind: 'batch', type: 'batch', meta: { runId: 'r-1' } })
  })
})

describe('RateWindow', () => {
  it('averages the counts of the last 10 seconds, forgetting the oldest second as time moves on', () => {
    const rate = new RateWindow(10)
    rate.add(100)
    expect(rate.tick()).toBe(10)
    rate.add(50)
    expect(rate.tick()).toBe(15)
    for (let s = 0; s < 8; s++) expect(rate.tick()).toBe(15)
    // The slot with 100 has now been reused.
    expect(rate.tick()).toBe(5)
    expect(rate.tick()).toBe(0)
  })
})
