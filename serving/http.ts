/**
 * The serving layer's fastify app before its routes: logging, the body limit, the schema options,
 * the security headers and the token check on every request, cookies, rate limiting, and the
 * dashboard's files (public/ and Chart.js).
 */
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync, type RouteOptions } from 'fastify'
import fastifyCookie from '@fastify/cookie'
import fastifyRateLimit from '@fastify/rate-limit'
import fastifyStatic from '@fastify/static'
import type { Logger } from '../lib/log.ts'
import type { Auth } from './auth.ts'
import type { ServingOptions } from './config.ts'
import { API_AJV_OPTIONS } from './routes.ts'

const PUBLIC_DIR = fileURLToPath(new URL('../public/', import.meta.url))
const CHART_DIR = path.dirname(createRequire(import.meta.url).resolve('chart.js'))

/** Routes docs/CONTRACT.md makes public: /healthz, and /login, which takes the token itself. */
const OPEN_PATHS: ReadonlySet<string> = new Set(['/healthz', '/login'])

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
  /** Called for every route registered (the security suite checks each one refuses without the token). */
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
  })
  if (deps.onRoute !== undefined) app.addHook('onRoute', deps.onRoute)
  guardRequests(app, deps.auth)
  await app.register(fastifyCookie)
  await app.register(fastifyRateLimit, { global: false })
  return app
}

/** Security headers on every answer; 401 before any route runs unless the path is open or the token is right. */
function guardRequests(app: FastifyInstance, auth: Auth): void {
  app.addHook('onRequest', async (request, reply) => {
    reply.header('content-security-policy', CSP)
    reply.header('x-content-type-options', 'nosniff')
    reply.header('referrer-policy', 'no-referrer')
    reply.header('x-frame-options', 'DENY')
    reply.header('cache-control', 'no-store')
    const pathname = request.url.split('?')[0] ?? ''
    if (OPEN_PATHS.has(pathname)) return
    // Closing the connection means a body the client may still be sending is never read.
    if (!auth.allows(request.headers)) return reply.code(401).header('connection', 'close').send()
  })
}

/** The dashboard: public/ at the root, and Chart.js from its package. */
export const dashboardRoutes: FastifyPluginAsync = async (app) => {
  await app.register(fastifyStatic, { root: PUBLIC_DIR, prefix: '/', index: ['index.html'], cacheControl: false })
  app.get('/vendor/chart.umd.min.js', (_request, reply) => reply.sendFile('chart.umd.min.js', CHART_DIR))
}
