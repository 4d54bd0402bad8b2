import { describe, expect, it } from 'vitest'
import { REJECT_HEADERS } from '../lib/contract/topics.ts'
import { NO_SIGNAL_VALUES, PLAUSIBLE_RANGES } from '../lib/plausibility.ts'
import {
  DEAD_LETTER_MAX_BYTES,
  DEAD_LETTER_MAX_HEADER_BYTES,
  checkFields,
  deadLetterHeaders,
  deadLetterPayload,
  printable,
  produceChunks,
  validateRecord,
} from './validate.ts'
import { VITALS, type Reading } from '../lib/contract/schema.ts'
import { classifyVital, type Status } from '../lib/bands.ts'

const base = { v: 1, patientId: 'p-1', deviceId: 'd-1', ts: 1_000_000, seq: 1 }
const facts = { key: 'p-1', brokerTs: 1_000_000 }
const check = (value: unknown, f = facts) => validateRecord(Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)), f, 300_000)

describe('validation', () => {
  it.each<[string, unknown, string]>([
    ['not JSON', '{"v":1,', 'MALFORMED_JSON'],
    ['a string heart rate', { ...base, vitals: { heartRate: '70' } }, 'SCHEMA'],
    ['no vitals', { ...base, vitals: {} }, 'SCHEMA'],
    ['a negative heart rate', { ...base, vitals: { heartRate: -1 } }, 'OUT_OF_RANGE'],
    ['heart rate 301', { ...base, vitals: { heartRate: 301 } }, 'OUT_OF_RANGE'],
    ['SpO2 101', { ...base, vitals: { spo2: 101 } }, 'OUT_OF_RANGE'],
    ['temperature 9.9 °C', { ...base, vitals: { temperature: 9.9 } }, 'OUT_OF_RANGE'],
    ['temperature 47.1 °C', { ...base, vitals: { temperature: 47.1 } }, 'OUT_OF_RANGE'],
    ['temperature 98.6 (°F sent as °C)', { ...base, vitals: { temperature: 98.6 } }, 'OUT_OF_RANGE'],
    ['glucose 9 mg/dL', { ...base, vitals: { glucose: 9 } }, 'OUT_OF_RANGE'],
    ['respiratory rate 81', { ...base, vitals: { respRate: 81 } }, 'OUT_OF_RANGE'],
    ['systolic 301', { ...base, vitals: { systolic: 301 } }, 'OUT_OF_RANGE'],
    ['heart rate 400 and SpO2 101', { ...base, vitals: { heartRate: 400, spo2: 101 } }, 'OUT_OF_RANGE'],
  ])('rejects %s (nothing else in the record) with %s', (_name, value, reason) => {
    const r = check(value)
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.reason).toBe(reason)
  })

  it('rejects a record keyed by another patient and one whose event time is an hour ahead of the broker', () => {
    const good = { ...base, vitals: { heartRate: 70 } }
    expect(check(good, { key: 'p-2', brokerTs: 1_000_000 })).toMatchObject({ ok: false, reason: 'KEY_MISMATCH' })
    expect(check({ ...good, ts: 1_000_000 + 3_600_000 })).toMatchObject({ ok: false, reason: 'FUTURE_TS' })
    expect(validateRecord(undefined, facts, 300_000)).toMatchObject({ ok: false, reason: 'MALFORMED_JSON' })
  })

  it('rejects a valid reading in a record without a key, which may sit in another partition than its patient', () => {
    const good = { ...base, vitals: { heartRate: 70 } }
    expect(check(good, { key: undefined as unknown as string, brokerTs: 1_000_000 })).toMatchObject({
      ok: false,
      reason: 'KEY_MISMATCH',
      detail: 'the record has no key: key it by its patientId "p-1"',
    })
    expect(check(good, { key: '', brokerTs: 1_000_000 })).toMatchObject({ ok: false, reason: 'KEY_MISMATCH' })
  })

  it('escapes control and bidi characters of a hostile record in the reject detail', () => {
    const hostile = check({ ...base, vitals: { heartRate: 70 }, '\u202eevil\u0000': 1 })
    expect(hostile).toMatchObject({ ok: false, reason: 'SCHEMA' })
    if (!hostile.ok) expect(hostile.detail).toMatch(/^[\x20-\x7e]*$/)
    const key = check({ ...base, vitals: { heartRate: 70 } }, { key: 'p-1\u202e', brokerTs: 1_000_000 })
    expect(key).toMatchObject({ ok: false, reason: 'KEY_MISMATCH', detail: 'record key "p-1\\u202e" is not the patientId "p-1"' })
    const notJson = validateRecord(Buffer.from('\u202e{'), facts, 300_000)
    expect(notJson).toMatchObject({ ok: false, reason: 'MALFORMED_JSON' })
    if (!notJson.ok) expect(notJson.detail).toMatch(/^[\x20-\x7e]*$/)
    expect(printable('x'.repeat(10), 4)).toBe('xxxx... (10 characters)')
  })

  it.each<[number, Status]>([
    [10, 'CRITICAL_LOW'],
    [13.7, 'CRITICAL_LOW'],
    [22, 'CRITICAL_LOW'],
    [41.4, 'WARNING'],
    [41.5, 'CRITICAL_HIGH'],
    [47, 'CRITICAL_HIGH'],
  ])('accepts a temperature of %d °C and classifies it %s, never dead-lettered', (temperature, status) => {
    const r = check({ ...base, vitals: { temperature } })
    expect(r).toMatchObject({ ok: true, reading: { vitals: { temperature } }, fieldRejects: [], noSignal: [] })
    expect(classifyVital('temperature', temperature)).toBe(status)
  })

  it.each(VITALS)('accepts %s at both ends of its plausible range', (vital) => {
    const { min, max } = PLAUSIBLE_RANGES[vital]
    expect(check({ ...base, vitals: { [vital]: min } }).ok).toBe(true)
    expect(check({ ...base, vitals: { [vital]: max } }).ok).toBe(true)
  })
})

