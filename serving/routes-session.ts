/**
 * Signing in and out (docs/SECURITY.md, Users, roles and sessions; docs/CONTRACT.md, Serving):
 * the sign-in page and the bootstrap-token sign-in (GET /login), a named user's sign-in
 * (POST /login), sign-out (POST /logout) and who the request acts as (GET /api/me).
 *
 * The session cookie is HttpOnly (no script reads it), SameSite=Strict (no other site's page
 * sends it), Path=/, with a Max-Age of the session's life, and Secure when the request came over
 * HTTPS (TLS here, or a trusted proxy's X-Forwarded-Proto). A failed sign-in gets the same 401
 * whatever the cause, after the same scrypt work, and sign-ins are limited per client address
 * (@fastify/rate-limit) and per user name (attempts counted in Redis before the password is
 * checked). A wrong bootstrap token at GET /login?token= counts against the client's address
 * like a wrong bearer token (serving/token-guesses.ts). Where a request may come from (this
 * server's own pages) is checked for every route by the guard (serving/http.ts).
 */
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { RedisKeys } from '../lib/contract/keys.ts'
import { PASSWORD_MAX_LENGTH, SCRYPT_PARAMS, verifyPassword } from '../lib/identity/passwords.ts'
import { sha256Hex, type UserRecord } from '../lib/identity/model.ts'
import type { RegistryReader } from '../lib/identity/registry.ts'
import type { RedisClient } from '../lib/redis.ts'
import { SESSION_COOKIE, cookieValue, type Auth } from './auth.ts'
import type { ServingMetrics } from './metrics.ts'
import { principalOf } from './principal.ts'
import { sessionHandle, type Session } from './sessions.ts'
import { TooManyTokenGuesses } from './token-guesses.ts'

const LOGIN_PAGE = fileURLToPath(new URL('../public/login.html', import.meta.url))

/** Sign-in attempts of one user name allowed per window (a success clears the count: in effect, failures), and the window: then 429 until it ends. */
const MAX_FAILURES = 5
const FAILURE_WINDOW_MS = 15 * 60_000

const WRONG = { error: 'Unauthorized', message: 'wrong user name or password' } as const

/**
 * What a user without a record is checked against: a stored hash of the same form and cost as a
 * real one, of no password anyone knows, so that an unknown name takes as long as a wrong password.
 */
const NO_USER_HASH = `scrypt$${SCRYPT_PARAMS.N}$${SCRYPT_PARAMS.r}$${SCRYPT_PARAMS.p}$${randomBytes(16).toString('base64')}$${randomBytes(64).toString('base64')}`

const tokenQuery = { type: 'object', properties: { token: { type: 'string', maxLength: 512 } } } as const
const credentials = {
  type: 'object',
  required: ['username', 'password'],
  properties: { username: { type: 'string', maxLength: 256 }, password: { type: 'string', maxLength: PASSWORD_MAX_LENGTH } },
} as const

export interface SessionRouteDeps {
  auth: Auth
  registry: RegistryReader
  redis: RedisClient
  keys: RedisKeys
  metrics: ServingMetrics
  /** Sign-ins allowed per client address per minute (serving option signInsPerMinute). */
  signInsPerMinute: number
  /** Ends the Socket.io connections of a session (by its handle) once it is signed out. */
  endConnections: (handle: string) => void
}

/**
 * KEYS[1]: the attempts counter of one user name. ARGV[1]: the window, in ms.
 * Counts one attempt, starting the window at the first, and returns {attempts in the window, ms left of it}.
 */
const COUNT_ATTEMPT = `local attempts = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {attempts, redis.call('PTTL', KEYS[1])}`

/**
 * Sign-in attempts per user name, in Redis under the SHA-256 of the name (keys.loginFailures), in
 * a fixed window that starts at the first attempt. An attempt is counted before its password is
 * checked, in one atomic step, so that attempts sent at once cannot all pass the check before any
 * is counted: past MAX_FAILURES, the name is locked for what is left of the window, without any
 * scrypt work. A successful sign-in clears the count, so only failures add up.
 */
class SignInAttempts {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {}

  private key(username: string): string {
    return this.keys.loginFailures(sha256Hex(username))
  }

  /** Counts an attempt of `username`: seconds until it may try again when it is over the limit, else 0 (go on and check the password). */
  async count(username: string): Promise<number> {
    const reply = await this.redis.eval(COUNT_ATTEMPT, { keys: [this.key(username)], arguments: [String(FAILURE_WINDOW_MS)] })
    const [attempts, ttlMs] = (reply as [number, number]).map(Number) as [number, number]
    if (attempts <= MAX_FAILURES) return 0
    return Math.max(1, Math.ceil(ttlMs / 1000))
  }

  async clear(username: string): Promise<void> {
    await this.redis.unlink(this.key(username))
  }
}

