import { describe, expect, it } from 'vitest'
import { bandOf, DEFAULT_BANDS } from '../lib/bands.ts'
import type { Vital } from '../lib/contract/schema.ts'
import { parameterScore, NEWS2_VITALS } from '../lib/news2.ts'
import { alertId, sideOf, staleThresholdMs, stepNoSignal, stepVitalAlert, type NoSignalState, type SubjectState } from './alerts.ts'
import { NO_PREVIOUS_SAMPLE } from './persistence.ts'

const TIMING = { warningPersistenceMs: 60_000, criticalPersistenceMs: 15_000, persistenceResetMs: 10_000, holdDownMs: 60_000 }
// The gap before a series' first value: a 1 Hz wearable's continuing readings, a cuff's or a CGM's cycle.
const WEARABLE = 1_000
const CUFF = 900_000
const CGM = 300_000

type Ev = [kind: string, level: string, tSeconds: number]

/**
 * Feeds one vital's values (one every `stepMs`, from t = 0, default bands), the first `firstGapMs`
 * after the vital's previous value, and returns the events and the final state.
 */
function run(vital: Vital, values: number[], firstGapMs = WEARABLE, stepMs = 1_000) {
  let state: SubjectState = {}
  const events: Ev[] = []
  const full: NonNullable<ReturnType<typeof stepVitalAlert>['event']>[] = []
  values.forEach((value, i) => {
    const band = bandOf(DEFAULT_BANDS[vital], value)
    const score = (NEWS2_VITALS as readonly string[]).includes(vital)
      ? parameterScore(vital as 'heartRate', value, { scale: 1, onOxygen: undefined })
      : undefined
    const sample = {
      patientId: 'p-0001',
      vital,
      value,
      status: band.status,
      side: sideOf(DEFAULT_BANDS[vital], band),
      score,
      ts: i * stepMs,
      gapMs: i === 0 ? firstGapMs : stepMs,
    }
    const step = stepVitalAlert(state, sample, TIMING)
    state = step.state
    if (step.event !== undefined) {
      events.push([step.event.kind, step.event.level, step.event.ts / 1000])
      full.push(step.event)
    }
  })
  return { events, state, full }
}

const repeat = (value: number, n: number) => Array.from({ length: n }, () => value)

describe('persistence of a vital out of its bands', () => {
  it('raises nothing for one SpO2 85 artefact among normal 1 Hz readings', () => {
    expect(run('spo2', [...repeat(97, 30), 85, ...repeat(97, 60)]).events).toEqual([])
  })

  it('raises nothing for a single 91 bpm every 62 s for 5 minutes', () => {
    const hr = Array.from({ length: 300 }, (_, i) => (i % 62 === 0 ? 91 : 88))
    expect(run('heartRate', hr).events).toEqual([])
  })

  it('raises CRITICAL_LOW for a sustained SpO2 85 once it has lasted the critical persistence (15 s)', () => {
    const { events, state } = run('spo2', [...repeat(97, 10), ...repeat(85, 30)])
    expect(events).toEqual([['raised', 'CRITICAL_LOW', 25]])
    expect(state.open).toMatchObject({ level: 'CRITICAL_LOW', raisedTs: 25_000, value: 85, side: 'low', score: 3 })
  })

  it('raises a WARNING for a value out of NORMAL for the warning persistence (60 s), not before', () => {
    const { events } = run('heartRate', [...repeat(72, 5), ...repeat(100, 70)])
    expect(events).toEqual([['raised', 'WARNING', 65]])
  })

  it("raises at once on a value that follows the vital's previous one by at least the persistence (a cuff systolic 70)", () => {
    const { events, full } = run('systolic', [70], CUFF)
    expect(events).toEqual([['raised', 'CRITICAL_LOW', 0]])
    // A value scoring 3 carries the RCP response to a single parameter scoring 3 (no NEWS2_SINGLE_3 apart while it is CRITICAL).
    expect(full[0]?.message).toBe(
      'p-0001: systolic BP 70 mmHg, low (NEWS2 3), CRITICAL_LOW: a single parameter scores 3: urgent ward-based response, the registered nurse informs the medical team, who decide whether to escalate care; observations at least hourly',
    )
  })

  it('confirms a WARNING after 60 s and a CRITICAL inside it after 15 s more of critical values', () => {
    const { events, state } = run('heartRate', [...repeat(115, 70), ...repeat(135, 20), ...repeat(115, 5)])
    expect(events).toEqual([
      ['raised', 'WARNING', 60],
      ['escalated', 'CRITICAL_HIGH', 85],
    ])
    // Keeps its worst level while the value improves; the text follows the value.
    expect(state.open).toMatchObject({ level: 'CRITICAL_HIGH', value: 115, score: 3 })
    expect(state.open?.message).toBe('p-0001: heart rate 115 bpm, high (NEWS2 2), CRITICAL_HIGH (now WARNING)')
  })

  it('raises one alert for a value jittering on a band edge once out of NORMAL long enough, however long the jitter lasts', () => {
    const jitter = Array.from({ length: 300 }, (_, i) => (i % 2 === 0 ? 91 : 90))
    const { events, state } = run('heartRate', [...repeat(72, 10), ...repeat(95, 60), ...jitter])
    expect(events).toEqual([['raised', 'WARNING', 70]])
    expect(state.open?.level).toBe('WARNING')
  })
})

