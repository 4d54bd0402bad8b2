/**
 * The serving layer's fastify app before its routes: logging, the body limit, the schema options,
 * TLS and the proxy setting, the security headers, the refusal of changes sent from another
 * site's page, the role guard on every request, cookies, rate limiting, and the dashboard's files
 * (public/ and Chart.js).
 */
import { readFileSync } from 'node:fs'
import type { IncomingHttpHeaders } from 'node:http'
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
import { TooManyTokenGuesses } from './token-guesses.ts'
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
    // X-Forwarded-For and -Proto from the one proxy in front: the client's address (rate limits)
    // and https (Secure cookies). One hop: the address is the X-Forwarded-For entry that proxy
    // added (the last); entries before it came from the client, who could write any address there.
    // A function, since fastify 5.12 reads a number as "trust nothing". fastify then reads
    // X-Forwarded-Host into request.host too: nothing here uses it (the same-origin check reads ownHost).
    trustProxy: deps.options.trustProxy ? trustNearestHop : false,
    https: tlsFiles(deps.options),
  }) as unknown as FastifyInstance
  app.addHook('onRoute', declaredRole)
  if (deps.onRoute !== undefined) app.addHook('onRoute', deps.onRoute)
  guardRequests(app, deps.auth)
  await app.register(fastifyCookie)
  await app.register(fastifyRateLimit, { global: false })
  return app
}

/** Trusts the peer of the connection (the proxy) and no hop beyond it: fastify's request.ip is then serving/token-guesses.ts's clientAddress. */
function trustNearestHop(_address: string, hop: number): boolean {
  return hop === 0
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

/** The methods that change something: refused when sent from another site's page. */
const CHANGING_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/** What a browser says of a request sent by a page of this origin (`same-origin`) or by the user (`none`: typed, a bookmark). */
const OWN_FETCH_SITES: ReadonlySet<string> = new Set(['same-origin', 'none'])

/**
 * The host a page of this server was loaded from, as far as the same-origin check goes: the raw
 * `Host` header, on the API and on Socket.io's handshake alike. Never X-Forwarded-Host, even with
 * --trust-proxy (where fastify's request.host reads it): the raw request Socket.io sees is not
 * fastify's, and two readings of the host would let a proxy that rewrites one of them refuse every
 * page on one face and pass it on the other. A proxy in front must pass Host through
 * (docs/SECURITY.md, Behind TLS).
 */
function ownHost(headers: IncomingHttpHeaders): string | undefined {
  return headers.host
}

/**
 * True unless a browser says the request comes from another site's page, or from a page of
 * another origin of this site (a sibling host, to which SameSite=Strict still sends the cookie):
 * an `Origin` that is not this server's (ownHost), or `Sec-Fetch-Site` other than `same-origin`
 * or `none`. A script without those headers (curl with the token) is not a page, and passes.
 */
export function fromOwnPage(headers: IncomingHttpHeaders): boolean {
  const site = headers['sec-fetch-site']
  if (site !== undefined && !OWN_FETCH_SITES.has(String(site))) return false
  const origin = headers.origin
  if (origin === undefined) return true
  const host = ownHost(headers)
  if (host === undefined) return false
  try {
    const page = new URL(origin)
    // The Host read with the page's scheme, so that a default port written or left out compares equal.
    return new URL(`${page.protocol}//${host}`).host === page.host
  } catch {
    // `Origin: null` (a sandboxed frame, a redirect from elsewhere) or garbage: not this server.
    return false
  }
}

/**
 * Security headers on every answer; a change (POST, PUT, PATCH, DELETE) sent from another
 * site's page refused 403, on every route, public ones and unknown paths too; then the request's
 * principal (request.principal), and the route's role checked before any route runs: public
 * passes; without a principal a bare 401 (GET / is sent to the sign-in page instead); with too
 * small a role 403. Past its limit of wrong tokens, a request that carries a token gets 429.
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
    if (CHANGING_METHODS.has(request.method) && !fromOwnPage(request.headers)) {
      return reply.code(403).send({ error: 'Forbidden', message: "a change must be sent from this server's own pages, not from another site's" })
    }
    const required = request.is404 ? NOT_FOUND_ROLE : (request.routeOptions.config.role ?? NOT_FOUND_ROLE)
    let identity: Identity | null
    try {
      identity = await auth.identify(request.headers, { address: request.ip })
    } catch (error) {
      // A public route answers without a principal: /healthz says Redis is down, and a token
      // from an address past its limit of wrong ones is simply not looked at there.
      if (required === 'public') identity = null
      else if (error instanceof TooManyTokenGuesses) return error.answer(reply)
      // A session cookie could not be looked up (Redis does not answer): who asks cannot be told.
      else throw new ServiceUnavailable(error)
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

/** The dashboard: public/ at the root (viewer), the sign-in page's own files (public), and Chart.js from its package. */
export const dashboardRoutes: FastifyPluginAsync = async (app) => {
  await app.register(fastifyStatic, { root: PUBLIC_DIR, prefix: '/', index: ['index.html'], cacheControl: false })
  for (const file of SIGN_IN_FILES) app.get(`/${file}`, { config: { role: 'public' } }, (_request, reply) => reply.sendFile(file))
  app.get('/vendor/chart.umd.min.js', { config: { role: 'viewer' } }, (_request, reply) => reply.sendFile('chart.umd.min.js', CHART_DIR))
}
