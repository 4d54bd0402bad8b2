import { describe, expect, it } from 'vitest'
import { jsonItems, mediaType, ndjsonItems, parseJson, validateAll, validateMapped } from './bodies.ts'
import type { Reading } from '../lib/contract/schema.ts'

const reading = (n: number): Reading => ({ v: 1, patientId: `p-${n}`, deviceId: `wrist-${n}`, ts: 1763805600000 + n, seq: n + 1, vitals: { heartRate: 70 } })

describe("the gateway's request bodies", () => {
  it('reads the media type without parameters, in lower case', () => {
    expect(mediaType('Application/X-NDJSON; charset=utf-8')).toBe('application/x-ndjson')
    expect(mediaType(undefined)).toBe('')
  })

  it('says why a JSON body cannot be read', () => {
    expect(parseJson('  ')).toEqual({ ok: false, detail: 'the body is empty' })
    expect(parseJson(undefined)).toEqual({ ok: false, detail: 'the body is empty' })
    expect(parseJson('{"v":1,')).toMatchObject({ ok: false, detail: expect.stringMatching(/^the body is not valid JSON: /) })
    expect(parseJson('[1]')).toEqual({ ok: true, json: [1] })
  })

  it('takes a top-level JSON array as a batch pointed at by index, anything else as one reading', () => {
    expect(jsonItems([{ a: 1 }, 2]).map((i) => i.pointer)).toEqual(['/0', '/1'])
    expect(jsonItems({ a: 1 })).toEqual([{ json: { a: 1 }, pointer: '' }])
  })

  it('names each NDJSON line that is not JSON by pointer and line, skipping blank lines, and stops at 100', () => {
    const { items, errors } = ndjsonItems(`${JSON.stringify(reading(1))}\n\n{bad\n  ${JSON.stringify(reading(2))}  \n`)
    expect(items.map((i) => [i.pointer, i.line, i.raw])).toEqual([
      ['/0', 1, JSON.stringify(reading(1))],
      ['/3', 4, JSON.stringify(reading(2))],
    ])
    expect(errors).toEqual([{ pointer: '/2', line: 3, detail: expect.stringMatching(/^not valid JSON: /) }])
    expect(ndjsonItems(Array.from({ length: 300 }, () => 'x').join('\n')).errors).toHaveLength(100)
  })

  it('keys a valid reading by its patient, sends an NDJSON line as it came, and names every bad field of the others', () => {
    const raw = ` ${JSON.stringify(reading(1))}`.trim()
    const v = validateAll([
      { json: reading(1), raw, pointer: '/0', line: 1 },
      { json: { ...reading(2), vitals: { spo2: '97' } }, pointer: '/1', line: 2 },
      { json: { v: 1, patientId: '', ts: 'noon', seq: -1, vitals: { heartRate: 'fast' } }, pointer: '' },
    ])
    expect(v.records).toEqual([{ key: 'p-1', value: raw }])
    expect(v.readings).toEqual([{ reading: reading(1), pointer: '/0', line: 1 }])
    expect(v.errors[0]).toMatchObject({ pointer: '/1/vitals/spo2', line: 2 })
    expect([...new Set(v.errors.slice(1).map((e) => e.pointer))].sort()).toEqual(['/deviceId', '/patientId', '/seq', '/ts', '/vitals/heartRate'])
  })

  it('accepts the NEWS2 assessments as the schema does: beside vitals, alone with empty vitals, never a reading of nothing', () => {
    const nurse = { ...reading(3), vitals: {}, onOxygen: true, consciousness: 'C' }
    const v = validateAll([
      { json: { ...reading(1), onOxygen: false, consciousness: 'A' }, pointer: '/0' },
      { json: nurse, pointer: '/1' },
      { json: { ...reading(4), vitals: {} }, pointer: '/2' },
      { json: { ...reading(5), consciousness: 'confused' }, pointer: '/3' },
      { json: { ...reading(6), onOxygen: 'yes' }, pointer: '/4' },
    ])
    expect(v.records).toEqual([
      { key: 'p-1', value: JSON.stringify({ ...reading(1), onOxygen: false, consciousness: 'A' }) },
      { key: 'p-3', value: JSON.stringify(nurse) },
    ])
    expect(v.errors).toEqual([
      { pointer: '/2', detail: expect.stringContaining('a reading must hold at least one of vitals.heartRate') },
      { pointer: '/3/consciousness', detail: expect.any(String) },
      { pointer: '/4/onOxygen', detail: expect.any(String) },
    ])
  })

  it('stops validating once 100 errors are collected: a flood of bad items is never amplified', () => {
    const v = validateAll(Array.from({ length: 3_000 }, (_, i) => ({ json: {}, pointer: `/${i}` })))
    expect(v.errors.length).toBeGreaterThanOrEqual(100)
    expect(v.errors.length).toBeLessThan(110)
  })

  it('points at a mapped FHIR reading as /mapped/<i> and stores it as JSON', () => {
    const v = validateMapped([reading(1), { ...reading(2), seq: -1 }])
    expect(v.records).toEqual([{ key: 'p-1', value: JSON.stringify(reading(1)) }])
    expect(v.readings).toEqual([{ reading: reading(1), pointer: '/mapped/0' }])
    expect(v.errors.map((e) => e.pointer)).toEqual(['/mapped/1/seq'])
  })
})