describe('a first value, or one after a gap of the persistence time, is judged on its own', () => {
  it("raises CRITICAL at once on a spot check's first value (SpO2 85), and a WARNING on a first heart rate of 120", () => {
    expect(run('spo2', [85], NO_PREVIOUS_SAMPLE).events).toEqual([['raised', 'CRITICAL_LOW', 0]])
    expect(run('heartRate', [120], NO_PREVIOUS_SAMPLE).events).toEqual([['raised', 'WARNING', 0]])
  })

  it('raises at once on a value 15 s after the previous one (critical) but waits on one 14 s after it', () => {
    expect(run('spo2', [85], 15_000).events).toEqual([['raised', 'CRITICAL_LOW', 0]])
    expect(run('spo2', [85], 14_000).events).toEqual([])
    // A WARNING needs a gap of the warning persistence: 60 s.
    expect(run('heartRate', [100], 59_000).events).toEqual([])
    expect(run('heartRate', [100], 60_000).events).toEqual([['raised', 'WARNING', 0]])
  })
})

describe('a run survives brief returns', () => {
  it('raises CRITICAL_HIGH for a heart rate of 150 with one 80 every 10 s, after the critical persistence', () => {
    const hr = Array.from({ length: 600 }, (_, i) => (i % 10 === 9 ? 80 : 150))
    expect(run('heartRate', hr).events).toEqual([['raised', 'CRITICAL_HIGH', 15]])
  })

  it('raises CRITICAL_LOW for an SpO2 alternating 88/92 (critical, warning) once the critical run has lasted 15 s', () => {
    const spo2 = Array.from({ length: 600 }, (_, i) => (i % 2 === 1 ? 92 : 88))
    expect(run('spo2', spo2).events).toEqual([['raised', 'CRITICAL_LOW', 16]])
  })

  it('raises CRITICAL_LOW for SpO2 85, 85, 93 every 5 s', () => {
    const spo2 = Array.from({ length: 120 }, (_, i) => (i % 3 === 2 ? 93 : 85))
    expect(run('spo2', spo2, 5_000, 5_000).events).toEqual([['raised', 'CRITICAL_LOW', 15]])
  })

  it('ends a critical run once the value has stayed out of its band for the reset time (10 s), not before', () => {
    // 10 s critical, 11 s back, 10 s critical: no critical run lasted 15 s.
    expect(run('heartRate', [...repeat(72, 5), ...repeat(140, 10), ...repeat(72, 11), ...repeat(140, 10)]).events).toEqual([])
    // 10 s critical, 9 s back, critical again: one run, confirmed 15 s after it started.
    expect(run('heartRate', [...repeat(72, 5), ...repeat(140, 10), ...repeat(72, 9), ...repeat(140, 10)]).events).toEqual([['raised', 'CRITICAL_HIGH', 24]])
  })

  it('ends a WARNING run at its first value back: a heart rate hovering on a WARNING edge raises nothing', () => {
    // 100 bpm for 50 s, one 72, 100 bpm for 50 s: neither run lasted 60 s.
    expect(run('heartRate', [...repeat(72, 5), ...repeat(100, 50), 72, ...repeat(100, 50)]).events).toEqual([])
    // A resting heart rate hovering between 49 and 51 at night.
    expect(
      run(
        'heartRate',
        Array.from({ length: 600 }, (_, i) => (i % 7 === 6 ? 51 : 49)),
      ).events,
    ).toEqual([])
  })

  it('needs the current value out of band to confirm', () => {
    // Critical from 5 s; at 20 s the value is back (a brief return): nothing until the next value in the band.
    const { events } = run('heartRate', [...repeat(72, 5), ...repeat(140, 15), 72, 72, 140])
    expect(events).toEqual([['raised', 'CRITICAL_HIGH', 22]])
  })
})