describe('validation, one field at a time', () => {
  it.each<[string, number]>([
    ['equal to', 90],
    ['above', 100],
  ])('refuses a diastolic %s the systolic as INCONSISTENT, on its own', (_name, diastolic) => {
    expect(check({ ...base, vitals: { systolic: 90, diastolic } })).toMatchObject({ ok: true, fieldRejects: [{ vital: 'diastolic', reason: 'INCONSISTENT' }] })
  })

  it('keeps the heart rate and SpO2 of a reading whose temperature is implausible, refusing only the temperature', () => {
    const r = check({ ...base, vitals: { heartRate: 140, spo2: 82, temperature: 98.6 } })
    expect(r).toEqual({
      ok: true,
      reading: { ...base, vitals: { heartRate: 140, spo2: 82 } },
      fieldRejects: [{ vital: 'temperature', reason: 'OUT_OF_RANGE', detail: 'temperature 98.6 °C is outside 10-47' }],
      noSignal: [],
    })
  })

  it('keeps a temperature of 22 °C beside the other vitals: hypothermia, classified, not refused', () => {
    const r = check({ ...base, vitals: { heartRate: 140, spo2: 82, temperature: 22 } })
    expect(r).toMatchObject({ ok: true, reading: { vitals: { heartRate: 140, spo2: 82, temperature: 22 } }, fieldRejects: [] })
  })

  it('refuses a diastolic not below the systolic and keeps the systolic', () => {
    const r = check({ ...base, vitals: { systolic: 70, diastolic: 72 } })
    expect(r).toEqual({
      ok: true,
      reading: { ...base, vitals: { systolic: 70 } },
      fieldRejects: [{ vital: 'diastolic', reason: 'INCONSISTENT', detail: 'diastolic 72 mmHg is not below systolic 70 mmHg' }],
      noSignal: [],
    })
  })

  it('puts a heart rate and SpO2 of 0 aside as no signal, neither classified nor refused', () => {
    expect(NO_SIGNAL_VALUES).toEqual({ heartRate: 0, spo2: 0 })
    const r = check({ ...base, vitals: { heartRate: 0, spo2: 0 } })
    expect(r).toEqual({ ok: true, reading: { ...base, vitals: {} }, fieldRejects: [], noSignal: ['heartRate', 'spo2'] })
    expect(check({ ...base, vitals: { heartRate: 0, spo2: 97 } })).toMatchObject({ ok: true, reading: { vitals: { spo2: 97 } }, noSignal: ['heartRate'] })
  })

  it('keeps a respiratory rate of 0 (apnoea) as a measurement: only heart rate and SpO2 have a no-signal value', () => {
    expect(check({ ...base, vitals: { respRate: 0 } })).toMatchObject({ ok: true, reading: { vitals: { respRate: 0 } }, noSignal: [] })
  })

  it('keeps a no-signal field, an oxygen or a consciousness beside a refused field, so the record is not rejected whole', () => {
    expect(check({ ...base, vitals: { heartRate: 0, temperature: 5 } })).toMatchObject({
      ok: true,
      reading: { vitals: {} },
      fieldRejects: [{ vital: 'temperature' }],
      noSignal: ['heartRate'],
    })
    expect(check({ ...base, vitals: { temperature: 5 }, consciousness: 'C', onOxygen: true })).toMatchObject({
      ok: true,
      reading: { vitals: {}, consciousness: 'C', onOxygen: true },
      fieldRejects: [{ vital: 'temperature', reason: 'OUT_OF_RANGE' }],
    })
  })

  it('rejects a record whole when no field is left, with its first reason and every problem', () => {
    expect(check({ ...base, vitals: { heartRate: 400, spo2: 101 } })).toEqual({
      ok: false,
      reason: 'OUT_OF_RANGE',
      detail: 'heartRate 400 bpm is outside 0-300; spo2 101 % is outside 0-100',
      patientId: 'p-1',
    })
    expect(check({ ...base, vitals: { systolic: 350, diastolic: 250 } })).toMatchObject({ ok: false, reason: 'OUT_OF_RANGE' })
  })

  it('judges a diastolic on its own range when the systolic is refused', () => {
    expect(check({ ...base, vitals: { systolic: 350, diastolic: 80 } })).toMatchObject({
      ok: true,
      reading: { vitals: { diastolic: 80 } },
      fieldRejects: [{ vital: 'systolic', reason: 'OUT_OF_RANGE' }],
    })
  })

  it('checks the key and the timestamp before the fields', () => {
    const bad = { ...base, vitals: { heartRate: 400 } }
    expect(check(bad, { key: 'p-2', brokerTs: 1_000_000 })).toMatchObject({ ok: false, reason: 'KEY_MISMATCH' })
    expect(check({ ...bad, ts: 1_000_000 + 3_600_000 })).toMatchObject({ ok: false, reason: 'FUTURE_TS' })
  })

  it('leaves the parsed reading untouched and returns it as it is when every field is accepted', () => {
    const r: Reading = { ...base, v: 1, vitals: { heartRate: 0, systolic: 90, diastolic: 95 } }
    const out = checkFields(r)
    expect(r.vitals).toEqual({ heartRate: 0, systolic: 90, diastolic: 95 })
    expect(out.reading.vitals).toEqual({ systolic: 90 })
    const clean: Reading = { ...base, v: 1, vitals: { heartRate: 70 } }
    expect(checkFields(clean).reading).toBe(clean)
  })
})

