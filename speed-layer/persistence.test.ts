import { describe, expect, it } from 'vitest'
import { gapSince, isConfirmed, nextPending, nextRun, NO_PREVIOUS_SAMPLE } from './persistence.ts'

const T = { warningPersistenceMs: 60_000, criticalPersistenceMs: 15_000, persistenceResetMs: 10_000 }

describe('isConfirmed', () => {
  it('confirms a run that has lasted the persistence time', () => {
    expect(isConfirmed(0, 14_999, 15_000, 1_000)).toBe(false)
    expect(isConfirmed(0, 15_000, 15_000, 1_000)).toBe(true)
  })

  it('confirms at once a sample whose gap since the previous one is at least the persistence time, or that has none', () => {
    expect(isConfirmed(5_000, 5_000, 15_000, 15_000)).toBe(true)
    expect(isConfirmed(5_000, 5_000, 15_000, 14_999)).toBe(false)
    expect(isConfirmed(5_000, 5_000, 60_000, NO_PREVIOUS_SAMPLE)).toBe(true)
  })

  it('never confirms without a run', () => {
    expect(isConfirmed(null, 100_000, 0, NO_PREVIOUS_SAMPLE)).toBe(false)
  })

  it('measures the gap from the previous sample, none before the first', () => {
    expect(gapSince(undefined, 5)).toBe(NO_PREVIOUS_SAMPLE)
    expect(gapSince(1_000, 3_500)).toBe(2_500)
  })
})

describe('nextRun', () => {
  it('starts at the first sample that holds and keeps its start', () => {
    expect(nextRun([null, null], true, 1_000, 1_000, 60_000, 10_000)).toEqual([1_000, null])
    expect(nextRun([1_000, 4_000], true, 5_000, 1_000, 60_000, 10_000)).toEqual([1_000, null])
  })

  it('survives samples back shorter than the reset time and ends once the subject has stayed back that long', () => {
    expect(nextRun([1_000, null], false, 5_000, 1_000, 60_000, 10_000)).toEqual([1_000, 5_000])
    expect(nextRun([1_000, 5_000], false, 14_999, 1_000, 60_000, 10_000)).toEqual([1_000, 5_000])
    expect(nextRun([1_000, 5_000], false, 15_000, 1_000, 60_000, 10_000)).toEqual([null, null])
  })

  it('ends at a sample back that follows a gap of the persistence time (judged on its own)', () => {
    expect(nextRun([1_000, null], false, 3_601_000, 3_600_000, 15_000, 10_000)).toEqual([null, null])
  })

  it('ends at the first sample back with a reset time of 0', () => {
    expect(nextRun([1_000, null], false, 5_000, 1_000, 60_000, 0)).toEqual([null, null])
  })
})

describe('nextPending', () => {
  const s = (out: boolean, critical: boolean, ts: number, gapMs = 1_000) => ({ out, critical, ts, gapMs })

  it('holds both runs with their first sample back, and nothing once neither runs', () => {
    const a = nextPending(undefined, s(true, true, 0), T)
    expect(a).toEqual({ outSince: 0, criticalSince: 0, inSince: null, belowCriticalSince: null })
    const b = nextPending(a, s(true, false, 1_000), T)
    expect(b).toEqual({ outSince: 0, criticalSince: 0, inSince: null, belowCriticalSince: 1_000 })
    // Back in NORMAL: the WARNING run ends at once, the critical run survives the reset time.
    const c = nextPending(b, s(false, false, 2_000), T)
    expect(c).toEqual({ outSince: null, criticalSince: 0, inSince: null, belowCriticalSince: 1_000 })
    expect(nextPending(c, s(false, false, 12_000), T)).toBeUndefined()
  })

  it('returns the same object when nothing changed, and reads a stored run without first samples back as none', () => {
    const a = nextPending(undefined, s(true, false, 0), T)
    expect(nextPending(a, s(true, false, 1_000), T)).toBe(a)
    expect(nextPending({ outSince: 0, criticalSince: 0 }, s(false, false, 1_000), T)).toEqual({
      outSince: null,
      criticalSince: 0,
      inSince: null,
      belowCriticalSince: 1_000,
    })
  })
})
