import { describe, expect, it } from 'vitest'
import type { Reading } from '../lib/contract/schema.ts'
import { REJECT_HEADERS } from '../lib/contract/topics.ts'
import { DEFAULT_SPEED_OPTIONS } from './config.ts'
import { decodeBatch } from './decode.ts'
import { applyReadings, emptyPatient, patientState } from './patients.ts'
import type { SourceRecord } from './records.ts'

const NOW = 1_763_805_600_000

/** A consumed record; a reading is keyed by its patientId unless `key` says otherwise. */
function rec(
  partition: number,
  offset: number,
  value: unknown,
  key: string | undefined = (value as Partial<Reading>).patientId,
  arrivedAt = NOW,
): SourceRecord {
  return {
    topic: 'vitals.readings',
    partition,
    offset: BigInt(offset),
    timestamp: BigInt(arrivedAt),
    key: key === undefined ? null : Buffer.from(key),
    value: Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)),
    headers: new Map(),
  }
}

function reading(patientId: string, seq: number, heartRate = 70): Reading {
  return { v: 1, patientId, deviceId: `dev-${patientId}`, ts: NOW - 1000 + seq, seq, vitals: { heartRate } }
}

const opts = (replay: Record<number, bigint> = {}) => ({ rejectedTopic: 'vitals.rejected', maxClockSkewMs: 300_000, replayUntil: (p: number) => replay[p] })

describe('decoding a batch', () => {
  it('groups valid readings by patient in arrival order, whatever the partitions interleave', () => {
    const batch = [rec(1, 10, reading('a', 2)), rec(2, 5, reading('b', 1)), rec(1, 11, reading('a', 1)), rec(2, 6, reading('b', 2))]
    const d = decodeBatch(batch, opts())
    expect([...d.groups.keys()]).toEqual(['a', 'b'])
    expect(d.groups.get('a')!.fresh.map((a) => a.reading.seq)).toEqual([2, 1])
    expect(d.groups.get('a')!.partition).toBe(1)
    expect(d.groups.get('b')!.fresh.map((a) => a.reading.seq)).toEqual([1, 2])
    expect([...d.lastOffsets]).toEqual([
      [1, 11n],
      [2, 6n],
    ])
    expect(d.deadLetters).toEqual([])
  })

  it('turns an invalid record into a dead letter with its reason, keyed by its own key, and counts the reason', () => {
    const d = decodeBatch([rec(0, 3, '{not json', 'k-1'), rec(0, 4, { ...reading('c', 1), vitals: { spo2: 101 } })], opts())
    expect(d.rejects).toEqual(['MALFORMED_JSON', 'OUT_OF_RANGE'])
    expect(d.deadLetters.map((m) => m.key?.toString())).toEqual(['k-1', 'c'])
    expect(d.deadLetters[0]!.topic).toBe('vitals.rejected')
    expect(d.deadLetters[0]!.value.toString()).toBe('{not json')
    expect(d.groups.size).toBe(0)
    expect(d.lastOffsets.get(0)).toBe(4n)
  })

  it("marks the records below a partition's replay offset as replayed and produces no dead letter for them", () => {
    const batch = [rec(3, 7, reading('d', 1)), rec(3, 8, 'bad'), rec(3, 9, reading('d', 2)), rec(3, 10, 'bad'), rec(4, 1, reading('e', 1))]
    const d = decodeBatch(batch, opts({ 3: 9n }))
    expect(d.groups.get('d')!.replayed.map((a) => a.reading.seq)).toEqual([1])
    expect(d.groups.get('d')!.fresh.map((a) => a.reading.seq)).toEqual([2])
    expect(d.groups.get('e')!.fresh.map((a) => a.reading.seq)).toEqual([1])
    expect(d.rejects).toEqual(['MALFORMED_JSON'])
    expect(d.deadLetters.map((m) => m.headers?.size)).toEqual([5])
  })

  it("carries each accepted reading's broker timestamp as its arrival time", () => {
    const d = decodeBatch([rec(0, 1, reading('f', 1), 'f', NOW + 5_000)], opts())
    expect(d.groups.get('f')!.fresh).toEqual([{ reading: reading('f', 1), noSignal: [], arrivedAt: NOW + 5_000 }])
  })

  it('classifies the good vitals of a reading with an implausible field and dead-letters it once, naming the field', () => {
    const bad = { ...reading('g', 1), vitals: { heartRate: 140, spo2: 82, temperature: 98.6 } }
    const d = decodeBatch([rec(0, 1, bad)], opts())
    expect(d.groups.get('g')!.fresh.map((a) => a.reading.vitals)).toEqual([{ heartRate: 140, spo2: 82 }])
    expect(d.rejects).toEqual(['OUT_OF_RANGE'])
    expect(d.partialRejects).toBe(1)
    expect(d.deadLetters).toHaveLength(1)
    const h = Object.fromEntries([...d.deadLetters[0]!.headers!].map(([k, v]) => [k.toString(), v.toString()]))
    expect(h[REJECT_HEADERS.fields]).toBe('temperature')
    expect(h[REJECT_HEADERS.reason]).toBe('OUT_OF_RANGE')
    expect(h[REJECT_HEADERS.detail]).toBe('temperature 98.6 °C is outside 10-47')
    expect(d.deadLetters[0]!.value.toString()).toBe(JSON.stringify(bad))
  })

  it('names every refused field of a record in one dead letter, with the first one as its reason', () => {
    const bad = { ...reading('h', 1), vitals: { heartRate: 0, spo2: 101, systolic: 70, diastolic: 72 } }
    const d = decodeBatch([rec(0, 1, bad)], opts())
    expect(d.groups.get('h')!.fresh).toEqual([{ reading: { ...bad, vitals: { systolic: 70 } }, noSignal: ['heartRate'], arrivedAt: NOW }])
    expect(d.rejects).toEqual(['OUT_OF_RANGE'])
    const h = Object.fromEntries([...d.deadLetters[0]!.headers!].map(([k, v]) => [k.toString(), v.toString()]))
    expect(h[REJECT_HEADERS.fields]).toBe('spo2,diastolic')
    expect(h[REJECT_HEADERS.detail]).toBe('spo2 101 % is outside 0-100; diastolic 72 mmHg is not below systolic 70 mmHg')
  })

  it('passes a probe-off reading on as no signal, without a dead letter', () => {
    const d = decodeBatch([rec(0, 1, { ...reading('i', 1), vitals: { heartRate: 0, spo2: 0 } })], opts())
    expect(d.groups.get('i')!.fresh.map((a) => [a.reading.vitals, a.noSignal])).toEqual([[{}, ['heartRate', 'spo2']]])
    expect(d.deadLetters).toEqual([])
    expect(d.rejects).toEqual([])
    expect(d.partialRejects).toBe(0)
  })

  it('applies a replayed record with a refused field again but dead-letters it only the first time', () => {
    const bad = { ...reading('j', 1), vitals: { heartRate: 80, temperature: 60 } }
    const d = decodeBatch([rec(5, 1, bad)], opts({ 5: 2n }))
    expect(d.groups.get('j')!.replayed.map((a) => a.reading.vitals)).toEqual([{ heartRate: 80 }])
    expect(d.deadLetters).toEqual([])
    expect(d.rejects).toEqual([])
  })
})

