import { describe, expect, it } from 'vitest'
import { redisKeys } from '../lib/contract/keys.ts'
import type { UserRecord } from '../lib/identity/model.ts'
import { disabled, newUser, withPassword, withRole } from '../lib/identity/records.ts'
import { RegistryState, userKey } from '../lib/identity/registry-state.ts'
import { createRedis } from '../lib/redis.ts'
import { SESSION_COOKIE, bearerCredential, cookieValue, createAuth, handshakeToken, same, sessionPrincipal, tokenTagOf } from './auth.ts'
import { createSessionStore, type Session } from './sessions.ts'
import { TooManyTokenGuesses } from './token-guesses.ts'

const TOKEN = 'a-configured-token-123456'

/** The registry as a process holds it, from these user records (newest last). */
function registryOf(...users: UserRecord[]): RegistryState {
  const state = new RegistryState()
  for (const u of users) expect(state.apply(userKey(u.username), Buffer.from(JSON.stringify(u)))).toEqual({ ok: true })
  return state
}

/**
 * An Auth whose session store was never connected: the token ways never reach Redis, so any
 * lookup here would throw (the session ways are tested against Redis in sessions.int.test.ts).
 */
function tokenOnlyAuth(token: string | undefined, wrongTokensPerMinute = 1_000) {
  const sessions = createSessionStore(createRedis({ redisUrl: 'redis://127.0.0.1:1' }), redisKeys('unit:'), 60_000)
  return createAuth({ token, sessions, registry: registryOf(), wrongTokensPerMinute })
}

/** Where the requests of a test come from. */
const FROM = { address: '192.0.2.1' }

const session = (user: string, credentialVersion: number, extra: Partial<Session> = {}): Session => ({
  user,
  credentialVersion,
  createdAt: 0,
  expiresAt: Number.MAX_SAFE_INTEGER,
  ...extra,
})

describe('the principal of a stored session', () => {
  const nurse = newUser({ username: 'nurse.ode', role: 'clinician', passwordHash: 'scrypt$unused' }, 1)
  const tag = tokenTagOf(TOKEN)

  it("acts as a user with the user's current role in the registry, not the role at sign-in", () => {
    expect(sessionPrincipal(session('nurse.ode', 1), registryOf(nurse), tag)).toEqual({ user: 'nurse.ode', role: 'clinician', via: 'session' })
    expect(sessionPrincipal(session('nurse.ode', 1), registryOf(nurse, withRole(nurse, 'viewer', 2)), tag)).toEqual({
      user: 'nurse.ode',
      role: 'viewer',
      via: 'session',
    })
  })

  it('is refused once the user is unknown, disabled, or has changed password', () => {
    expect(sessionPrincipal(session('nobody', 1), registryOf(nurse), tag)).toBeNull()
    expect(sessionPrincipal(session('nurse.ode', 1), registryOf(nurse, disabled(nurse, 2)), tag)).toBeNull()
    expect(sessionPrincipal(session('nurse.ode', 1), registryOf(nurse, withPassword(nurse, 'scrypt$new', 2)), tag)).toBeNull()
    // A session opened after the change carries the new version.
    expect(sessionPrincipal(session('nurse.ode', 2), registryOf(nurse, withPassword(nurse, 'scrypt$new', 2)), tag)?.user).toBe('nurse.ode')
  })

  it('acts as the bootstrap admin for a token session while the server runs with the same token, and never by the user name alone', () => {
    const tokenSession = session('VIGIL_TOKEN', 0, { tokenTag: tag })
    expect(sessionPrincipal(tokenSession, registryOf(), tag)).toEqual({ user: 'VIGIL_TOKEN', role: 'admin', via: 'session' })
    expect(sessionPrincipal(tokenSession, registryOf(), tokenTagOf(`${TOKEN}-rotated`))).toBeNull()
    // Without the tag, the name is looked up in the registry like any other.
    expect(sessionPrincipal(session('VIGIL_TOKEN', 0), registryOf(), tag)).toBeNull()
  })

  it("keeps the token out of the session's tag", () => {
    expect(tokenTagOf(TOKEN)).not.toContain(TOKEN)
    expect(tokenTagOf(TOKEN)).toBe(tokenTagOf(TOKEN))
  })
})

