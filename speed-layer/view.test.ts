import { describe, expect, it } from 'vitest'
import { redisKeys, viewShard } from '../lib/contract/keys.ts'
import type { Reading } from '../lib/contract/schema.ts'
import type { Update } from '../lib/contract/views.ts'
import { decodeLatest } from '../lib/contract/codecs/latest.ts'
import { decodeSeriesEntries } from '../lib/contract/codecs/series.ts'
import { decodeUpdate } from '../lib/contract/codecs/updates.ts'
import { encodePending } from '../lib/contract/codecs/alerts.ts'
import { DEFAULT_SPEED_OPTIONS } from './config.ts'
import type { Accepted } from './decode.ts'
import { applyReadings, emptyPatient, type PatientRuntime } from './patients.ts'
import { batchCalls, callSlices, epochKey, readingsMessages, runtimeFrom, type PatientChange } from './view.ts'

const keys = redisKeys('t:')
const T = 1_763_805_600_000
const OPTS = DEFAULT_SPEED_OPTIONS
const options = { seriesWindowMs: 900_000, alertStreamMaxLen: 10_000, news2FreshnessMs: OPTS.news2FreshnessMs }

const accepted = (r: Reading): Accepted => ({ reading: r, noSignal: [], arrivedAt: r.ts })

function change(patientId: string, readings: Array<Pick<Reading, 'ts' | 'seq' | 'vitals'>>): PatientChange {
  const runtime = emptyPatient(patientId)
  const full = readings.map((r) => accepted({ v: 1 as const, patientId, deviceId: `wrist-${patientId}`, ...r }))
  return { runtime, outcome: applyReadings(runtime, full, OPTS) }
}

/** A shard call's ARGV read as write-shard.lua reads it (its header): the script's side of the layout. */
function readShardArgs(argv: string[]) {
  let i = 2
  const take = () => argv[i++] as string
  const pairs = (n: number) => Object.fromEntries(Array.from({ length: n }, () => [take(), take()]))
  const patients = Array.from({ length: Number(argv[1]) }, () => ({
    latest: pairs(Number(take())),
    series: Array.from({ length: Number(take()) }, () => ({ score: Number(take()), member: take() })),
    trim: take(),
    devices: pairs(Number(take())),
    alertSet: pairs(Number(take())),
    alertDel: Array.from({ length: Number(take()) }, take),
  }))
  return { epoch: argv[0], patients, rest: argv.length - i }
}

/** The global call's ARGV read as write-global.lua reads it. */
function readGlobalArgs(argv: string[]) {
  let i = 3
  const take = () => argv[i++] as string
  const updates = Array.from({ length: Number(take()) }, take)
  const events = Array.from({ length: Number(take()) }, () => ({ event: take(), update: take() }))
  const scores = Object.fromEntries(Array.from({ length: Number(take()) }, () => [take(), take()]))
  return { epoch: argv[0], channel: argv[1], maxlen: argv[2], updates, update: updates[0] as string, events, scores, rest: argv.length - i }
}

/** The one patient of a one-shard batch. */
function onlyPatient(calls: ReturnType<typeof batchCalls>) {
  expect(calls.shards).toHaveLength(1)
  return readShardArgs(calls.shards[0]!.arguments).patients[0]!
}

