/**
 * The chaos suite's recomputation on scripted topics: per-field validation (a partly refused
 * record classified and owed a dead letter), the view from accepted vitals only, the NEWS2 of
 * docs/CLINICAL.md's examples, and the alert lives of the new subjects.
 */
import { describe, expect, it } from 'vitest'
import { REJECT_HEADERS } from '../../lib/contract/topics.ts'
import type { AlertEvent } from '../../lib/contract/views.ts'
import type { EdgeSummary } from '../../edge/index.ts'
import { DEFAULT_SPEED_OPTIONS } from '../../speed-layer/config.ts'
import { alertLife, checkRejected, classify, expectedNews2, expectedView } from './invariants.ts'
import type { TopicRecord } from './ledger.ts'

const NOW = Date.UTC(2026, 0, 5, 12)
const FRESH = DEFAULT_SPEED_OPTIONS.news2FreshnessMs
let offset = 0

function rec(reading: Record<string, unknown>, headers: Record<string, string> = {}): TopicRecord {
  const value = Buffer.from(JSON.stringify({ v: 1, patientId: 'p-1', deviceId: 'd-1', ...reading }))
  return { partition: 0, offset: offset++, key: String(reading.patientId ?? 'p-1'), value, timestamp: NOW, headers: new Map(Object.entries(headers)) }
}

function summary(faults: Partial<EdgeSummary['faults']>, expectedRejected: number): EdgeSummary {
  const zero = { impossibleValue: 0, missingField: 0, wrongType: 0, malformedJson: 0, duplicate: 0, outOfOrder: 0, late: 0, clockSkew: 0 }
  return { faults: { ...zero, ...faults }, expectedRejected } as unknown as EdgeSummary
}

function deadLetter(source: TopicRecord, reason: string, fields?: string): TopicRecord {
  const headers: Record<string, string> = {
    [REJECT_HEADERS.reason]: reason,
    [REJECT_HEADERS.sourcePartition]: String(source.partition),
    [REJECT_HEADERS.sourceOffset]: String(source.offset),
  }
  if (fields !== undefined) headers[REJECT_HEADERS.fields] = fields
  return { partition: 0, offset: offset++, key: source.key, value: source.value, timestamp: NOW, headers: new Map(Object.entries(headers)) }
}

describe('classify and the dead letters owed', () => {
  const partial = rec({ ts: NOW - 1_000, seq: 1, vitals: { heartRate: 140, spo2: 82, temperature: 70 } })
  const inconsistent = rec({ ts: NOW - 900, seq: 2, vitals: { systolic: 70, diastolic: 72 } })
  const whole = rec({ ts: NOW - 800, seq: 3, vitals: { heartRate: 450 } })
  const probeOff = rec({ ts: NOW - 700, seq: 4, vitals: { heartRate: 0, spo2: 97 } })
  const c = classify([partial, inconsistent, whole, probeOff], DEFAULT_SPEED_OPTIONS.maxClockSkewMs)

  it('classifies a partly refused record on its accepted vitals and owes it a dead letter naming its refused fields', () => {
    expect(c.valid.map((v) => v.reading.vitals)).toEqual([{ heartRate: 140, spo2: 82 }, { systolic: 70 }, { spo2: 97 }])
    expect(c.valid[2]!.noSignal).toEqual(['heartRate'])
    expect([...c.partial.values()].map((p) => [p.reason, p.fields])).toEqual([
      ['OUT_OF_RANGE', ['temperature']],
      ['INCONSISTENT', ['diastolic']],
    ])
    expect([...c.rejected.values()].map((r) => r.reason)).toEqual(['OUT_OF_RANGE'])
  })

  it('passes when vitals.rejected holds both kinds with their reasons and fields, and counts partial ones by kind', () => {
    const dead = [deadLetter(partial, 'OUT_OF_RANGE', 'temperature'), deadLetter(inconsistent, 'INCONSISTENT', 'diastolic'), deadLetter(whole, 'OUT_OF_RANGE')]
    const verdicts = checkRejected(c, dead, summary({ impossibleValue: 2 }, 3))
    expect(verdicts.map((v) => [v.pass, v.evidence])).toEqual([
      [true, undefined],
      [true, undefined],
    ])
  })

  it('fails on a missing partial dead letter, and on a wrong refused-fields header', () => {
    const missing = checkRejected(
      c,
      [deadLetter(inconsistent, 'INCONSISTENT', 'diastolic'), deadLetter(whole, 'OUT_OF_RANGE')],
      summary({ impossibleValue: 2 }, 3),
    )
    expect(missing[0]!.pass).toBe(false)
    expect(missing[0]!.evidence).toContain('OUT_OF_RANGE of temperature, the rest classified')
    const wrongFields = checkRejected(
      c,
      [deadLetter(partial, 'OUT_OF_RANGE', 'spo2'), deadLetter(inconsistent, 'INCONSISTENT', 'diastolic'), deadLetter(whole, 'OUT_OF_RANGE')],
      summary({ impossibleValue: 2 }, 3),
    )
    expect(wrongFields[0]!.evidence).toBe(`source 0:${partial.offset}: ${REJECT_HEADERS.fields} spo2, expected temperature`)
    const wholeWithFields = checkRejected(
      c,
      [
        deadLetter(partial, 'OUT_OF_RANGE', 'temperature'),
        deadLetter(inconsistent, 'INCONSISTENT', 'diastolic'),
        deadLetter(whole, 'OUT_OF_RANGE', 'heartRate'),
      ],
      summary({ impossibleValue: 2 }, 3),
    )
    expect(wholeWithFields[0]!.evidence).toContain('expected none (rejected whole)')
  })

  it('the series and latest hold the accepted vitals only, with their status', () => {
    const view = expectedView(c, DEFAULT_SPEED_OPTIONS.outOfOrderToleranceMs)
    expect(view.series.get('p-1')!.map((e) => e.member)).toEqual([
      `d-1|1|${NOW - 1_000}|CRITICAL_HIGH|heartRate=140,spo2=82`,
      `d-1|2|${NOW - 900}|CRITICAL_LOW|systolic=70`,
      `d-1|4|${NOW - 700}|NORMAL|spo2=97`,
    ])
    expect([...view.latest.keys()].map((k) => k.split('\u0000')[1]).sort()).toEqual(['heartRate', 'spo2', 'systolic'])
  })
})

