import { describe, expect, it } from 'vitest'
import type { Reading } from '../lib/contract/schema.ts'
import {
  DEDUP_WINDOW,
  KIND_CADENCE_MS,
  deviceKindOf,
  effectiveCadenceMs,
  isDuplicate,
  markSeen,
  nextCadenceMs,
  parseDevice,
  serializeDevice,
  type DeviceState,
} from './devices.ts'

const reading = (seq: number, ts: number, vitals: Reading['vitals'] = { heartRate: 70 }, extra: Partial<Reading> = {}): Reading => ({
  v: 1,
  patientId: 'p-1',
  deviceId: 'd-1',
  seq,
  ts,
  vitals,
  ...extra,
})

describe('duplicate detection', () => {
  it('sees a repeated seq as a duplicate, and a gap filled later as new', () => {
    let d: DeviceState | undefined
    for (const seq of [1, 2, 5]) {
      expect(isDuplicate(d, seq)).toBe(false)
      d = markSeen(d, reading(seq, seq * 1000), seq * 1000)
    }
    expect(isDuplicate(d, 5)).toBe(true)
    expect(isDuplicate(d, 2)).toBe(true)
    expect(isDuplicate(d, 3)).toBe(false)
    d = markSeen(d, reading(3, 3000), 6000)
    expect(isDuplicate(d, 3)).toBe(true)
    expect(isDuplicate(d, 4)).toBe(false)
    d = markSeen(d, reading(5 + DEDUP_WINDOW, 99_000), 99_000)
    expect(isDuplicate(d, 5)).toBe(true)
    expect(isDuplicate(d, 4)).toBe(true) // beyond the window: only a replay can be that old
    expect(parseDevice(serializeDevice(d))).toEqual(d)
  })
})

describe('device kinds', () => {
  it.each<[string, Partial<Reading>, string]>([
    ['glucose', { vitals: { glucose: 110 } }, 'cgm'],
    ['glucose beside a heart rate', { vitals: { glucose: 110, heartRate: 70 } }, 'cgm'],
    ['a blood pressure', { vitals: { systolic: 120, diastolic: 80 } }, 'cuff'],
    ['a systolic and a heart rate', { vitals: { systolic: 120, heartRate: 70 } }, 'cuff'],
    ['a temperature alone', { vitals: { temperature: 37 } }, 'thermometer'],
    ['a temperature and a heart rate', { vitals: { temperature: 37, heartRate: 70 } }, 'wearable'],
    ['oxygen and consciousness only', { vitals: {}, onOxygen: true, consciousness: 'A' }, 'observation'],
    ['heart rate and SpO2', { vitals: { heartRate: 70, spo2: 97 } }, 'wearable'],
    ['a respiratory rate', { vitals: { respRate: 16 } }, 'wearable'],
  ])('a reading with %s comes from a %s', (_name, r, kind) => {
    expect(deviceKindOf(reading(1, 0, r.vitals, r))).toBe(kind)
  })

  it('counts no-signal fields as measured: a probe-off first reading is a wearable, never a nurse observation', () => {
    expect(deviceKindOf(reading(1, 0, {}), ['heartRate', 'spo2'])).toBe('wearable')
    expect(deviceKindOf(reading(1, 0, {}))).toBe('wearable')
    expect(deviceKindOf(reading(1, 0, { temperature: 36 }), ['heartRate'])).toBe('wearable')
  })

  it('has a default cadence per kind, used until two readings were seen and the prior of the estimate after', () => {
    expect(KIND_CADENCE_MS).toEqual({ wearable: 1_000, cgm: 300_000, cuff: 900_000, thermometer: 1_800_000, observation: 14_400_000 })
    let d = markSeen(undefined, reading(1, 0, { glucose: 100 }), 50)
    expect(d).toMatchObject({ kind: 'cgm', cadenceMs: null, arrivedAt: 50 })
    expect(effectiveCadenceMs(d)).toBe(300_000)
    d = markSeen(d, reading(2, 290_000, { glucose: 100 }), 290_100)
    // The first interval weighs 1/5 against the kind's default, as every later one.
    expect(effectiveCadenceMs(d)).toBe(298_000)
  })
})

