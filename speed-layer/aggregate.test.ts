import { describe, expect, it } from 'vitest'
import type { News2Parameter, News2State } from '../lib/contract/views.ts'
import { news2AlertLevel, stepForecastAlert, stepNews2Alert } from './aggregate.ts'
import type { SubjectState } from './alerts.ts'

const TIMING = { warningPersistenceMs: 60_000, criticalPersistenceMs: 15_000, persistenceResetMs: 10_000, holdDownMs: 60_000 }
const ALL: News2Parameter[] = ['respRate', 'spo2', 'onOxygen', 'systolic', 'heartRate', 'consciousness', 'temperature']

/** A NEWS2 state from per-parameter scores (the parameters given are counted, the others missing). */
function state(scores: Partial<Record<News2Parameter, number>>): News2State {
  const counted = ALL.filter((p) => scores[p] !== undefined)
  const score = counted.reduce((s, p) => s + (scores[p] ?? 0), 0)
  return { score, risk: null, complete: counted.length === 7, counted, scores, missing: ALL.filter((p) => !counted.includes(p)), old: [], scale: 1 }
}

const FULL_6 = { respRate: 2, spo2: 1, onOxygen: 0, systolic: 1, heartRate: 1, consciousness: 0, temperature: 1 }
const FULL_7 = { ...FULL_6, heartRate: 2 }
const QUIET = { respRate: 0, spo2: 0, onOxygen: 0, systolic: 0, heartRate: 0, consciousness: 0, temperature: 0 }

/** Steps the alert through `states`, one a second from `t0`, each `gapMs` after the previous evaluation; event times in seconds from `t0`. */
function run(states: News2State[], gapMs = 1_000, observedAt: Partial<Record<News2Parameter, number>> = {}, t0 = 0) {
  let s: SubjectState = {}
  const events: [string, string, number, string][] = []
  states.forEach((news2, i) => {
    const step = stepNews2Alert(s, { patientId: 'p-1', news2, ts: t0 + i * 1000, gapMs, observedAt }, TIMING)
    s = step.state
    if (step.event) events.push([step.event.kind, step.event.level, (step.event.ts - t0) / 1000, step.event.message])
  })
  return { events, state: s }
}
const times = (st: News2State, n: number) => Array.from({ length: n }, () => st)

describe('NEWS2 trigger levels (RCP 2017)', () => {
  it.each<[string, Partial<Record<News2Parameter, number>>, string | undefined]>([
    ['an aggregate of 7', FULL_7, 'NEWS2_HIGH'],
    ['an aggregate of 6', FULL_6, 'NEWS2_MEDIUM'],
    ['a single 3 in an aggregate of 3', { respRate: 3 }, 'NEWS2_SINGLE_3'],
    ['a partial lower bound of 5', { heartRate: 2, respRate: 3 }, 'NEWS2_MEDIUM'],
    ['an aggregate of 4 without a 3', { heartRate: 2, respRate: 2 }, undefined],
    ['new confusion alone', { consciousness: 3 }, 'NEWS2_SINGLE_3'],
  ])('%s', (_name, scores, level) => {
    expect(news2AlertLevel(state(scores))).toBe(level)
  })

  it('raises no NEWS2_SINGLE_3 for a 3 whose vital already has an open CRITICAL alert, but does for another 3', () => {
    expect(news2AlertLevel(state({ heartRate: 3 }), new Set(['heartRate']))).toBeUndefined()
    expect(news2AlertLevel(state({ heartRate: 3, consciousness: 3 }), new Set(['heartRate']))).toBe('NEWS2_MEDIUM')
    expect(news2AlertLevel(state({ heartRate: 3, temperature: 1 }), new Set(['respRate']))).toBe('NEWS2_SINGLE_3')
    // The aggregate triggers are never covered: 7 stays NEWS2_HIGH whatever the vitals' alerts.
    expect(news2AlertLevel(state(FULL_7), new Set(['heartRate', 'respRate', 'spo2', 'systolic', 'temperature']))).toBe('NEWS2_HIGH')
  })
})

