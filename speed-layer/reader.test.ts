import { describe, expect, it } from 'vitest'
import { BatchBound, FIRST_BATCH_READINGS } from './reader.ts'

describe('the bound of the next batch', () => {
  it('starts small after the stream opens and doubles after each full batch, up to the maximum', () => {
    const bound = new BatchBound(50_000)
    const seen = [bound.value]
    for (let k = 0; k < 6; k++) {
      bound.took(bound.value)
      seen.push(bound.value)
    }
    expect(seen).toEqual([FIRST_BATCH_READINGS, 4_000, 8_000, 16_000, 32_000, 50_000, 50_000])
  })

  it('stays where it is after a batch that took less than the bound (the stream had no more)', () => {
    const bound = new BatchBound(50_000)
    bound.took(FIRST_BATCH_READINGS - 1)
    bound.took(0)
    expect(bound.value).toBe(FIRST_BATCH_READINGS)
  })

  it('never exceeds a maximum below the first bound', () => {
    const bound = new BatchBound(500)
    bound.took(500)
    expect(bound.value).toBe(500)
  })
})