describe('the arguments of write-shard.lua and write-global.lua', () => {
  it('carry the latest hash as the flat fields the serving layer decodes', () => {
    const c = change('p-0001', [
      { ts: T, seq: 1, vitals: { heartRate: 72, spo2: 96 } },
      { ts: T + 1_000, seq: 2, vitals: { heartRate: 115 } },
    ])
    const calls = batchCalls(keys, [c], [], options, 'epoch-1')
    const shard = viewShard('p-0001')
    expect(calls.shards.map((s) => s.keys)).toEqual([
      [`t:{v${shard}}:epoch`, ...['latest', 'series', 'dedup', 'alerts'].map((k) => `t:{v${shard}}:p-0001:${k}`)],
    ])
    expect(calls.global?.keys).toEqual([epochKey(keys), 't:{view}:patients', 't:{view}:alerts'])
    const { epoch, patients, rest } = readShardArgs(calls.shards[0]!.arguments)
    expect([epoch, rest]).toEqual(['epoch-1', 0])
    const g = readGlobalArgs(calls.global!.arguments)
    expect([g.epoch, g.channel, g.maxlen, g.rest]).toEqual(['epoch-1', 't:updates', '10000', 0])
    const hash = {
      status: 'WARNING',
      ts: '1763805601000',
      news2: '2',
      news2Risk: '',
      news2Complete: '0',
      news2Counted: 'spo2,heartRate',
      news2Missing: 'respRate,onOxygen,systolic,consciousness,temperature',
      news2Old: '',
      news2Scale: '1',
      news2Scores: '{"spo2":0,"heartRate":2}',
      onOxygen: '',
      'onOxygen:ts': '',
      consciousness: '',
      'consciousness:ts': '',
      'glucoseTrend:rate': '',
      'glucoseTrend:arrow': '',
      'glucoseTrend:ts': '',
      risk: '',
      'risk:ts': '',
      riskModel: '',
      riskTop: '',
      riskRecent: '',
      heartRate: '115',
      'heartRate:status': 'WARNING',
      'heartRate:ts': '1763805601000',
      spo2: '96',
      'spo2:status': 'NORMAL',
      'spo2:ts': '1763805600000',
      glucoseRecent: '[]',
    }
    expect(patients[0]!.latest).toEqual(hash)
    expect(decodeLatest('p-0001', hash)).toEqual({
      patientId: 'p-0001',
      ts: T + 1_000,
      status: 'WARNING',
      news2: {
        score: 2,
        risk: null,
        complete: false,
        counted: ['spo2', 'heartRate'],
        scores: { spo2: 0, heartRate: 2 },
        missing: ['respRate', 'onOxygen', 'systolic', 'consciousness', 'temperature'],
        old: [],
        scale: 1,
      },
      vitals: { heartRate: { value: 115, status: 'WARNING', ts: T + 1_000 }, spo2: { value: 96, status: 'NORMAL', ts: T } },
    })
    expect(decodeSeriesEntries(patients[0]!.series.map((s) => s.member))).toEqual(c.outcome.entries)
    expect(patients[0]!.series.map((s) => s.score)).toEqual([T, T + 1_000])
    expect(patients[0]!.trim).toBe(`(${T + 1_000 - 900_000}`)
    expect(decodeUpdate(g.update)).toEqual({ type: 'readings', patients: [{ patient: decodeLatest('p-0001', hash), entries: c.outcome.entries }] })
    // HR 115 left NORMAL one second after the previous value: no alert yet (a WARNING needs 60 s), its pending run goes to the alert-state hash.
    const run = { outSince: T + 1_000, criticalSince: null, inSince: null, belowCriticalSince: null }
    expect(patients[0]!.alertSet).toEqual({ 'heartRate:pending': encodePending(run) })
    expect(patients[0]!.alertDel).toEqual(['heartRate'])
    expect(g.events).toEqual([])
    expect(g.scores).toEqual({ [String(T + 1_000)]: 'p-0001' })
  })

  it('group the patients by view shard, one readings update and one event list for the whole batch', () => {
    // Patients enough to share some shards and spread over others.
    const ids = Array.from({ length: 600 }, (_, k) => `p-${k}`)
    const changes = ids.map((id) => change(id, [{ ts: T, seq: 1, vitals: { heartRate: 70 } }]))
    const calls = batchCalls(keys, changes, [], options, 'e')
    const shards = new Set(ids.map(viewShard))
    expect(calls.shards).toHaveLength(shards.size)
    for (const call of calls.shards) {
      const tag = call.keys[0]!.slice(0, call.keys[0]!.indexOf('}') + 1)
      // Every key of the call in the shard's slot: the same hash tag.
      expect(call.keys.every((k) => k.startsWith(tag))).toBe(true)
    }
    const { updates, scores } = readGlobalArgs(calls.global!.arguments)
    expect(updates).toHaveLength(1)
    const decoded = decodeUpdate(updates[0]!) as Extract<Update, { type: 'readings' }>
    expect(decoded.patients.map((p) => p.patient.patientId).sort()).toEqual([...ids].sort())
    expect(Object.keys(scores)).toEqual([String(T)])
  })

  it('send the vitals the batch changed and every patient-wide field, changed or not', () => {
    const c = change('p-0004', [{ ts: T, seq: 1, vitals: { heartRate: 72, spo2: 96 } }])
    const first = onlyPatient(batchCalls(keys, [c], [], options, 'e')).latest
    c.outcome = applyReadings(
      c.runtime,
      [accepted({ v: 1, patientId: 'p-0004', deviceId: 'wrist-p-0004', ts: T + 1_000, seq: 2, vitals: { heartRate: 73 } })],
      OPTS,
    )
    const second = onlyPatient(batchCalls(keys, [c], [], options, 'e')).latest
    // SpO2 did not change: its fields are left out; the NEWS2 lists, which did not change either, are sent again.
    expect(Object.keys(second).filter((f) => f.startsWith('spo2'))).toEqual([])
    expect(second).toMatchObject({ heartRate: '73', news2Missing: first.news2Missing, onOxygen: '' })
  })

  it('mark the patient trimmed, and trim again only a minute of event time later', () => {
    const c = change('p-0002', [{ ts: T, seq: 1, vitals: { heartRate: 70 } }])
    batchCalls(keys, [c], [], options, 'e')
    expect(c.runtime.trimmedAt).toBe(T)
    c.outcome = applyReadings(
      c.runtime,
      [accepted({ v: 1, patientId: 'p-0002', deviceId: 'wrist-p-0002', ts: T + 30_000, seq: 2, vitals: { heartRate: 71 } })],
      OPTS,
    )
    expect(onlyPatient(batchCalls(keys, [c], [], options, 'e')).trim).toBe('')
  })

  it('are none for a batch that changed nothing', () => {
    const c = change('p-0003', [])
    expect(batchCalls(keys, [c], [], options, 'e')).toEqual({ shards: [], global: null })
  })
})