describe('the NEWS2 aggregate alert', () => {
  it('raises one NEWS2_MEDIUM after the warning persistence, with the urgent response in its text', () => {
    const { events } = run(times(state(FULL_6), 90))
    expect(events.map((e) => e.slice(0, 3))).toEqual([['raised', 'NEWS2_MEDIUM', 60]])
    expect(events[0]?.[3]).toBe(
      'p-1: NEWS2 6 (complete), NEWS2_MEDIUM: key threshold for an urgent response: the registered nurse immediately informs the medical team; ' +
        'urgent assessment by a clinician competent in acute illness; observations at least hourly',
    )
  })

  it('raises exactly one NEWS2_HIGH for a sustained aggregate of 7, after the critical persistence', () => {
    const { events } = run(times(state(FULL_7), 120))
    expect(events.map((e) => e.slice(0, 3))).toEqual([['raised', 'NEWS2_HIGH', 15]])
    expect(events[0]?.[3]).toContain('emergency assessment by a team with critical-care competencies')
  })

  it('raises at once on an evaluation 15 min after the previous one (a cuff), names the parameter scoring 3 of a partial score, and never hides it', () => {
    const { events } = run([state({ systolic: 3 })], 900_000)
    expect(events.map((e) => e.slice(0, 3))).toEqual([['raised', 'NEWS2_SINGLE_3', 0]])
    expect(events[0]?.[3]).toMatch(
      /^p-1: NEWS2 ≥ 3 \(partial: 1 of 7; systolic BP scores 3\), NEWS2_SINGLE_3: a single parameter scores 3: urgent ward-based response/,
    )
  })

  it('escalates from SINGLE_3 to MEDIUM at once and to HIGH once confirmed, then clears after the hold-down', () => {
    const single = state({ ...QUIET, respRate: 3 })
    const { events, state: last } = run([...times(single, 65), ...times(state(FULL_6), 5), ...times(state(FULL_7), 20), ...times(state(QUIET), 61)])
    expect(events.map((e) => e.slice(0, 3))).toEqual([
      ['raised', 'NEWS2_SINGLE_3', 60],
      ['escalated', 'NEWS2_MEDIUM', 65],
      ['escalated', 'NEWS2_HIGH', 85],
      ['cleared', 'NEWS2_HIGH', 150],
    ])
    expect(last).toEqual({ pending: undefined })
  })

  it('raises nothing for a brief excursion of a continuous device', () => {
    expect(run([...times(state(QUIET), 10), ...times(state(FULL_7), 10), ...times(state(QUIET), 100)]).events).toEqual([])
  })

  it('confirms NEWS2_HIGH for a score hovering 6/7 (a run survives brief returns)', () => {
    const hovering = Array.from({ length: 120 }, (_, i) => state(i % 2 === 0 ? FULL_7 : FULL_6))
    expect(run(hovering).events.map((e) => e.slice(0, 3))).toEqual([['raised', 'NEWS2_HIGH', 16]])
  })
})

describe('a NEWS2 alert never clears on missing data', () => {
  // Complete 7 (heart rate, respiration, SpO2 from a wearable), then the probe falls off: the wearable's parameters age out.
  const PROBE_OFF = { onOxygen: 0, systolic: 1, consciousness: 0, temperature: 1 }
  const T0 = Date.UTC(2025, 10, 22, 21, 0, 0)
  const observedAt = { respRate: T0 + 180_000, spo2: T0 + 180_000, heartRate: T0 + 180_000 }

  it('stays open while the parameters that scored are not observed again, saying which and since when', () => {
    const { events, state: last } = run([...times(state(FULL_7), 30), ...times(state(PROBE_OFF), 600)], 1_000, observedAt, T0)
    expect(events.map((e) => e.slice(0, 3))).toEqual([['raised', 'NEWS2_HIGH', 15]])
    expect(last.open).toMatchObject({
      level: 'NEWS2_HIGH',
      value: 2,
      normalSince: null,
      parameters: ['respRate', 'spo2', 'systolic', 'heartRate', 'temperature'],
    })
    expect(last.open?.message).toBe(
      'p-1: NEWS2 ≥ 2 (partial: 4 of 7), respiratory rate, SpO2, heart rate not observed since 21:03:00Z; NEWS2_HIGH stays open until they are',
    )
  })

  it('clears once they are observed again and the score has stayed below every trigger for the hold-down', () => {
    const { events } = run([...times(state(FULL_7), 30), ...times(state(PROBE_OFF), 600), ...times(state(QUIET), 61)])
    expect(events.map((e) => e.slice(0, 3))).toEqual([
      ['raised', 'NEWS2_HIGH', 15],
      ['cleared', 'NEWS2_HIGH', 690],
    ])
  })

  it('names a parameter observed on another day with its date', () => {
    const { state: last } = run([...times(state(FULL_7), 20), state(PROBE_OFF)], 1_000, { ...observedAt, heartRate: T0 - 86_400_000 }, T0)
    expect(last.open?.message).toContain('respiratory rate, SpO2 not observed since 21:03:00Z, heart rate not observed since 2025-11-21T21:00:00Z')
  })
})

describe('urgent low soon', () => {
  const sample = (ts: number, forecast: number | undefined) => ({
    patientId: 'p-1',
    glucose: 80,
    rate: -2,
    forecast,
    minutes: 20,
    thresholdMgDl: 55,
    ts,
    gapMs: 300_000,
  })

  it('raises on the CGM reading whose forecast is below 55 mg/dL and clears after the hold-down of forecasts at or above it', () => {
    let s: SubjectState = {}
    const events: [string, number, number | undefined][] = []
    for (const [ts, f] of [
      [0, 70],
      [300_000, 40],
      [600_000, 50],
      [900_000, 60],
      [1_200_000, undefined],
    ] as const) {
      const step = stepForecastAlert(s, sample(ts, f), TIMING)
      s = step.state
      if (step.event) events.push([step.event.kind, step.event.ts, step.event.value])
    }
    expect(events).toEqual([
      ['raised', 300_000, 40],
      ['cleared', 1_200_000, undefined],
    ])
  })

  it('says what is predicted', () => {
    const step = stepForecastAlert({}, sample(0, 38.26), TIMING)
    expect(step.event?.message).toBe(
      "p-1: glucose 80 mg/dL, falling 2.0 mg/dL/min, predicted 38 mg/dL in 20 min: URGENT_LOW_SOON (below 55 mg/dL predicted), check the patient's glucose",
    )
    expect(step.event?.value).toBe(38.3)
  })
})