describe('escalation inside an open alert', () => {
  it('escalates once when a heart rate goes from 95 to 120 inside WARNING (NEWS2 1 to 2)', () => {
    const { events, full, state } = run('heartRate', [...repeat(95, 70), ...repeat(120, 60), ...repeat(100, 10)])
    expect(events).toEqual([
      ['raised', 'WARNING', 60],
      ['escalated', 'WARNING', 70],
    ])
    expect(full[1]).toMatchObject({ value: 120, side: 'high', score: 2, message: 'p-0001: heart rate 120 bpm, high (NEWS2 2), WARNING (escalated)' })
    expect(state.open).toMatchObject({ score: 2, value: 100 })
  })

  it('escalates when the side changes (45 to 100 bpm), the open alert then reading 100 bpm, high', () => {
    const { events, full, state } = run('heartRate', [...repeat(45, 70), ...repeat(100, 10)])
    expect(events).toEqual([
      ['raised', 'WARNING', 60],
      ['escalated', 'WARNING', 70],
    ])
    expect(full.map((e) => e.side)).toEqual(['low', 'high'])
    expect(state.open).toMatchObject({ value: 100, side: 'high', ts: 79_000 })
    expect(state.open?.message).toBe('p-0001: heart rate 100 bpm, high (NEWS2 1), WARNING')
  })

  it('escalates when a critical value crosses to the other side', () => {
    const { events } = run('heartRate', [...repeat(35, 20), 140])
    expect(events).toEqual([
      ['raised', 'CRITICAL_LOW', 15],
      ['escalated', 'CRITICAL_HIGH', 20],
    ])
  })
})

describe('clearing', () => {
  it('clears only after the value has stayed normal for the whole hold-down, the pending runs gone', () => {
    const { events, state } = run('heartRate', [...repeat(100, 70), ...repeat(72, 61)])
    expect(events).toEqual([
      ['raised', 'WARNING', 60],
      ['cleared', 'WARNING', 130],
    ])
    expect(state).toEqual({ open: undefined, pending: undefined })
  })

  it('restarts the hold-down when the value leaves normal again before it ends', () => {
    const { events } = run('heartRate', [...repeat(100, 65), ...repeat(72, 50), 100, ...repeat(72, 61)])
    // raised at 60; normal from 65; a relapse at 115; normal from 116: cleared at 176
    expect(events).toEqual([
      ['raised', 'WARNING', 60],
      ['cleared', 'WARNING', 176],
    ])
  })
})

