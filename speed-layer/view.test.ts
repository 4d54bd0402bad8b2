import { describe, expect, it } from 'vitest'
import { redisKeys } from '../lib/contract/keys.ts'
import type { Reading } from '../lib/contract/schema.ts'
import { decodeLatest } from '../lib/contract/codecs/latest.ts'
import { decodeSeriesEntries } from '../lib/contract/codecs/series.ts'
import { decodeUpdate } from '../lib/contract/codecs/updates.ts'
import { decodeAlertState } from '../lib/contract/codecs/alerts.ts'
import { applyReadings, emptyPatient } from './patients.ts'
import { batchCall, callSlices, epochKey, type PatientChange } from './view.ts'

const keys = redisKeys('t:')
const T = 1_763_805_600_000
const options = { seriesWindowMs: 900_000, alertStreamMaxLen: 10_000 }

function change(patientId: string, readings: Array<Pick<Reading, 'ts' | 'seq' | 'vitals'>>): PatientChange {
  const runtime = emptyPatient(patientId)
  const full = readings.map((r) => ({ v: 1 as const, patientId, deviceId: `wrist-${patientId}`, ...r }))
  return { runtime, outcome: applyReadings(runtime, full, { holdDownMs: 60_000, outOfOrderToleranceMs: 5_000 }) }
}

/** ARGV read as write-batch.lua reads it (its header): the script's side of the layout. */
function readArgs(argv: string[]) {
  let i = 4
  const take = () => argv[i++] as string
  const pairs = (n: number) => Object.fromEntries(Array.from({ length: n }, () => [take(), take()]))
  const patients = Array.from({ length: Number(argv[2]) }, () => ({
    latest: pairs(Number(take())),
    series: Array.from({ length: Number(take()) }, () => ({ score: Number(take()), member: take() })),
    trim: take(),
    devices: pairs(Number(take())),
    alertSet: pairs(Number(take())),
    alertDel: Array.from({ length: Number(take()) }, take),
    update: take(),
  }))
  const events = Array.from({ length: Number(take()) }, () => ({ event: take(), update: take() }))
  const scores = pairs(Number(take()))
  return { patients, events, scores, rest: argv.length - i }
}

describe('the arguments of write-batch.lua', () => {
  it('carry the latest hash as the flat fields the serving layer decodes', () => {
    const c = change('p-0001', [
      { ts: T, seq: 1, vitals: { heartRate: 112, spo2: 96 } },
      { ts: T + 1_000, seq: 2, vitals: { heartRate: 115 } },
    ])
    const call = batchCall(keys, [c], [], options, 'epoch-1')
    expect(call).not.toBeNull()
    expect(call!.keys).toEqual(['t:{p-0001}:latest', 't:{p-0001}:series', 't:{p-0001}:dedup', 't:{p-0001}:alerts', 't:patients', 't:alerts', epochKey(keys)])
    expect(call!.arguments.slice(0, 4)).toEqual(['t:updates', '10000', '1', 'epoch-1'])
    const { patients, events, scores, rest } = readArgs(call!.arguments)
    expect(rest).toBe(0)
    const hash = {
      status: 'WARNING',
      news2: '2',
      news2Risk: 'low',
      ts: '1763805601000',
      heartRate: '115',
      'heartRate:status': 'WARNING',
      'heartRate:ts': '1763805601000',
      spo2: '96',
      'spo2:status': 'NORMAL',
      'spo2:ts': '1763805600000',
    }
    expect(patients[0]!.latest).toEqual(hash)
    expect(decodeLatest('p-0001', hash)).toEqual({
      patientId: 'p-0001',
      ts: T + 1_000,
      status: 'WARNING',
      news2: { score: 2, risk: 'low' },
      vitals: { heartRate: { value: 115, status: 'WARNING', ts: T + 1_000 }, spo2: { value: 96, status: 'NORMAL', ts: T } },
    })
    expect(decodeSeriesEntries(patients[0]!.series.map((s) => s.member))).toEqual(c.outcome.entries)
    expect(patients[0]!.series.map((s) => s.score)).toEqual([T, T + 1_000])
    expect(patients[0]!.trim).toBe(`(${T + 1_000 - 900_000}`)
    expect(decodeUpdate(patients[0]!.update)).toEqual({ type: 'readings', patient: decodeLatest('p-0001', hash), entries: c.outcome.entries })
    // HR 112 left NORMAL: its alert state goes to the alert-state hash.
    expect(decodeAlertState(patients[0]!.alertSet.heartRate!)).toEqual({ level: 'WARNING', raisedTs: T, normalSince: null })
    expect(patients[0]!.alertDel).toEqual([])
    expect(events).toEqual([])
    expect(scores).toEqual({ [String(T + 1_000)]: 'p-0001' })
  })

  it('mark the patient trimmed, and trim again only a minute of event time later', () => {
    const c = change('p-0002', [{ ts: T, seq: 1, vitals: { heartRate: 70 } }])
    batchCall(keys, [c], [], options, 'e')
    expect(c.runtime.trimmedAt).toBe(T)
    c.outcome = applyReadings(c.runtime, [{ v: 1, patientId: 'p-0002', deviceId: 'wrist-p-0002', ts: T + 30_000, seq: 2, vitals: { heartRate: 71 } }], {
      holdDownMs: 60_000,
      outOfOrderToleranceMs: 5_000,
    })
    expect(readArgs(batchCall(keys, [c], [], options, 'e')!.arguments).patients[0]!.trim).toBe('')
  })

  it('are none for a batch that changed nothing', () => {
    const c = change('p-0003', [])
    expect(batchCall(keys, [c], [], options, 'e')).toBeNull()
  })
})

describe('cutting a batch into calls', () => {
  it('keeps one call for a small batch, and one (empty) for a batch of events alone', () => {
    const small = [change('a', [{ ts: T, seq: 1, vitals: { heartRate: 70 } }]), change('b', [{ ts: T, seq: 1, vitals: { heartRate: 70 } }])]
    expect(callSlices(small)).toEqual([small])
    expect(callSlices([])).toEqual([[]])
  })

  it('cuts a large batch into runs of whole patients, each under the argument budget', () => {
    const many = Array.from({ length: 10 }, (_, k) => change(`p-${k}`, [{ ts: T, seq: 1, vitals: { heartRate: 70 } }]))
    // Each patient counts 64 + 2 x (1 entry + 1 device) = 68 arguments.
    const slices = callSlices(many, 200)
    expect(slices.map((s) => s.length)).toEqual([3, 3, 3, 1])
    expect(slices.flat()).toEqual(many)
  })
})
