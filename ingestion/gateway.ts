/**
 * The device gateway (`vigil ingest`, docs/CONTRACT.md, The gateway): HTTP in, `vitals.readings` out.
 *
 *   POST /v1/readings      one reading v1 (application/json) or many (application/x-ndjson)
 *   POST /fhir/Observation one FHIR R4 vital-sign Observation (application/fhir+json or json)
 *   POST /fhir             a FHIR Bundle of Observations
 *   GET  /healthz          no token; 200 while Kafka answers, 503 while it does not
 *
 * It is the boundary for HTTP devices: a request is validated whole against schema v1 (after the
 * FHIR mapping) and refused whole with 400 when any reading in it is invalid, so a device never
 * has to work out which half of a batch went through. Physiological plausibility is the speed
 * layer's job (an implausible value is still archived raw). A request is answered 202 with the
 * count only after Kafka acknowledged every record of it; while the broker is unreachable the
 * answer is 503 with Retry-After and the device keeps its readings. Errors are
 * application/problem+json (RFC 9457) with an `errors` array naming every bad field.
 *
 * Devices (docs/SECURITY.md, Devices bound to their patients): `Authorization: Bearer <credential>`,
 * the credential of a device in the identity registry (`vigil device add`), which sends only its
 * own readings, timed at most `maxClockAheadMs` ahead of the gateway's clock, each for the patient
 * it was assigned to at the reading's time (for a patient it has left, only within
 * `reassignedUploadGraceMs` of the handover); anything else is refused with 401 or 403 and counted
 * per reason. With VIGIL_DEVICE_TOKENS set the gateway is in
 * development mode: those tokens are accepted too, for any device and patient, and it says so at
 * start. No token is generated: without either, nothing is accepted.
 *
 * This module composes the gateway: the registry (registry.ts), the development tokens
 * (device-tokens.ts), the producer, the fastify plugin (plugin.ts, routes.ts, binding.ts) and the
 * status line (counts.ts).
 */
import Fastify, { type FastifyInstance, type RouteOptions } from 'fastify'
import type { Config } from '../lib/config.ts'
import type { Logger } from '../lib/log.ts'
import type { Stage, StageConfig } from '../lib/stage.ts'
import { VigilError } from '../lib/errors.ts'
import { TOPIC_PARTITIONS, topicNames } from '../lib/contract/topics.ts'
import { BatchingProducer } from '../lib/producer.ts'
import { GatewayCounts, type GatewayStats } from './counts.ts'
import { DeviceTokens } from './device-tokens.ts'
import { gatewayPlugin } from './plugin.ts'
import { GatewayRegistry } from './registry.ts'
import type { RegistryReader } from '../lib/identity/registry.ts'
import type { GatewayOptions } from './config.ts'

/** The config the gateway starts with: its options under `gateway` (lib/stage.ts). */
export type GatewayConfig = StageConfig<'gateway', GatewayOptions>

export interface GatewayDeps {
  log: Logger
  /** Called for every route registered (the security suite checks each one refuses without a token). */
  onRoute?: (route: RouteOptions) => void
}

export interface Gateway extends Stage<GatewayStats> {
  /** Base URL it listens on, e.g. http://127.0.0.1:8080. */
  url: string
  port: number
  /** The development tokens accepted (VIGIL_DEVICE_TOKENS; empty outside development mode). */
  deviceTokens: readonly string[]
  /** The registry as the gateway sees it now: undefined until it is read (Kafka unreachable since start). */
  registry(): RegistryReader | undefined
  producer: BatchingProducer
}

/** Interval of the status line, ms. */
const STATUS_EVERY_MS = 10_000

/** The development tokens, and the warning that they are in use. */
function developmentTokens(config: Config, log: Logger): DeviceTokens {
  const tokens = new DeviceTokens(config.deviceTokens)
  if (tokens.development) {
    log.warn(
      `development mode: VIGIL_DEVICE_TOKENS is set, and its ${tokens.tokens.length} token(s) may send readings for any device and any patient; in production unset it and register each device with \`vigil device add\`, which prints its credential once (docs/SECURITY.md)`,
    )
  }
  return tokens
}

