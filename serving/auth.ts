/**
 * Who a request acts as (docs/SECURITY.md, Users, roles and sessions): `identify` turns a request's
 * headers (and, for a Socket.io handshake, its `auth` payload) into an identity, or null.
 *
 * - `Authorization: Bearer <VIGIL_TOKEN>`: the bootstrap token, an admin (TOKEN_PRINCIPAL); scripts use it.
 * - The `vigil_session` cookie: a session in Redis (serving/sessions.ts). A named user's session
 *   acts with the user's current role in the registry, and is refused once the user is gone,
 *   disabled, or has changed password (credentialVersion). A session opened with the token
 *   (`/login?token=`) acts as `VIGIL_TOKEN`, an admin, as long as the server runs with that token.
 * - A Socket.io handshake also with `auth: { token: <VIGIL_TOKEN> }`.
 *
 * Every comparison with the token goes through `same` (constant-time), and every one goes
 * through `tryToken`, which counts a wrong token against the client's address and, past its
 * limit, refuses the address's tokens without comparing them (serving/token-guesses.ts).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { TOKEN_PRINCIPAL, bearerToken, sha256Hex, type Principal, type UserRecord } from '../lib/identity/model.ts'
import type { RegistryReader } from '../lib/identity/registry.ts'
import { sessionHandle, type Session, type SessionStore } from './sessions.ts'
import { TokenGuesses, TooManyTokenGuesses } from './token-guesses.ts'

export const SESSION_COOKIE = 'vigil_session'

type Headers = IncomingMessage['headers']

/** Who a request acts as, and the session it came with (null for the bearer token). */
export interface Identity {
  principal: Principal
  session: { handle: string; expiresAt: number } | null
}

/** Where a request comes from: the client's address (the limit of wrong tokens), and a Socket.io handshake's `auth` payload. */
interface Caller {
  address: string
  payload?: unknown
}

export interface Auth {
  readonly token: string
  /** Whether the token was generated at start (VIGIL_TOKEN unset). */
  readonly generated: boolean
  readonly sessions: SessionStore
  /**
   * True when `candidate` is the token. A wrong one (a string) is counted against `address`;
   * throws TooManyTokenGuesses, without comparing, once the address has sent its limit of them.
   */
  tryToken(candidate: unknown, address: string): boolean
  /**
   * The identity of a request: by its bearer token, else its session cookie, else (a Socket.io
   * handshake) the token in its `auth` payload. Null when none of them is right. Rejects with
   * TooManyTokenGuesses when it carries a token and its address is past its limit of wrong ones.
   */
  identify(headers: Headers, caller: Caller): Promise<Identity | null>
  /** The principal a stored session acts as now, or null when it no longer may act (see `sessionPrincipal`). */
  principalOf(session: Session): Principal | null
  /** Opens a session for a registry user, or (`'token'`) for the bootstrap token. */
  openSession(user: UserRecord | 'token'): Promise<{ id: string; session: Session }>
  /** True when a raw request carries a credential in its headers (an Authorization header or the session cookie), right or wrong. */
  carriesCredential(headers: Headers): boolean
}

/** Constant-time equality of two strings. */
// exported for auth.test.ts
export function same(a: string, b: string): boolean {
  // Hash both sides so that lengths never leak and timingSafeEqual gets equal-length buffers.
  return timingSafeEqual(Buffer.from(sha256Hex(a)), Buffer.from(sha256Hex(b)))
}

/** The value of cookie `name` in a Cookie header, without a parser (also used on the Socket.io handshake). */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq < 0) continue
    if (part.slice(0, eq).trim() !== name) continue
    const raw = part.slice(eq + 1).trim()
    try {
      return decodeURIComponent(raw)
    } catch {
      // A malformed escape is a wrong credential, not a server error: it is looked up as it came.
      return raw
    }
  }
  return undefined
}

/** An Authorization header of the Bearer scheme, in any case (RFC 6750), whatever follows it. */
const BEARER_SCHEME = /^bearer(?:[ \t]|$)/i

/**
 * The bearer credential of a request's Authorization header (lib/identity/model.ts, bearerToken);
 * '' for a Bearer header without one credential in it ("Bearer", "Bearer a b"), which is then a
 * wrong token like any other, never passed over for a cookie; undefined when the header is absent
 * or of another scheme.
 */
