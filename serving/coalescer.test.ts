import { describe, expect, it } from 'vitest'
import type { PatientState, SeriesEntry } from '../lib/contract/views.ts'
import { Coalescer, patientRoom, planPush, type Clock, type ClientState } from './coalescer.ts'
import { completeNews2 } from './state-fixtures.ts'

/** A clock that only moves when told: timers fire in time order, and each flush's promise settles before the next timer. */
class FakeClock implements Clock {
  // Far from 0: the throttle counts its first interval from time 0, as Date.now() is far from it.
  private time = 1_000_000
  private timers: Array<{ at: number; fn: () => void; id: number }> = []
  private nextId = 1
  now(): number {
    return this.time
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++
    this.timers.push({ at: this.time + ms, fn, id })
    return id
  }
  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle)
  }
  /** Moves time to `to`, firing due timers on the way. */
  async advanceTo(to: number): Promise<void> {
    for (;;) {
      await settle()
      this.timers.sort((a, b) => a.at - b.at)
      const next = this.timers[0]
      if (next === undefined || next.at > to) break
      this.timers.shift()
      this.time = next.at
      next.fn()
    }
    this.time = to
    await settle()
  }
  get pendingTimers(): number {
    return this.timers.length
  }
}

const T = 1_000_000
const settle = () => new Promise<void>((resolve) => setImmediate(resolve))

const patient = (patientId: string, ts: number): PatientState => ({ patientId, ts, status: 'NORMAL', news2: completeNews2(0), vitals: {} })
const entry = (seq: number): SeriesEntry => ({ ts: seq, deviceId: 'd-1', seq, vitals: { heartRate: 70 }, status: 'NORMAL' })

interface Flushed {
  at: number
  patients: PatientState[]
  series: Map<string, SeriesEntry[]>
  alerts: string[]
}

function harness(options: { intervalMs?: number; maxEntriesPerPatient?: number; maxPendingAlerts?: number } = {}) {
  const clock = new FakeClock()
  const flushes: Flushed[] = []
  const coalescer: Coalescer = new Coalescer(
    { intervalMs: options.intervalMs ?? 100, maxEntriesPerPatient: options.maxEntriesPerPatient ?? 200, maxPendingAlerts: options.maxPendingAlerts ?? 500 },
    clock,
    async () => {
      const alerts = coalescer.takeAlerts().map((a) => a.id)
      const readings = coalescer.takeReadings()
      flushes.push({ at: clock.now(), patients: readings?.patients ?? [], series: new Map(readings?.series ?? []), alerts })
    },
  )
  return { clock, flushes, coalescer }
}

