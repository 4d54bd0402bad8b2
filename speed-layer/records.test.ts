import { describe, expect, it } from 'vitest'
import { ALERT_EVENT_FIELD, alertEntry } from '../lib/contract/codecs/alerts.ts'
import type { AlertEvent } from '../lib/contract/views.ts'
import { REJECT_HEADERS } from '../lib/contract/topics.ts'
import { alertRecord, deadLetterRecord, groupOptions, type SourceRecord } from './records.ts'
import { DEAD_LETTER_MAX_BYTES } from './validate.ts'

function headers(m: { headers?: Map<Buffer, Buffer> }): Record<string, string> {
  return Object.fromEntries([...(m.headers ?? [])].map(([k, v]) => [k.toString(), v.toString()]))
}

const source = (value: Buffer, key: string | null = 'raw-key'): SourceRecord => ({
  topic: 'vitals.readings',
  partition: 4,
  offset: 1234n,
  timestamp: 0n,
  key: key === null ? null : Buffer.from(key),
  value,
  headers: new Map([
    [Buffer.from('trace'), Buffer.from('t-1')],
    [Buffer.from(REJECT_HEADERS.reason), Buffer.from('forged')],
  ]),
})

describe('records the speed layer produces', () => {
  it('an alert event is keyed by its patient and carries the event as JSON', () => {
    const e = { id: 'p-1|heartRate|5|raised', patientId: 'p-1', vital: 'heartRate', kind: 'raised', ts: 5 } as unknown as AlertEvent
    const m = alertRecord('vitals.alerts', e)
    expect(m.topic).toBe('vitals.alerts')
    expect(m.key?.toString()).toBe('p-1')
    expect(JSON.parse(m.value.toString())).toEqual(e)
    // Byte for byte the event the alerts stream holds: consumers compare copies of an id by their text.
    expect(m.value.toString()).toBe(alertEntry(e)[ALERT_EVENT_FIELD])
    expect(m.value.toString()).toBe('{"id":"p-1|heartRate|5|raised","patientId":"p-1","vital":"heartRate","kind":"raised","ts":5}')
  })

  it("a dead letter keeps the record's own headers, drops a forged reject header and names its source", () => {
    const m = deadLetterRecord('vitals.rejected', source(Buffer.from('{}')), 'SCHEMA', 'no vitals', 'p-9')
    expect(m.key?.toString()).toBe('p-9')
    expect(m.value.toString()).toBe('{}')
    expect(headers(m)).toEqual({
      trace: 't-1',
      [REJECT_HEADERS.reason]: 'SCHEMA',
      [REJECT_HEADERS.detail]: 'no vitals',
      [REJECT_HEADERS.sourceTopic]: 'vitals.readings',
      [REJECT_HEADERS.sourcePartition]: '4',
      [REJECT_HEADERS.sourceOffset]: '1234',
    })
  })

  it('a dead letter of a record with refused fields names them in vigil-reject-fields; a whole reject has no such header', () => {
    const m = deadLetterRecord('vitals.rejected', source(Buffer.from('{}')), 'OUT_OF_RANGE', 'x', 'p-9', ['spo2', 'diastolic'])
    expect(headers(m)[REJECT_HEADERS.fields]).toBe('spo2,diastolic')
    expect(headers(deadLetterRecord('vitals.rejected', source(Buffer.from('{}')), 'SCHEMA', 'x', 'p-9'))[REJECT_HEADERS.fields]).toBeUndefined()
    expect(headers(deadLetterRecord('vitals.rejected', source(Buffer.from('{}')), 'SCHEMA', 'x', 'p-9', []))[REJECT_HEADERS.fields]).toBeUndefined()
  })

  it("a dead letter of a value over the bound is cut, says its original size, and keeps the record's key without a patient", () => {
    const m = deadLetterRecord('vitals.rejected', source(Buffer.alloc(DEAD_LETTER_MAX_BYTES + 10, 0x61)), 'MALFORMED_JSON', 'x', undefined)
    expect(m.key?.toString()).toBe('raw-key')
    expect(m.value.length).toBe(DEAD_LETTER_MAX_BYTES)
    expect(headers(m)[REJECT_HEADERS.originalBytes]).toBe(String(DEAD_LETTER_MAX_BYTES + 10))
  })

  it('the group options heartbeat ten times per session, never more often than every 100 ms', () => {
    expect(groupOptions({ sessionTimeoutMs: 10_000, fetchMaxWaitMs: 100, maxBufferedRecords: 10_000 })).toEqual({
      autocommit: false,
      sessionTimeout: 10_000,
      rebalanceTimeout: 10_000,
      heartbeatInterval: 1_000,
      maxWaitTime: 100,
      highWaterMark: 10_000,
    })
    expect(groupOptions({ sessionTimeoutMs: 500, fetchMaxWaitMs: 100, maxBufferedRecords: 1 }).heartbeatInterval).toBe(100)
  })
})
