import { describe, expect, it } from 'vitest'
import { ROLES, roleAllows, usernameProblem } from './model.ts'

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