describe('expectedNews2 (docs/CLINICAL.md, NEWS2)', () => {
  const newsOf = (readings: Record<string, unknown>[]) => {
    let seq = 0
    const c = classify(
      readings.map((r) => rec({ seq: ++seq, ...r })),
      DEFAULT_SPEED_OPTIONS.maxClockSkewMs,
    )
    return expectedNews2(expectedView(c, DEFAULT_SPEED_OPTIONS.outOfOrderToleranceMs), 'p-1', FRESH)
  }
  const all = { heartRate: 105, respRate: 22, spo2: 94, systolic: 105, temperature: 38.5 }

  it('a wearable alone: partial, a lower bound with no risk band', () => {
    const n = newsOf([{ ts: NOW, vitals: { heartRate: 115, spo2: 95 } }])
    expect(n).toMatchObject({ score: 3, risk: null, complete: false, counted: ['spo2', 'heartRate'], scores: { spo2: 1, heartRate: 2 } })
    expect(n.missing).toEqual(['respRate', 'onOxygen', 'systolic', 'consciousness', 'temperature'])
  })

  it('the complete examples: 6 medium on air, 8 high on oxygen, 3 low-medium for new confusion', () => {
    expect(newsOf([{ ts: NOW, vitals: all, onOxygen: false, consciousness: 'A' }])).toMatchObject({ score: 6, risk: 'medium', complete: true, old: [] })
    expect(newsOf([{ ts: NOW, vitals: all, onOxygen: true, consciousness: 'A' }])).toMatchObject({ score: 8, risk: 'high', complete: true })
    const normal = { heartRate: 70, respRate: 16, spo2: 97, systolic: 120, temperature: 37 }
    expect(newsOf([{ ts: NOW, vitals: normal, onOxygen: false, consciousness: 'C' }])).toMatchObject({ score: 3, risk: 'low-medium', complete: true })
  })

  it('six-hour-old systolic and respiration are old, not counted', () => {
    const n = newsOf([
      { ts: NOW - 6 * 3_600_000, vitals: { systolic: 88, respRate: 26 } },
      { ts: NOW, vitals: { heartRate: 95 } },
    ])
    expect(n).toMatchObject({ score: 1, risk: null, complete: false, counted: ['heartRate'], old: ['respRate', 'systolic'] })
  })

  it('an observation round counts oxygen and ACVPU for 4 hours; a refused field does not count', () => {
    const n = newsOf([
      { ts: NOW - 3 * 3_600_000, vitals: {}, onOxygen: true, consciousness: 'A' },
      { ts: NOW, vitals: { heartRate: 70, temperature: 90 } },
    ])
    expect(n).toMatchObject({ score: 2, counted: ['onOxygen', 'heartRate', 'consciousness'], scores: { onOxygen: 2, heartRate: 0, consciousness: 0 } })
    expect(n.old).toEqual([])
  })
})

describe('alert lives', () => {
  const ev = (e: Partial<AlertEvent>): AlertEvent => ({ patientId: 'p-1', kind: 'raised', ts: NOW, message: '', ...e }) as AlertEvent
  it('a device has a stale life and a no-signal life; news2 and the forecast are subjects of their own', () => {
    expect(alertLife(ev({ vital: 'device', level: 'STALE', deviceId: 'w-1', id: 'p-1|device:w-1|1|raised' }))).toEqual({
      key: 'p-1 device:w-1',
      subjectInId: 'device:w-1',
    })
    expect(alertLife(ev({ vital: 'device', level: 'NO_SIGNAL', deviceId: 'w-1' })).subjectInId).toBe('device:w-1:signal')
    expect(alertLife(ev({ vital: 'news2', level: 'NEWS2_HIGH' })).key).toBe('p-1 news2')
    expect(alertLife(ev({ vital: 'glucoseForecast', level: 'URGENT_LOW_SOON' })).key).toBe('p-1 glucoseForecast')
  })
})
