import { describe, expect, it } from 'vitest'
import { hashPassword, passwordProblem, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, SCRYPT_PARAMS, verifyPassword } from './passwords.ts'

describe('passwordProblem', () => {
  it.each([
    ['', 'at least 12 characters; got 0'],
    ['elevenchars', 'at least 12 characters; got 11'],
    ['x'.repeat(PASSWORD_MAX_LENGTH + 1), `at most ${PASSWORD_MAX_LENGTH} characters; got ${PASSWORD_MAX_LENGTH + 1}`],
  ])('refuses %j (%s)', (pw, problem) => {
    expect(passwordProblem(pw)).toContain(problem)
  })

  it.each([
    ['twelve chars', 'the minimum length, spaces included'],
    ['x'.repeat(PASSWORD_MAX_LENGTH), 'the maximum length'],
    ['alllowercaseletters', 'no composition rule (NIST SP 800-63B)'],
  ])('accepts %j (%s)', (pw) => {
    expect(passwordProblem(pw)).toBeUndefined()
  })

  it('counts characters as Unicode code points, not UTF-16 units', () => {
    // 11 emoji are 22 UTF-16 units but 11 characters: too short.
    expect(passwordProblem('😀'.repeat(PASSWORD_MIN_LENGTH - 1))).toContain(`got ${PASSWORD_MIN_LENGTH - 1}`)
    expect(passwordProblem('😀'.repeat(PASSWORD_MIN_LENGTH))).toBeUndefined()
  })
})

describe('hashPassword and verifyPassword', () => {
  it('stores scrypt with the OWASP parameters, a 16-byte salt and a 64-byte key, and verifies only the same password', async () => {
    const stored = await hashPassword('correct horse battery staple')
    const [scheme, N, r, p, salt, key] = stored.split('$')
    expect([scheme, Number(N), Number(r), Number(p)]).toEqual(['scrypt', SCRYPT_PARAMS.N, SCRYPT_PARAMS.r, SCRYPT_PARAMS.p])
    expect(Buffer.from(salt!, 'base64')).toHaveLength(16)
    expect(Buffer.from(key!, 'base64')).toHaveLength(64)
    expect(stored).not.toContain('correct horse')
    expect(await verifyPassword('correct horse battery staple', stored)).toBe(true)
    expect(await verifyPassword('correct horse battery stapla', stored)).toBe(false)
    expect(await verifyPassword('', stored)).toBe(false)
  })

  it('salts every hash: the same password hashes differently twice', async () => {
    const [a, b] = await Promise.all([hashPassword('same password here'), hashPassword('same password here')])
    expect(a).not.toBe(b)
    expect(await verifyPassword('same password here', b)).toBe(true)
  })

  it('verifies a hash made with other (cheaper) parameters, which are read from the stored value', async () => {
    // A hash written with N=2^14 (as a future migration or an older release might have): its own parameters are used.
    const { scryptSync } = await import('node:crypto')
    const salt = Buffer.alloc(16, 7)
    const key = scryptSync('an older password', salt, 32, { N: 2 ** 14, r: 8, p: 1 })
    const stored = `scrypt$${2 ** 14}$8$1$${salt.toString('base64')}$${key.toString('base64')}`
    expect(await verifyPassword('an older password', stored)).toBe(true)
    expect(await verifyPassword('another password', stored)).toBe(false)
  })

  it.each([
    ['empty', ''],
    ['another scheme', 'bcrypt$2b$10$abcdefghijklmnopqrstuv'],
    ['too few parts', 'scrypt$131072$8$1$c2FsdHNhbHRzYWx0'],
    ['N not a power of two', 'scrypt$100000$8$1$c2FsdHNhbHRzYWx0c2FsdA==$a2V5a2V5a2V5a2V5a2V5a2V5'],
    ['N too large to compute', `scrypt$${2 ** 24}$8$1$c2FsdHNhbHRzYWx0c2FsdA==$a2V5a2V5a2V5a2V5a2V5a2V5`],
    ['r of zero', 'scrypt$16384$0$1$c2FsdHNhbHRzYWx0c2FsdA==$a2V5a2V5a2V5a2V5a2V5a2V5'],
    ['salt not base64', 'scrypt$16384$8$1$not*base64$a2V5a2V5a2V5a2V5a2V5a2V5'],
    ['key too short', 'scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$a2V5'],
  ])('a stored value that cannot be parsed (%s) verifies false, never throws', async (_what, stored) => {
    expect(await verifyPassword('any password at all', stored)).toBe(false)
  })
})
