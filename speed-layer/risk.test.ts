import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { encodeLatest } from '../lib/contract/codecs/latest.ts'
import { encodeSeriesEntry } from '../lib/contract/codecs/series.ts'
import type { Reading } from '../lib/contract/schema.ts'
import type { AlertEvent } from '../lib/contract/views.ts'
import { loadConfig } from '../lib/config.ts'
import { createLogger } from '../lib/log.ts'
import { FEATURE_NAMES, PatientFeatures } from '../lib/risk/features.ts'
import { compileRiskModel, riskLogit, sigmoid } from '../lib/risk/model.ts'
import { HEART_RATE_MODEL, riskModelFile } from '../test/risk-model-fixture.ts'
import { DEFAULT_SPEED_OPTIONS } from './config.ts'
import type { Accepted } from './decode.ts'
import { loadServedModel } from './index.ts'
import { applyReadings, emptyPatient, patientState, type PatientOptions, type PatientRuntime } from './patients.ts'
import { riskModelInfo, riskServing, stepRiskAlert, type RiskAlertInput } from './risk.ts'
import { runtimeFrom } from './view.ts'

/** A minute boundary, so that the minute closes fall where the tests say. */
const T = 1_763_805_600_000
const MIN = 60_000

function acc(seq: number, ts: number, body: Partial<Pick<Reading, 'vitals' | 'onOxygen' | 'consciousness'>>, deviceId = 'wrist-1'): Accepted {
  return { reading: { v: 1, patientId: 'p-0001', deviceId, ts, seq, vitals: {}, ...body }, noSignal: [], arrivedAt: ts + 50 }
}

/** A heart rate every 10 s from `fromMin` to `toMin` (exclusive), one value per minute range. */
function heartRates(plan: ReadonlyArray<readonly [minutes: number, bpm: number]>): Accepted[] {
  const out: Accepted[] = []
  let minute = 0
  for (const [minutes, bpm] of plan) {
    for (let s = minute * 60; s < (minute + minutes) * 60; s += 10) out.push(acc(out.length, T + s * 1000, { vitals: { heartRate: bpm, spo2: 97 } }))
    minute += minutes
  }
  return out
}

const serving = riskServing(compileRiskModel(HEART_RATE_MODEL))
const OPTS: PatientOptions = { ...DEFAULT_SPEED_OPTIONS, risk: serving }
const riskEvents = (events: AlertEvent[]) => events.filter((e) => e.vital === 'risk').map((e) => [e.kind, e.level, e.ts - T])