describe('a decoded batch applied to a patient', () => {
  it('classifies the accepted vitals of a record with a refused field, and leaves the state unchanged when applied twice', () => {
    const batch = [
      rec(0, 1, { ...reading('k', 1), vitals: { heartRate: 140, spo2: 82, temperature: 98.6 } }),
      rec(0, 2, { ...reading('k', 2), vitals: { heartRate: 0, spo2: 0 } }),
      ...Array.from({ length: 8 }, (_, i) => rec(0, 3 + i, reading('k', 3 + i, 60 + i * 10))),
    ]
    const accepted = decodeBatch(batch, opts()).groups.get('k')!.fresh
    const p = emptyPatient('k')
    const first = applyReadings(p, accepted, DEFAULT_SPEED_OPTIONS)
    expect(p.latest.spo2).toMatchObject({ value: 82, status: 'CRITICAL_LOW' })
    expect(p.latest.temperature).toBeUndefined()
    expect(first.entries.length).toBeGreaterThan(0)
    const state = JSON.stringify(patientState(p, DEFAULT_SPEED_OPTIONS.news2FreshnessMs))
    const again = applyReadings(p, accepted, DEFAULT_SPEED_OPTIONS)
    expect(again).toMatchObject({ entries: [], events: [], duplicates: 10 })
    expect(JSON.stringify(patientState(p, DEFAULT_SPEED_OPTIONS.news2FreshnessMs))).toBe(state)
  })
})
