import { describe, expect, it } from 'vitest'
import { PassSpan } from './pass-span.ts'

function span(rows: Array<[number, number]>): PassSpan {
  const s = new PassSpan()
  for (const [ts, seq] of rows) s.add(ts, seq)
  return s
}

describe('the span of a replay pass (--loop)', () => {
  it('shifts the next pass one sampling step (the smallest gap between rows) past the last row', () => {
    const s = span([
      [1_000, 1],
      [2_000, 2],
      [2_500, 3],
      [4_000, 4],
    ])
    expect(s.shiftMs).toBe(3_000 + 500)
    expect(s.seqMax).toBe(4)
    expect(s.empty).toBe(false)
  })

  it('takes the step from rows in order only, and the span from the earliest to the latest row', () => {
    const s = span([
      [3_000, 9],
      [1_000, 2],
      [3_000, 5],
      [5_000, 1],
    ])
    expect(s.shiftMs).toBe(4_000 + 2_000)
    expect(s.seqMax).toBe(9)
  })

  it('assumes a 1 s step when the file gives none, and is empty without a row', () => {
    expect(span([[7_000, 1]]).shiftMs).toBe(1_000)
    expect(
      span([
        [7_000, 1],
        [7_000, 2],
      ]).shiftMs,
    ).toBe(1_000)
    expect(span([]).empty).toBe(true)
  })
})
