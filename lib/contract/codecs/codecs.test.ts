import { describe, expect, it } from 'vitest'
import type { AlertEvent, BatchMeta, DailyStatsRow, OpenAlertState, PatientState, RiskState, SeriesEntry, Update } from '../views.ts'
import { UPDATE_TYPES } from '../views.ts'
import {
  decodeGlucoseRecent,
  decodeLatest,
  decodeLatestTs,
  decodeLatestVitals,
  decodeNews2,
  decodeRisk,
  decodeRiskRecent,
  encodeGlucoseRecent,
  encodeLatest,
  type GlucosePoint,
  vitalFields,
} from './latest.ts'
import { decodeSeriesEntries, encodeSeriesEntry, seriesMember } from './series.ts'
import { encodeAlertUpdate, encodePatientReadings, encodeReadingsUpdate, encodeUpdate, decodeUpdate } from './updates.ts'
import { alertEntry, decodeAck, encodeAlertEvent, decodeAlertEntry, decodeAlertState, encodeAck, encodeAlertState } from './alerts.ts'
import { decodeBatchMeta, encodeBatchMeta } from './batch-meta.ts'
import { decodeDailyValues, encodeDailyDay } from './daily-stats.ts'

const T = 1_763_805_600_123

const patient: PatientState = {
  patientId: 'p-0001',
  ts: T,
  status: 'CRITICAL_HIGH',
  news2: {
    score: 7,
    risk: 'high',
    complete: false,
    counted: ['spo2', 'onOxygen', 'heartRate', 'consciousness', 'temperature'],
    scores: { spo2: 2, onOxygen: 2, heartRate: 3, consciousness: 0, temperature: 0 },
    missing: ['respRate', 'systolic'],
    old: ['systolic'],
    scale: 2,
  },
  vitals: {
    heartRate: { value: 131, status: 'CRITICAL_HIGH', ts: T },
    spo2: { value: 95.5, status: 'NORMAL', ts: T - 4_000 },
    temperature: { value: 36.8, status: 'NORMAL', ts: T - 60_000 },
    systolic: { value: 88, status: 'CRITICAL_LOW', ts: T - 6 * 3_600_000 },
    glucose: { value: 80, status: 'NORMAL', ts: T - 1_000 },
  },
  onOxygen: { value: true, ts: T - 3_600_000 },
  consciousness: { value: 'A', ts: T - 7_200_000 },
  glucoseTrend: { rate: -2.25, arrow: '↓', ts: T - 1_000 },
}

