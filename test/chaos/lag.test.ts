/**
 * The chaos suite's view-lag measure (lag.ts): the oldest produced reading the screen lacks, per
 * patient, through a wipe and an unreadable view, and the per-fault summary of a run.
 */
import { describe, expect, it } from 'vitest'
import { ViewLagMeter, firstAfter, summarizeLag, type FaultMark, type LagSample } from './lag.ts'

const T = 1_000_000

describe('firstAfter', () => {
  it.each([
    [[], 5, undefined],
    [[1, 2, 3], 0, 1],
    [[1, 2, 3], 1, 2],
    [[1, 2, 2, 3], 2, 3],
    [[1, 2, 3], 3, undefined],
    [[1, 2, 3], Number.NEGATIVE_INFINITY, 1],
  ])('in %j after %d is %s', (times, t, expected) => {
    expect(firstAfter(times, t)).toBe(expected)
  })
})

describe('ViewLagMeter', () => {
  it('is 0 when the view shows every patient’s newest reading', () => {
    const m = new ViewLagMeter()
    m.produced('a', T)
    m.produced('b', T + 500)
    expect(
      m.sample(
        T + 800,
        new Map([
          ['a', T],
          ['b', T + 500],
        ]),
        true,
      ),
    ).toEqual({ atMs: T + 800, lagMs: 300, patient: null, missing: 0, readable: true })
    expect(
      m.sample(
        T + 800,
        new Map([
          ['a', T],
          ['b', T + 500],
        ]),
        false,
      ).lagMs,
    ).toBe(0)
  })

  it('counts from the oldest reading newer than what the view shows, the patient furthest behind deciding', () => {
    const m = new ViewLagMeter()
    for (let s = 0; s < 10; s++) {
      m.produced('a', T + s * 1_000)
      m.produced('b', T + s * 1_000 + 100)
    }
    // a shows its reading of T+6 s (T+7 s waits 3 s at T+10 s); b shows T+8.1 s (T+9.1 s waits 0.9 s).
    const s = m.sample(
      T + 10_000,
      new Map([
        ['a', T + 6_000],
        ['b', T + 8_100],
      ]),
      false,
    )
    expect(s).toEqual({ atMs: T + 10_000, lagMs: 3_000, patient: 'a', missing: 0, readable: true })
  })

  it('takes readings produced out of order in event-time order', () => {
    const m = new ViewLagMeter()
    m.produced('a', T + 2_000)
    m.produced('a', T + 1_000)
    m.produced('a', T + 3_000)
    expect(m.sample(T + 5_000, new Map([['a', T + 1_500]]), false).lagMs).toBe(3_000)
  })

  it('after a wipe counts a patient the view lost from what it last showed, and follows the rebuild', () => {
    const m = new ViewLagMeter()
    let produced = -1
    const produceUpTo = (s: number) => {
      while (produced < s) {
        produced++
        m.produced('a', T + produced * 1_000)
      }
    }
    produceUpTo(10)
    expect(m.sample(T + 10_200, new Map([['a', T + 10_000]]), true).lagMs).toBe(200)
    // Wiped: the view holds nothing; a's readings after T+10 s wait.
    produceUpTo(15)
    expect(m.sample(T + 15_000, new Map(), true)).toMatchObject({ lagMs: 4_000, patient: 'a', missing: 1, readable: true })
    // Redis down: the same.
    produceUpTo(16)
    expect(m.sample(T + 16_000, null, true)).toMatchObject({ lagMs: 5_000, patient: 'a', missing: 1, readable: false })
    // The rebuild writes an older state first: the screen shows that one.
    produceUpTo(17)
    expect(m.sample(T + 17_000, new Map([['a', T + 2_000]]), true)).toMatchObject({ lagMs: 14_000, missing: 0 })
    produceUpTo(20)
    expect(m.sample(T + 20_500, new Map([['a', T + 20_000]]), true).lagMs).toBe(500)
  })

  it('counts a patient never shown from its first reading', () => {
    const m = new ViewLagMeter()
    m.produced('a', T)
    m.produced('a', T + 1_000)
    expect(m.sample(T + 4_000, new Map(), false)).toMatchObject({ lagMs: 4_000, patient: 'a', missing: 1 })
  })

  it('while loading, is at least the age of the newest produced reading (readings held at the edge)', () => {
    const m = new ViewLagMeter()
    m.produced('a', T)
    const shown = new Map([['a', T]])
    expect(m.sample(T + 6_000, shown, true)).toMatchObject({ lagMs: 6_000, patient: null })
    expect(m.sample(T + 6_000, shown, false).lagMs).toBe(0)
  })

  it('is 0 with nothing produced', () => {
    expect(new ViewLagMeter().sample(T, null, true).lagMs).toBe(0)
  })
})

describe('summarizeLag', () => {
  const sample = (s: number, lagS: number): LagSample => ({ atMs: T + s * 1_000, lagMs: lagS * 1_000, patient: null, missing: 0, readable: true })
  const samples = [sample(0, 0.5), sample(10, 1), sample(20, 9), sample(30, 2), sample(45, 12), sample(50, 3), sample(60, 1), sample(70, 0)]
  const fault = (s: number, name: string): FaultMark => ({ atMs: T + s * 1_000, fault: name })

  it('names the longest lag and the fault just before it, the lag at the end of the load and at the end', () => {
    const faults = [fault(40, 'Redis wipe'), fault(15, 'kill -9 speed'), fault(46, 'kill -9 archive')]
    const s = summarizeLag(samples, faults, { loadEndMs: T + 55_000 })
    expect(s.longest).toEqual({ sample: sample(45, 12), after: fault(40, 'Redis wipe') })
    expect(s.atLoadEnd).toEqual(sample(50, 3))
    expect(s.last).toEqual(sample(70, 0))
  })

  it('gives per fault the longest lag within the window after it, in time order', () => {
    const faults = [fault(40, 'Redis wipe'), fault(15, 'kill -9 speed'), fault(65, 'broker stop'), fault(100, 'late')]
    expect(summarizeLag(samples, faults, { loadEndMs: T + 70_000, windowMs: 30_000 }).perFault).toEqual([
      { fault: fault(15, 'kill -9 speed'), maxLagMs: 12_000 },
      { fault: fault(40, 'Redis wipe'), maxLagMs: 12_000 },
      { fault: fault(65, 'broker stop'), maxLagMs: 0 },
      { fault: fault(100, 'late'), maxLagMs: null },
    ])
    expect(summarizeLag(samples, [fault(15, 'kill -9 speed')], { loadEndMs: T, windowMs: 10_000 }).perFault[0]!.maxLagMs).toBe(9_000)
  })

  it('has no longest lag before any fault is injected, and no figures without samples', () => {
    expect(summarizeLag([sample(0, 4)], [fault(10, 'x')], { loadEndMs: T }).longest).toEqual({ sample: sample(0, 4), after: null })
    expect(summarizeLag([], [], { loadEndMs: T })).toEqual({ longest: null, atLoadEnd: null, last: null, perFault: [] })
  })
})
