import { describe, expect, it } from 'vitest'
import { mergeDay } from './merge.ts'
import { dailyRow } from '../test/view-fixtures.ts'
import type { SeriesEntry } from '../lib/contract/views.ts'

const DAY = '2026-11-20'
const START = Date.parse(`${DAY}T00:00:00Z`)
const entry = (ts: number, vitals: SeriesEntry['vitals']): SeriesEntry => ({ ts, deviceId: 'd', seq: ts, vitals, status: 'NORMAL' })

describe('mergeDay (the Lambda merge)', () => {
  it('adds readings at or after the cutoff to the batch figures and ignores those before it', () => {
    const cutoff = START + 3_600_000
    const m = mergeDay({
      date: DAY,
      patientId: 'p',
      rows: [dailyRow(DAY, 'p', 'heartRate', { count: 10, mean: 70, min: 60, max: 80 })],
      cutoffTs: cutoff,
      entries: [entry(cutoff - 1, { heartRate: 300 }), entry(cutoff, { heartRate: 50 }), entry(cutoff + 1, { heartRate: 90 })],
      seriesEarliest: cutoff - 1,
    })
    const hr = m.vitals.find((v) => v.vital === 'heartRate')
    expect(hr?.batch).toEqual({ count: 10, mean: 70, min: 60, max: 80 })
    expect(hr?.live).toEqual({ count: 2, mean: 70, min: 50, max: 90 })
    expect(hr?.merged).toEqual({ count: 12, mean: 70, min: 50, max: 90 })
    expect(m.live).toEqual({ from: cutoff, to: START + 86_400_000, partial: false })
  })

  it('counts only readings of the requested day', () => {
    const m = mergeDay({
      date: DAY,
      patientId: 'p',
      rows: [],
      cutoffTs: null,
      entries: [entry(START - 1, { spo2: 90 }), entry(START, { spo2: 97 }), entry(START + 86_400_000, { spo2: 80 })],
      seriesEarliest: START - 1,
    })
    expect(m.vitals).toEqual([
      { vital: 'spo2', batch: null, live: { count: 1, mean: 97, min: 97, max: 97 }, merged: { count: 1, mean: 97, min: 97, max: 97 }, tir: null },
    ])
  })

  it('weights glucose time in range by the readings on each side of the cutoff', () => {
    const cutoff = START + 1_000
    const m = mergeDay({
      date: DAY,
      patientId: 'p',
      rows: [dailyRow(DAY, 'p', 'glucose', { count: 3, mean: 100, min: 90, max: 110, tir: [0, 0, 1, 0, 0] })],
      cutoffTs: cutoff,
      entries: [entry(cutoff, { glucose: 50 })],
      seriesEarliest: cutoff,
    })
    const tir = m.vitals.find((v) => v.vital === 'glucose')?.tir
    expect(tir?.live).toEqual({ lt54: 1, r54_69: 0, r70_180: 0, r181_250: 0, gt250: 0 })
    expect(tir?.merged?.lt54).toBeCloseTo(0.25, 10)
    expect(tir?.merged?.r70_180).toBeCloseTo(0.75, 10)
  })

  it('says the real-time part is partial when the series no longer reaches back to the cutoff', () => {
    const cutoff = START + 1_000
    const m = mergeDay({ date: DAY, patientId: 'p', rows: [], cutoffTs: cutoff, entries: [entry(START + 5_000, { spo2: 97 })], seriesEarliest: START + 5_000 })
    expect(m.live.partial).toBe(true)
  })
})
