/**
 * Alarm burden: how many alerts the speed layer's rules raise, measured on its pure functions
 * (no broker, no Redis), so the figures are exact and repeatable. Not one of `vigil bench`'s
 * timed benchmarks; the figures and what they show are in the alarm-burden section of docs/ARCHITECTURE.md.
 *
 * 1. The simulated ward: 30 patients (5 per persona), seed 20261129, from 2026-01-05T08:00Z, for
 *    `hours` of event time. Each reading goes through the speed layer's validation
 *    (speed-layer/validate.ts validateRecord, as decode.ts calls it, the broker's timestamp being
 *    the event time) and speed-layer/patients.ts applyReadings, with each persona's chart bands
 *    (the COPD persona's `spo2:news2-scale2`) and the default options; housekeeping's stale check
 *    (speed-layer/stale.ts raiseStaleDevices) runs every 5 s. Printed: alerts raised or escalated
 *    per patient per hour, by persona, with the count of each kind:level. One extra line gives the
 *    COPD persona under the default bands, as the ward ran before it had its chart's preset.
 * 2. Noisy edge series (an artefact, a value on an edge, a lagging clock, new intermittent devices), one patient each: alerts raised or escalated, and cleared.
 *
 *   npx tsx bench/alarm-burden.ts [hours]      (default 24)
 */
import { pathToFileURL } from 'node:url'
import { applyBandSpecs, DEFAULT_BANDS, mergeBands, parseBandSpec, type BandTable } from '../lib/bands.ts'
import type { Reading } from '../lib/contract/schema.ts'
import type { AlertEvent } from '../lib/contract/views.ts'
import { personaOf } from '../edge/personas.ts'
import { Simulator } from '../edge/simulator.ts'
import { DEFAULT_SPEED_OPTIONS } from '../speed-layer/config.ts'
import type { Accepted } from '../speed-layer/decode.ts'
import { applyReadings, emptyPatient, type PatientRuntime } from '../speed-layer/patients.ts'
import { raiseStaleDevices } from '../speed-layer/stale.ts'
import { validateRecord } from '../speed-layer/validate.ts'

const SEED = 20261129
const PATIENTS = 30
const START = Date.UTC(2026, 0, 5, 8)
const HOUR = 3_600_000
const OPTS = DEFAULT_SPEED_OPTIONS
const HOUSEKEEPING_MS = OPTS.housekeepingIntervalMs

/** The reading as the speed layer accepts it from a record that arrived at `arrivedAt`; undefined when it is rejected whole. */
export function accept(r: Reading, arrivedAt: number = r.ts): Accepted | undefined {
  const v = validateRecord(Buffer.from(JSON.stringify(r)), { key: r.patientId, brokerTs: arrivedAt }, OPTS.maxClockSkewMs)
  return v.ok ? { reading: v.reading, noSignal: v.noSignal, arrivedAt } : undefined
}

/** Counts of `kind:level` of the raised and escalated events, and their total. */
type Tally = Record<string, number>

function tallyInto(t: Tally, events: readonly AlertEvent[]): void {
  for (const e of events) {
    if (e.kind === 'cleared') continue
    const k = `${e.kind}:${e.level}`
    t[k] = (t[k] ?? 0) + 1
    t.total = (t.total ?? 0) + 1
  }
}

/** What a tally's alerts are about: a vital, the NEWS2 aggregate, the glucose forecast, a device (stale, no signal). */
function bySubject(t: Tally): Record<'vital' | 'news2' | 'glucoseForecast' | 'device', number> {
  const out = { vital: 0, news2: 0, glucoseForecast: 0, device: 0 }
  for (const [k, n] of Object.entries(t)) {
    if (k === 'total') continue
    const level = k.slice(k.indexOf(':') + 1)
    if (level.startsWith('NEWS2_')) out.news2 += n
    else if (level === 'URGENT_LOW_SOON') out.glucoseForecast += n
    else if (level === 'STALE' || level === 'NO_SIGNAL') out.device += n
    else out.vital += n
  }
  return out
}

