import { describe, expect, it } from 'vitest'
import type { AlertEvent, BatchMeta, DailyStatsRow, OpenAlertState, PatientState, SeriesEntry, Update } from '../views.ts'
import { UPDATE_TYPES } from '../views.ts'
import { decodeLatest, decodeLatestTs, decodeLatestVitals, encodeLatest, vitalFields } from './latest.ts'
import { decodeSeriesEntries, encodeSeriesEntry, seriesMember } from './series.ts'
import { encodeAlertUpdate, encodeReadingsUpdate, encodeUpdate, decodeUpdate } from './updates.ts'
import { alertEntry, decodeAck, encodeAlertEvent, decodeAlertEntry, decodeAlertState, encodeAck, encodeAlertState } from './alerts.ts'
import { decodeBatchMeta, encodeBatchMeta } from './batch-meta.ts'
import { decodeDailyValues, encodeDailyDay } from './daily-stats.ts'

const T = 1_763_805_600_123

const patient: PatientState = {
  patientId: 'p-0001',
  ts: T,
  status: 'CRITICAL_HIGH',
  news2: { score: 7, risk: 'high' },
  vitals: {
    heartRate: { value: 131, status: 'CRITICAL_HIGH', ts: T },
    spo2: { value: 93.5, status: 'WARNING', ts: T - 4_000 },
    temperature: { value: 36.8, status: 'NORMAL', ts: T - 60_000 },
  },
}

const entry: SeriesEntry = { ts: T, deviceId: 'wrist-0001', seq: 42, vitals: { heartRate: 131, spo2: 93.5 }, status: 'CRITICAL_HIGH' }

const alert: AlertEvent = {
  id: `p-0001|heartRate|${T}|raised`,
  patientId: 'p-0001',
  vital: 'heartRate',
  kind: 'raised',
  level: 'CRITICAL_HIGH',
  value: 131,
  ts: T,
  message: 'heart rate 131 bpm',
}

const meta: BatchMeta = {
  runId: '20251122T100000-abcdef12',
  cutoffTs: T,
  startedAt: T + 1_000,
  finishedAt: T + 9_000,
  dates: ['2025-11-21', '2025-11-22'],
  rows: 3,
}

function row(patientId: string, vital: DailyStatsRow['vital'], mean: number): DailyStatsRow {
  return {
    date: '2025-11-22',
    patientId,
    vital,
    count: 10,
    mean,
    min: mean - 5,
    max: mean + 5,
    stddev: null,
    p05: mean - 4,
    p50: mean,
    p95: mean + 4,
    nNormal: 8,
    nWarning: 2,
    nCriticalLow: 0,
    nCriticalHigh: 0,
    tirLt54: null,
    tir54_69: null,
    tir70_180: null,
    tir181_250: null,
    tirGt250: null,
    cv: null,
  }
}

describe('the latest hash codec', () => {
  it('decodes what it encodes to the same patient state', () => {
    expect(decodeLatest('p-0001', encodeLatest(patient))).toEqual(patient)
  })

  it('decodes the flat hash write-batch.lua writes, field by field as docs/CONTRACT.md, Redis names them', () => {
    // Written out literally: a change of a field name or format in the codec fails here.
    const hash = {
      status: 'CRITICAL_HIGH',
      news2: '7',
      news2Risk: 'high',
      ts: '1763805600123',
      heartRate: '131',
      'heartRate:status': 'CRITICAL_HIGH',
      'heartRate:ts': '1763805600123',
      spo2: '93.5',
      'spo2:status': 'WARNING',
      'spo2:ts': '1763805596123',
      temperature: '36.8',
      'temperature:status': 'NORMAL',
      'temperature:ts': '1763805540123',
    }
    expect(encodeLatest(patient)).toEqual(hash)
    expect(decodeLatest('p-0001', hash)).toEqual(patient)
  })

  it("encodes only the given vitals' fields, and always the patient-wide ones", () => {
    expect(encodeLatest(patient, new Set(['spo2']))).toEqual({
      status: 'CRITICAL_HIGH',
      news2: '7',
      news2Risk: 'high',
      ts: String(T),
      spo2: '93.5',
      'spo2:status': 'WARNING',
      'spo2:ts': String(T - 4_000),
    })
  })

  it('reads an empty hash as an unknown patient', () => {
    expect(decodeLatest('p-x', {})).toBeNull()
    expect(decodeLatestTs({})).toBeUndefined()
    expect(decodeLatestVitals({}, T)).toEqual({})
  })

  it('reads an unknown status as NORMAL, an unknown risk as low, a missing vital time as the fallback, and skips an unreadable value', () => {
    const f = vitalFields('glucose')
    const hash = { ts: '100', status: 'PURPLE', news2Risk: 'extreme', [f.value]: '104', [f.status]: 'ODD', heartRate: 'abc', 'heartRate:status': 'WARNING' }
    expect(decodeLatest('p-2', hash)).toEqual({
      patientId: 'p-2',
      ts: 100,
      status: 'NORMAL',
      news2: { score: 0, risk: 'low' },
      vitals: { glucose: { value: 104, status: 'NORMAL', ts: 100 } },
    })
    expect(decodeLatestVitals(hash, 7)).toEqual({ glucose: { value: 104, status: 'NORMAL', ts: 7 } })
  })
})