function isForm(request: FastifyRequest): boolean {
  return (request.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')
}

const cookieOptions = (request: FastifyRequest) => ({ path: '/', httpOnly: true, sameSite: 'strict', secure: request.protocol === 'https' }) as const

type Credentials = FastifyRequest<{ Body: { username: string; password: string } }>
type TokenSignIn = FastifyRequest<{ Querystring: { token?: string } }>

/** What the routes do, one method each. */
class SignIns {
  private readonly attempts: SignInAttempts

  constructor(private readonly deps: SessionRouteDeps) {
    this.attempts = new SignInAttempts(deps.redis, deps.keys)
  }

  /**
   * GET /login: the sign-in page without `token`; with it, the bootstrap sign-in (a wrong or
   * malformed token is a bare 401; past the address's limit of wrong tokens, 429).
   */
  async page(request: TokenSignIn, reply: FastifyReply) {
    const triesToken = request.validationError !== undefined || request.query.token !== undefined
    if (!triesToken) return reply.type('text/html; charset=utf-8').send(await readFile(LOGIN_PAGE))
    if (request.validationError !== undefined) return reply.code(401).send()
    let right: boolean
    try {
      right = this.deps.auth.tryToken(request.query.token, request.ip)
    } catch (error) {
      if (!(error instanceof TooManyTokenGuesses)) throw error
      this.deps.metrics.signIns.inc({ outcome: 'throttled' })
      return error.answer(reply)
    }
    if (!right) return reply.code(401).send()
    await this.open(request, reply, 'token')
    return reply.redirect('/', 303)
  }

  /** POST /login: a named user's sign-in. */
  async withPassword(request: Credentials, reply: FastifyReply) {
    const { metrics, registry } = this.deps
    if (request.validationError !== undefined) return reply.code(400).send({ error: 'Bad Request', message: 'expected {username, password}, two strings' })
    const { username, password } = request.body
    const lockedS = await this.attempts.count(username)
    if (lockedS > 0) {
      metrics.signIns.inc({ outcome: 'throttled' })
      const message = `too many failed sign-ins for this user name: try again in ${lockedS} s`
      return reply.code(429).header('retry-after', String(lockedS)).send({ error: 'Too Many Requests', message })
    }
    const user = registry.user(username)
    // The scrypt work is done for an unknown name too, so the answer's time does not tell whether the name exists.
    const matches = await verifyPassword(password, user?.passwordHash ?? NO_USER_HASH)
    if (user === undefined || user.disabled || !matches) {
      metrics.signIns.inc({ outcome: 'refused' })
      return reply.code(401).send(WRONG)
    }
    await this.attempts.clear(username)
    const session = await this.open(request, reply, user)
    metrics.signIns.inc({ outcome: 'signed-in' })
    if (isForm(request)) return reply.redirect('/', 303)
    return { user: user.username, role: user.role, expiresAt: session.expiresAt }
  }

  /** POST /logout. */
  async signOut(request: FastifyRequest, reply: FastifyReply) {
    await this.end(request)
    reply.clearCookie(SESSION_COOKIE, cookieOptions(request))
    return isForm(request) ? reply.redirect('/login', 303) : reply.code(204).send()
  }

  /** Opens a session and sets its cookie; the browser's previous session (another user's, perhaps) ends. */
  private async open(request: FastifyRequest, reply: FastifyReply, user: UserRecord | 'token'): Promise<Session> {
    await this.end(request)
    const { id, session } = await this.deps.auth.openSession(user)
    reply.setCookie(SESSION_COOKIE, id, { ...cookieOptions(request), maxAge: Math.floor((session.expiresAt - session.createdAt) / 1000) })
    return session
  }

  /** Ends the session the request's cookie names, if any, and its connections. */
  private async end(request: FastifyRequest): Promise<void> {
    const id = cookieValue(request.headers.cookie, SESSION_COOKIE)
    if (id === undefined) return
    await this.deps.auth.sessions.end(id)
    this.deps.endConnections(sessionHandle(id))
  }
}

export function sessionRoutes(deps: SessionRouteDeps): FastifyPluginAsync {
  const signIns = new SignIns(deps)
  return async (app) => {
    // A plain HTML form posts url-encoded fields (the page works without its script); only here.
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)))
    })
    app.get('/login', { config: { role: 'public' }, attachValidation: true, schema: { querystring: tokenQuery } }, (request: TokenSignIn, reply) =>
      signIns.page(request, reply),
    )
    app.post(
      '/login',
      { config: { role: 'public', rateLimit: { max: deps.signInsPerMinute, timeWindow: 60_000 } }, attachValidation: true, schema: { body: credentials } },
      (request: Credentials, reply) => signIns.withPassword(request, reply),
    )
    app.post('/logout', { config: { role: 'public' } }, (request, reply) => signIns.signOut(request, reply))
    app.get('/api/me', { config: { role: 'viewer' } }, async (request) => {
      const { user, role, via } = principalOf(request)
      return { user, role, via, expiresAt: request.sessionRef?.expiresAt ?? null }
    })
  }
}
