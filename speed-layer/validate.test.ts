import { describe, expect, it } from 'vitest'
import { DEDUP_WINDOW, isDuplicate, markSeen, parseDevice, serializeDevice, type DeviceState } from './devices.ts'
import { REJECT_HEADERS } from '../lib/contract/topics.ts'
import {
  DEAD_LETTER_MAX_BYTES,
  DEAD_LETTER_MAX_HEADER_BYTES,
  PLAUSIBLE_RANGES,
  deadLetterHeaders,
  deadLetterPayload,
  printable,
  produceChunks,
  validateRecord,
} from './validate.ts'
import { applyReadings, emptyPatient, patientState } from './patients.ts'
import { VITALS, type Reading } from '../lib/contract/schema.ts'
import { DEFAULT_BANDS, classifyVital, type Status } from '../lib/bands.ts'
import { news2 } from './news2.ts'

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
    ['diastolic equal to systolic', { ...base, vitals: { systolic: 90, diastolic: 90 } }, 'INCONSISTENT'],
    ['diastolic above systolic', { ...base, vitals: { systolic: 90, diastolic: 100 } }, 'INCONSISTENT'],
  ])('rejects %s with %s', (_name, value, reason) => {
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

  it.each<[number, Status, number]>([
    [10, 'CRITICAL_LOW', 3],
    [13.7, 'CRITICAL_LOW', 3],
    [22, 'CRITICAL_LOW', 3],
    [41.4, 'WARNING', 2],
    [41.5, 'CRITICAL_HIGH', 2],
    [47, 'CRITICAL_HIGH', 2],
  ])('accepts a temperature of %d °C and classifies it %s with NEWS2 score %d, never dead-lettered', (temperature, status, score) => {
    const r = check({ ...base, vitals: { temperature } })
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(classifyVital('temperature', temperature)).toBe(status)
    expect(news2(r.reading.vitals, DEFAULT_BANDS).score).toBe(score)
  })

  it.each(VITALS)('accepts %s at both ends of its plausible range', (vital) => {
    const { min, max } = PLAUSIBLE_RANGES[vital]
    expect(check({ ...base, vitals: { [vital]: min } }).ok).toBe(true)
    expect(check({ ...base, vitals: { [vital]: max } }).ok).toBe(true)
  })
})

describe('duplicate detection', () => {
  it('sees a repeated seq as a duplicate, and a gap filled later as new', () => {
    let d: DeviceState | undefined
    for (const seq of [1, 2, 5]) {
      expect(isDuplicate(d, seq)).toBe(false)
      d = markSeen(d, seq, seq * 1000)
    }
    expect(isDuplicate(d, 5)).toBe(true)
    expect(isDuplicate(d, 2)).toBe(true)
    expect(isDuplicate(d, 3)).toBe(false)
    d = markSeen(d, 3, 3000)
    expect(isDuplicate(d, 3)).toBe(true)
    expect(isDuplicate(d, 4)).toBe(false)
    d = markSeen(d, 5 + DEDUP_WINDOW, 99_000)
    expect(isDuplicate(d, 5)).toBe(true)
    expect(isDuplicate(d, 4)).toBe(true) // beyond the window: only a replay can be that old
    expect(parseDevice(serializeDevice(d))).toEqual(d)
  })

  it('leaves the state unchanged when a batch is applied twice', () => {
    const p = emptyPatient('p-1')
    const readings: Reading[] = Array.from({ length: 10 }, (_, i) => ({ ...base, v: 1, seq: i, ts: 1_000_000 + i * 1000, vitals: { heartRate: 60 + i * 10 } }))
    const opts = { holdDownMs: 60_000, outOfOrderToleranceMs: 5_000 }
    const first = applyReadings(p, readings, opts)
    const state = JSON.stringify(patientState(p))
    const again = applyReadings(p, readings, opts)
    expect(first.entries).toHaveLength(10)
    expect(again).toMatchObject({ entries: [], events: [], duplicates: 10 })
    expect(JSON.stringify(patientState(p))).toBe(state)
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
