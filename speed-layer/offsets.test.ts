import { describe, expect, it } from 'vitest'
import { OffsetBook } from './offsets.ts'

describe('the offset book', () => {
  it("makes the offset after each partition's last written record committable, the newest batch winning", () => {
    const book = new OffsetBook()
    book.written(
      new Map([
        [0, 9n],
        [2, 41n],
      ]),
    )
    book.written(new Map([[0, 19n]]))
    expect(book.hasPending()).toBe(true)
    expect(book.takePending()).toEqual([
      { partition: 0, offset: 20n },
      { partition: 2, offset: 42n },
    ])
    expect(book.hasPending()).toBe(false)
    expect(book.takePending()).toEqual([])
    expect(book.position(0)).toBe(20n)
    expect(book.position(1)).toBeUndefined()
  })

  it("treats records below a rewound partition's mark as replays until a written batch reaches it", () => {
    const book = new OffsetBook()
    book.rewound(3, 100n)
    book.written(new Map([[3, 50n]]))
    expect(book.replayUntil(3)).toBe(100n)
    book.written(new Map([[3, 98n]]))
    expect(book.replayUntil(3)).toBe(100n)
    book.written(new Map([[3, 99n]]))
    expect(book.replayUntil(3)).toBeUndefined()
  })

  it('forgets the positions on a reopen but keeps what is pending', () => {
    const book = new OffsetBook()
    book.written(new Map([[1, 5n]]))
    book.forgetPositions()
    expect(book.position(1)).toBeUndefined()
    expect(book.takePending()).toEqual([{ partition: 1, offset: 6n }])
  })
})
