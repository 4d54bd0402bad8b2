import { describe, expect, it } from 'vitest'
import { ID_POLICY, idProblem, parseReading, validateReading } from './schema.ts'

const good = { v: 1, patientId: 'p-0001', deviceId: 'wrist-0001', ts: 1763805600123, seq: 42, vitals: { heartRate: 72, spo2: 98 } }

describe('reading schema v1', () => {
  it('accepts the reading of docs/CONTRACT.md', () => {
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

  it('rejects a reading that observes nothing, naming what it must hold', () => {
    const r = validateReading({ ...good, vitals: {} })
    expect(r).toMatchObject({ ok: false, reason: 'SCHEMA' })
    if (!r.ok)
      expect(r.detail).toBe(
        '(reading): a reading must hold at least one of vitals.heartRate, vitals.spo2, vitals.glucose, vitals.systolic, ' +
          'vitals.diastolic, vitals.respRate, vitals.temperature, onOxygen or consciousness',
      )
  })

  it.each<[string, Record<string, unknown>]>([
    ['onOxygen true', { onOxygen: true }],
    ['onOxygen false (air)', { onOxygen: false }],
    ['consciousness C (new confusion)', { consciousness: 'C' }],
    ['both', { onOxygen: true, consciousness: 'U' }],
  ])('accepts a nurse observation with empty vitals and only %s', (_name, extra) => {
    const r = validateReading({ ...good, vitals: {}, ...extra })
    expect(r).toEqual({ ok: true, reading: { ...good, vitals: {}, ...extra } })
  })

  it('accepts every ACVPU level beside vitals, and a reading without either assessment (old readings stay valid)', () => {
    for (const level of ['A', 'C', 'V', 'P', 'U']) {
      const r = validateReading({ ...good, consciousness: level, onOxygen: false })
      expect(r.ok && r.reading.consciousness).toBe(level)
    }
    const old = validateReading(good)
    expect(old.ok && 'onOxygen' in old.reading).toBe(false)
  })

  it.each<[string, Record<string, unknown>, string]>([
    ['a lower-case level', { consciousness: 'a' }, 'consciousness:'],
    ['the old AVPU word', { consciousness: 'Alert' }, 'consciousness:'],
    ['a number', { consciousness: 1 }, 'consciousness:'],
    ['onOxygen as a string', { onOxygen: 'true' }, 'onOxygen: '],
    ['onOxygen as a flow number', { onOxygen: 2 }, 'onOxygen: '],
    ['onOxygen null', { onOxygen: null }, 'onOxygen: '],
  ])('refuses %s, naming the field', (_name, extra, field) => {
    const r = validateReading({ ...good, ...extra })
    expect(r).toMatchObject({ ok: false, reason: 'SCHEMA' })
    if (!r.ok) expect(r.detail).toContain(field)
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

  it.each<[string, string, string]>([
    ['empty', '', 'patientId must not be empty'],
    ['with braces, which would break Redis hash tags', 'p-{1}', 'got "{" at position 3'],
    ['with markup', '<img src=x onerror=alert(1)>', 'got "<" at position 1'],
    ['in NFD form (e and a combining acute accent)', 'jose\u0301', 'got a non-ASCII character U+0301 at position 5'],
    ['in NFC form with an accented letter', 'jos\u00e9', 'got a non-ASCII character U+00E9 at position 4'],
    ['with a Cyrillic letter that looks Latin', '\u0440-0001', 'got a non-ASCII character U+0440 at position 1'],
    ['with an emoji', 'p-\u{1F600}', 'got a non-ASCII character U+1F600 at position 3'],
    ['with a zero-width space', 'p-00\u200b01', 'got a non-ASCII character U+200B at position 5'],
    ['with a right-to-left override', 'p-\u202e1000', 'got a non-ASCII character U+202E at position 3'],
    ['with a control character', 'p\u0000', 'got the control character U+0000 at position 2'],
    ['with a space', 'p 1', 'got " " at position 2'],
    ['starting with an underscore', '__proto__', 'got "_" as the first character'],
    ['of 65 characters', 'p'.repeat(65), 'patientId must be at most 64 characters; got 65'],
  ])('rejects a patient id %s, naming the rule and escaping the offending character', (_name, id, message) => {
    const r = validateReading({ ...good, patientId: id })
    expect(r).toMatchObject({ ok: false, reason: 'SCHEMA' })
    if (!r.ok) {
      expect(r.detail).toContain(message)
      expect(r.detail).toMatch(/^[\x20-\x7e]*$/)
    }
  })

  it.each(['p-0001', 'P.1_a-2', '8499029f-70ec-4919-88a9-938d8ad56397', 'constructor', 'x'.repeat(64), '0'])('accepts the patient id %s', (id) => {
    expect(validateReading({ ...good, patientId: id }).ok).toBe(true)
    expect(ID_POLICY.pattern.test(id)).toBe(true)
  })

  it('applies the same policy to device ids', () => {
    const r = validateReading({ ...good, deviceId: 'wrist\u200d01' })
    expect(r).toMatchObject({ ok: false, reason: 'SCHEMA' })
    if (!r.ok)
      expect(r.detail).toBe(
        "deviceId: deviceId must be 1-64 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit; got a non-ASCII character U+200D at position 6",
      )
    expect(idProblem('deviceId', 'wrist-0001')).toBeUndefined()
  })

  it('rejects a fractional or negative seq and a missing version', () => {
    expect(validateReading({ ...good, seq: 1.5 }).ok).toBe(false)
    expect(validateReading({ ...good, seq: -1 }).ok).toBe(false)
    const { v: _v, ...noVersion } = good
    expect(validateReading(noVersion).ok).toBe(false)
  })
})