describe('glucose alerts', () => {
  it('say level 1 hypoglycaemia for 60 mg/dL and level 2 hyperglycaemia for 260 mg/dL, on the CGM reading', () => {
    const low = run('glucose', [60], CGM).full[0]
    expect(low).toMatchObject({ kind: 'raised', level: 'WARNING', side: 'low', message: 'p-0001: glucose 60 mg/dL, level 1 hypoglycaemia, WARNING' })
    const high = run('glucose', [260], CGM).full[0]
    expect(high).toMatchObject({ level: 'CRITICAL_HIGH', side: 'high', message: 'p-0001: glucose 260 mg/dL, level 2 hyperglycaemia, CRITICAL_HIGH' })
    expect(high?.score).toBeUndefined()
  })
})

describe('event ids', () => {
  it('depend only on patient, subject, event time, kind (and the device for device alerts)', () => {
    expect(run('spo2', [88], CUFF).full[0]?.id).toBe('p-0001|spo2|0|raised')
    expect(alertId('p-1', 'device', 5, 'raised', 'd-1:signal')).toBe('p-1|device:d-1:signal|5|raised')
  })
})

describe('side', () => {
  it('is low below the NORMAL band and high above it, none inside', () => {
    const side = (v: number) => sideOf(DEFAULT_BANDS.heartRate, bandOf(DEFAULT_BANDS.heartRate, v))
    expect([side(35), side(45), side(70), side(95), side(140)]).toEqual(['low', 'low', undefined, 'high', 'high'])
  })
})

describe('no signal', () => {
  const NONE: NoSignalState = { noSignalSince: null, noSignalTs: null }
  const sample = (ts: number, noSignal: Vital[], gapMs = WEARABLE) => ({ patientId: 'p-1', deviceId: 'wrist-1', noSignal, ts, gapMs })

  it('raises one NO_SIGNAL after 15 s of probe-off readings and clears it on the next good reading', () => {
    let state = NONE
    const events: [string, string, number][] = []
    for (let i = 0; i < 20; i++) {
      const step = stepNoSignal(state, sample(i * 1000, ['heartRate']), 15_000)
      state = step.state
      if (step.event) events.push([step.event.kind, step.event.level, step.event.ts])
    }
    expect(events).toEqual([['raised', 'NO_SIGNAL', 15_000]])
    const back = stepNoSignal(state, sample(20_000, []), 15_000)
    expect(back.state).toEqual(NONE)
    expect(back.event).toMatchObject({ kind: 'cleared', level: 'NO_SIGNAL', deviceId: 'wrist-1', id: 'p-1|device:wrist-1:signal|20000|cleared' })
  })

  it("raises at once on a device's first reading, or its first after a gap of 15 s, when it has no signal", () => {
    expect(stepNoSignal(NONE, sample(0, ['spo2'], NO_PREVIOUS_SAMPLE), 15_000).event).toMatchObject({ kind: 'raised', level: 'NO_SIGNAL' })
    expect(stepNoSignal(NONE, sample(0, ['spo2'], 15_000), 15_000).event).toMatchObject({ kind: 'raised', level: 'NO_SIGNAL' })
    expect(stepNoSignal(NONE, sample(0, ['spo2'], 1_000), 15_000).event).toBeUndefined()
  })

  it('raises nothing for a probe off for a few seconds', () => {
    let state = NONE
    for (let i = 0; i < 5; i++) state = stepNoSignal(state, sample(i * 1000, ['spo2']), 15_000).state
    const back = stepNoSignal(state, sample(5_000, []), 15_000)
    expect(back.event).toBeUndefined()
    expect(back.state).toEqual(NONE)
  })
})

describe('stale devices', () => {
  it('waits three cadences, and never less than two minutes', () => {
    expect(staleThresholdMs(1_000, 3, 120_000)).toBe(120_000)
    expect(staleThresholdMs(300_000, 3, 120_000)).toBe(900_000)
    expect(staleThresholdMs(null, 3, 120_000)).toBe(120_000)
  })
})
