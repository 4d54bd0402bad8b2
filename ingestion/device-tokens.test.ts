import { describe, expect, it } from 'vitest'
import { DeviceTokens } from './device-tokens.ts'

describe("the gateway's development tokens", () => {
  it('accepts exactly a configured token', () => {
    const t = new DeviceTokens(['alpha-token', 'beta-token'])
    expect(t.development).toBe(true)
    expect(t.tokens).toEqual(['alpha-token', 'beta-token'])
    expect(['alpha-token', 'beta-token', 'alpha-toke', 'alpha-tokenx', 'ALPHA-TOKEN'].map((c) => t.accepts(c))).toEqual([true, true, false, false, false])
  })

  it('accepts no token and is not in development mode when none is configured (no token is generated)', () => {
    for (const t of [new DeviceTokens(undefined), new DeviceTokens([])]) {
      expect(t.development).toBe(false)
      expect(t.tokens).toEqual([])
      expect(t.accepts('anything-at-all')).toBe(false)
    }
  })
})
