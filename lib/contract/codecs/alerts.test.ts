import { describe, expect, it } from 'vitest'
import type { OpenAlertState } from '../views.ts'
import { decodeAlertHash, decodePending, encodeAlertState, encodePending, pendingField } from './alerts.ts'

describe('the {p}:alerts hash', () => {
  const open: OpenAlertState = {
    level: 'WARNING',
    raisedTs: 1_000,
    normalSince: null,
    value: 100,
    side: 'high',
    score: 1,
    ts: 5_000,
    message: 'p-1: heart rate 100 bpm, high (NEWS2 1), WARNING',
  }

  it('holds each subject open alert under its name and its pending runs under <subject>:pending', () => {
    const hash = {
      heartRate: encodeAlertState(open),
      [pendingField('heartRate')]: encodePending({ outSince: 1_000, criticalSince: null }),
      [pendingField('news2')]: encodePending({ outSince: 2_000, criticalSince: 2_000 }),
      'spo2:pending': 'not json',
      unknown: '{}',
    }
    expect(pendingField('glucoseForecast')).toBe('glucoseForecast:pending')
    expect(decodeAlertHash(hash)).toEqual({
      open: { heartRate: open },
      pending: {
        heartRate: { outSince: 1_000, criticalSince: null, inSince: null, belowCriticalSince: null },
        news2: { outSince: 2_000, criticalSince: 2_000, inSince: null, belowCriticalSince: null },
      },
    })
  })

  it('reads an old alert state (before texts) as an open alert, and a pending value without a run as none', () => {
    expect(decodeAlertHash({ spo2: '{"level":"CRITICAL_LOW","raisedTs":1,"normalSince":null}' }).open.spo2?.level).toBe('CRITICAL_LOW')
    expect(decodePending('{"outSince":null,"criticalSince":null}')).toBeUndefined()
    expect(decodePending('{"outSince":"x","criticalSince":7}')).toEqual({ outSince: null, criticalSince: 7, inSince: null, belowCriticalSince: null })
  })

  it('round-trips the first sample back of each run, and reads a run stored without them as none back', () => {
    const runs = { outSince: 1_000, criticalSince: 2_000, inSince: 3_000, belowCriticalSince: 2_500 }
    expect(decodePending(encodePending(runs))).toEqual(runs)
    expect(decodePending('{"outSince":1000,"criticalSince":null}')).toEqual({ outSince: 1_000, criticalSince: null, inSince: null, belowCriticalSince: null })
  })

  it("round-trips a NEWS2 alert's parameters", () => {
    const news2: OpenAlertState = { ...open, level: 'NEWS2_HIGH', parameters: ['respRate', 'heartRate'] }
    expect(decodeAlertHash({ news2: encodeAlertState(news2) }).open.news2).toEqual(news2)
  })
})
