/**
 * The dashboard's one secret (VIGIL_TOKEN). A request is let in with `Authorization: Bearer
 * <token>` or with the session cookie that `/login?token=` sets; a Socket.io connection also with
 * the token in its handshake `auth` payload (`io(url, { auth: { token } })`). The cookie holds an
 * HMAC of the token, not the token itself, so a leaked cookie jar does not leak the API token.
 * Every comparison goes through `same` (constant-time). A refused request gets a bare 401: no
 * body that could tell why.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

export const SESSION_COOKIE = 'vigil_session'

export interface Auth {
  readonly token: string
  /** Whether the token was generated at start (VIGIL_TOKEN unset). */
  readonly generated: boolean
  /** The value of the session cookie for this token. */
  readonly sessionValue: string
  /** True when the bearer token or session cookie of a raw request is right. */
  allows(headers: IncomingMessage['headers']): boolean
  /**
   * True when a Socket.io connection is let in: by the headers of its handshake request, as
   * `allows`, or by `token` in its handshake `auth` payload. A payload token that is wrong, not a
   * string or absent lets nothing in by itself.
   */
  allowsHandshake(headers: IncomingMessage['headers'], payload: unknown): boolean
  /** True when a raw request carries a credential in its headers (an Authorization header or the session cookie), right or wrong. */
  carriesCredential(headers: IncomingMessage['headers']): boolean
  /** True when `candidate` is the token. */
  isToken(candidate: string | undefined): boolean
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest()
}

function same(a: string, b: string): boolean {
  // Hash both sides so that lengths never leak and timingSafeEqual gets equal-length buffers.
  return timingSafeEqual(digest(a), digest(b))
}

/** The value of cookie `name` in a Cookie header, without a parser (also used on the Socket.io handshake). */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq < 0) continue
    if (part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim())
  }
  return undefined
}

export function createAuth(configured: string | undefined): Auth {
  const generated = configured === undefined
  const token = configured ?? randomBytes(24).toString('base64url')
  const sessionValue = createHmac('sha256', token).update('vigil-session-v1').digest('base64url')
  const isToken = (candidate: string | undefined) => typeof candidate === 'string' && candidate.length > 0 && same(candidate, token)
  const allows = (headers: IncomingMessage['headers']) => {
    const authorization = headers.authorization
    if (typeof authorization === 'string' && authorization.startsWith('Bearer ')) {
      return isToken(authorization.slice('Bearer '.length).trim())
    }
    const cookie = cookieValue(headers.cookie, SESSION_COOKIE)
    return cookie !== undefined && same(cookie, sessionValue)
  }
  return Object.freeze({
    token,
    generated,
    sessionValue,
    isToken,
    allows,
    allowsHandshake(headers: IncomingMessage['headers'], payload: unknown) {
      if (allows(headers)) return true
      const candidate = typeof payload === 'object' && payload !== null ? (payload as { token?: unknown }).token : undefined
      return typeof candidate === 'string' && isToken(candidate)
    },
    carriesCredential(headers: IncomingMessage['headers']) {
      return headers.authorization !== undefined || cookieValue(headers.cookie, SESSION_COOKIE) !== undefined
    },
  })
}
