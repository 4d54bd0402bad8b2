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
    // The nurse's round and the wearable's first reading (each parameter's first observation) are judged on their own: at once.
    expect(agg.map((e) => [e.kind, e.level, e.value, e.ts - T])).toEqual([['raised', 'NEWS2_MEDIUM', 6, 0]])
    expect(agg[0]?.message).toContain('NEWS2 6 (complete)')
    expect(agg[0]?.message).toContain('key threshold for an urgent response: the registered nurse immediately informs the medical team')
    expect(patientState(p, OPTS.news2FreshnessMs).news2).toMatchObject({ score: 6, risk: 'medium', complete: true })
    expect(p.alerts.news2).toMatchObject({ level: 'NEWS2_MEDIUM', value: 6 })
  })

  it('an aggregate of 7 raises exactly one NEWS2_HIGH', () => {
    const p = emptyPatient('p-0001')
    const out = applyReadings(p, ward(115, 180), OPTS)
    expect(news2Events(out.events).map((e) => [e.kind, e.level, e.value, e.ts - T])).toEqual([['raised', 'NEWS2_HIGH', 7, 0]])
  })
})

describe('one event, one alert', () => {
  it('a sustained heart rate of 140 raises its CRITICAL_HIGH, with the single-parameter response, and no NEWS2_SINGLE_3 beside it', () => {
    const p = emptyPatient('p-0001')
    // 30 s of 75 bpm, then 140 (a continuous source: the critical persistence applies).
    const wrist = Array.from({ length: 150 }, (_, i) => acc('wrist-1', i, T + i * 1000, { vitals: { heartRate: i < 30 ? 75 : 140, spo2: 97 } }))
    const out = applyReadings(p, wrist, OPTS)
    expect(out.events.map((e) => [e.vital, e.kind, e.level, e.ts - T])).toEqual([['heartRate', 'raised', 'CRITICAL_HIGH', 45_000]])
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
    // Heart rate 0 from the device's second reading on: a no-signal run of a device heard from a second before.
    const zeros = Array.from({ length: 20 }, (_, i) =>
      acc('wrist-1', i, T + i * 1000, i === 0 ? { vitals: { heartRate: 72, spo2: 97 } } : { vitals: { spo2: 97 } }, i === 0 ? [] : ['heartRate']),
    )
    const out = applyReadings(p, [...zeros, acc('wrist-1', 20, T + 20_000, { vitals: { heartRate: 72, spo2: 97 } })], OPTS)
    expect(out.events.map((e) => [e.vital, e.kind, e.level, e.deviceId, e.ts - T])).toEqual([
      ['device', 'raised', 'NO_SIGNAL', 'wrist-1', 16_000],
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

const brief = (events: AlertEvent[]) => events.map((e) => [e.vital, e.kind, e.level, e.ts - T])

describe('a first value is judged on its own (review findings: spot checks and charted observations)', () => {
  it("alerts at once on a charted FHIR set's first observations (respiratory rate 30, heart rate 135, SpO2 90)", () => {
    const p = emptyPatient('p-0001')
    const out = applyReadings(
      p,
      [
        acc('fhir-p-0001', T * 16 + 4, T, { vitals: { respRate: 30 } }),
        acc('fhir-p-0001', T * 16, T, { vitals: { heartRate: 135 } }),
        acc('fhir-p-0001', T * 16 + 1, T, { vitals: { spo2: 90 } }),
      ],
      OPTS,
    )
    // One observation a reading, at one event time: each brings a parameter never observed, so each evaluation is judged on its own.
    expect(brief(out.events)).toEqual([
      ['respRate', 'raised', 'CRITICAL_HIGH', 0],
      ['heartRate', 'raised', 'CRITICAL_HIGH', 0],
      ['news2', 'raised', 'NEWS2_MEDIUM', 0],
      ['spo2', 'raised', 'CRITICAL_LOW', 0],
      ['news2', 'escalated', 'NEWS2_HIGH', 0],
    ])
  })

  it("alerts at once on a spot-check oximeter's first reading (SpO2 85)", () => {
    const out = applyReadings(emptyPatient('p-0001'), [acc('oxi-spot', 1, T, { vitals: { spo2: 85, heartRate: 80 } })], OPTS)
    expect(brief(out.events)).toEqual([['spo2', 'raised', 'CRITICAL_LOW', 0]])
  })

  it("raises NEWS2_SINGLE_3 at once on a nurse's first observation of new confusion (V), and again on the next round an hour later", () => {
    const p = emptyPatient('p-0001')
    const set = { vitals: { respRate: 18, heartRate: 88, spo2: 96, temperature: 37 }, onOxygen: false }
    const first = applyReadings(p, [acc('nurse-1', 1, T, { ...set, consciousness: 'V' })], OPTS)
    expect(brief(first.events)).toEqual([['news2', 'raised', 'NEWS2_SINGLE_3', 0]])
    const later = emptyPatient('p-0001')
    applyReadings(later, [acc('nurse-1', 1, T - 3_600_000, { ...set, consciousness: 'A' })], OPTS)
    expect(brief(applyReadings(later, [acc('nurse-1', 2, T, { ...set, consciousness: 'V' })], OPTS).events)).toEqual([['news2', 'raised', 'NEWS2_SINGLE_3', 0]])
  })

  it("alerts at once on a nurse's respiratory rate of 26 beside a 1 Hz wearable", () => {
    const p = emptyPatient('p-0001')
    const rs = [acc('nurse-rr', 1, T, { vitals: { respRate: 26 } })]
    for (let i = 1; i <= 30; i++) rs.push(acc('wrist', i, T + i * 1000, { vitals: { heartRate: 80, spo2: 97 } }))
    expect(brief(applyReadings(p, rs, OPTS).events).filter((e) => e[0] === 'respRate')).toEqual([['respRate', 'raised', 'CRITICAL_HIGH', 0]])
  })
})

describe('a continuous source still needs the persistence time (the issue cases)', () => {
  const normal = { heartRate: 75, spo2: 97 }

  it('raises nothing for one SpO2 85 artefact in 10 min of normal 1 Hz readings', () => {
    const rs = Array.from({ length: 600 }, (_, i) => acc('wrist', i, T + i * 1000, { vitals: i === 300 ? { ...normal, spo2: 85 } : normal }))
    expect(applyReadings(emptyPatient('p-0001'), rs, OPTS).events).toEqual([])
  })

  it('raises nothing for a single 91 bpm every 62 s among 1 Hz normal readings for 5 min', () => {
    const rs = Array.from({ length: 300 }, (_, i) => acc('wrist', i, T + i * 1000, { vitals: i > 0 && i % 62 === 0 ? { ...normal, heartRate: 91 } : normal }))
    expect(applyReadings(emptyPatient('p-0001'), rs, OPTS).events).toEqual([])
  })

  it('raises nothing for an artefact 5 s after a wearable reconnects from an hour off', () => {
    const p = emptyPatient('p-0001')
    const rs = Array.from({ length: 600 }, (_, i) => acc('wrist', i, T + i * 1000, { vitals: { spo2: 97 } }))
    const back = T + 600_000 + 3_600_000
    for (let i = 0; i < 120; i++) rs.push(acc('wrist', 600 + i, back + i * 1000, { vitals: { spo2: i === 5 ? 84 : 97 } }))
    expect(applyReadings(p, rs, OPTS).events).toEqual([])
  })
})

describe('a run survives brief returns (review findings)', () => {
  const wrist = (n: number, vitals: (i: number) => Reading['vitals']) =>
    Array.from({ length: n }, (_, i) => acc('wrist', i, T + i * 1000, { vitals: vitals(i) }))

  it('raises CRITICAL_HIGH for a heart rate of 150 with one 80 every 10 s', () => {
    const out = applyReadings(
      emptyPatient('p-0001'),
      wrist(600, (i) => ({ heartRate: i === 0 ? 75 : i % 10 === 9 ? 80 : 150 })),
      OPTS,
    )
    expect(brief(out.events)).toEqual([['heartRate', 'raised', 'CRITICAL_HIGH', 16_000]])
  })

  it('raises CRITICAL_LOW for an SpO2 alternating 88/92', () => {
    const out = applyReadings(
      emptyPatient('p-0001'),
      wrist(600, (i) => ({ spo2: i === 0 ? 97 : i % 2 === 1 ? 88 : 92 })),
      OPTS,
    )
    expect(brief(out.events)).toEqual([['spo2', 'raised', 'CRITICAL_LOW', 17_000]])
  })

  it('raises NEWS2_HIGH for an aggregate hovering 6/7 (heart rate 105/115 beside RR 22, SpO2 94, SBP 105, 38.5 °C)', () => {
    const p = emptyPatient('p-0001')
    const rs = ward(105, 0)
    for (let i = 0; i < 120; i++) rs.push(acc('wrist-1', i, T + i * 1000, { vitals: { heartRate: i % 2 === 0 ? 105 : 115, respRate: 22, spo2: 94 } }))
    const agg = news2Events(applyReadings(p, rs, OPTS).events)
    // MEDIUM on the first (spot) evaluation; HIGH once the run of 7s, interrupted by 6s, has lasted 15 s.
    expect(agg.map((e) => [e.kind, e.level, e.ts - T])).toEqual([
      ['raised', 'NEWS2_MEDIUM', 0],
      ['escalated', 'NEWS2_HIGH', 17_000],
    ])
  })
})

describe('a NEWS2 alert never clears on missing data (review findings)', () => {
  /** A complete NEWS2 7 for 3 minutes, then the wearable's probe falls off for `offSeconds` (heart rate and SpO2 0, no respiration). */
  function probeOff(offSeconds: number): { p: PatientRuntime; events: AlertEvent[] } {
    const p = emptyPatient('p-0001')
    const rs = [
      acc('obs-1', 1, T - 4 * 3_600_000 + 1, { onOxygen: false, consciousness: 'A' }),
      acc('obs-1', 2, T, { onOxygen: false, consciousness: 'A' }),
      acc('cuff', 1, T - 900_000, { vitals: { systolic: 105 } }),
      acc('therm', 1, T, { vitals: { temperature: 38.5 } }),
    ]
    for (let i = 0; i < 180; i++) rs.push(acc('w', i, T + i * 1000, { vitals: { heartRate: 115, respRate: 22, spo2: 94 } }))
    for (let i = 180; i < 180 + offSeconds; i++) rs.push(acc('w', i, T + i * 1000, { vitals: {} }, ['heartRate', 'spo2']))
    rs.push(acc('cuff', 2, T + 840_000, { vitals: { systolic: 105 } }))
    rs.sort((a, b) => a.reading.ts - b.reading.ts)
    return { p, events: applyReadings(p, rs, OPTS).events }
  }

  it('keeps a complete NEWS2 7 open after the probe falls off, saying what has not been observed since when', () => {
    const { p, events } = probeOff(900)
    expect(news2Events(events).map((e) => [e.kind, e.level])).toEqual([['raised', 'NEWS2_HIGH']])
    expect(p.alerts.news2?.message).toBe(
      'p-0001: NEWS2 ≥ 2 (partial: 4 of 7), respiratory rate, SpO2, heart rate not observed since 10:02:59Z; NEWS2_HIGH stays open until they are',
    )
  })

  it('clears once the parameters are observed again, normal, for the hold-down', () => {
    const { p } = probeOff(900)
    const at = T + 1_080_000
    const rs = Array.from({ length: 61 }, (_, i) => acc('w', 1_080 + i, at + i * 1000, { vitals: { heartRate: 75, respRate: 15, spo2: 97 } }))
    const rest = applyReadings(p, [acc('therm', 2, at, { vitals: { temperature: 37 } }), acc('cuff', 3, at, { vitals: { systolic: 125 } }), ...rs], OPTS)
    expect(news2Events(rest.events).map((e) => [e.kind, e.level, e.ts - at])).toEqual([['cleared', 'NEWS2_HIGH', 60_000]])
  })
})

describe('the cadence of a device (review findings)', () => {
  it('folds an hour off into a wearable cadence at its stale threshold, so it is stale again after 2 minutes of silence', () => {
    const p = emptyPatient('p-0001')
    const rs = Array.from({ length: 600 }, (_, i) => acc('wrist', i, T + i * 1000, { vitals: { spo2: 97 } }))
    rs.push(acc('wrist', 600, T + 600_000 + 3_600_000, { vitals: { spo2: 97 } }))
    applyReadings(p, rs, OPTS)
    expect(p.devices.get('wrist')?.cadenceMs).toBe(24_800)
  })

  it("keeps a cuff's cadence near its kind's after a re-measure 30 s after its first reading", () => {
    const p = emptyPatient('p-0001')
    applyReadings(p, [acc('cuff', 1, T, { vitals: { systolic: 120 } }), acc('cuff', 2, T + 30_000, { vitals: { systolic: 118 } })], OPTS)
    expect(p.devices.get('cuff')?.cadenceMs).toBe(726_000)
  })
})
