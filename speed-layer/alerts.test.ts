import { describe, expect, it } from 'vitest'
import { classifyVital } from '../lib/bands.ts'
import type { AlertEvent } from '../lib/contract/views.ts'
import { staleThresholdMs, stepVitalAlert, type VitalAlertState } from './alerts.ts'
import { applyReadings, emptyPatient } from './patients.ts'

const HOLD = 60_000

/** Feeds a heart-rate series (one value per second from t = 0) and returns the events, as [kind, level, t in s]. */
function run(values: number[], holdDownMs = HOLD): { events: [string, string, number][]; state: VitalAlertState | undefined } {
  let state: VitalAlertState | undefined
  const events: [string, string, number][] = []
  values.forEach((value, i) => {
    const step = stepVitalAlert(state, { patientId: 'p', vital: 'heartRate', value, status: classifyVital('heartRate', value), ts: i * 1000 }, holdDownMs)
    state = step.state
    if (step.event !== undefined) events.push([step.event.kind, step.event.level, step.event.ts / 1000])
  })
  return { events, state }
}

const repeat = (value: number, n: number) => Array.from({ length: n }, () => value)

describe('the alert state machine', () => {
  it('raises nothing while a vital stays normal', () => {
    expect(run(repeat(72, 100)).events).toEqual([])
  })

  it('raises one alert for a value jittering on a band edge, however long the jitter lasts', () => {
    const jitter = Array.from({ length: 300 }, (_, i) => (i % 2 === 0 ? 91 : 90))
    const { events, state } = run([...repeat(72, 10), ...jitter])
    expect(events).toEqual([['raised', 'WARNING', 10]])
    expect(state?.level).toBe('WARNING')
  })

  it('escalates once when a warning becomes critical, and keeps the critical level while it improves to warning', () => {
    const { events, state } = run([...repeat(72, 5), ...repeat(115, 5), ...repeat(135, 5), ...repeat(115, 5), ...repeat(135, 5)])
    expect(events).toEqual([
      ['raised', 'WARNING', 5],
      ['escalated', 'CRITICAL_HIGH', 10],
    ])
    expect(state?.level).toBe('CRITICAL_HIGH')
  })

  it('escalates when a critical value crosses to the other side', () => {
    const { events } = run([35, 35, 140])
    expect(events).toEqual([
      ['raised', 'CRITICAL_LOW', 0],
      ['escalated', 'CRITICAL_HIGH', 2],
    ])
  })

  it('clears only after the value has stayed normal for the whole hold-down', () => {
    // WARNING at t=0..9, normal from t=10: clears at t=70 (60 s of normal values), not before.
    const { events, state } = run([...repeat(100, 10), ...repeat(72, 61)])
    expect(events).toEqual([
      ['raised', 'WARNING', 0],
      ['cleared', 'WARNING', 70],
    ])
    expect(state).toBeUndefined()
  })

  it('restarts the hold-down when the value leaves normal again before it ends', () => {
    const { events } = run([...repeat(100, 5), ...repeat(72, 50), 100, ...repeat(72, 59), ...repeat(72, 2)])
    // normal from t=56 after the relapse at t=55: cleared at t=116
    expect(events).toEqual([
      ['raised', 'WARNING', 0],
      ['cleared', 'WARNING', 116],
    ])
  })

  it('raises again after a clear when the value leaves normal once more', () => {
    const { events } = run([100, ...repeat(72, 61), 100])
    expect(events.map((e) => e[0])).toEqual(['raised', 'cleared', 'raised'])
  })

  it('gives every event an id that depends only on patient, vital, event time and kind', () => {
    const a = stepVitalAlert(undefined, { patientId: 'p-1', vital: 'spo2', value: 90, status: 'CRITICAL_LOW', ts: 1234 }, HOLD).event as AlertEvent
    const b = stepVitalAlert(undefined, { patientId: 'p-1', vital: 'spo2', value: 90, status: 'CRITICAL_LOW', ts: 1234 }, HOLD).event as AlertEvent
    expect(a.id).toBe(b.id)
    expect(a.id).toBe('p-1|spo2|1234|raised')
  })
})

describe('stale devices', () => {
  it('waits three cadences, and never less than two minutes', () => {
    expect(staleThresholdMs(1_000, 3, 120_000)).toBe(120_000)
    expect(staleThresholdMs(300_000, 3, 120_000)).toBe(900_000)
    expect(staleThresholdMs(null, 3, 120_000)).toBe(120_000)
  })

  it('learns a CGM cadence of five minutes from its readings', () => {
    const p = emptyPatient('p-cgm')
    const readings = Array.from({ length: 5 }, (_, i) => ({
      v: 1 as const,
      patientId: 'p-cgm',
      deviceId: 'cgm',
      ts: i * 300_000,
      seq: i,
      vitals: { glucose: 110 },
    }))
    applyReadings(p, readings, { holdDownMs: HOLD, outOfOrderToleranceMs: 5_000 })
    expect(p.devices.get('cgm')?.cadenceMs).toBe(300_000)
    expect(staleThresholdMs(p.devices.get('cgm')?.cadenceMs ?? null, 3, 120_000)).toBe(900_000)
  })

  it('clears a stale-data alert when the device is heard from again', () => {
    const p = emptyPatient('p-s')
    const opts = { holdDownMs: HOLD, outOfOrderToleranceMs: 5_000 }
    applyReadings(p, [{ v: 1, patientId: 'p-s', deviceId: 'd', ts: 0, seq: 0, vitals: { heartRate: 70 } }], opts)
    const dev = p.devices.get('d')
    if (dev === undefined) throw new Error('device state missing')
    dev.staleTs = 120_000
    const out = applyReadings(p, [{ v: 1, patientId: 'p-s', deviceId: 'd', ts: 500_000, seq: 1, vitals: { heartRate: 70 } }], opts)
    expect(out.events.map((e) => [e.vital, e.kind, e.level, e.ts])).toEqual([['device', 'cleared', 'STALE', 500_000]])
    expect(p.devices.get('d')?.staleTs).toBeNull()
  })
})
