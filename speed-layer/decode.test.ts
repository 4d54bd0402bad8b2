import { describe, expect, it } from 'vitest'
import type { Reading } from '../lib/contract/schema.ts'
import { decodeBatch } from './decode.ts'
import type { SourceRecord } from './records.ts'

const NOW = 1_763_805_600_000

/** A consumed record; a reading is keyed by its patientId unless `key` says otherwise. */
function rec(partition: number, offset: number, value: unknown, key: string | undefined = (value as Partial<Reading>).patientId): SourceRecord {
  return {
    topic: 'vitals.readings',
    partition,
    offset: BigInt(offset),
    timestamp: BigInt(NOW),
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
    expect(d.groups.get('a')!.fresh.map((r) => r.seq)).toEqual([2, 1])
    expect(d.groups.get('a')!.partition).toBe(1)
    expect(d.groups.get('b')!.fresh.map((r) => r.seq)).toEqual([1, 2])
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
    expect(d.groups.get('d')!.replayed.map((r) => r.seq)).toEqual([1])
    expect(d.groups.get('d')!.fresh.map((r) => r.seq)).toEqual([2])
    expect(d.groups.get('e')!.fresh.map((r) => r.seq)).toEqual([1])
    expect(d.rejects).toEqual(['MALFORMED_JSON'])
    expect(d.deadLetters.map((m) => m.headers?.size)).toEqual([5])
  })
})