/** The start line on who may send: the development tokens and the registry's active devices. */
function sendersLine(tokens: DeviceTokens, registry: RegistryReader | undefined): string {
  const active = registry?.devices().filter((d) => d.revokedAt === null).length
  const devices = active === undefined ? 'the device registry is not read yet (Kafka unreachable)' : `${active} active registered device(s)`
  const add = 'add one with `vigil device add`'
  return tokens.development
    ? `development mode: ${tokens.tokens.length} development token(s) accepted for any patient, and ${devices}`
    : `registry mode: ${devices} (${add})`
}

function gatewayProducer(config: Config, options: GatewayOptions, log: Logger): BatchingProducer {
  return new BatchingProducer(config, {
    topic: topicNames(config.topicPrefix).readings,
    clientId: 'vigil-gateway',
    // A failed produce is answered 503: the device keeps its readings and retries.
    onFailure: 'fail',
    maxBatchRecords: options.maxBatchRecords,
    maxBufferedRecords: options.maxBufferedRecords,
    maxRetryDelayMs: options.retryAfterS * 1000,
    log,
  })
}

/**
 * Listens, and returns the base URL (a wildcard host is reached through 127.0.0.1) and the port;
 * when it cannot, closes what was opened for it (`opened`) and fails.
 */
async function listen(app: FastifyInstance, opened: () => Promise<void>, host: string, port: number): Promise<{ url: string; port: number }> {
  try {
    await app.listen({ host, port })
  } catch (error) {
    await opened()
    throw new VigilError('STAGE_FAILED', `The gateway cannot listen on ${host}:${port}: free the port or set VIGIL_INGEST_PORT / --port.`, { cause: error })
  }
  const address = app.server.address()
  const actualPort = typeof address === 'object' && address !== null ? address.port : port
  const reachable = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host
  return { url: `http://${reachable}:${actualPort}`, port: actualPort }
}

export async function start(config: GatewayConfig, deps: GatewayDeps): Promise<Gateway> {
  const options = config.gateway
  const log = deps.log
  const tokens = developmentTokens(config, log)
  const registry = new GatewayRegistry(config, log)
  const producer = gatewayProducer(config, options, log)
  const counts = new GatewayCounts()
  const app = Fastify({ logger: false, bodyLimit: options.bodyLimitBytes, return503OnClosing: true })
  if (deps.onRoute !== undefined) app.addHook('onRoute', deps.onRoute)
  const { bodyLimitBytes, retryAfterS, maxClockAheadMs, reassignedUploadGraceMs } = options
  const binding = { maxClockAheadMs, reassignedUploadGraceMs }
  await app.register(gatewayPlugin, { producer, tokens, registry, counts, bodyLimitBytes, retryAfterS, binding, log })
  const opened = async () => {
    await producer.close({ drain: false })
    await registry.close()
  }
  const { url, port } = await listen(app, opened, options.host, options.port ?? config.ingestPort)
  await producer.ensureTopic(TOPIC_PARTITIONS.readings)
  // Learn the broker's state now, so /healthz and the first requests are right from the start.
  // Read the registry before the start line when the broker answers; else it is read once it does.
  if (await producer.checkBroker()) await registry.firstAttempt
  log.info(`gateway listening on ${url} (POST /v1/readings, /fhir/Observation, /fhir); ${sendersLine(tokens, registry.reader)}`)
  counts.startLines(Date.now())
  const statusTimer = setInterval(() => log.info(counts.statusLine(Date.now(), producer.unreachable)), STATUS_EVERY_MS)
  statusTimer.unref()
  return {
    url,
    port,
    deviceTokens: tokens.tokens,
    registry: () => registry.reader,
    producer,
    stats: () => counts.stats(),
    async stop() {
      clearInterval(statusTimer)
      await app.close()
      await producer.close()
      await registry.close()
    },
  }
}
