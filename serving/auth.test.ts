import { describe, expect, it } from 'vitest'
import { SESSION_COOKIE, cookieValue, createAuth } from './auth.ts'

describe('dashboard auth', () => {
  const auth = createAuth('a-configured-token-123456')

  it('lets in the bearer token and the session cookie, and nothing else', () => {
    expect(auth.allows({ authorization: 'Bearer a-configured-token-123456' })).toBe(true)
    expect(auth.allows({ cookie: `other=1; ${SESSION_COOKIE}=${auth.sessionValue}` })).toBe(true)
    expect(auth.allows({ authorization: 'Bearer a-configured-token-12345' })).toBe(false)
    expect(auth.allows({ authorization: 'Basic a-configured-token-123456' })).toBe(false)
    expect(auth.allows({ cookie: `${SESSION_COOKIE}=a-configured-token-123456` })).toBe(false)
    expect(auth.allows({})).toBe(false)
  })

  it('lets a Socket.io handshake in by its headers or by the token in its auth payload, and by nothing else', () => {
    expect(auth.allowsHandshake({}, { token: 'a-configured-token-123456' })).toBe(true)
    expect(auth.allowsHandshake({ authorization: 'Bearer a-configured-token-123456' }, {})).toBe(true)
    expect(auth.allowsHandshake({ cookie: `${SESSION_COOKIE}=${auth.sessionValue}` }, {})).toBe(true)
    for (const payload of [
      {},
      { token: 'a-configured-token-12345' },
      { token: '' },
      { token: 123 },
      { token: ['a-configured-token-123456'] },
      { token: null },
      { Token: 'a-configured-token-123456' },
      'a-configured-token-123456',
      null,
      undefined,
    ]) {
      expect(auth.allowsHandshake({}, payload), JSON.stringify(payload)).toBe(false)
    }
    // The session cookie's value is not the token: it opens nothing as an auth payload.
    expect(auth.allowsHandshake({}, { token: auth.sessionValue })).toBe(false)
  })

  it('tells a request that carries a credential in its headers, right or wrong, from one that carries none', () => {
    expect(auth.carriesCredential({ authorization: 'Bearer wrong' })).toBe(true)
    expect(auth.carriesCredential({ authorization: 'Basic d3Jvbmc=' })).toBe(true)
    expect(auth.carriesCredential({ cookie: `a=1; ${SESSION_COOKIE}=forged` })).toBe(true)
    expect(auth.carriesCredential({ cookie: 'a=1' })).toBe(false)
    expect(auth.carriesCredential({})).toBe(false)
  })

  it('generates a long random token when none is configured', () => {
    const a = createAuth(undefined)
    const b = createAuth(undefined)
    expect(a.generated).toBe(true)
    expect(a.token.length).toBeGreaterThanOrEqual(32)
    expect(a.token).not.toBe(b.token)
    expect(auth.generated).toBe(false)
  })

  it('reads one cookie out of a Cookie header', () => {
    expect(cookieValue('a=1; b=two%20words; c=3', 'b')).toBe('two words')
    expect(cookieValue('a=1', 'b')).toBeUndefined()
    expect(cookieValue(undefined, 'b')).toBeUndefined()
  })
})