// exported for auth.test.ts
export function bearerCredential(headers: Headers): string | undefined {
  const authorization = headers.authorization
  if (typeof authorization !== 'string') return undefined
  return bearerToken(authorization) ?? (BEARER_SCHEME.test(authorization) ? '' : undefined)
}

/** The `token` of a Socket.io handshake `auth` payload, when it is a string. */
// exported for auth.test.ts
export function handshakeToken(payload: unknown): string | undefined {
  const candidate = typeof payload === 'object' && payload !== null ? (payload as { token?: unknown }).token : undefined
  return typeof candidate === 'string' ? candidate : undefined
}

/** What a bootstrap-token session carries of the token: an HMAC, so Redis never holds the token. */
// exported for auth.test.ts
export function tokenTagOf(token: string): string {
  return createHmac('sha256', token).update('vigil-session-v1').digest('base64url')
}

/** The principal of a session opened with the bootstrap token. */
const TOKEN_SESSION_PRINCIPAL: Principal = Object.freeze({ ...TOKEN_PRINCIPAL, via: 'session' })

/**
 * The principal a stored session acts as now, or null: a token session only while the server
 * runs with the same token; a user's only while the user exists, is not disabled and has the
 * credentialVersion the session was opened with, and then with the user's current role.
 */
// exported for auth.test.ts
export function sessionPrincipal(session: Session, registry: RegistryReader, tokenTag: string): Principal | null {
  if (session.tokenTag !== undefined) return same(session.tokenTag, tokenTag) ? TOKEN_SESSION_PRINCIPAL : null
  const user = registry.user(session.user)
  if (user === undefined || user.disabled || user.credentialVersion !== session.credentialVersion) return null
  return { user: user.username, role: user.role, via: 'session' }
}

interface AuthDeps {
  /** VIGIL_TOKEN; generated when undefined. */
  token: string | undefined
  sessions: SessionStore
  registry: RegistryReader
  /** Wrong tokens a client address may send per minute (serving option signInsPerMinute). */
  wrongTokensPerMinute: number
}

export function createAuth(deps: AuthDeps): Auth {
  const { sessions, registry } = deps
  const generated = deps.token === undefined
  const token = deps.token ?? randomBytes(24).toString('base64url')
  const tokenTag = tokenTagOf(token)
  const guesses = new TokenGuesses(deps.wrongTokensPerMinute)
  const tryToken = (candidate: unknown, address: string): boolean => {
    // Not a string: not a try at the token (a malformed handshake), and never right.
    if (typeof candidate !== 'string') return false
    const lockedMs = guesses.lockedForMs(address)
    if (lockedMs > 0) throw new TooManyTokenGuesses(lockedMs)
    if (candidate.length > 0 && same(candidate, token)) return true
    guesses.addWrong(address)
    return false
  }
  const tokenIdentity: Identity = Object.freeze({ principal: TOKEN_PRINCIPAL, session: null })
  const principalOf = (session: Session) => sessionPrincipal(session, registry, tokenTag)

  const bySession = async (id: string): Promise<Identity | null> => {
    const session = await sessions.lookup(id)
    const principal = session === null ? null : principalOf(session)
    if (session === null || principal === null) return null
    return { principal, session: { handle: sessionHandle(id), expiresAt: session.expiresAt } }
  }
  const byHeaders = async (headers: Headers, address: string): Promise<Identity | null> => {
    const bearer = bearerCredential(headers)
    if (bearer !== undefined) return tryToken(bearer, address) ? tokenIdentity : null
    const id = cookieValue(headers.cookie, SESSION_COOKIE)
    return id === undefined ? null : bySession(id)
  }

  return Object.freeze({
    token,
    generated,
    sessions,
    tryToken,
    principalOf,
    async identify(headers: Headers, caller: Caller) {
      return (await byHeaders(headers, caller.address)) ?? (tryToken(handshakeToken(caller.payload), caller.address) ? tokenIdentity : null)
    },
    openSession(user: UserRecord | 'token') {
      if (user === 'token') return sessions.create({ user: TOKEN_PRINCIPAL.user, credentialVersion: 0, tokenTag })
      return sessions.create({ user: user.username, credentialVersion: user.credentialVersion })
    },
    carriesCredential(headers: Headers) {
      return headers.authorization !== undefined || cookieValue(headers.cookie, SESSION_COOKIE) !== undefined
    },
  })
}