describe('the series codec', () => {
  it('decodes what it encodes, in order, scored by event time', () => {
    const later = { ...entry, ts: T + 1_000, seq: 43 }
    expect(decodeSeriesEntries([entry, later].map(encodeSeriesEntry))).toEqual([entry, later])
    expect(seriesMember(later)).toEqual({ score: T + 1_000, value: encodeSeriesEntry(later) })
  })

  it('encodes an entry as the same member every time (a replay adds nothing)', () => {
    expect(encodeSeriesEntry({ ...entry, vitals: { ...entry.vitals } })).toBe(encodeSeriesEntry(entry))
    expect(encodeSeriesEntry(entry)).toBe(
      '{"ts":1763805600123,"deviceId":"wrist-0001","seq":42,"vitals":{"heartRate":131,"spo2":93.5},"status":"CRITICAL_HIGH"}',
    )
  })

  it('skips a member that is not JSON', () => {
    expect(decodeSeriesEntries(['{oops', encodeSeriesEntry(entry)])).toEqual([entry])
  })
})

describe('the updates codec', () => {
  const updates: Update[] = [
    { type: 'readings', patient, entries: [entry, { ...entry, ts: T + 1, seq: 43 }] },
    { type: 'alert', alert },
    { type: 'batch', meta },
  ]

  it('decodes what it encodes, for every update type', () => {
    for (const u of updates) expect(decodeUpdate(encodeUpdate(u))).toEqual(u)
    expect(updates.map((u) => u.type)).toEqual([...UPDATE_TYPES])
  })

  it('builds a readings update from encoded members byte for byte like the whole update', () => {
    const u = updates[0] as Extract<Update, { type: 'readings' }>
    expect(encodeReadingsUpdate(u.patient, u.entries.map(encodeSeriesEntry))).toBe(encodeUpdate(u))
    expect(encodeReadingsUpdate(patient, [])).toBe(encodeUpdate({ type: 'readings', patient, entries: [] }))
  })

  it('builds an alert update from the encoded event byte for byte like the whole update', () => {
    expect(encodeAlertUpdate(encodeAlertEvent(alert))).toBe(encodeUpdate({ type: 'alert', alert }))
  })

  it('throws on a message that is not JSON', () => {
    expect(() => decodeUpdate('not json')).toThrow()
  })
})

describe('the alert codecs', () => {
  it('decodes a stream entry it encodes, under the one field `event`', () => {
    const e = alertEntry(alert)
    expect(Object.keys(e)).toEqual(['event'])
    expect(decodeAlertEntry(e)).toEqual(alert)
  })

  it('reads a stream entry without an event, not JSON, or without id or patient as none', () => {
    expect(decodeAlertEntry({})).toBeNull()
    expect(decodeAlertEntry({ event: '{' })).toBeNull()
    expect(decodeAlertEntry({ event: JSON.stringify({ ...alert, id: 1 }) })).toBeNull()
    expect(decodeAlertEntry({ event: JSON.stringify({ ...alert, patientId: undefined }) })).toBeNull()
  })

  it('decodes an open alert state it encodes', () => {
    const open: OpenAlertState = { level: 'CRITICAL_LOW', raisedTs: T, normalSince: null }
    const clearing: OpenAlertState = { level: 'WARNING', raisedTs: T, normalSince: T + 5_000 }
    expect(decodeAlertState(encodeAlertState(open))).toEqual(open)
    expect(decodeAlertState(encodeAlertState(clearing))).toEqual(clearing)
    expect(encodeAlertState(open)).toBe('{"level":"CRITICAL_LOW","raisedTs":1763805600123,"normalSince":null}')
  })

  it('decodes an acknowledgement it encodes, and reads a missing or unreadable one as none', () => {
    expect(decodeAck(encodeAck({ by: 'nurse-1', at: T }))).toEqual({ by: 'nurse-1', at: T })
    expect(decodeAck(null)).toBeUndefined()
    expect(decodeAck(undefined)).toBeUndefined()
    expect(decodeAck('{')).toBeUndefined()
    expect(decodeAck('null')).toBeUndefined()
  })
})

describe('the batch meta codec', () => {
  it('decodes what it encodes', () => {
    expect(decodeBatchMeta(encodeBatchMeta(meta))).toEqual(meta)
  })

  it('writes every field as a string, the days as a JSON array', () => {
    expect(encodeBatchMeta(meta)).toEqual({
      runId: '20251122T100000-abcdef12',
      cutoffTs: '1763805600123',
      startedAt: '1763805601123',
      finishedAt: '1763805609123',
      dates: '["2025-11-21","2025-11-22"]',
      rows: '3',
    })
  })

  it('reads no run as null, comma-separated days, and unreadable numbers as 0', () => {
    expect(decodeBatchMeta({})).toBeNull()
    expect(decodeBatchMeta({ runId: 'r', dates: '2025-11-21,2025-11-22', rows: 'x' })).toEqual({
      runId: 'r',
      cutoffTs: 0,
      startedAt: 0,
      finishedAt: 0,
      dates: ['2025-11-21', '2025-11-22'],
      rows: 0,
    })
  })
})

describe('the daily statistics codec', () => {
  const rows = [row('p-a', 'heartRate', 70), row('p-a', 'spo2', 97), row('p-b', 'heartRate', 88)]

  it('decodes what it encodes: one field per patient, rows in order', () => {
    const h = encodeDailyDay(rows)
    expect(Object.keys(h)).toEqual(['p-a', 'p-b'])
    expect(decodeDailyValues(Object.values(h))).toEqual(rows)
    expect(decodeDailyValues([h['p-b']])).toEqual([rows[2]])
  })

  it('encodes no rows as no fields, and skips missing or malformed values', () => {
    expect(encodeDailyDay([])).toEqual({})
    expect(decodeDailyValues([null, undefined, '{', '{"not":"an array"}', JSON.stringify([rows[0]])])).toEqual([rows[0]])
  })
})