describe('the coalescer', () => {
  it('sends the first update after a quiet interval at once, and later ones at the end of the interval', async () => {
    const { clock, flushes, coalescer } = harness()
    await clock.advanceTo(T + 1_000)
    coalescer.addReadings(patient('p-1', 1), [entry(1)])
    await clock.advanceTo(T + 1_000)
    expect(flushes.map((f) => f.at)).toEqual([T + 1_000])
    await clock.advanceTo(T + 1_030)
    coalescer.addReadings(patient('p-1', 2), [entry(2)])
    await clock.advanceTo(T + 1_099)
    expect(flushes).toHaveLength(1)
    await clock.advanceTo(T + 1_100)
    expect(flushes.map((f) => f.at)).toEqual([T + 1_000, T + 1_100])
    expect(flushes[1]?.series.get('p-1')?.map((e) => e.seq)).toEqual([2])
  })

  it('turns a burst of 500 updates, one a millisecond, into at most one flush per 100 ms interval and loses no entry', async () => {
    const { clock, flushes, coalescer } = harness()
    for (let i = 0; i < 500; i++) {
      await clock.advanceTo(T + 10_000 + i)
      coalescer.addReadings(patient('p-burst', i), [entry(i)])
    }
    await clock.advanceTo(T + 11_000)
    expect(flushes.length).toBeLessThanOrEqual(6)
    for (let k = 1; k < flushes.length; k++) expect(flushes[k]!.at - flushes[k - 1]!.at).toBeGreaterThanOrEqual(100)
    const seqs = flushes.flatMap((f) => (f.series.get('p-burst') ?? []).map((e) => e.seq))
    expect(seqs).toEqual(Array.from({ length: 500 }, (_, i) => i))
    // Each flush carries the patient's newest state of its interval.
    expect(flushes.at(-1)?.patients).toEqual([patient('p-burst', 499)])
    expect(clock.pendingTimers).toBe(0)
  })

  it('keeps the newest entries of a patient when more arrive in one interval than the bound', async () => {
    const { clock, flushes, coalescer } = harness({ maxEntriesPerPatient: 200 })
    coalescer.addReadings(patient('p-warm', 0), [entry(-1)])
    await clock.advanceTo(T)
    coalescer.addReadings(
      patient('p-1', 1),
      Array.from({ length: 300 }, (_, i) => entry(i)),
    )
    coalescer.addReadings(
      patient('p-1', 2),
      Array.from({ length: 200 }, (_, i) => entry(300 + i)),
    )
    coalescer.addReadings(patient('p-2', 3), [entry(1_000)])
    await clock.advanceTo(T + 100)
    expect(flushes).toHaveLength(2)
    const last = flushes[1]!
    expect(last.series.get('p-1')?.map((e) => e.seq)).toEqual(Array.from({ length: 200 }, (_, i) => 300 + i))
    expect(last.series.get('p-2')?.map((e) => e.seq)).toEqual([1_000])
    expect(last.patients.map((p) => [p.patientId, p.ts])).toEqual([
      ['p-1', 2],
      ['p-2', 3],
    ])
  })

  it('bounds pending alerts to the newest ones, oldest first', async () => {
    const { clock, flushes, coalescer } = harness({ maxPendingAlerts: 3 })
    coalescer.addReadings(patient('p-warm', 0), [])
    await clock.advanceTo(T)
    for (let i = 0; i < 5; i++) coalescer.addAlert({ id: `a-${i}`, patientId: 'p-1', vital: 'spo2', kind: 'raised', level: 'WARNING', ts: i, message: 'm' })
    await clock.advanceTo(T + 100)
    expect(flushes[1]?.alerts).toEqual(['a-2', 'a-3', 'a-4'])
    expect(flushes[1]?.patients).toEqual([])
  })

  it('never starts a flush while one runs, and sends what arrived meanwhile in the next interval', async () => {
    const clock = new FakeClock()
    let release: () => void = () => undefined
    const seen: number[][] = []
    const coalescer: Coalescer = new Coalescer({ intervalMs: 100, maxEntriesPerPatient: 10, maxPendingAlerts: 10 }, clock, async () => {
      seen.push((coalescer.takeReadings()?.series.get('p-1') ?? []).map((e) => e.seq))
      if (seen.length === 1) await new Promise<void>((resolve) => (release = resolve))
    })
    coalescer.addReadings(patient('p-1', 1), [entry(1)])
    await clock.advanceTo(T)
    coalescer.addReadings(patient('p-1', 2), [entry(2)])
    await clock.advanceTo(T + 500)
    // The second timer fired while the first flush was stuck: it was skipped, nothing taken.
    expect(seen).toEqual([[1]])
    release()
    await clock.advanceTo(T + 600)
    expect(seen).toEqual([[1], [2]])
  })

  it('flushes nothing after stop', async () => {
    const { clock, flushes, coalescer } = harness()
    coalescer.addReadings(patient('p-1', 1), [entry(1)])
    coalescer.stop()
    coalescer.addReadings(patient('p-1', 2), [entry(2)])
    await clock.advanceTo(T + 1_000)
    expect(flushes).toEqual([])
  })
})

describe('planPush', () => {
  const client = (id: string, rooms: string[], pendingPackets = 0, needsSnapshot = false): ClientState => ({
    id,
    rooms: [id, ...rooms],
    pendingPackets,
    needsSnapshot,
  })
  const series = new Map([
    ['p-1', []],
    ['p-2', []],
  ])

  it("sends each patient's entries only to its room, one group per set of rooms, and the grid to everyone else", () => {
    const plan = planPush(
      [
        client('a', [patientRoom('p-1')]),
        client('b', []),
        client('c', [patientRoom('p-2'), patientRoom('p-1')]),
        client('d', [patientRoom('p-1')]),
        client('e', [patientRoom('p-9')]),
      ],
      series,
      50,
    )
    expect(plan.groups).toEqual([
      { patientIds: ['p-1'], clientIds: ['a', 'd'] },
      { patientIds: [], clientIds: ['b', 'e'] },
      { patientIds: ['p-1', 'p-2'], clientIds: ['c'] },
    ])
    expect(plan.snapshot).toEqual([])
    expect(plan.skip).toEqual([])
  })

  it('skips a client with more packets waiting than the bound, and gives a drained skipped client a snapshot instead', () => {
    const plan = planPush(
      [client('slow', [], 51), client('edge', [], 50), client('drained', [patientRoom('p-1')], 0, true), client('still-slow', [], 3, true)],
      series,
      50,
    )
    expect(plan.skip).toEqual(['slow'])
    expect(plan.snapshot).toEqual(['drained'])
    expect(plan.groups).toEqual([{ patientIds: [], clientIds: ['edge', 'still-slow'] }])
  })
})