describe('the risk model on the speed layer', () => {
  it('gives the risk the weights say, with contributions that add up to the logit exactly', () => {
    const model = compileRiskModel(
      riskModelFile(
        [
          { name: 'heartRate.last', mean: 80, sd: 10, weight: 0.7 },
          { name: 'spo2.mean5', mean: 96, sd: 2, weight: -0.45 },
          { name: 'respRate.last', mean: 16, sd: 4, weight: 0.3 },
          { name: 'news2', mean: 1, sd: 1.5, weight: 0.55 },
          { name: 'temperature.last', mean: 37, sd: 0.5, weight: 0.2 },
        ],
        { intercept: -2.5 },
      ),
    )
    const f = new PatientFeatures()
    f.vitals.heartRate.add(112, T + 30_000)
    f.vitals.spo2.add(93, T + 10_000)
    f.vitals.spo2.add(92, T + 40_000)
    f.vitals.respRate.add(23, T + 40_000)
    f.observations = { onOxygen: false, consciousness: 'A' }
    const x = f.vector(T + 50_000)
    const c = new Float64Array(FEATURE_NAMES.length)
    const logit = riskLogit(model, x, c)
    // HR 112: 0.7*3.2; SpO2 mean 92.5: -0.45*-1.75; RR 23: 0.3*1.75; NEWS2 (HR 2, SpO2 92 scale 1: 2, RR 23: 2, air 0) 6: 0.55*(5/1.5); temperature never measured: 0.
    const expected = [0.7 * 3.2, -0.45 * -1.75, 0.3 * 1.75, 0.55 * (5 / 1.5)]
    expect(logit).toBeCloseTo(-2.5 + expected.reduce((a, b) => a + b, 0), 12)
    let sum = model.intercept
    for (const v of c) sum += v
    expect(sum).toBe(logit)
    expect(c[FEATURE_NAMES.indexOf('temperature.last')]).toBe(0)

    const p = emptyPatient('p-0001')
    applyReadings(
      p,
      [
        acc(0, T + 10_000, { vitals: { spo2: 93 } }),
        acc(1, T + 30_000, { vitals: { heartRate: 112 } }),
        acc(2, T + 40_000, { vitals: { spo2: 92, respRate: 23 }, onOxygen: false, consciousness: 'A' }),
      ],
      { ...DEFAULT_SPEED_OPTIONS, risk: riskServing(model) },
    )
    const risk = patientState(p, DEFAULT_SPEED_OPTIONS.news2FreshnessMs).risk
    expect(risk?.risk).toBeCloseTo(sigmoid(riskLogit(model, f.vector(T + 40_000))), 12)
    expect(risk?.model).toBe('lr-0123456789ab')
    expect(risk?.top.map((t) => [t.feature, t.text])).toEqual([
      ['heartRate.last', 'Heart rate 112 bpm'],
      ['news2', 'NEWS2 6'],
      ['spo2.mean5', 'SpO2 5-min mean 93 %'],
    ])
  })

  it('computes no risk without a model: no risk field, empty risk fields in the latest hash', () => {
    const p = emptyPatient('p-0001')
    applyReadings(p, heartRates([[3, 130]]), DEFAULT_SPEED_OPTIONS)
    const state = patientState(p, DEFAULT_SPEED_OPTIONS.news2FreshnessMs)
    expect('risk' in state).toBe(false)
    expect(p.riskFeatures).toBeUndefined()
    expect(encodeLatest(state)).toMatchObject({ risk: '', riskModel: '', riskTop: '', riskRecent: '' })
  })

  it('raises RISK_HIGH on a minute at or above the raise threshold, keeps it open between the thresholds, clears it after the hold-down below clear', () => {
    const p = emptyPatient('p-0001')
    // HR 80 (risk 0.05) 2 min, 130 (0.88) 3 min, 105 (0.38: between clear 0.3 and raise 0.5) 3 min, 85 (0.08) 3 min.
    const out = applyReadings(
      p,
      heartRates([
        [2, 80],
        [3, 130],
        [3, 105],
        [3, 85],
      ]),
      OPTS,
    )
    // Minute 2 closes at its newest reading (2:50), a minute after minute 1's close: confirmed at once.
    // Minute 8 is the first below clear (8:50); its hold-down of 60 s ends at minute 9's close (9:50).
    expect(riskEvents(out.events)).toEqual([
      ['raised', 'RISK_HIGH', 170_000],
      ['cleared', 'RISK_HIGH', 590_000],
    ])
    const raised = out.events.find((e) => e.vital === 'risk')
    expect(raised?.message).toBe('p-0001: experimental risk 88 % (model lr-0123456789ab): Heart rate 130 bpm +5.0, RISK_HIGH')
    expect(p.alerts.risk).toBeUndefined()
  })

  it('without hysteresis the risk between the thresholds would have cleared: with clear = raise it clears a hold-down after the first minute below', () => {
    const p = emptyPatient('p-0001')
    const noHysteresis = riskServing(compileRiskModel(riskModelFile(HEART_RATE_MODEL.features, { threshold: { raise: 0.5, clear: 0.5 } })))
    const out = applyReadings(
      p,
      heartRates([
        [2, 80],
        [3, 130],
        [3, 105],
        [3, 85],
      ]),
      { ...DEFAULT_SPEED_OPTIONS, risk: noHysteresis },
    )
    expect(riskEvents(out.events)).toEqual([
      ['raised', 'RISK_HIGH', 170_000],
      ['cleared', 'RISK_HIGH', 410_000],
    ])
  })

  it('never touches another alert: the heart rate alerts are the same with and without the model', () => {
    const readings = heartRates([
      [2, 80],
      [3, 130],
      [3, 105],
      [3, 85],
    ])
    const without = applyReadings(emptyPatient('p-0001'), readings, DEFAULT_SPEED_OPTIONS).events
    const withModel = applyReadings(emptyPatient('p-0001'), readings, OPTS).events
    expect(withModel.filter((e) => e.vital !== 'risk')).toEqual(without)
  })

  it('clears an open RISK_HIGH at the next reading once no model is served, saying why, and touches nothing else', () => {
    const p = emptyPatient('p-0001')
    applyReadings(
      p,
      heartRates([
        [2, 80],
        [3, 130],
      ]),
      OPTS,
    )
    expect(p.alerts.risk?.level).toBe('RISK_HIGH')
    const more = heartRates([[6, 130]]).slice(30, 32)
    const out = applyReadings(p, more, DEFAULT_SPEED_OPTIONS)
    expect(out.events.filter((e) => e.vital === 'risk').map((e) => [e.kind, e.ts - T, e.message])).toEqual([
      ['cleared', 300_000, 'p-0001: no risk model is served any more (alert RISK_HIGH cleared)'],
    ])
    expect([p.alerts.risk, p.pending.risk]).toEqual([undefined, undefined])
    expect(out.changedAlerts.has('risk')).toBe(true)
    expect(applyReadings(p, heartRates([[7, 130]]).slice(40, 41), DEFAULT_SPEED_OPTIONS).events.filter((e) => e.vital === 'risk')).toEqual([])
  })

  it('decides the same risk alerts and minute points whatever the batches the readings come in', () => {
    const readings = heartRates([
      [2, 80],
      [3, 130],
      [3, 105],
      [3, 85],
    ])
    const whole = emptyPatient('p-0001')
    const once = applyReadings(whole, readings, OPTS).events
    const cut = emptyPatient('p-0001')
    const events: AlertEvent[] = []
    for (let i = 0; i < readings.length; i += 7) events.push(...applyReadings(cut, readings.slice(i, i + 7), OPTS).events)
    expect(events).toEqual(once)
    expect(cut.risk).toEqual(whole.risk)
  })

  it('keeps one point per closed minute of the last hour, the current minute last', () => {
    const p = emptyPatient('p-0001')
    applyReadings(p, heartRates([[70, 80]]), OPTS)
    const recent = p.risk?.recent ?? []
    expect(recent.length).toBe(60)
    expect(recent.every(([ts], k) => k === 0 || Math.floor(ts / MIN) === Math.floor((recent[k - 1]?.[0] ?? 0) / MIN) + 1)).toBe(true)
    expect(recent[recent.length - 1]).toEqual([T + 70 * MIN - 10_000, p.risk?.risk])
    expect(recent[0]?.[0]).toBeGreaterThan(T + 70 * MIN - 10_000 - 3_600_000)
  })

  it('rebuilds the features of a patient reloaded from Redis from the series and the latest values: the next risks and alerts are those of an uninterrupted run', () => {
    const readings = heartRates([
      [4, 80],
      [1, 130],
      [2, 104],
    ])
    const cut = 26
    const live = emptyPatient('p-0001')
    const first = applyReadings(live, readings.slice(0, cut), OPTS)
    // What Redis holds after the first batch: the latest hash, the alert hash, the series.
    const latest = encodeLatest(patientState(live, DEFAULT_SPEED_OPTIONS.news2FreshnessMs))
    const alerts: Record<string, string> = {}
    for (const [subject, a] of Object.entries(live.alerts)) alerts[subject] = JSON.stringify(a)
    for (const [subject, r] of Object.entries(live.pending)) alerts[`${subject}:pending`] = JSON.stringify(r)
    const series = first.entries.map(encodeSeriesEntry)
    const reloaded: PatientRuntime = runtimeFrom('p-0001', latest, alerts, {}, series, 'lr-0123456789ab')
    expect(reloaded.riskFeatures?.minutes.length).toBe(4)
    // Served another model: the stored minute points are the other model's, and are not kept.
    expect(runtimeFrom('p-0001', latest, alerts, {}, series, 'lr-ffffffffffff').riskFeatures?.minutes).toEqual([])
    const rest = readings.slice(cut)
    const a = applyReadings(live, rest, OPTS)
    const b = applyReadings(reloaded, rest, OPTS)
    expect(riskEvents(b.events)).toEqual(riskEvents(a.events))
    expect(riskEvents(a.events)).toEqual([['raised', 'RISK_HIGH', 290_000]])
    expect(b.events.find((e) => e.vital === 'risk')?.message).toBe(a.events.find((e) => e.vital === 'risk')?.message)
    expect(reloaded.risk?.risk).toBeCloseTo(live.risk?.risk ?? Number.NaN, 12)
    expect(reloaded.risk?.recent.map(([ts]) => ts)).toEqual(live.risk?.recent.map(([ts]) => ts))
  })

  it('overrides the raise threshold keeping the clear threshold in the file’s ratio, and describes the model for risk:model', () => {
    const model = compileRiskModel(HEART_RATE_MODEL)
    expect(riskServing(model).threshold).toEqual({ raise: 0.5, clear: 0.3 })
    expect(riskServing(model, 0.4).threshold.clear).toBeCloseTo(0.24, 12)
    expect(riskModelInfo(riskServing(model))).toEqual({
      version: 'lr-0123456789ab',
      cohort: 'simulator, 140 patients, 7 days',
      horizonMinutes: 60,
      testAuroc: 0.81,
      testAurocWithinPatients: null,
      threshold: { raise: 0.5, clear: 0.3 },
    })
    const reordered = riskModelFile(HEART_RATE_MODEL.features, { metrics: { ...HEART_RATE_MODEL.metrics, test: [...HEART_RATE_MODEL.metrics.test].reverse() } })
    expect(riskModelInfo(riskServing(compileRiskModel(reordered))).testAuroc).toBe(0.81)
    const named = riskModelFile(HEART_RATE_MODEL.features, { training: { ...HEART_RATE_MODEL.training, cohort: 'ward 7, 24 patients', to: 3_600_000 } })
    expect(riskModelInfo(riskServing(compileRiskModel(named))).cohort).toBe('ward 7, 24 patients')
  })

  it('steps RISK_HIGH as the other alerts: a risk above raise after a short gap waits for the persistence time', () => {
    const t = DEFAULT_SPEED_OPTIONS
    const s = (ts: number, risk: number, gapMs: number): RiskAlertInput => ({
      patientId: 'p-0001',
      risk,
      top: [],
      ts,
      previousTs: undefined,
      model: 'lr-0123456789ab',
      threshold: { raise: 0.5, clear: 0.3 },
      gapMs,
    })
    const first = stepRiskAlert({}, s(T, 0.6, 20_000), t)
    expect(first.event).toBeUndefined()
    expect(first.state.pending?.outSince).toBe(T)
    const second = stepRiskAlert(first.state, s(T + 60_000, 0.55, 20_000), t)
    expect([second.event?.kind, second.event?.ts, second.event?.value]).toEqual(['raised', T + 60_000, 0.55])
    expect(second.event?.id).toBe(`p-0001|risk|${T + 60_000}|raised`)
  })
})

