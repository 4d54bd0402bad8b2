import { describe, expect, it } from 'vitest'
import { kraftClusterId } from './index.ts'

describe('the KRaft cluster id', () => {
  it('is 22 base64url characters from 16 random bytes', () => {
    const id = kraftClusterId()
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/)
    expect(Buffer.from(id, 'base64url')).toHaveLength(16)
  })

  it('never starts with "-", which the storage tool would read as an option', () => {
    // 0xf8 as the first byte encodes as "-" (62) in base64url: the first draw is refused, the second kept.
    const draws = [Buffer.alloc(16, 0xf8), Buffer.alloc(16, 0x01)]
    const id = kraftClusterId(() => draws.shift() as Buffer)
    expect(id.startsWith('-')).toBe(false)
    expect(id).toBe(Buffer.alloc(16, 0x01).toString('base64url'))
    expect(Buffer.alloc(16, 0xf8).toString('base64url').startsWith('-')).toBe(true)
  })
})