describe('marking a device seen', () => {
  it('keeps the first kind, the latest arrival and the no-signal run', () => {
    let d = markSeen(undefined, reading(1, 10_000), 100_000)
    d = { ...d, noSignalSince: 9_000, noSignalTs: 9_500 }
    // A later reading with a glucose does not make the wearable a CGM; an earlier arrival never moves arrivedAt back.
    d = markSeen(d, reading(2, 11_000, { glucose: 90 }), 99_000)
    expect(d).toMatchObject({ kind: 'wearable', arrivedAt: 100_000, ts: 11_000, cadenceMs: 1_000, noSignalSince: 9_000, noSignalTs: 9_500 })
    d = markSeen(d, reading(3, 12_000), 130_000)
    expect(d.arrivedAt).toBe(130_000)
  })

  it('serialises every field and reads back an array written before kinds and arrival times', () => {
    const d: DeviceState = {
      seq: 7,
      mask: 3,
      ts: 5_000,
      cadenceMs: 1_000,
      staleTs: null,
      kind: 'cuff',
      arrivedAt: 6_000,
      noSignalSince: 4_000,
      noSignalTs: null,
    }
    expect(parseDevice(serializeDevice(d))).toEqual(d)
    expect(parseDevice('[7,3,5000,1000,null]')).toEqual({
      seq: 7,
      mask: 3,
      ts: 5_000,
      cadenceMs: 1_000,
      staleTs: null,
      kind: 'wearable',
      arrivedAt: 5_000,
      noSignalSince: null,
      noSignalTs: null,
    })
    expect(parseDevice('[7,3,5000,null,null,"toaster",6000]')).toMatchObject({ kind: 'wearable', arrivedAt: 6_000 })
    expect(parseDevice('{"seq":1}')).toBeUndefined()
    expect(parseDevice('not json')).toBeUndefined()
  })
})

describe('the cadence estimate', () => {
  const STALE = { staleCadences: 3, staleMinMs: 120_000 }
  const wearable = (cadenceMs: number | null): DeviceState => ({ ...markSeen(undefined, reading(1, 0), 0), cadenceMs })

  it("starts from the kind's default: a cuff re-measuring 30 s after its first reading is still judged as a cuff", () => {
    const cuff = markSeen(undefined, reading(1, 0, { systolic: 120 }), 0)
    expect(nextCadenceMs(cuff, 30_000, STALE)).toBe(726_000)
  })

  it("folds an interval longer than the device's stale threshold in at that threshold (an hour off is an outage, not a pace)", () => {
    expect(nextCadenceMs(wearable(1_000), 3_600_000, STALE)).toBe(24_800)
    // Below the threshold, the interval counts whole.
    expect(nextCadenceMs(wearable(1_000), 100_000, STALE)).toBe(20_800)
    // The threshold is the device's: three cadences when that is more than the minimum.
    expect(nextCadenceMs(wearable(100_000), 3_600_000, STALE)).toBe(140_000)
  })

  it('converges on a device that really slows down (1 s to 5 min): its stale threshold covers the interval within 5 readings', () => {
    let d = wearable(1_000)
    const thresholds: number[] = []
    for (let i = 0; i < 5; i++) {
      d = { ...d, cadenceMs: nextCadenceMs(d, 300_000, STALE) }
      thresholds.push(Math.max(120_000, 3 * (d.cadenceMs as number)))
    }
    expect(thresholds.at(-1)).toBeGreaterThanOrEqual(300_000)
    for (let i = 0; i < 15; i++) d = { ...d, cadenceMs: nextCadenceMs(d, 300_000, STALE) }
    expect(d.cadenceMs).toBeGreaterThan(290_000)
  })

  it('honours the stale options it is given', () => {
    expect(nextCadenceMs(wearable(1_000), 3_600_000, { staleCadences: 3, staleMinMs: 60_000 })).toBe(12_800)
  })
})