describe("cutting a batch's readings update into messages", () => {
  it('keeps whole patients together, each message under the size unless one part alone is over it', () => {
    const parts = ['{"a":1}', '{"b":22}', '{"c":333}', `{"d":"${'x'.repeat(40)}"}`, '{"e":5}']
    const messages = readingsMessages(parts, 20)
    const patientsOf = (m: string) => (JSON.parse(m) as { patients: unknown[] }).patients
    expect(messages.map(patientsOf)).toEqual([[{ a: 1 }, { b: 22 }], [{ c: 333 }], [{ d: 'x'.repeat(40) }], [{ e: 5 }]])
    expect(readingsMessages(parts)).toHaveLength(1)
    expect(readingsMessages([])).toEqual([])
  })
})

describe('cutting a batch into calls', () => {
  it('keeps one call for a small shard group, and one (empty) for nothing', () => {
    const small = [change('a', [{ ts: T, seq: 1, vitals: { heartRate: 70 } }]), change('b', [{ ts: T, seq: 1, vitals: { heartRate: 70 } }])]
    expect(callSlices(small)).toEqual([small])
    expect(callSlices([])).toEqual([[]])
  })

  it('cuts a large batch into runs of whole patients, each under the argument budget', () => {
    const many = Array.from({ length: 10 }, (_, k) => change(`p-${k}`, [{ ts: T, seq: 1, vitals: { heartRate: 70 } }]))
    // Each patient counts 64 + 6 x 1 vital + 2 x (1 entry + 1 device) = 74 arguments.
    const slices = callSlices(many, 200)
    expect(slices.map((s) => s.length)).toEqual([3, 3, 3, 1])
    expect(slices.flat()).toEqual(many)
  })
})

