import { describe, expect, it } from 'vitest'
import { encodeAlertState } from '../lib/contract/codecs/alerts.ts'
import { ALERT_LEVELS, type OpenAlertState } from '../lib/contract/views.ts'
import { ALERT_URGENCY, isOpenAlertField, openAlertsOf, urgencyRank } from './open-alerts.ts'

const state = (level: OpenAlertState['level'], raisedTs: number, message: string, extra: Partial<OpenAlertState> = {}): OpenAlertState => ({
  level,
  raisedTs,
  normalSince: null,
  ts: raisedTs,
  message,
  ...extra,
})

describe('openAlertsOf', () => {
  it('lists the open alerts most urgent first, with their current value, side and text, and leaves out the pending-persistence fields', () => {
    const hash = {
      heartRate: encodeAlertState(
        state('WARNING', 1_000, 'p-1: heart rate 100 bpm, high (NEWS2 1), WARNING', { value: 100, side: 'high', score: 1, ts: 9_000 }),
      ),
      'heartRate:pending': JSON.stringify({ outSince: 5_000, criticalSince: null }),
      news2: encodeAlertState(state('NEWS2_HIGH', 2_000, 'p-1: NEWS2 7, emergency response', { value: 7, score: 7 })),
      spo2: encodeAlertState(state('CRITICAL_LOW', 3_000, 'p-1: SpO2 84 %, low (NEWS2 3), CRITICAL')),
      glucoseForecast: encodeAlertState(state('URGENT_LOW_SOON', 4_000, 'p-1: glucose predicted 50 mg/dL in 20 min')),
      'news2:pending': JSON.stringify({ outSince: null, criticalSince: null }),
    }
    const list = openAlertsOf(hash)
    expect(list.map((a) => a.subject)).toEqual(['news2', 'spo2', 'glucoseForecast', 'heartRate'])
    expect(list[3]).toEqual({
      subject: 'heartRate',
      ...state('WARNING', 1_000, 'p-1: heart rate 100 bpm, high (NEWS2 1), WARNING'),
      value: 100,
      side: 'high',
      score: 1,
      ts: 9_000,
    })
  })

  it('keeps an open alert written before alerts carried text, and skips a value that is not JSON', () => {
    const list = openAlertsOf({ spo2: JSON.stringify({ level: 'WARNING', raisedTs: 1, normalSince: null }), heartRate: '{oops' })
    expect(list).toEqual([{ subject: 'spo2', level: 'WARNING', raisedTs: 1, normalSince: null, message: '' }])
  })

  it('orders equal levels newest raise first', () => {
    const list = openAlertsOf({ spo2: encodeAlertState(state('WARNING', 1, 'a')), respRate: encodeAlertState(state('WARNING', 2, 'b')) })
    expect(list.map((a) => a.subject)).toEqual(['respRate', 'spo2'])
  })
})

describe('urgency', () => {
  it('ranks every level, NEWS2_HIGH first, the technical alarms last, an unknown level after all', () => {
    expect([...ALERT_URGENCY].sort()).toEqual([...ALERT_LEVELS].sort())
    expect(urgencyRank('NEWS2_HIGH')).toBe(0)
    expect(urgencyRank('NEWS2_HIGH')).toBeLessThan(urgencyRank('CRITICAL_HIGH'))
    expect(urgencyRank('NO_SIGNAL')).toBeGreaterThan(urgencyRank('WARNING'))
    expect(urgencyRank('BOGUS')).toBe(ALERT_LEVELS.length)
  })

  it('tells an open alert field from a pending one', () => {
    expect(isOpenAlertField('glucoseForecast')).toBe(true)
    expect(isOpenAlertField('glucoseForecast:pending')).toBe(false)
  })
})