/** A persona's chart bands (its presets over the defaults). */
function personaTable(n: number): BandTable {
  const specs = personaOf(n).bands.map(parseBandSpec)
  return specs.length === 0 ? DEFAULT_BANDS : mergeBands(applyBandSpecs({}, specs))
}

/** Runs housekeeping's stale check at every interval boundary up to `untilMs`; returns the next boundary. */
function housekeepUntil(patients: () => Iterable<PatientRuntime>, nextMs: number, untilMs: number, onEvents: (e: AlertEvent[]) => void): number {
  let next = nextMs
  while (next <= untilMs) {
    onEvents(raiseStaleDevices(patients(), next, OPTS).events)
    next += HOUSEKEEPING_MS
  }
  return next
}

/** The patient's runtime in `patients`, created with `table()` at its first reading. */
function runtimeOf(patients: Map<string, PatientRuntime>, id: string, table: () => BandTable = () => DEFAULT_BANDS): PatientRuntime {
  let p = patients.get(id)
  if (p === undefined) {
    p = emptyPatient(id, table())
    patients.set(id, p)
  }
  return p
}

export interface WardResult {
  readings: number
  rejected: number
  byPersona: Record<string, Tally>
  /** The COPD persona run again under the default bands. */
  copdDefaultBands: Tally
}

/** The simulated ward for `hours` of event time. */
export function runWard(hours: number): WardResult {
  const sim = new Simulator(PATIENTS, SEED, START)
  const patients = new Map<string, PatientRuntime>()
  const copdDefault = new Map<string, PatientRuntime>()
  const out: WardResult = { readings: 0, rejected: 0, byPersona: {}, copdDefaultBands: {} }
  const personaOfId = (id: string) => personaOf(Number(id.slice(2))).name
  const tallyOf = (id: string) => (out.byPersona[personaOfId(id)] ??= {})
  let nextHousekeeping = START + HOUSEKEEPING_MS
  const end = START + hours * HOUR
  while (sim.peekTs() < end) {
    const r = sim.next()
    out.readings++
    nextHousekeeping = housekeepUntil(
      () => patients.values(),
      nextHousekeeping,
      r.ts,
      (events) => {
        for (const e of events) tallyInto(tallyOf(e.patientId), [e])
      },
    )
    const a = accept(r)
    if (a === undefined) {
      out.rejected++
      continue
    }
    const n = Number(r.patientId.slice(2))
    const p = runtimeOf(patients, r.patientId, () => personaTable(n))
    tallyInto(tallyOf(r.patientId), applyReadings(p, [a], OPTS).events)
    if (personaOf(n).name === 'copd') tallyInto(out.copdDefaultBands, applyReadings(runtimeOf(copdDefault, r.patientId), [a], OPTS).events)
  }
  return out
}

/** One reading of a scripted series: what the device sent and when the broker got it. */
interface Sent {
  r: Reading
  arrivedAt: number
}

/** Every event of one patient's series, housekeeping every 5 s of arrival time until `untilMs`. */
export function runSeries(patientId: string, sent: readonly Sent[], untilMs: number): AlertEvent[] {
  const p = emptyPatient(patientId)
  const events: AlertEvent[] = []
  let next = (sent[0]?.arrivedAt ?? 0) + HOUSEKEEPING_MS
  for (const s of sent) {
    next = housekeepUntil(
      () => [p],
      next,
      s.arrivedAt,
      (e) => events.push(...e),
    )
    const a = accept(s.r, s.arrivedAt)
    if (a !== undefined) events.push(...applyReadings(p, [a], OPTS).events)
  }
  housekeepUntil(
    () => [p],
    next,
    untilMs,
    (e) => events.push(...e),
  )
  return events
}

const reading = (patientId: string, deviceId: string, seq: number, ts: number, vitals: Reading['vitals']): Reading => ({
  v: 1,
  patientId,
  deviceId,
  ts,
  seq,
  vitals,
})

/** `count` readings a second from `t0`, with vitals(i), arriving `lagMs` after their event time. */
function perSecond(patientId: string, count: number, vitals: (i: number) => Reading['vitals'], lagMs = 0): Sent[] {
  return Array.from({ length: count }, (_, i) => ({
    r: reading(patientId, `wrist-${patientId}`, i, START + i * 1000 - lagMs, vitals(i)),
    arrivedAt: START + i * 1000,
  }))
}

