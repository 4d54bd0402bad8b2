/**
 * The serving layer (docs/CONTRACT.md, Serving): the HTTP API, Socket.io push and the dashboard in
 * one process. `start` resolves once the server listens; it consumes no Kafka topic, only
 * reads the Redis views (and asks the broker for consumer lag in /healthz and /metrics), follows
 * the identity registry and writes the audit trail (docs/SECURITY.md), and produces the clinical
 * events clinicians record to `vitals.events` (routes-events.ts, one producer). The parts:
 * serving/http.ts (the fastify app and its role guard), auth.ts and sessions.ts (who a request
 * acts as), routes-session.ts (signing in and out), routes.ts (the API plugin), socket-guard.ts
 * (Socket.io behind the same sign-in), push.ts (live push), status.ts (the status line).
 */
import type { Admin } from '@platformatic/kafka'
import type { FastifyInstance, RouteOptions } from 'fastify'
import type { Config } from '../lib/config.ts'
import { VigilError, describeError } from '../lib/errors.ts'
import { createAdmin } from '../lib/kafka.ts'
import { BatchingProducer } from '../lib/producer.ts'
import { TOPIC_PARTITIONS, topicNames } from '../lib/contract/topics.ts'
import { redisKeys, type RedisKeys } from '../lib/contract/keys.ts'
import { openAuditLog, type AuditLog } from '../lib/identity/audit.ts'
import { openRegistry, type Registry } from '../lib/identity/registry.ts'
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
import { sessionRoutes } from './routes-session.ts'
import { createSessionStore } from './sessions.ts'
import { createSocketServer, type SocketServer } from './socket-guard.ts'
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
  /** Called for every route registered, with its role settled (the security suite checks each one against every role). */
  onRoute?: (route: RouteOptions) => void
}

export interface Serving extends Stage<ServingStats> {
  /** Base URL, e.g. http://127.0.0.1:3000 (https with --tls-cert/--tls-key). */
  url: string
  /** The token in force (generated when the config has none). */
  token: string
  tokenGenerated: boolean
  /** The URL that signs a browser in with the token, as the bootstrap admin. */
  loginUrl: string
  /** The sign-in page of named users. */
  signInUrl: string
}

/**
 * What the serving layer holds open outside its HTTP server: two Redis connections, a Kafka admin
 * client, the identity registry (followed), the audit log (a producer) and the producer of
 * `vitals.events`.
 */
interface Clients {
  keys: RedisKeys
  redis: RedisClient
  subscriber: RedisClient
  admin: Admin
  registry: Registry
  audit: AuditLog
  events: BatchingProducer
  view: View
  metrics: ServingMetrics
  close(): Promise<void>
}

/**
 * The producer of clinicians' events: 'fail' as the gateway's, so that a request gets its 503 at
 * once while Kafka is down rather than wait on retries, and a retry by the client (same eventId)
 * is the one that counts. Its topic is created when missing, as the edge's producers do.
 */
async function openEventProducer(config: Config, log: Logger): Promise<BatchingProducer> {
  const producer = new BatchingProducer(config, { topic: topicNames(config.topicPrefix).events, clientId: 'vigil-serving-events', onFailure: 'fail', log })
  await producer.ensureTopic(TOPIC_PARTITIONS.events)
  return producer
}

