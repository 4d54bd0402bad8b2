import { describe, expect, it } from 'vitest'
import type { Reading, Vital } from '../lib/contract/schema.ts'
import type { AlertEvent } from '../lib/contract/views.ts'
import { DEFAULT_SPEED_OPTIONS } from './config.ts'
import type { Accepted } from './decode.ts'
import { applyReadings, emptyPatient, patientState, type PatientRuntime } from './patients.ts'

const T = 1_763_805_600_000
const OPTS = DEFAULT_SPEED_OPTIONS

function acc(
  deviceId: string,
  seq: number,
  ts: number,
  body: Partial<Pick<Reading, 'vitals' | 'onOxygen' | 'consciousness'>>,
  noSignal: Vital[] = [],
): Accepted {
  return { reading: { v: 1, patientId: 'p-0001', deviceId, ts, seq, vitals: {}, ...body }, noSignal, arrivedAt: ts + 50 }
}

/** The NEWS2 scenario of the issue: wearable HR/RR/SpO2 at 1 Hz for `seconds`, a cuff SBP, a thermometer, a nurse observation (A, air). */
function ward(heartRate: number, seconds: number): Accepted[] {
  const out: Accepted[] = [
    acc('obs-1', 0, T, { onOxygen: false, consciousness: 'A' }),
    acc('cuff-1', 0, T, { vitals: { systolic: 105 } }),
    acc('therm-1', 0, T, { vitals: { temperature: 38.5 } }),
  ]
  for (let i = 0; i < seconds; i++) out.push(acc('wrist-1', i, T + i * 1000, { vitals: { heartRate, respRate: 22, spo2: 94 } }))
  return out
}

const news2Events = (events: AlertEvent[]) => events.filter((e) => e.vital === 'news2')

describe('NEWS2 aggregate alerts through the patient state', () => {
  it('HR 105, RR 22, SpO2 94, SBP 105, T 38.5, alert, on air, sustained: one NEWS2_MEDIUM with the urgent response', () => {
    const p = emptyPatient('p-0001')
    const out = applyReadings(p, ward(105, 120), OPTS)
    const agg = news2Events(out.events)
    expect(agg.map((e) => [e.kind, e.level, e.value, e.ts - T])).toEqual([['raised', 'NEWS2_MEDIUM', 6, 60_000]])
    expect(agg[0]?.message).toContain('NEWS2 6 (complete)')
    expect(agg[0]?.message).toContain('key threshold for an urgent response: the registered nurse immediately informs the medical team')
    expect(patientState(p, OPTS.news2FreshnessMs).news2).toMatchObject({ score: 6, risk: 'medium', complete: true })
    expect(p.alerts.news2).toMatchObject({ level: 'NEWS2_MEDIUM', value: 6 })
  })

  it('an aggregate of 7 raises exactly one NEWS2_HIGH', () => {
    const p = emptyPatient('p-0001')
    const out = applyReadings(p, ward(115, 180), OPTS)
    expect(news2Events(out.events).map((e) => [e.kind, e.level, e.value, e.ts - T])).toEqual([['raised', 'NEWS2_HIGH', 7, 15_000]])
  })
})

describe('one event, one alert', () => {
  it('a sustained heart rate of 140 raises its CRITICAL_HIGH, with the single-parameter response, and no NEWS2_SINGLE_3 beside it', () => {
    const p = emptyPatient('p-0001')
    const wrist = Array.from({ length: 120 }, (_, i) => acc('wrist-1', i, T + i * 1000, { vitals: { heartRate: 140, spo2: 97 } }))
    const out = applyReadings(p, wrist, OPTS)
    expect(out.events.map((e) => [e.vital, e.kind, e.level, e.ts - T])).toEqual([['heartRate', 'raised', 'CRITICAL_HIGH', 15_000]])
    expect(out.events[0]?.message).toContain('urgent ward-based response')
  })

  it('new confusion, which has no alert of its own, raises NEWS2_SINGLE_3', () => {
    const p = emptyPatient('p-0001')
    const out = applyReadings(p, [acc('obs-1', 0, T, { consciousness: 'C' })], OPTS)
    expect(out.events.map((e) => [e.vital, e.kind, e.level])).toEqual([['news2', 'raised', 'NEWS2_SINGLE_3']])
  })
})

describe('late readings, judged on their own device', () => {
  it("a cuff whose clock runs 2 minutes behind the wearable's still shows and alerts its systolic of 70", () => {
    const p = emptyPatient('p-0001')
    const wrist = Array.from({ length: 180 }, (_, i) => acc('wrist-1', i, T + i * 1000, { vitals: { heartRate: 72, spo2: 97 } }))
    applyReadings(p, wrist, OPTS)
    const out = applyReadings(p, [acc('cuff-1', 0, T + 179_000 - 120_000, { vitals: { systolic: 70, diastolic: 40 } })], OPTS)
    expect(out.late).toBe(0)
    expect(p.latest.systolic).toEqual({ value: 70, status: 'CRITICAL_LOW', ts: T + 59_000 })
    expect(out.events.map((e) => [e.vital, e.kind, e.level])).toContainEqual(['systolic', 'raised', 'CRITICAL_LOW'])
    expect(p.ts).toBe(T + 179_000)
  })

  it('a reading older than its own device has already sent, by more than the tolerance, is late and changes nothing', () => {
    const p = emptyPatient('p-0001')
    applyReadings(p, [acc('cuff-1', 0, T, { vitals: { systolic: 120 } }), acc('cuff-1', 1, T + 900_000, { vitals: { systolic: 125 } })], OPTS)
    const out = applyReadings(p, [acc('cuff-1', 2, T + 800_000, { vitals: { systolic: 70 } })], OPTS)
    expect(out.late).toBe(1)
    expect(out.entries).toEqual([])
    expect(p.latest.systolic?.value).toBe(125)
  })
})