describe('loading the risk model at the start', () => {
  let dir: string
  let lines: string[]
  const log = () => createLogger({ level: 'info', pretty: false, destination: { write: (s: string) => lines.push(s) } as unknown as NodeJS.WritableStream })
  const config = (speed: Partial<typeof DEFAULT_SPEED_OPTIONS> = {}) => ({
    ...loadConfig({}, { VIGIL_DATALAKE_DIR: dir }),
    speed: { ...DEFAULT_SPEED_OPTIONS, ...speed },
  })
  const messages = () => lines.map((l) => JSON.parse(l) as { level: number; msg: string })

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'vigil-risk-'))
    lines = []
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('serves no model, with no warning, when none is configured and the lake has none', async () => {
    expect(await loadServedModel(config(), log())).toBeUndefined()
    expect(messages().filter((m) => m.level >= 40)).toEqual([])
  })

  it("serves the lake's models/latest.json by default, with the threshold override", async () => {
    const { mkdir } = await import('node:fs/promises')
    await mkdir(path.join(dir, 'models'))
    await writeFile(path.join(dir, 'models', 'latest.json'), JSON.stringify(HEART_RATE_MODEL))
    const served = await loadServedModel(config({ riskThreshold: 0.6 }), log())
    expect(served?.model.version).toBe('lr-0123456789ab')
    expect(served?.threshold.raise).toBe(0.6)
    expect(served?.threshold.clear).toBeCloseTo(0.36, 12)
  })

  it.each([
    ['corrupt', '{"format":"vigil-risk-model",', 'not JSON (corrupt or cut short?)'],
    ['of another format version', JSON.stringify({ ...HEART_RATE_MODEL, formatVersion: 2 }), 'format version 2, this Vigil serves version 1'],
    [
      'with a feature this Vigil does not compute',
      JSON.stringify(riskModelFile([{ name: 'lactate.last', mean: 1, sd: 1, weight: 1 }])),
      'feature lactate.last is not one',
    ],
  ])('refuses a model file %s with one warning naming why, and the readings are applied without a risk', async (_what, text, why) => {
    const file = path.join(dir, 'model.json')
    await writeFile(file, text)
    const served = await loadServedModel(config({ riskModel: file }), log())
    expect(served).toBeUndefined()
    const warnings = messages().filter((m) => m.level === 40)
    expect(warnings.length).toBe(1)
    expect(warnings[0]?.msg).toContain(`risk model ${file} refused: ${why}`)
    const p = emptyPatient('p-0001')
    const out = applyReadings(p, heartRates([[3, 130]]), { ...DEFAULT_SPEED_OPTIONS, ...(served === undefined ? {} : { risk: served }) })
    expect(out.entries.length).toBe(18)
    expect(patientState(p, DEFAULT_SPEED_OPTIONS.news2FreshnessMs).risk).toBeUndefined()
  })
})
