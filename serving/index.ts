/**
 * The serving layer (docs/CONTRACT.md, Serving): the HTTP API, Socket.io push and the dashboard in
 * one process. `start` resolves once the server listens; it never touches Kafka topics, only
 * reads the Redis views (and asks the broker for consumer lag in /healthz and /metrics).
 */
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import Fastify, { LogController, type FastifyBaseLogger, type RouteOptions } from 'fastify'
import fastifyCookie from '@fastify/cookie'
import fastifyRateLimit from '@fastify/rate-limit'
import fastifyStatic from '@fastify/static'
import { Server } from 'socket.io'
import type { Config } from '../lib/config.ts'
import { VigilError, describeError } from '../lib/errors.ts'
import { createAdmin } from '../lib/kafka.ts'
import { redisKeys } from '../lib/contract/keys.ts'
import { createLogger, stageLogger, type Logger } from '../lib/log.ts'
import { connectRedis } from '../lib/redis.ts'
import type { Stoppable } from '../lib/shutdown.ts'
import { createAuth, type Auth } from './auth.ts'
import { BatchRunner, type RunBatchJob } from './batch.ts'
import { servingOptions, type ServingOptions } from './config.ts'
import { consumerLag } from './health.ts'
import { createMetrics } from './metrics.ts'
import { startPush, type VigilServer } from './push.ts'
import { registerRoutes } from './routes.ts'
import { View } from './view.ts'

export { servingOptions, type ServingOptions } from './config.ts'

/** Stands in for the batch job when the process was started without one. */
const noBatchJob: RunBatchJob = () =>
  Promise.reject(new VigilError('STAGE_FAILED', 'this server was started without the batch job: start it with `vigil serve` or `vigil all`, or run `vigil batch`.'))

export interface ServingDeps {
  log?: Logger
  options?: ServingOptions
  /**
   * The batch job to run on POST /api/batch/runs, handed in by the composition root (cli/) so
   * that the serving layer never imports the batch layer. Without it, a run fails with a message
   * that says so.
   */
  runBatchJob?: RunBatchJob
  /** Called for every route registered (the security suite checks each one refuses without the token). */
  onRoute?: (route: RouteOptions) => void
}

export interface Serving extends Stoppable {
  /** Base URL, e.g. http://127.0.0.1:3000 */
  url: string
  /** The token in force (generated when the config has none). */
  token: string
  tokenGenerated: boolean
  /** The URL that logs a browser in. */
  loginUrl: string
}

const PUBLIC_DIR = fileURLToPath(new URL('../public/', import.meta.url))
const CHART_DIR = path.dirname(createRequire(import.meta.url).resolve('chart.js'))

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

