import { describe, expect, it } from 'vitest'
import { parseReading, validateReading } from './schema.ts'

const good = { v: 1, patientId: 'p-0001', deviceId: 'wrist-0001', ts: 1763805600123, seq: 42, vitals: { heartRate: 72, spo2: 98 } }

describe('reading schema v1', () => {
  it('accepts the reading of DESIGN.md', () => {
    const r = parseReading(
      '{"v":1,"patientId":"p-0001","deviceId":"wrist-0001","ts":1763805600123,"seq":42,"vitals":{"heartRate":72,"spo2":98,"glucose":104,"systolic":121,"diastolic":79,"respRate":14,"temperature":36.8}}',
    )
    expect(r.ok).toBe(true)
    if (r.ok) expect(r.reading.vitals.temperature).toBe(36.8)
  })

  it('rejects bytes that are not JSON as MALFORMED_JSON', () => {
    const r = parseReading(Buffer.from('{"v":1,'))
    expect(r).toMatchObject({ ok: false, reason: 'MALFORMED_JSON' })
  })

  it('rejects a reading without any vital, naming the field', () => {
    const r = validateReading({ ...good, vitals: {} })
    expect(r).toMatchObject({ ok: false, reason: 'SCHEMA' })
    if (!r.ok) expect(r.detail).toContain('vitals: vitals must hold at least one of')
  })

  it('names every bad field of a reading with wrong types', () => {
    const r = validateReading({ ...good, seq: '42', vitals: { spo2: '98' } })
    expect(r.ok).toBe(false)
    if (!r.ok) {
      expect(r.detail).toContain('seq:')
      expect(r.detail).toContain('vitals.spo2:')
    }
  })

  it('rejects an unknown vital instead of dropping it silently', () => {
    const r = validateReading({ ...good, vitals: { heartrate: 70 } })
    expect(r.ok).toBe(false)
  })

  it('rejects a patient id with braces, which would break Redis hash tags', () => {
    const r = validateReading({ ...good, patientId: 'p-{1}' })
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.detail).toContain('patientId must not contain braces')
  })

  it('keeps a patient id with markup as it is (rendering it as text is the page\'s job)', () => {
    const r = validateReading({ ...good, patientId: '<img src=x onerror=alert(1)>' })
    expect(r.ok).toBe(true)
  })

  it('rejects a fractional or negative seq and a missing version', () => {
    expect(validateReading({ ...good, seq: 1.5 }).ok).toBe(false)
    expect(validateReading({ ...good, seq: -1 }).ok).toBe(false)
    const { v: _v, ...noVersion } = good
    expect(validateReading(noVersion).ok).toBe(false)
  })
})