/** A new intermittent device: its first reading, then its second one cadence later; housekeeping in between. */
function newDevice(patientId: string, deviceId: string, cadenceMs: number, vitals: Reading['vitals']): AlertEvent[] {
  const sent = [0, 1].map((i) => ({ r: reading(patientId, deviceId, i, START + i * cadenceMs, vitals), arrivedAt: START + i * cadenceMs }))
  return runSeries(patientId, sent, START + cadenceMs)
}

export interface EdgeCase {
  name: string
  events: AlertEvent[]
}

/** The noisy edge series: an artefact, a value on an edge, a lagging device clock, new intermittent devices. */
export function edgeCases(): EdgeCase[] {
  const normal = { heartRate: 75, spo2: 97 }
  const tenMinutes = 600
  const fiveMinutes = 300
  return [
    {
      name: 'one SpO2 85 artefact in 10 min of 1 Hz normal readings',
      events: runSeries(
        'e-artefact',
        perSecond('e-artefact', tenMinutes, (i) => (i === 300 ? { ...normal, spo2: 85 } : normal)),
        START + tenMinutes * 1000,
      ),
    },
    {
      name: 'a single 91 bpm every 62 s among 1 Hz normal readings, 5 min',
      events: runSeries(
        'e-edge',
        perSecond('e-edge', fiveMinutes, (i) => (i > 0 && i % 62 === 0 ? { ...normal, heartRate: 91 } : normal)),
        START + fiveMinutes * 1000,
      ),
    },
    {
      name: 'device clock 2 min behind, 1 Hz for 5 min, housekeeping every 5 s',
      events: runSeries(
        'e-lag',
        perSecond('e-lag', fiveMinutes, () => normal, 120_000),
        START + fiveMinutes * 1000,
      ),
    },
    {
      name: 'new CGM, first reading then housekeeping every 5 s (120 s included) until its next one at 5 min',
      events: newDevice('e-cgm', 'cgm-e', 300_000, { glucose: 110 }),
    },
    {
      name: 'new BP cuff, first reading then housekeeping every 5 s (120 s included) until its next one at 15 min',
      events: newDevice('e-cuff', 'bp-e', 900_000, { systolic: 122, diastolic: 78 }),
    },
  ]
}

function describeEvents(events: readonly AlertEvent[]): string {
  const raised = events.filter((e) => e.kind !== 'cleared').length
  const cleared = events.length - raised
  const kinds: Tally = {}
  for (const e of events) {
    const k = `${e.kind}:${e.level}:${e.vital}`
    kinds[k] = (kinds[k] ?? 0) + 1
  }
  return `raised+escalated ${raised}, cleared ${cleared} ${JSON.stringify(kinds)}`
}

function main(): void {
  const hours = Number(process.argv[2] ?? 24)
  if (!Number.isFinite(hours) || hours <= 0) throw new Error(`expected a number of hours, got "${process.argv[2]}"`)
  const ward = runWard(hours)
  console.log(`${ward.readings} readings (${ward.rejected} rejected whole), ${hours} h, ${PATIENTS} patients (5 per persona)`)
  const perHour = (t: Tally) => ((t.total ?? 0) / 5 / hours).toFixed(2)
  for (const [persona, t] of Object.entries(ward.byPersona)) console.log(persona, 'alerts/patient/h', perHour(t), JSON.stringify(t))
  console.log('copd (default bands)', 'alerts/patient/h', perHour(ward.copdDefaultBands), JSON.stringify(ward.copdDefaultBands))
  console.log('by subject, alerts/patient/h:')
  const rows: [string, Tally][] = [...Object.entries(ward.byPersona), ['copd (default bands)', ward.copdDefaultBands]]
  for (const [name, t] of rows) {
    const parts = Object.entries(bySubject(t)).map(([k, n]) => `${k} ${(n / 5 / hours).toFixed(2)}`)
    console.log(`  ${name}: ${parts.join(', ')}`)
  }
  console.log('edge series:')
  for (const c of edgeCases()) console.log(`  ${c.name}: ${describeEvents(c.events)}`)
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main()