/** The patient-wide fields of `patient`, as write-shard.lua writes them. */
const PATIENT_FIELDS = {
  status: 'CRITICAL_HIGH',
  ts: '1763805600123',
  news2: '7',
  news2Risk: 'high',
  news2Complete: '0',
  news2Counted: 'spo2,onOxygen,heartRate,consciousness,temperature',
  news2Missing: 'respRate,systolic',
  news2Old: 'systolic',
  news2Scale: '2',
  news2Scores: '{"spo2":2,"onOxygen":2,"heartRate":3,"consciousness":0,"temperature":0}',
  onOxygen: '1',
  'onOxygen:ts': '1763802000123',
  consciousness: 'A',
  'consciousness:ts': '1763798400123',
  'glucoseTrend:rate': '-2.25',
  'glucoseTrend:arrow': '↓',
  'glucoseTrend:ts': '1763805599123',
  risk: '',
  'risk:ts': '',
  riskModel: '',
  riskTop: '',
  riskRecent: '',
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
  it('decodes what it encodes to the same patient state (NEWS2 state, oxygen, consciousness, trend)', () => {
    expect(decodeLatest('p-0001', encodeLatest(patient))).toEqual(patient)
  })

  it('round-trips a complete NEWS2 and a patient with no assessments and no trend', () => {
    const plain: PatientState = {
      patientId: 'p-0002',
      ts: T,
      status: 'NORMAL',
      news2: {
        score: 0,
        risk: 'low',
        complete: true,
        counted: ['respRate', 'spo2', 'onOxygen', 'systolic', 'heartRate', 'consciousness', 'temperature'],
        scores: { respRate: 0, spo2: 0, onOxygen: 0, systolic: 0, heartRate: 0, consciousness: 0, temperature: 0 },
        missing: [],
        old: [],
        scale: 1,
      },
      vitals: { heartRate: { value: 72, status: 'NORMAL', ts: T } },
    }
    expect(decodeLatest('p-0002', encodeLatest(plain))).toEqual(plain)
  })

  it('decodes the flat hash write-shard.lua writes, field by field as docs/CONTRACT.md, Redis names them', () => {
    // Written out literally: a change of a field name or format in the codec fails here.
    const hash = {
      ...PATIENT_FIELDS,
      heartRate: '131',
      'heartRate:status': 'CRITICAL_HIGH',
      'heartRate:ts': '1763805600123',
      spo2: '95.5',
      'spo2:status': 'NORMAL',
      'spo2:ts': '1763805596123',
      temperature: '36.8',
      'temperature:status': 'NORMAL',
      'temperature:ts': '1763805540123',
      systolic: '88',
      'systolic:status': 'CRITICAL_LOW',
      'systolic:ts': '1763784000123',
      glucose: '80',
      'glucose:status': 'NORMAL',
      'glucose:ts': '1763805599123',
    }
    expect(encodeLatest(patient)).toEqual(hash)
    expect(decodeLatest('p-0001', hash)).toEqual(patient)
  })

  it("encodes only the given vitals' fields, and always the patient-wide ones", () => {
    expect(encodeLatest(patient, new Set(['spo2']))).toEqual({
      ...PATIENT_FIELDS,
      spo2: '95.5',
      'spo2:status': 'NORMAL',
      'spo2:ts': String(T - 4_000),
    })
  })

  it('writes an absent trend, oxygen or consciousness and a null risk as empty fields (overwriting older values) that decode as absent', () => {
    const { onOxygen: _o, consciousness: _c, glucoseTrend: _g, ...bare } = patient
    const partial: PatientState = { ...bare, news2: { ...patient.news2, score: 2, risk: null, scores: { spo2: 2 }, counted: ['spo2'] } }
    const h = encodeLatest(partial)
    expect(h).toMatchObject({
      news2Risk: '',
      onOxygen: '',
      'onOxygen:ts': '',
      consciousness: '',
      'consciousness:ts': '',
      'glucoseTrend:rate': '',
      'glucoseTrend:arrow': '',
      'glucoseTrend:ts': '',
    })
    // Written over an older hash (HSET), the empty fields replace the old values.
    const decoded = decodeLatest('p-0001', { ...encodeLatest(patient), ...h })
    expect(decoded).toEqual({ ...partial, news2: { ...partial.news2, missing: ['respRate', 'systolic'] } })
    expect(decoded?.news2.risk).toBeNull()
  })

  it('decodes a hash written before the honest NEWS2 (no news2Complete) as partial with risk null, whatever its old risk', () => {
    const old = { status: 'WARNING', news2: '3', news2Risk: 'low', ts: '1763805600123', heartRate: '115', 'heartRate:status': 'WARNING' }
    const state = decodeLatest('p-old', old)
    expect(state?.news2).toEqual({
      score: 3,
      risk: null,
      complete: false,
      counted: [],
      scores: {},
      missing: ['respRate', 'spo2', 'onOxygen', 'systolic', 'heartRate', 'consciousness', 'temperature'],
      old: [],
      scale: 1,
    })
    expect(decodeLatest('p-old', { ...old, news2Risk: 'high', news2: '9' })?.news2).toMatchObject({ score: 9, risk: null, complete: false })
    expect(state?.onOxygen).toBeUndefined()
    expect(state?.consciousness).toBeUndefined()
    expect(state?.glucoseTrend).toBeUndefined()
  })

  it('reads an empty hash as an unknown patient', () => {
    expect(decodeLatest('p-x', {})).toBeNull()
    expect(decodeLatestTs({})).toBeUndefined()
    expect(decodeLatestVitals({}, T)).toEqual({})
  })

  it('reads an unknown status as NORMAL, an unknown risk as none, a missing vital time as the fallback, and skips an unreadable value', () => {
    const f = vitalFields('glucose')
    const hash = { ts: '100', status: 'PURPLE', news2Risk: 'extreme', [f.value]: '104', [f.status]: 'ODD', heartRate: 'abc', 'heartRate:status': 'WARNING' }
    expect(decodeLatest('p-2', hash)).toMatchObject({
      patientId: 'p-2',
      ts: 100,
      status: 'NORMAL',
      news2: { score: 0, risk: null, complete: false },
      vitals: { glucose: { value: 104, status: 'NORMAL', ts: 100 } },
    })
    expect(decodeLatestVitals(hash, 7)).toEqual({ glucose: { value: 104, status: 'NORMAL', ts: 7 } })
  })

  it('drops unknown NEWS2 parameters and scores outside 0-3, keeps old a subset of missing, and reads unknown assessments as absent', () => {
    const hash = {
      ...PATIENT_FIELDS,
      news2Counted: 'spo2,pulse,heartRate',
      news2Scores: '{"spo2":2,"heartRate":7,"pulse":1}',
      news2Missing: 'respRate',
      news2Old: 'respRate,systolic',
      news2Risk: 'extreme',
      news2Scale: '3',
      onOxygen: 'yes',
      consciousness: 'Q',
      'glucoseTrend:arrow': '?',
    }
    const state = decodeLatest('p-3', hash)
    expect(state?.news2).toEqual({
      score: 7,
      risk: null,
      complete: false,
      counted: ['spo2', 'heartRate'],
      scores: { spo2: 2 },
      missing: ['respRate'],
      old: ['respRate'],
      scale: 1,
    })
    expect(decodeNews2({ ...hash, news2Scores: 'not json' }).scores).toEqual({})
    expect(state?.onOxygen).toBeUndefined()
    expect(state?.consciousness).toBeUndefined()
    expect(state?.glucoseTrend).toBeUndefined()
  })

  it('round-trips the glucose values of the trend window, and reads a missing or unreadable field as none', () => {
    const points: GlucosePoint[] = [
      [T - 600_000, 100],
      [T - 300_000, 90.5],
      [T, 80],
    ]
    const h = encodeGlucoseRecent(points)
    expect(h).toEqual({ glucoseRecent: `[[${T - 600_000},100],[${T - 300_000},90.5],[${T},80]]` })
    expect(decodeGlucoseRecent(h)).toEqual(points)
    expect(decodeGlucoseRecent({})).toEqual([])
    expect(decodeGlucoseRecent({ glucoseRecent: '' })).toEqual([])
    expect(decodeGlucoseRecent({ glucoseRecent: '{' })).toEqual([])
    expect(decodeGlucoseRecent({ glucoseRecent: '[[1,2],[3],"x",[4,"5"],[6,7]]' })).toEqual([
      [1, 2],
      [6, 7],
    ])
  })
})