describe('a replay from the stored state', () => {
  /** A wearable at 1 Hz (HR 125, RR 22, SpO2 94; a probe off for 20 s), a cuff and a falling CGM: 20 minutes. */
  function scenario(): Accepted[] {
    const out: Accepted[] = [accepted({ v: 1, patientId: 'p-r', deviceId: 'cuff', ts: T, seq: 0, vitals: { systolic: 105 } })]
    for (let i = 0; i < 1_200; i++) {
      const off = i >= 300 && i < 320
      const r: Reading = {
        v: 1,
        patientId: 'p-r',
        deviceId: 'wrist',
        ts: T + i * 1000,
        seq: i,
        vitals: off ? { respRate: 22, spo2: 94 } : { heartRate: 125, respRate: 22, spo2: 94 },
      }
      out.push({ reading: r, noSignal: off ? ['heartRate'] : [], arrivedAt: r.ts + 20 })
      if (i % 300 === 299) out.push(accepted({ v: 1, patientId: 'p-r', deviceId: 'cgm', ts: T + i * 1000, seq: i, vitals: { glucose: 160 - i / 10 } }))
    }
    return out
  }

  /** What write-shard.lua leaves in the patient's three hashes after the call. */
  function store(hashes: { latest: Record<string, string>; alerts: Record<string, string>; devices: Record<string, string> }, change: PatientChange) {
    const p = onlyPatient(batchCalls(keys, [change], [], options, 'e'))
    Object.assign(hashes.latest, p.latest)
    Object.assign(hashes.devices, p.devices)
    Object.assign(hashes.alerts, p.alertSet)
    for (const f of p.alertDel) delete hashes.alerts[f]
  }

  it('yields the same events and ids as one uninterrupted run, pending runs included', () => {
    const all = scenario()
    const whole = emptyPatient('p-r')
    const once = applyReadings(whole, all, OPTS).events
    expect(once.map((e) => [e.vital, e.kind, e.level])).toEqual([
      ['systolic', 'raised', 'WARNING'],
      ['heartRate', 'raised', 'WARNING'],
      ['respRate', 'raised', 'WARNING'],
      ['spo2', 'raised', 'WARNING'],
      ['news2', 'raised', 'NEWS2_MEDIUM'],
      ['device', 'raised', 'NO_SIGNAL'],
      ['device', 'cleared', 'NO_SIGNAL'],
      ['glucoseForecast', 'raised', 'URGENT_LOW_SOON'],
      ['glucose', 'raised', 'CRITICAL_LOW'],
    ])
    // Cut inside the persistence runs (30 s), inside the no-signal run (310 s) and elsewhere; each part starts from Redis.
    const hashes = { latest: {}, alerts: {}, devices: {} }
    const events = []
    let from = 0
    for (const cut of [31, 312, 700, all.length]) {
      const runtime: PatientRuntime = runtimeFrom('p-r', hashes.latest, hashes.alerts, hashes.devices)
      const outcome = applyReadings(runtime, all.slice(from, cut), OPTS)
      events.push(...outcome.events)
      store(hashes, { runtime, outcome })
      from = cut
    }
    expect(events).toEqual(once)
    const reloaded = runtimeFrom('p-r', hashes.latest, hashes.alerts, hashes.devices)
    expect(reloaded.alerts).toEqual(whole.alerts)
    expect(reloaded.pending).toEqual(whole.pending)
    expect(reloaded.glucoseRecent).toEqual(whole.glucoseRecent)
    expect(reloaded.devices).toEqual(whole.devices)
  })
})