describe('dead letters', () => {
  it('keep a value up to the bound whole and cut a larger one, giving its size', () => {
    const small = Buffer.from('{"v":1,')
    expect(deadLetterPayload(Buffer.from('p-1'), small)).toEqual({ key: Buffer.from('p-1'), value: small })
    expect(deadLetterPayload(null, null)).toEqual({ key: undefined, value: Buffer.alloc(0) })
    const big = Buffer.alloc(DEAD_LETTER_MAX_BYTES + 1, 0x20)
    const cut = deadLetterPayload(Buffer.alloc(1_000, 0x70), big)
    expect(cut.value.length).toBe(DEAD_LETTER_MAX_BYTES)
    expect(cut.originalBytes).toBe(DEAD_LETTER_MAX_BYTES + 1)
    expect(cut.key?.length).toBe(256)
  })

  it('are produced in requests under the byte bound, a record larger than it alone, in order', () => {
    const m = (bytes: number) => ({ value: Buffer.alloc(bytes) })
    const records = [m(100), m(300_000), m(300_000), m(300_000), m(900_000), m(10)]
    const chunks = produceChunks(records, 768 * 1024)
    expect(chunks.map((c) => c.map((r) => r.value.length))).toEqual([[100, 300_000, 300_000], [300_000], [900_000], [10]])
    expect(chunks.flat()).toEqual(records)
    expect(produceChunks([])).toEqual([])
  })

  it("keep the rejected record's own headers up to a bound, never one forging a reject header, and count headers in the request size", () => {
    const h = (k: string, bytes: number): [Buffer, Buffer] => [Buffer.from(k), Buffer.alloc(bytes, 0x61)]
    const source = new Map([
      h('trace-id', 16),
      h(REJECT_HEADERS.reason, 5),
      h(REJECT_HEADERS.originalBytes, 3),
      h('big', DEAD_LETTER_MAX_HEADER_BYTES),
      h('after', 1),
    ])
    const kept = deadLetterHeaders(source)
    expect([...kept.keys()].map(String)).toEqual(['trace-id'])
    const heavy = { value: Buffer.alloc(10), headers: new Map([h('x', 500_000)]) }
    expect(produceChunks([heavy, heavy], 768 * 1024).map((c) => c.length)).toEqual([1, 1])
  })
})
