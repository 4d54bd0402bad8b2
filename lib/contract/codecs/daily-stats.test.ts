import { describe, expect, it } from 'vitest'
import type { DailyStatsRow } from '../views.ts'
import { decodeDailyValues, encodeDailyDay } from './daily-stats.ts'

function row(patientId: string, vital: DailyStatsRow['vital'], extra: Partial<DailyStatsRow> = {}): DailyStatsRow {
  return {
    date: '2026-11-22',
    patientId,
    vital,
    count: 4,
    mean: 90,
    min: 88,
    max: 93,
    stddev: 2,
    p05: 88,
    p50: 89.5,
    p95: 93,
    nNormal: 4,
    nWarning: 0,
    nCriticalLow: 0,
    nCriticalHigh: 0,
    tirLt54: null,
    tir54_69: null,
    tir70_180: null,
    tir181_250: null,
    tirGt250: null,
    cv: null,
    ...extra,
  }
}

const ASSESSED = { nOnOxygen: 3, nOnAir: 1, nAcvpuA: 2, nAcvpuC: 1, nAcvpuV: 0, nAcvpuP: 0, nAcvpuU: 0 }

describe('the daily statistics codec with the assessment counts', () => {
  it('keeps the patient-day assessment counts of every row', () => {
    const rows = [row('p-copd', 'spo2', ASSESSED), row('p-copd', 'heartRate', ASSESSED)]
    const decoded = decodeDailyValues(Object.values(encodeDailyDay(rows)))
    expect(decoded).toEqual(rows)
    expect(decoded.map((r) => [r.nOnOxygen, r.nOnAir, r.nAcvpuC])).toEqual([
      [3, 1, 1],
      [3, 1, 1],
    ])
  })

  it('decodes a row written before the counts existed without them: unknown, not zero', () => {
    const old = row('p-old', 'heartRate')
    const [decoded] = decodeDailyValues([JSON.stringify([old])])
    expect(decoded).toEqual(old)
    expect(decoded?.nOnOxygen).toBeUndefined()
    expect(decoded?.nAcvpuA).toBeUndefined()
  })
})
