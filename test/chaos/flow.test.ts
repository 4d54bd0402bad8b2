import { describe, expect, it } from 'vitest'
import { acked, advanceTimes, committedOf, endOf, pauseMs, seconds, worst, type FlowSample } from './flow.ts'

/** Samples every 250 ms from t=0 with the given acknowledged counts; partition 0's end and group g's commit follow them. */
const series = (counts: number[]): FlowSample[] => counts.map((n, i) => ({ at: i * 250, acked: n, end: [n, 0], committed: { g: [n, -1] } }))

describe('the flow of a scale run', () => {
  // 0    250  500  750  1000 1250 1500 1750 2000
  const s = series([10, 20, 20, 20, 20, 30, 40, 40, 50])

  it('finds the moments a count moved', () => {
    expect(advanceTimes(s, acked)).toEqual([250, 1250, 1500, 2000])
  })

  it('measures the longest pause within a window, up to its ends', () => {
    expect(pauseMs(s, acked, 0, 2000)).toBe(1000)
    // From a fault at 300 ms: nothing moves until 1,250.
    expect(pauseMs(s, acked, 300, 1600)).toBe(950)
    // The tail of a window counts: the last advance at 1,500, the window ending at 1,900.
    expect(pauseMs(s, acked, 1400, 1900)).toBe(400)
  })

  it('measures a whole window as the pause of a count that never moved in it', () => {
    expect(pauseMs(series([5, 5, 5]), acked, 0, 500)).toBe(500)
  })

  it("reads a partition's end and a group's commit, -1 where the group committed nothing", () => {
    expect(endOf(0)(s[1]!)).toBe(20)
    expect(committedOf('g', 0)(s[5]!)).toBe(30)
    expect(committedOf('g', 1)(s[5]!)).toBe(-1)
    expect(committedOf('other', 0)(s[5]!)).toBe(-1)
  })

  it('takes the worst partition, and no figure when one has none', () => {
    expect(worst([300, 1200, 50])).toBe(1200)
    expect(worst([300, undefined])).toBeUndefined()
    expect(seconds(1234)).toBe('1.2 s')
    expect(seconds(undefined)).toBe('never in the window')
  })
})
