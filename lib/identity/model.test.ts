import { describe, expect, it } from 'vitest'
import { ROLES, bearerToken, credentialHash, roleAllows, sha256Hex, usernameProblem } from './model.ts'

describe('roleAllows', () => {
  it('gives each role the rights of the ones before it, and public to everyone', () => {
    const table = ROLES.map((role) => ROLES.map((required) => roleAllows(role, required)))
    expect(table).toEqual([
      [true, false, false],
      [true, true, false],
      [true, true, true],
    ])
    for (const role of ROLES) expect(roleAllows(role, 'public')).toBe(true)
  })
})

describe('usernameProblem', () => {
  it('accepts names with spaces, accents and markup (the page shows them as text)', () => {
    for (const name of ['kim', 'Kim Larsen', 'Zoë Ødegård', '<img src=x onerror="x()">', 'a'.repeat(64)]) expect(usernameProblem(name)).toBeUndefined()
  })

  it('refuses empty, long, padded and control-character names', () => {
    expect(usernameProblem('')).toMatch(/1 to 64/)
    expect(usernameProblem('a'.repeat(65))).toMatch(/1 to 64/)
    expect(usernameProblem(' kim')).toMatch(/space/)
    expect(usernameProblem('kim\u001b[31m')).toMatch(/control/)
  })

  it('refuses the names of the audit trail’s other actors', () => {
    expect(usernameProblem('VIGIL_TOKEN')).toMatch(/reserved/)
    expect(usernameProblem('cli:root@host')).toMatch(/reserved/)
    expect(usernameProblem('vigil_token')).toBeUndefined()
  })
})

describe('bearerToken', () => {
  it('reads the credential of "Bearer <credential>", the scheme in any case (RFC 6750 section 2.1)', () => {
    expect(['Bearer alpha-token', 'bearer beta-token', 'BEARER gamma', 'Bearer   alpha-token  '].map(bearerToken)).toEqual([
      'alpha-token',
      'beta-token',
      'gamma',
      'alpha-token',
    ])
  })

  it('reads nothing from an absent header, another scheme, or more than one credential', () => {
    for (const header of [undefined, '', 'Bearer', 'Bearer ', 'Basic YWxwaGEtdG9rZW4=', 'alpha-token', 'Bearer alpha-token alpha-token', 'Bearerx alpha'])
      expect(bearerToken(header)).toBeUndefined()
  })
})

describe('sha256Hex', () => {
  it('is the SHA-256 of the UTF-8 text in lowercase hex, and what credentialHash keeps', () => {
    // FIPS 180-2 test vector "abc".
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
    expect(credentialHash('abc')).toBe(sha256Hex('abc'))
  })
})