export async function start(config: Config, deps: ServingDeps = {}): Promise<Serving> {
  const options = deps.options ?? servingOptions()
  const log = deps.log ?? stageLogger(createLogger({ level: config.logLevel }), 'serve')
  const keys = redisKeys(config.redisPrefix)
  const auth = createAuth(config.token)

  const redis = await connectRedis(config, { log, name: 'vigil-serving' })
  const subscriber = await connectRedis(config, { log, name: 'vigil-serving-sub' }).catch((error: unknown) => {
    redis.destroy()
    throw error
  })
  const admin = createAdmin(config, 'vigil-serving')
  const view = new View(redis, keys)
  const metrics = createMetrics(async () => {
    const lag = await consumerLag(admin, config)
    return Object.fromEntries(lag.map((g) => [g.group, g.lag]))
  })

  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    // No per-request log lines (docs/CONVENTIONS.md: no per-message logs); errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes,
  })
  if (deps.onRoute !== undefined) app.addHook('onRoute', deps.onRoute)
  let io: VigilServer | undefined
  const batch = new BatchRunner({
    config,
    run: deps.runBatchJob ?? noBatchJob,
    redis,
    view,
    log,
    metrics,
    progress: (p) => {
      io?.emit('batch:progress', p)
      metrics.pushes.inc({ event: 'batch:progress' })
    },
    stats: (n) => {
      io?.emit('stats', n)
      metrics.pushes.inc({ event: 'stats' })
    },
  })

  const open = new Set(['/healthz', '/login'])
  app.addHook('onRequest', async (request, reply) => {
    reply.header('content-security-policy', CSP)
    reply.header('x-content-type-options', 'nosniff')
    reply.header('referrer-policy', 'no-referrer')
    reply.header('x-frame-options', 'DENY')
    reply.header('cache-control', 'no-store')
    const pathname = request.url.split('?')[0] ?? ''
    if (open.has(pathname)) return
    // Closing the connection means a body the client may still be sending is never read.
    if (!auth.allows(request.headers)) return reply.code(401).header('connection', 'close').send()
  })

  let push: Awaited<ReturnType<typeof startPush>> | undefined
  try {
    await app.register(fastifyCookie)
    await app.register(fastifyRateLimit, { global: false })
    await app.register(fastifyStatic, { root: PUBLIC_DIR, prefix: '/', index: ['index.html'], cacheControl: false })
    app.get('/vendor/chart.umd.min.js', (_request, reply) => reply.sendFile('chart.umd.min.js', CHART_DIR))
    registerRoutes(app, {
      config,
      options,
      auth,
      view,
      redis,
      admin,
      metrics,
      batch,
      alertChanged: (alert) => {
        io?.emit('alert', [alert])
        metrics.pushes.inc({ event: 'alert' })
      },
    })
    await app.listen({ port: config.port, host: options.host })
    io = new Server(app.server, {
      serveClient: true,
      maxHttpBufferSize: options.bodyLimitBytes,
      // A connection that has not asked for the namespace (and so shown no token) within this is closed.
      connectTimeout: SOCKET_CONNECT_TIMEOUT_MS,
      // A same-origin page: a WebSocket from another site's page is refused even if a cookie rode along.
      allowRequest: (req, callback) => callback(null, sameOrigin(req)),
    })
    guardSocketIo(app.server, io, auth)
    push = await startPush({ io, subscriber, keys, view, options, metrics, log })
  } catch (error) {
    io?.disconnectSockets(true)
    await app.close().catch(() => undefined)
    redis.destroy()
    subscriber.destroy()
    await admin.close().catch(() => undefined)
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new VigilError('CONFIG_INVALID', `port ${config.port} is already in use: stop what uses it or pass --port.`, { cause: error })
    }
    throw new VigilError('STAGE_FAILED', `the serving layer could not start: ${describeError(error)}.`, { cause: error })
  }

  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : config.port
  const host = options.host.includes(':') ? `[${options.host}]` : options.host
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`
  const server = io

  // One status line every 10 s, never one per message: what the pages were sent.
  const total = async (m: { get(): Promise<{ values: Array<{ value: number }> }> }) => (await m.get()).values.reduce((sum, v) => sum + v.value, 0)
  let last = { at: Date.now(), readings: 0, pushes: 0 }
  const statusTimer = setInterval(() => {
    void (async () => {
      const [readings, pushes, alerts, clients] = await Promise.all([total(metrics.readingsSeen), total(metrics.pushes), total(metrics.alertsSeen), total(metrics.connectedClients)])
      const now = Date.now()
      const per = (n: number) => Math.round(((n * 1000) / Math.max(1, now - last.at)) * 10) / 10
      log.info(`${per(readings - last.readings)} readings/s seen, ${per(pushes - last.pushes)} pushes/s to ${clients} clients, alerts ${alerts}`)
      last = { at: now, readings, pushes }
    })().catch(() => undefined)
  }, 10_000)
  statusTimer.unref()

  return {
    url,
    token: auth.token,
    tokenGenerated: auth.generated,
    loginUrl: `${url}/login?token=${encodeURIComponent(auth.token)}`,
    async stop() {
      clearInterval(statusTimer)
      await push?.stop()
      await batch.stop()
      // Close the transports rather than disconnect the sockets: a page then sees "transport
      // close" and reconnects by itself when the server is back (a server-side disconnect would
      // tell it not to).
      server.engine.close()
      await app.close()
      await admin.close().catch(() => undefined)
      subscriber.destroy()
      redis.destroy()
    },
  }
}

/** True when the request has no Origin (not a browser) or comes from a page of this server. */
function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin
  if (origin === undefined) return true
  try {
    return new URL(origin).host === req.headers.host
  } catch {
    return false
  }
}

/** Milliseconds an engine.io connection may stay open without joining the namespace (Socket.io's default is 45 s). */
const SOCKET_CONNECT_TIMEOUT_MS = 10_000

/**
 * The token check for Socket.io, in two places. Socket.io answers its own path (/socket.io/: the
 * client bundle and the transports) before fastify sees a request, so a guard in front of it
 * answers a bare 401 (plain requests and WebSocket upgrades alike) to: the client bundle without
 * the token; a transport request whose headers carry a credential that is wrong; and a request
 * for a session opened with the token in its headers that no longer carries it (a leaked session
 * id is no way in). A transport request with no credential in its headers goes on, because the
 * token may come in the handshake `auth` payload, which only the namespace sees: the namespace
 * middleware lets a connection in by its handshake headers or that payload (`Auth.allowsHandshake`),
 * and refuses the rest with one `connect_error` ("unauthorized"), sends them no event and closes
 * their connection, so each connection gets one try.
 */
function guardSocketIo(server: import('node:http').Server, io: VigilServer, auth: Auth): void {
  // Sessions whose handshake carried the (right) token in its headers: their later requests must carry it too.
  const headerBound = new Set<string>()
  io.engine.on('connection', (conn: { id: string; request: IncomingMessage; once(event: 'close', listener: () => void): void }) => {
    if (!auth.allows(conn.request.headers)) return
    headerBound.add(conn.id)
    conn.once('close', () => headerBound.delete(conn.id))
  })
  io.use((socket, next) => {
    if (auth.allowsHandshake(socket.handshake.headers, socket.handshake.auth)) return next()
    next(new Error('unauthorized'))
    // After the CONNECT_ERROR packet is queued (on the next tick); close() waits for it to drain.
    setImmediate(() => socket.conn.close())
  })

  // The raw URL, as engine.io matches it (a normalised path could let `/socket.io/../?sid=` past the guard).
  const refused = (req: IncomingMessage): boolean => {
    const raw = req.url ?? ''
    if (!raw.startsWith('/socket.io/')) return false
    const query = raw.indexOf('?')
    if ((query < 0 ? raw : raw.slice(0, query)) !== '/socket.io/') return !auth.allows(req.headers)
    if (auth.carriesCredential(req.headers)) return !auth.allows(req.headers)
    // Parsed as engine.io parses it, and every sid given: engine.io takes the last of repeated ones.
    return new URL(raw, 'https://socket.io').searchParams.getAll('sid').some((sid) => headerBound.has(sid))
  }
  const requestListeners = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>
  server.removeAllListeners('request')
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (refused(req)) {
      res.writeHead(401, { 'content-length': '0', connection: 'close' })
      res.end()
      return
    }
    for (const l of requestListeners) l.call(server, req, res)
  })
  const upgradeListeners = server.listeners('upgrade') as Array<(req: IncomingMessage, socket: Duplex, head: Buffer) => void>
  server.removeAllListeners('upgrade')
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (refused(req)) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      return
    }
    for (const l of upgradeListeners) l.call(server, req, socket, head)
  })
}