describe('the risk fields of the latest hash', () => {
  const risk: RiskState = {
    risk: 0.4213,
    ts: T,
    model: 'lr-0123456789ab',
    top: [
      { feature: 'spo2.slope10', value: -2, contribution: 0.8125, text: 'SpO2 falling 2.0 %/10 min' },
      { feature: 'news2', value: 5, contribution: 0.3, text: 'NEWS2 5' },
    ],
    recent: [
      [T - 120_000, 0.2],
      [T - 60_000, 0.35],
      [T, 0.4213],
    ],
  }

  it('round-trips a patient with a risk, field by field as docs/CONTRACT.md, Redis names them', () => {
    const withRisk: PatientState = { ...patient, risk }
    const h = encodeLatest(withRisk)
    expect(h).toMatchObject({
      risk: '0.4213',
      'risk:ts': String(T),
      riskModel: 'lr-0123456789ab',
      riskTop:
        '[{"feature":"spo2.slope10","value":-2,"contribution":0.8125,"text":"SpO2 falling 2.0 %/10 min"},{"feature":"news2","value":5,"contribution":0.3,"text":"NEWS2 5"}]',
      riskRecent: `[[${T - 120_000},0.2],[${T - 60_000},0.35],[${T},0.4213]]`,
    })
    expect(decodeLatest('p-0001', h)).toEqual(withRisk)
  })

  it('stores the probability, the recent risks and the contributions to 4 decimals', () => {
    const fine: RiskState = { ...risk, risk: 0.123456789, top: [{ ...risk.top[0]!, value: -2.0000004, contribution: 0.81254999 }], recent: [[T, 0.99999]] }
    const h = encodeLatest({ ...patient, risk: fine })
    expect(h.risk).toBe('0.1235')
    expect(decodeRisk(h, 0)).toEqual({ ...fine, risk: 0.1235, top: [{ ...fine.top[0], value: -2, contribution: 0.8125 }], recent: [[T, 1]] })
  })

  it('writes no risk as empty fields that overwrite an earlier risk and decode as absent', () => {
    const h = encodeLatest(patient)
    expect(h).toMatchObject({ risk: '', 'risk:ts': '', riskModel: '', riskTop: '', riskRecent: '' })
    const decoded = decodeLatest('p-0001', { ...encodeLatest({ ...patient, risk }), ...h })
    expect(decoded).toEqual(patient)
    expect(decoded && 'risk' in decoded).toBe(false)
  })

  it('reads an unreadable risk as none, and skips unreadable contributions and recent points', () => {
    expect(decodeRisk({ risk: 'x', riskModel: 'lr-0123456789ab' }, T)).toBeUndefined()
    expect(decodeRisk({ risk: '0.5', riskModel: '' }, T)).toBeUndefined()
    expect(decodeRisk({ risk: '0.5', riskModel: 'lr-0123456789ab', riskTop: '{', riskRecent: '[[1,0.5],[2],"x",[3,"4"]]' }, T)).toEqual({
      risk: 0.5,
      ts: T,
      model: 'lr-0123456789ab',
      top: [],
      recent: [[1, 0.5]],
    })
    expect(
      decodeRisk({ risk: '0.5', riskModel: 'm', riskTop: '[{"feature":"news2","value":5,"contribution":0.3,"text":"NEWS2 5"},{"feature":1}]' }, T)?.top,
    ).toEqual([{ feature: 'news2', value: 5, contribution: 0.3, text: 'NEWS2 5' }])
    expect(decodeRiskRecent({})).toEqual([])
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
    {
      type: 'readings',
      patients: [
        { patient, entries: [entry, { ...entry, ts: T + 1, seq: 43 }] },
        { patient: { ...patient, patientId: 'p-0002' }, entries: [] },
      ],
    },
    { type: 'alert', alert },
    { type: 'batch', meta },
  ]

  it('decodes what it encodes, for every update type', () => {
    for (const u of updates) expect(decodeUpdate(encodeUpdate(u))).toEqual(u)
    expect(updates.map((u) => u.type)).toEqual([...UPDATE_TYPES])
  })

  it('builds a readings update from encoded members byte for byte like the whole update', () => {
    const u = updates[0] as Extract<Update, { type: 'readings' }>
    expect(encodeReadingsUpdate(u.patients.map((p) => encodePatientReadings(p.patient, p.entries.map(encodeSeriesEntry))))).toBe(encodeUpdate(u))
    expect(encodeReadingsUpdate([])).toBe(encodeUpdate({ type: 'readings', patients: [] }))
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
    const open: OpenAlertState = {
      level: 'CRITICAL_LOW',
      raisedTs: T,
      normalSince: null,
      value: 38,
      side: 'low',
      score: 3,
      ts: T,
      message: 'p-0001: heart rate 38 bpm',
    }
    const clearing: OpenAlertState = {
      level: 'NEWS2_MEDIUM',
      raisedTs: T,
      normalSince: T + 5_000,
      value: 4,
      score: 4,
      ts: T + 5_000,
      message: 'p-0001: NEWS2 4',
    }
    expect(decodeAlertState(encodeAlertState(open))).toEqual(open)
    expect(decodeAlertState(encodeAlertState(clearing))).toEqual(clearing)
    expect(JSON.parse(encodeAlertState(open))).toEqual(open)
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
