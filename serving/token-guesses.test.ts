import { describe, expect, it } from 'vitest'
import { TokenGuesses, TooManyTokenGuesses } from './token-guesses.ts'

describe('wrong tokens counted per address', () => {
  it('locks an address once it has sent `max` wrong tokens in its window, until the window that started at the first one ends', () => {
    const guesses = new TokenGuesses(3, 60_000)
    for (const at of [0, 10_000, 20_000]) {
      expect(guesses.lockedForMs('a', at)).toBe(0)
      guesses.addWrong('a', at)
    }
    expect(guesses.lockedForMs('a', 20_000)).toBe(40_000)
    expect(guesses.lockedForMs('a', 59_999)).toBe(1)
    expect(guesses.lockedForMs('b', 20_000)).toBe(0)
    // A new window: the count starts again.
    expect(guesses.lockedForMs('a', 60_000)).toBe(0)
    guesses.addWrong('a', 60_000)
    expect(guesses.lockedForMs('a', 60_001)).toBe(0)
  })

  it('holds at most `capacity` addresses, dropping the oldest window first', () => {
    const guesses = new TokenGuesses(1, 60_000, 2)
    guesses.addWrong('first', 0)
    guesses.addWrong('second', 1)
    guesses.addWrong('third', 2)
    expect(['first', 'second', 'third'].map((a) => guesses.lockedForMs(a, 3) > 0)).toEqual([false, true, true])
  })

  it('says, when refusing, in whole seconds (at least 1) when to try again', () => {
    expect(new TooManyTokenGuesses(1).retryAfterS).toBe(1)
    expect(new TooManyTokenGuesses(59_001).retryAfterS).toBe(60)
    expect(new TooManyTokenGuesses(30_000).message).toBe('too many wrong tokens from this address: try again in 30 s')
  })
})
