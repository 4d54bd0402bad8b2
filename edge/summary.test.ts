import { describe, expect, it } from 'vitest'
import { FAULT_KINDS, type FaultCounts } from './faults.ts'
import { formatSummary, summarize, type ReplayInfo } from './summary.ts'

const noFaults = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as FaultCounts

function replaySummary(replay: ReplayInfo): string {
  return formatSummary(
    summarize({
      via: 'kafka',
      seed: 1,
      startMs: undefined,
      replay,
      sent: replay.rowsSent,
      stats: { acked: replay.rowsSent, refused: 0, outages: 0, outageMs: 0 },
      faults: noFaults,
      elapsedMs: 1_000,
      stoppedBy: 'end-of-file',
    }),
  )
}

describe('the replay summary', () => {
  const base: ReplayInfo = { file: 'obs.csv', passes: 1, rowsRead: 9, rowsSent: 9, rowsSkipped: 1, cellsLeftOut: 0, cellsLeftOutByColumn: {} }

  it('counts the cells left out of their rows’ readings per column, most first, beside the rows skipped', () => {
    const text = replaySummary({ ...base, cellsLeftOut: 3, cellsLeftOutByColumn: { heart_rate_bpm: 1, acvpu: 2 } })
    expect(text).toContain('rows: 10 read, 9 sent, 1 skipped (1 pass over obs.csv)')
    expect(text).toContain("cells left out of their rows' readings, the rest sent: 3 (acvpu 2, heart_rate_bpm 1)")
  })

  it('says nothing of cells when none was left out', () => {
    expect(replaySummary(base)).not.toContain('left out')
  })
})