async function openClients(config: Config, log: Logger): Promise<Clients> {
  const keys = redisKeys(config.redisPrefix)
  const opened: Array<() => Promise<void> | void> = []
  const close = async () => {
    for (const closeOne of opened.reverse()) await Promise.resolve(closeOne()).catch(() => undefined)
  }
  try {
    const redis = await connectRedis(config, { log, name: 'vigil-serving' })
    opened.push(() => redis.destroy())
    const subscriber = await connectRedis(config, { log, name: 'vigil-serving-sub' })
    opened.push(() => subscriber.destroy())
    const admin = createAdmin(config, 'vigil-serving')
    opened.push(() => admin.close())
    const registry = await openRegistry(config, { log, clientId: 'vigil-serving' })
    opened.push(() => registry.close())
    const audit = await openAuditLog(config, { log, clientId: 'vigil-serving-audit' })
    opened.push(() => audit.close())
    const events = await openEventProducer(config, log)
    opened.push(() => events.close({ drain: false }))
    const metrics = createMetrics(async () => {
      const lag = await consumerLag(admin, config)
      return Object.fromEntries(lag.map((g) => [g.group, g.lag]))
    })
    return { keys, redis, subscriber, admin, registry, audit, events, view: new View(redis, keys), metrics, close }
  } catch (error) {
    await close()
    throw error
  }
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
  const clients = await openClients(config, log)
  const { view, metrics, registry } = clients
  const sessions = createSessionStore(clients.redis, clients.keys, options.sessionTtlMs)
  // A wrong token is counted like a sign-in attempt: the same number per client address per minute.
  const auth = createAuth({ token: config.token, sessions, registry, wrongTokensPerMinute: options.signInsPerMinute })
  const broadcast = new Broadcast(metrics)
  const run = deps.runBatchJob ?? noBatchJob
  const progress = (p: Parameters<ServerToClientEvents['batch:progress']>[0]) => broadcast.send('batch:progress', p)
  const batch = new BatchRunner({ config, run, redis: clients.redis, view, log, metrics, progress, stats: (n) => broadcast.send('stats', n) })
  let app: FastifyInstance | undefined
  let sockets: SocketServer | undefined
  let push: Push | undefined
  try {
    app = await createHttpApp({ options, log, auth, onRoute: deps.onRoute })
    await app.register(dashboardRoutes)
    const endConnections = (handle: string) => sockets?.endSession(handle, 'signed-out')
    await app.register(
      sessionRoutes({ auth, registry, redis: clients.redis, keys: clients.keys, metrics, signInsPerMinute: options.signInsPerMinute, endConnections }),
    )
    const alertChanged = (alert: Parameters<ServerToClientEvents['alert']>[0][number]) => broadcast.send('alert', [alert])
    const { redis, admin, audit, events } = clients
    await app.register(apiRoutes({ config, options, auth, view, redis, admin, metrics, batch, registry, audit, events, alertChanged }))
    await app.listen({ port: config.port, host: options.host })
    sockets = createSocketServer(app.server, options, auth, log)
    broadcast.io = sockets.io
    push = await startPush({ io: sockets.io, subscriber: clients.subscriber, keys: clients.keys, view, options, metrics, log })
  } catch (error) {
    sockets?.stop()
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
    signInUrl: `${url}/login`,
    stats: () => ({ ...metrics.totals }),
    async stop() {
      await status.stop()
      await push?.stop()
      await batch.stop()
      sockets?.stop()
      // Close the transports rather than disconnect the sockets: a page then sees "transport
      // close" and reconnects by itself when the server is back (a server-side disconnect would
      // tell it not to).
      broadcast.io?.engine.close()
      await server.close()
      await clients.close()
    },
  }
}

/** One sentence that names the fix when the port is taken; a VigilError as it is (it names its fix); else what failed. */
function startError(error: unknown, port: number): VigilError {
  if (error instanceof VigilError) return error
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
  const scheme = options.tlsCert === undefined ? 'http' : 'https'
  return `${scheme}://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`
}

/**
 * How to sign in, for the console of `vigil serve` and `vigil all` (stdout, not the log): the
 * bootstrap admin's URL and the sign-in page of named users. The token is shown when `showToken`
 * (by default only when it was generated for this run: then it is the one way in).
 */
export function signInHelp(serving: Serving, showToken = serving.tokenGenerated): string {
  const named = `Named users sign in at ${serving.signInUrl} (add one with \`vigil user add <name> --role <role>\`).`
  if (!showToken) return `Dashboard: ${serving.signInUrl}\n  ${named}\n  The bootstrap admin: ${serving.signInUrl}?token=<VIGIL_TOKEN>\n`
  const generated = serving.tokenGenerated ? '  (VIGIL_TOKEN is unset: this token was generated for this run)\n' : ''
  return `Dashboard: ${serving.loginUrl}\n${generated}  That URL signs you in as the bootstrap admin. ${named}\n`
}
