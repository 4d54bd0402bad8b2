import { describe, expect, it } from 'vitest'
import { Pacer } from './pacer.ts'
import { Simulator } from './simulator.ts'
import { simulationSchedule } from './simulation.ts'
import { replaySchedule } from './replay.ts'

const START = Date.UTC(2026, 10, 22, 8, 0, 0)

/** A clock the test moves by hand, in whole milliseconds like Date.now(). */
function fakeClock(at = 10_000) {
  const clock = { t: at, now: () => clock.t }
  return clock
}

describe('the pacer under --rate R', () => {
  it('stamps reading i at start + i/R seconds, whatever its simulated time', () => {
    const clock = fakeClock()
    const pacer = new Pacer(simulationSchedule(500, 1, START), clock.now)
    expect(pacer.stamp(0, START + 12_345)).toBe(START)
    expect(pacer.stamp(1, START)).toBe(START + 2)
    expect(pacer.stamp(999, START + 1)).toBe(START + 1_998)
    const third = new Pacer(simulationSchedule(3, 1, START), clock.now)
    expect([0, 1, 2, 3, 4].map((i) => third.stamp(i, 0) - START)).toEqual([0, 333, 666, 1_000, 1_333])
  })

  it('makes record i due at t0 + (i + 1)/R and allows floor(elapsed × R) records by now', () => {
    const clock = fakeClock(5_000)
    const pacer = new Pacer(simulationSchedule(400, 1, START), clock.now)
    expect(pacer.t0).toBe(5_000)
    expect(pacer.dueAt(0, 0)).toBeCloseTo(5_002.5, 9)
    expect(pacer.dueAt(399, 0)).toBeCloseTo(6_000, 9)
    const allowedAt = (t: number) => {
      clock.t = t
      return pacer.allowed()
    }
    expect([5_000, 5_002, 5_003, 5_500, 5_999, 6_000, 7_000].map(allowedAt)).toEqual([0, 0, 1, 200, 399, 400, 800])
    // The rate has no event-time gate: every simulated reading may be made once the count allows it.
    expect(pacer.eventTimeDue()).toBe(Infinity)
  })
})

describe("the pacer under --speedup K (the devices' own cadences)", () => {
  it('makes a reading due when its simulated time comes and stamps it with that moment', () => {
    const clock = fakeClock(2_000)
    const pacer = new Pacer(simulationSchedule(undefined, 60, START), clock.now)
    expect(pacer.dueAt(0, START + 60_000)).toBe(3_000)
    expect(pacer.stamp(0, START + 60_000)).toBe(START + 1_000)
    clock.t = 3_000
    expect(pacer.eventTimeDue()).toBe(START + 60_000)
    expect(pacer.allowed()).toBe(Infinity)
  })

  it('never stamps a reading ahead of the wall clock, though the physiology runs 60 times faster', () => {
    // The wall clock starts at START: a reading may carry at most START + the elapsed time.
    const clock = fakeClock(0)
    const pacer = new Pacer(simulationSchedule(undefined, 60, START), clock.now)
    const sim = new Simulator(5, 4, START)
    const ahead: string[] = []
    let made = 0
    let lastStamp = START
    for (const step of [1, 7, 16, 3, 37, 100]) {
      for (let i = 0; i < 2_000 / step / 6; i++) {
        clock.t += step
        const wall = START + (clock.t - pacer.t0)
        while (sim.peekTs() <= pacer.eventTimeDue()) {
          const r = sim.next()
          const ts = pacer.stamp(made, r.ts)
          if (ts > wall || pacer.dueAt(made, r.ts) > clock.t) ahead.push(`reading ${made}: ts ${ts - START} ms at ${wall - START} ms`)
          expect(ts).toBeGreaterThanOrEqual(lastStamp)
          lastStamp = ts
          made++
        }
      }
    }
    expect(ahead).toEqual([])
    // 5 patients over ~2 s of wall-clock time is about 10 pulse readings in real time; 60x sends ~60x as many.
    expect(clock.t).toBeGreaterThanOrEqual(1_900)
    expect(made).toBeGreaterThan(200)
  })
})

describe('the pacer as fast as possible (--rate max, a replay without --realtime)', () => {
  it("makes every record due now and keeps the readings' own event time", () => {
    const clock = fakeClock(7_000)
    const pacer = new Pacer(simulationSchedule('max', 60, START), clock.now)
    clock.t = 7_250
    expect(pacer.dueAt(5_000, START)).toBe(7_250)
    expect(pacer.stamp(5_000, START + 3_600_000)).toBe(START + 3_600_000)
    expect([pacer.allowed(), pacer.eventTimeDue()]).toEqual([Infinity, Infinity])
    expect(new Pacer(replaySchedule(false, undefined, 1), clock.now).schedule.kind).toBe('asap')
  })
})

describe('the pacer of a replay', () => {
  it("with --realtime, keeps the file's own timing divided by --speedup, counted from its first row", () => {
    const clock = fakeClock(100)
    const pacer = new Pacer(replaySchedule(true, 50, 2), clock.now)
    const first = Date.UTC(2025, 9, 10, 20, 0, 0)
    pacer.anchor(first)
    pacer.anchor(first + 5_000)
    expect([0, 1_000, 2_000].map((d, i) => pacer.dueAt(i, first + d))).toEqual([100, 600, 1_100])
  })

  it('with --rate R and no --realtime, paces records by count', () => {
    const clock = fakeClock(0)
    const pacer = new Pacer(replaySchedule(false, 10, 1), clock.now)
    expect(pacer.dueAt(9, Date.UTC(2025, 0, 1))).toBeCloseTo(1_000, 9)
  })
})