describe('no signal', () => {
  it('heart rate 0 from a wearable for 20 s raises one NO_SIGNAL (no CRITICAL) and a good reading clears it', () => {
    const p = emptyPatient('p-0001')
    const zeros = Array.from({ length: 20 }, (_, i) => acc('wrist-1', i, T + i * 1000, { vitals: { spo2: 97 } }, ['heartRate']))
    const out = applyReadings(p, [...zeros, acc('wrist-1', 20, T + 20_000, { vitals: { heartRate: 72, spo2: 97 } })], OPTS)
    expect(out.events.map((e) => [e.vital, e.kind, e.level, e.deviceId, e.ts - T])).toEqual([
      ['device', 'raised', 'NO_SIGNAL', 'wrist-1', 15_000],
      ['device', 'cleared', 'NO_SIGNAL', 'wrist-1', 20_000],
    ])
    expect(out.events[0]?.message).toContain('check the sensor')
    expect(p.latest.heartRate).toEqual({ value: 72, status: 'NORMAL', ts: T + 20_000 })
    expect(p.devices.get('wrist-1')).toMatchObject({ noSignalSince: null, noSignalTs: null })
  })
})

describe('glucose', () => {
  it('keeps the trend window, shows the trend and raises URGENT_LOW_SOON on the CGM reading that predicts < 55 mg/dL', () => {
    const p = emptyPatient('p-0001')
    const values = [150, 140, 130, 120, 110]
    const out = applyReadings(
      p,
      values.map((g, i) => acc('cgm-1', i, T + i * 300_000, { vitals: { glucose: g } })),
      OPTS,
    )
    // -2 mg/dL/min: from 110, 70 predicted in 20 min (no alert); a fall to 85 steepens the trend and the forecast drops below 55.
    expect(out.events).toEqual([])
    expect(p.glucoseRecent.map(([, g]) => g)).toEqual([140, 130, 120, 110])
    expect(patientState(p, OPTS.news2FreshnessMs).glucoseTrend).toMatchObject({ rate: -2, arrow: '↘' })
    const more = applyReadings(p, [acc('cgm-1', 5, T + 1_500_000, { vitals: { glucose: 85 } })], OPTS)
    expect(more.events.map((e) => [e.vital, e.kind, e.level])).toEqual([['glucoseForecast', 'raised', 'URGENT_LOW_SOON']])
    expect(more.events[0]?.value).toBeLessThan(55)
    expect(more.changedAlerts.has('glucoseForecast')).toBe(true)
  })
})

describe('the patient state', () => {
  it('labels a wearable-only NEWS2 partial, never low risk', () => {
    const p = emptyPatient('p-0001')
    applyReadings(p, [acc('wrist-1', 0, T, { vitals: { heartRate: 115, spo2: 95 } })], OPTS)
    expect(patientState(p, OPTS.news2FreshnessMs).news2).toMatchObject({ score: 3, risk: null, complete: false, counted: ['spo2', 'heartRate'] })
  })

  it('keeps the newest oxygen and consciousness observations', () => {
    const p: PatientRuntime = emptyPatient('p-0001')
    applyReadings(p, [acc('obs-1', 0, T, { onOxygen: true, consciousness: 'C' }), acc('obs-1', 1, T - 1_000, { onOxygen: false })], OPTS)
    expect(patientState(p, OPTS.news2FreshnessMs)).toMatchObject({ onOxygen: { value: true, ts: T }, consciousness: { value: 'C', ts: T } })
  })
})

describe('devices', () => {
  it('learns a CGM cadence of five minutes from its readings', () => {
    const p = emptyPatient('p-cgm')
    applyReadings(
      p,
      Array.from({ length: 5 }, (_, i) => acc('cgm', i, i * 300_000, { vitals: { glucose: 110 } })),
      OPTS,
    )
    expect(p.devices.get('cgm')?.cadenceMs).toBe(300_000)
  })

  it('clears a stale-data alert when the device is heard from again', () => {
    const p = emptyPatient('p-s')
    applyReadings(p, [acc('d', 0, 0, { vitals: { heartRate: 70 } })], OPTS)
    const dev = p.devices.get('d')
    if (dev === undefined) throw new Error('device state missing')
    dev.staleTs = 120_000
    const out = applyReadings(p, [acc('d', 1, 500_000, { vitals: { heartRate: 70 } })], OPTS)
    // On the arrival clock, as the raise (acc: arrival 50 ms after the event time).
    expect(out.events.map((e) => [e.vital, e.kind, e.level, e.ts])).toEqual([['device', 'cleared', 'STALE', 500_050]])
    expect(p.devices.get('d')?.staleTs).toBeNull()
  })

  it('never clears a stale-data alert before it was raised, whatever the device clock', () => {
    const p = emptyPatient('p-lag')
    applyReadings(p, [acc('d', 0, 0, { vitals: { heartRate: 70 } })], OPTS)
    const dev = p.devices.get('d')
    if (dev === undefined) throw new Error('device state missing')
    dev.staleTs = 900_000
    // The device's clock says 300 000, its record arrives at 300 050: both before the raise at 900 000.
    const out = applyReadings(p, [acc('d', 1, 300_000, { vitals: { heartRate: 70 } })], OPTS)
    expect(out.events.map((e) => [e.kind, e.ts])).toEqual([['cleared', 900_000]])
  })
})
