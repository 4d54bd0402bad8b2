/**
 * The serving layer's fastify app before its routes: logging, the body limit, the schema options,
 * TLS and the proxy setting, the security headers, the role guard on every request, cookies, rate
 * limiting, and the dashboard's files (public/ and Chart.js).
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync, type RouteOptions } from 'fastify'
import fastifyCookie from '@fastify/cookie'
import fastifyRateLimit from '@fastify/rate-limit'
import fastifyStatic from '@fastify/static'
import { VigilError, describeError } from '../lib/errors.ts'
import { roleAllows, type Requirement } from '../lib/identity/model.ts'
import type { Logger } from '../lib/log.ts'
import type { Auth, Identity } from './auth.ts'
import type { ServingOptions } from './config.ts'
import './principal.ts'
import { API_AJV_OPTIONS } from './routes.ts'

const PUBLIC_DIR = fileURLToPath(new URL('../public/', import.meta.url))
const CHART_DIR = path.dirname(createRequire(import.meta.url).resolve('chart.js'))

/** The files the sign-in page (served at GET /login) loads: public, so that a signed-out browser can show it. */
const SIGN_IN_FILES = ['login.js', 'styles.css'] as const

/**
 * The route @fastify/static registers for public/ (`GET`/`HEAD /*`): the plugin takes no route
 * config, so its role is set here, by path, when the route is registered. Every dashboard file
 * but the sign-in page's needs a viewer (those have routes of their own, declared public).
 */
const STATIC_ROUTES: ReadonlyMap<string, Requirement> = new Map([['/*', 'viewer']])

/**
 * The role of a request that matched no route (fastify's 404): a viewer's, so that without a
 * principal an unknown path gets the same 401 as a real one and routes cannot be probed.
 */
const NOT_FOUND_ROLE: Requirement = 'viewer'

/** No inline scripts or styles, nothing from elsewhere; WebSocket to this origin only. */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ')

export interface HttpAppDeps {
  options: ServingOptions
  log: Logger
  auth: Auth
  /** Called for every route registered, once its role is settled (the security suite checks each one against every role). */
  onRoute?: (route: RouteOptions) => void
}

/** The app with its hooks and plugins installed; the caller registers the API and listens. */
export async function createHttpApp(deps: HttpAppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    // No per-request log lines (docs/CONVENTIONS.md: no per-message logs); errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.options.bodyLimitBytes,
    ajv: API_AJV_OPTIONS,
    // X-Forwarded-For and -Proto from the proxy in front: the client's address (rate limits) and https (Secure cookies).
    trustProxy: deps.options.trustProxy,
    https: tlsFiles(deps.options),
  }) as unknown as FastifyInstance
  app.addHook('onRoute', declaredRole)
  if (deps.onRoute !== undefined) app.addHook('onRoute', deps.onRoute)
  guardRequests(app, deps.auth)
  await app.register(fastifyCookie)
  await app.register(fastifyRateLimit, { global: false })
  return app
}

/** The certificate and key of --tls-cert/--tls-key, read at start, or null to serve plain HTTP. */
function tlsFiles(options: ServingOptions): { cert: Buffer; key: Buffer } | null {
  if (options.tlsCert === undefined || options.tlsKey === undefined) return null
  const read = (file: string, flag: string) => {
    try {
      return readFileSync(file)
    } catch (error) {
      throw new VigilError('CONFIG_INVALID', `${flag} ${file} cannot be read (${describeError(error)}): pass a PEM file this process may read.`, {
        cause: error,
      })
    }
  }
  return { cert: read(options.tlsCert, '--tls-cert'), key: read(options.tlsKey, '--tls-key') }
}

/**
 * Every route says which role it requires (`config: { role }`, docs/SECURITY.md, Every route's
 * role); the dashboard's static route gets its role here. A route without one stops the server
 * at start, so the route table is always complete.
 */
function declaredRole(route: RouteOptions): void {
  if (route.config?.role !== undefined) return
  const role = STATIC_ROUTES.get(route.url)
  if (role === undefined) {
    throw new Error(
      `route ${[route.method].flat().join(',')} ${route.url} declares no role: add config: { role } to its options (docs/SECURITY.md, Every route's role)`,
    )
  }
  route.config = { ...route.config, role }
}

/**
 * Security headers on every answer; then the request's principal (request.principal), and the
 * route's role checked before any route runs: public passes; without a principal a bare 401
 * (GET / is sent to the sign-in page instead); with too small a role 403.
 */
function guardRequests(app: FastifyInstance, auth: Auth): void {
  app.decorateRequest('principal', null)
  app.decorateRequest('sessionRef', null)
  app.addHook('onRequest', async (request, reply) => {
    reply.header('content-security-policy', CSP)
    reply.header('x-content-type-options', 'nosniff')
    reply.header('referrer-policy', 'no-referrer')
    reply.header('x-frame-options', 'DENY')
    reply.header('cache-control', 'no-store')
    const required = request.is404 ? NOT_FOUND_ROLE : (request.routeOptions.config.role ?? NOT_FOUND_ROLE)
    let identity: Identity | null
    try {
      identity = await auth.identify(request.headers)
    } catch (error) {
      // A session cookie could not be looked up (Redis does not answer): a public route (/healthz
      // says Redis is down) still answers, without a principal; the others cannot tell who asks.
      if (required !== 'public') throw new ServiceUnavailable(error)
      identity = null
    }
    request.principal = identity?.principal ?? null
    request.sessionRef = identity?.session ?? null
    if (required === 'public') return
    if (request.principal === null) {
      if (request.method === 'GET' && request.url === '/') return reply.redirect('/login', 302)
      // Closing the connection means a body the client may still be sending is never read.
      return reply.code(401).header('connection', 'close').send()
    }
    if (!roleAllows(request.principal.role, required)) return reply.code(403).send({ error: 'Forbidden', message: `${required} required` })
  })
}

/** 503 with the one sentence: the sessions are in Redis. */
class ServiceUnavailable extends Error {
  readonly statusCode = 503
  constructor(cause: unknown) {
    super('the sign-in cannot be checked: Redis does not answer; try again shortly', { cause })
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The session the request came with (its handle and expiry), or null: set by the guard with request.principal. */
    sessionRef: { handle: string; expiresAt: number } | null
  }
}

/** The dashboard: public/ at the root (viewer), the sign-in page's own files (public), and Chart.js from its package. */
export const dashboardRoutes: FastifyPluginAsync = async (app) => {
  await app.register(fastifyStatic, { root: PUBLIC_DIR, prefix: '/', index: ['index.html'], cacheControl: false })
  for (const file of SIGN_IN_FILES) app.get(`/${file}`, { config: { role: 'public' } }, (_request, reply) => reply.sendFile(file))
  app.get('/vendor/chart.umd.min.js', { config: { role: 'viewer' } }, (_request, reply) => reply.sendFile('chart.umd.min.js', CHART_DIR))
}