describe('the token ways in', () => {
  const auth = tokenOnlyAuth(TOKEN)

  it('lets the bearer token in as the bootstrap admin, the scheme in any case (RFC 6750), and no other Authorization header', async () => {
    for (const authorization of [`Bearer ${TOKEN}`, `bearer ${TOKEN}`, `BEARER ${TOKEN}`]) {
      expect(await auth.identify({ authorization }, FROM), authorization).toEqual({
        principal: { user: 'VIGIL_TOKEN', role: 'admin', via: 'token' },
        session: null,
      })
    }
    for (const authorization of [`Bearer ${TOKEN.slice(0, -1)}`, `Basic ${TOKEN}`, 'Bearer ', `Bearer ${TOKEN} ${TOKEN}`]) {
      expect(await auth.identify({ authorization }, FROM), authorization).toBeNull()
    }
    expect(await auth.identify({}, FROM)).toBeNull()
  })

  it('lets a Socket.io handshake in by the token in its auth payload, and by nothing else there', async () => {
    expect((await auth.identify({}, { ...FROM, payload: { token: TOKEN } }))?.principal.user).toBe('VIGIL_TOKEN')
    for (const payload of [
      {},
      { token: `${TOKEN}x` },
      { token: '' },
      { token: 123 },
      { token: [TOKEN] },
      { token: null },
      { Token: TOKEN },
      TOKEN,
      null,
      undefined,
    ]) {
      expect(await auth.identify({}, { ...FROM, payload }), JSON.stringify(payload)).toBeNull()
    }
  })

  it('tells a request that carries a credential in its headers, right or wrong, from one that carries none', () => {
    expect(auth.carriesCredential({ authorization: 'Bearer wrong' })).toBe(true)
    expect(auth.carriesCredential({ authorization: 'Basic d3Jvbmc=' })).toBe(true)
    expect(auth.carriesCredential({ cookie: `a=1; ${SESSION_COOKIE}=forged` })).toBe(true)
    expect(auth.carriesCredential({ cookie: 'a=1' })).toBe(false)
    expect(auth.carriesCredential({})).toBe(false)
  })

  it('generates a long random token when none is configured', () => {
    const a = tokenOnlyAuth(undefined)
    const b = tokenOnlyAuth(undefined)
    expect(a.generated).toBe(true)
    expect(a.token.length).toBeGreaterThanOrEqual(32)
    expect(a.token).not.toBe(b.token)
    expect(auth.generated).toBe(false)
    expect(auth.tryToken(TOKEN, FROM.address)).toBe(true)
    expect(auth.tryToken('', FROM.address)).toBe(false)
    expect(auth.tryToken(undefined, FROM.address)).toBe(false)
  })
})

describe('wrong tokens from one address', () => {
  it('are answered as wrong up to the limit; then every token from that address, the right one too, is refused without being compared, while other addresses go on', async () => {
    const auth = tokenOnlyAuth(TOKEN, 3)
    const guesser = { address: '198.51.100.7' }
    const wrong = { authorization: `Bearer ${TOKEN}x` }
    for (let i = 0; i < 3; i++) expect(await auth.identify(wrong, guesser)).toBeNull()
    await expect(auth.identify(wrong, guesser)).rejects.toBeInstanceOf(TooManyTokenGuesses)
    await expect(auth.identify({ authorization: `Bearer ${TOKEN}` }, guesser)).rejects.toThrow(/too many wrong tokens from this address: try again in \d+ s/)
    await expect(auth.identify({}, { ...guesser, payload: { token: TOKEN } })).rejects.toBeInstanceOf(TooManyTokenGuesses)
    expect(() => auth.tryToken(TOKEN, guesser.address)).toThrow(TooManyTokenGuesses)
    // Another address, and the guesser without a token (a malformed handshake token is not a try).
    expect((await auth.identify({ authorization: `Bearer ${TOKEN}` }, FROM))?.principal.user).toBe('VIGIL_TOKEN')
    expect(await auth.identify({}, { ...guesser, payload: { token: 123 } })).toBeNull()
  })

  it('never counts the right token: a script with it is not limited', async () => {
    const auth = tokenOnlyAuth(TOKEN, 3)
    for (let i = 0; i < 50; i++) expect((await auth.identify({ authorization: `Bearer ${TOKEN}` }, FROM))?.principal.user).toBe('VIGIL_TOKEN')
  })
})

describe('reading credentials', () => {
  it('reads one cookie out of a Cookie header, and a malformed escape as it came', () => {
    expect(cookieValue('a=1; b=two%20words; c=3', 'b')).toBe('two words')
    expect(cookieValue('a=1', 'b')).toBeUndefined()
    expect(cookieValue(undefined, 'b')).toBeUndefined()
    expect(cookieValue('b=%E0%A4%A', 'b')).toBe('%E0%A4%A')
  })

  it('reads the bearer credential with the scheme in any case, a Bearer header without one credential as a wrong one, and the handshake token only as a string', () => {
    for (const authorization of ['Bearer abc ', 'bearer abc', 'BEARER\tabc']) expect(bearerCredential({ authorization })).toBe('abc')
    // Still a Bearer header: judged as a wrong token, never passed over for the session cookie.
    for (const authorization of ['Bearer', 'Bearer ', 'bearer a b']) expect(bearerCredential({ authorization })).toBe('')
    for (const authorization of ['Basic abc', 'Bearerabc']) expect(bearerCredential({ authorization })).toBeUndefined()
    expect(bearerCredential({})).toBeUndefined()
    expect(handshakeToken({ token: 'abc' })).toBe('abc')
    expect(handshakeToken({ token: 1 })).toBeUndefined()
    expect(handshakeToken('abc')).toBeUndefined()
  })

  it('compares strings of any lengths in constant time', () => {
    expect(same('abc', 'abc')).toBe(true)
    expect(same('abc', 'abcd')).toBe(false)
    expect(same('', '')).toBe(true)
  })
})
