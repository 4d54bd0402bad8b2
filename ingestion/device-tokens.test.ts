import { describe, expect, it } from 'vitest'
import { DeviceTokens } from './device-tokens.ts'

describe("the gateway's device tokens", () => {
  it('accepts only "Bearer <token>" with a configured token', () => {
    const t = new DeviceTokens(['alpha-token', 'beta-token'])
    expect(t.generated).toBe(false)
    expect(t.tokens).toEqual(['alpha-token', 'beta-token'])
    expect(['Bearer alpha-token', 'bearer beta-token', 'Bearer   alpha-token  '].map((h) => t.check(h))).toEqual(['ok', 'ok', 'ok'])
    expect(['Bearer alpha-toke', 'Bearer alpha-tokenx', 'Bearer alpha-token alpha-token'].map((h) => t.check(h))).toEqual(['invalid', 'invalid', 'missing'])
    expect([undefined, '', 'Basic YWxwaGEtdG9rZW4=', 'alpha-token'].map((h) => t.check(h))).toEqual(['missing', 'missing', 'missing', 'missing'])
  })

  it('generates one random token when none is configured, so the gateway is never open', () => {
    const a = new DeviceTokens(undefined)
    const b = new DeviceTokens([])
    expect([a.generated, b.generated]).toEqual([true, true])
    expect(a.tokens[0]).toMatch(/^[\w-]{32}$/)
    expect(b.tokens[0]).not.toBe(a.tokens[0])
    expect(a.check(`Bearer ${a.tokens[0]}`)).toBe('ok')
    expect(a.check(`Bearer ${b.tokens[0]}`)).toBe('invalid')
  })
})
