/**
 * The serving layer (docs/CONTRACT.md, Serving): the HTTP API, Socket.io push and the dashboard in
 * one process. `start` resolves once the server listens; it never touches Kafka topics, only
 * reads the Redis views (and asks the broker for consumer lag in /healthz and /metrics). The parts:
 * serving/http.ts (the fastify app and its guard), routes.ts (the API plugin), socket-guard.ts
 * (Socket.io behind the token), push.ts (live push), status.ts (the status line).
 */
import type { Admin } from '@platformatic/kafka'
import type { FastifyInstance, RouteOptions } from 'fastify'
import type { Config } from '../lib/config.ts'
import { VigilError, describeError } from '../lib/errors.ts'
import { createAdmin } from '../lib/kafka.ts'
import { redisKeys, type RedisKeys } from '../lib/contract/keys.ts'
import { createLogger, stageLogger, type Logger } from '../lib/log.ts'
import { connectRedis, type RedisClient } from '../lib/redis.ts'
import type { Stage, StageConfig } from '../lib/stage.ts'
import { createAuth } from './auth.ts'
import { BatchRunner, type RunBatchJob } from './batch.ts'
import type { ServingOptions } from './config.ts'
import type { ServerToClientEvents } from './events.ts'
import { consumerLag } from './health.ts'
import { createHttpApp, dashboardRoutes } from './http.ts'
import { countPush, createMetrics, type ServingMetrics, type ServingStats } from './metrics.ts'
import { startPush, type Push, type VigilServer } from './push.ts'
import { apiRoutes } from './routes.ts'
import { createSocketServer } from './socket-guard.ts'
import { startStatusLine } from './status.ts'
import { View } from './view.ts'

export { servingOptions, type ServingOptions } from './config.ts'
export type { ServingStats } from './metrics.ts'

/** Stands in for the batch job when the process was started without one. */
const noBatchJob: RunBatchJob = () =>
  Promise.reject(
    new VigilError('STAGE_FAILED', 'this server was started without the batch job: start it with `vigil serve` or `vigil all`, or run `vigil batch`.'),
  )

/** The config the serving layer starts with: its options under `serving` (lib/stage.ts). */
export type ServingConfig = StageConfig<'serving', ServingOptions>

export interface ServingDeps {
  log?: Logger
  /**
   * The batch job to run on POST /api/batch/runs, handed in by the composition root (cli/) so
   * that the serving layer never imports the batch layer. Without it, a run fails with a message
   * that says so.
   */
  runBatchJob?: RunBatchJob
  /** Called for every route registered (the security suite checks each one refuses without the token). */
  onRoute?: (route: RouteOptions) => void
}

export interface Serving extends Stage<ServingStats> {
  /** Base URL, e.g. http://127.0.0.1:3000 */
  url: string
  /** The token in force (generated when the config has none). */
  token: string
  tokenGenerated: boolean
  /** The URL that logs a browser in. */
  loginUrl: string
}

/** What the serving layer holds open outside its HTTP server: two Redis connections and a Kafka admin client. */
interface Clients {
  keys: RedisKeys
  redis: RedisClient
  subscriber: RedisClient
  admin: Admin
  view: View
  metrics: ServingMetrics
  close(): Promise<void>
}

async function openClients(config: Config, log: Logger): Promise<Clients> {
  const keys = redisKeys(config.redisPrefix)
  const redis = await connectRedis(config, { log, name: 'vigil-serving' })
  const subscriber = await connectRedis(config, { log, name: 'vigil-serving-sub' }).catch((error: unknown) => {
    redis.destroy()
    throw error
  })
  const admin = createAdmin(config, 'vigil-serving')
  const metrics = createMetrics(async () => {
    const lag = await consumerLag(admin, config)
    return Object.fromEntries(lag.map((g) => [g.group, g.lag]))
  })
  const close = async () => {
    await admin.close().catch(() => undefined)
    subscriber.destroy()
    redis.destroy()
  }
  return { keys, redis, subscriber, admin, view: new View(redis, keys), metrics, close }
}

/**
 * Events to every page, counted. Socket.io starts once the server listens, after the routes and
 * the batch runner that send through this exist; an event before then reaches no page.
 */
class Broadcast {
  io: VigilServer | undefined
  constructor(private readonly metrics: ServingMetrics) {}

  send<E extends keyof ServerToClientEvents>(event: E, ...args: Parameters<ServerToClientEvents[E]>): void {
    this.io?.emit(event, ...args)
    countPush(this.metrics, event)
  }
}

export async function start(config: ServingConfig, deps: ServingDeps = {}): Promise<Serving> {
  const options = config.serving
  const log = deps.log ?? stageLogger(createLogger({ level: config.logLevel }), 'serve')
  const auth = createAuth(config.token)
  const clients = await openClients(config, log)
  const { view, metrics } = clients
  const broadcast = new Broadcast(metrics)
  const run = deps.runBatchJob ?? noBatchJob
  const progress = (p: Parameters<ServerToClientEvents['batch:progress']>[0]) => broadcast.send('batch:progress', p)
  const batch = new BatchRunner({ config, run, redis: clients.redis, view, log, metrics, progress, stats: (n) => broadcast.send('stats', n) })
  let app: FastifyInstance | undefined
  let push: Push | undefined
  try {
    app = await createHttpApp({ options, log, auth, onRoute: deps.onRoute })
    await app.register(dashboardRoutes)
    const alertChanged = (alert: Parameters<ServerToClientEvents['alert']>[0][number]) => broadcast.send('alert', [alert])
    await app.register(apiRoutes({ config, options, auth, view, redis: clients.redis, admin: clients.admin, metrics, batch, alertChanged }))
    await app.listen({ port: config.port, host: options.host })
    broadcast.io = createSocketServer(app.server, options, auth)
    push = await startPush({ io: broadcast.io, subscriber: clients.subscriber, keys: clients.keys, view, options, metrics, log })
  } catch (error) {
    broadcast.io?.disconnectSockets(true)
    await app?.close().catch(() => undefined)
    await clients.close()
    throw startError(error, config.port)
  }
  const server = app
  const status = startStatusLine(metrics, log)
  const url = listeningUrl(server, options, config.port)
  return {
    url,
    token: auth.token,
    tokenGenerated: auth.generated,
    loginUrl: `${url}/login?token=${encodeURIComponent(auth.token)}`,
    stats: () => ({ ...metrics.totals }),
    async stop() {
      await status.stop()
      await push?.stop()
      await batch.stop()
      // Close the transports rather than disconnect the sockets: a page then sees "transport
      // close" and reconnects by itself when the server is back (a server-side disconnect would
      // tell it not to).
      broadcast.io?.engine.close()
      await server.close()
      await clients.close()
    },
  }
}

/** One sentence that names the fix when the port is taken; else what failed. */
function startError(error: unknown, port: number): VigilError {
  if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    return new VigilError('CONFIG_INVALID', `port ${port} is already in use: stop what uses it or pass --port.`, { cause: error })
  }
  return new VigilError('STAGE_FAILED', `the serving layer could not start: ${describeError(error)}.`, { cause: error })
}

/** The URL a browser on this machine opens (an unspecified address means this machine). */
function listeningUrl(app: FastifyInstance, options: ServingOptions, configuredPort: number): string {
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : configuredPort
  const host = options.host.includes(':') ? `[${options.host}]` : options.host
  return `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`
}
