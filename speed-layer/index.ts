/**
 * The speed layer (docs/CONTRACT.md): consumes `vitals.readings` as group `vigil-speed`, validates,
 * classifies, raises alerts and keeps the real-time view in Redis. This module is its public API
 * (`start`) and the loop that drives its parts:
 * - reader.ts: the consumer stream, in batches of at most maxBatchReadings;
 * - processor.ts: one batch through decode, load, apply, produce, write (decode.ts, view.ts,
 *   patients.ts), then its offsets to commit-pipeline.ts (bookkeeping in offsets.ts);
 * - rebuilder.ts: the epoch this instance works against, and the rebuild of a wiped view from
 *   Kafka (decisions in epoch.ts);
 * - housekeeping.ts: the wipe check while idle, the cache warm-up after an assignment, the
 *   stale-device check (stale.ts);
 * - status-line.ts: the 10-second status line (text in stats.ts);
 * - risk.ts: the experimental risk model, when one is served (loaded here at the start, described
 *   in `risk:model`).
 *
 * One batch at a time. Patients are keyed by patientId, so a patient lives in one partition, owned
 * by one instance of the group; the in-memory cache of patient state (cache.ts) is dropped on every
 * rebalance and reloaded from Redis on first sight.
 */
import { access } from 'node:fs/promises'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Consumer, Producer } from '@platformatic/kafka'
import { retry } from '../lib/backoff.ts'
import { describeError } from '../lib/errors.ts'
import { createAdmin, ensureTopics, kafkaBaseOptions } from '../lib/kafka.ts'
import { redisKeys, type RedisKeys } from '../lib/contract/keys.ts'
import { encodeRiskModelInfo } from '../lib/contract/codecs/risk-model.ts'
import { loadRiskModel } from '../lib/risk/model.ts'
import { createLogger, stageLogger, type Logger } from '../lib/log.ts'
import { connectRedis, type RedisClient } from '../lib/redis.ts'
import type { Stage, StageConfig } from '../lib/stage.ts'
import { consumerGroups, topicNames, topicSpecs } from '../lib/contract/topics.ts'
import { PatientCache } from './cache.ts'
import { CommitPipeline } from './commit-pipeline.ts'
import type { SpeedOptions } from './config.ts'
import { Housekeeping } from './housekeeping.ts'
import { OffsetBook } from './offsets.ts'
import { RereadFromCommit, Retrier } from './outage.ts'
import { BatchProcessor } from './processor.ts'
import { BatchReader } from './reader.ts'
import { Rebuilder } from './rebuilder.ts'
import { riskModelInfo, riskServing, type RiskServing } from './risk.ts'
import { groupOptions } from './records.ts'
import { emptyStats, type SpeedStats } from './stats.ts'
import { StatusLine } from './status-line.ts'
import { StopBudget } from './stop.ts'

export { DEFAULT_SPEED_OPTIONS, speedOptionsSchema, type SpeedOptions } from './config.ts'
export type { SpeedStats } from './stats.ts'

/** The config the speed layer starts with: its options under `speed` (lib/stage.ts). */
export type SpeedConfig = StageConfig<'speed', SpeedOptions>

export interface SpeedDeps {
  log?: Logger
}

export interface SpeedLayer extends Stage<Readonly<SpeedStats>> {
  /** Partitions of `vitals.readings` this instance owns now. */
  partitions(): number[]
}

/** How long a stop waits for the batch in flight before closing the clients under it. */
const STOP_GRACE_MS = 3_000

/**
 * The most a whole stop takes: half of the 10 s in which `vigil all` stops every stage, so the
 * other stages have the rest. Each step past the grace waits only what is left of it.
 */
const STOP_BUDGET_MS = 5_000

/** The most one client's close may take (the stream, leaving the group, the producer). */
const CLOSE_MS = 2_000

/** A batch whose newest record is older than this (broker time) means a backlog is being drained. */
const BEHIND_MS = 5_000

type KafkaProducer = Producer<Buffer, Buffer, Buffer, Buffer>
type KafkaConsumer = Consumer<Buffer, Buffer, Buffer, Buffer>

interface Clients {
  redis: RedisClient
  producer: KafkaProducer
  consumer: KafkaConsumer
}

/** Connects to Redis and makes sure the topics exist, each retried (with one line per outage) until it answers; builds the Kafka clients. */
async function connect(config: SpeedConfig, log: Logger, retrier: Retrier): Promise<Clients> {
  const redisOutage = retrier.outage(`connecting to Redis at ${config.redisUrl}`)
  const redis = await retry(() => connectRedis(config, { log, name: 'vigil-speed' }), { signal: retrier.signal, onRetry: redisOutage.onRetry })
  redisOutage.done()
  // The speed layer writes to vitals.rejected and vitals.alerts: make sure they exist (any start order works).
  await retrier.run(`creating topics on Kafka at ${config.kafkaBrokers.join(',')}`, async () => {
    const admin = createAdmin(config, 'vigil-speed-admin')
    try {
      await ensureTopics(admin, topicSpecs(config.topicPrefix))
    } finally {
      await admin.close()
    }
  })
  const opts = config.speed
  const producer: KafkaProducer = new Producer({ ...kafkaBaseOptions(config, 'vigil-speed'), idempotent: true, acks: -1 })
  const consumer: KafkaConsumer = new Consumer({
    ...kafkaBaseOptions(config, 'vigil-speed'),
    groupId: consumerGroups(config.topicPrefix).speed,
    ...(opts.instanceId === undefined ? {} : { groupInstanceId: opts.instanceId }),
    ...groupOptions(opts),
  })
  for (const client of [producer, consumer] as const) {
    // Every EventEmitter gets an 'error' listener; failures surface through the awaited calls.
    client.on('error', (error: unknown) => log.debug({ err: describeError(error) }, 'kafka client error'))
  }
  return { redis, producer, consumer }
}

/** The parts of a running speed layer, wired together. */
interface Parts extends Clients {
  stats: SpeedStats
  cache: PatientCache
  reader: BatchReader
  commits: CommitPipeline
  processor: BatchProcessor
  housekeeping: Housekeeping
  statusLine: StatusLine
}

/** The model file to serve: the configured one, else the lake's `models/latest.json` if it exists, else none. */
async function riskModelFile(config: SpeedConfig): Promise<string | undefined> {
  if (config.speed.riskModel !== undefined) return config.speed.riskModel
  const lakeModel = path.join(config.datalakeDir, 'models', 'latest.json')
  return access(lakeModel).then(
    () => lakeModel,
    () => undefined,
  )
}

/**
 * The risk model to serve, or undefined: none configured or in the lake (said in one info line),
 * or a file that cannot be served (one warning with the reason: the layer runs on without it; the
 * risk is experimental and never holds up NEWS2 and the bands).
 */
export async function loadServedModel(config: SpeedConfig, log: Logger): Promise<RiskServing | undefined> {
  const file = await riskModelFile(config)
  if (file === undefined) {
    log.info(`no risk model in ${path.join(config.datalakeDir, 'models')}: no risk is computed`)
    return undefined
  }
  try {
    const serving = riskServing(await loadRiskModel(file), config.speed.riskThreshold)
    const { raise, clear } = serving.threshold
    log.info(`serving risk model ${serving.model.version} (${file}): RISK_HIGH at ${raise}, cleared below ${clear}`)
    return serving
  } catch (error) {
    log.warn(`${(error as Error).message}; running without a risk model`)
    return undefined
  }
}

/** `risk:model` says which model is served (RiskModelInfo), or is deleted when none is: the dashboard shows the risk panel only while it is set. */
async function publishRiskModel(redis: RedisClient, keys: RedisKeys, risk: RiskServing | undefined, retrier: Retrier): Promise<void> {
  await retrier.run('describing the risk model in Redis', async () => {
    if (risk === undefined) await redis.del(keys.riskModel)
    else await redis.set(keys.riskModel, encodeRiskModelInfo(riskModelInfo(risk)))
  })
}

function assemble(config: SpeedConfig, log: Logger, retrier: Retrier, clients: Clients, risk: RiskServing | undefined): Parts {
  const { redis, producer, consumer } = clients
  const opts = config.speed
  const keys = redisKeys(config.redisPrefix)
  const topics = topicNames(config.topicPrefix)
  const groupId = consumerGroups(config.topicPrefix).speed
  const stats = emptyStats()
  const cache = new PatientCache()
  const book = new OffsetBook()
  const reader = new BatchReader(consumer, {
    topic: topics.readings,
    groupId,
    brokers: config.kafkaBrokers,
    opts,
    retry: retrier,
    log,
    onOpen: () => cache.invalidate(),
  })
  const commits = new CommitPipeline(consumer, book, topics.readings, log)
  const rebuilder = new Rebuilder({
    redis,
    keys,
    consumer,
    reader,
    book,
    commits,
    cache,
    stats,
    log,
    topic: topics.readings,
    seriesWindowMs: opts.seriesWindowMs,
  })
  const processor = new BatchProcessor({ redis, keys, producer, cache, book, commits, rebuilder, retry: retrier, stats, opts, topics, risk })
  const housekeeping = new Housekeeping({
    redis,
    keys,
    consumer,
    producer,
    reader,
    cache,
    rebuilder,
    retry: retrier,
    stats,
    opts,
    topics,
    riskModel: risk?.model.version,
  })
  const statusLine = new StatusLine({
    config,
    groupId,
    topic: topics.readings,
    intervalMs: opts.statusIntervalMs,
    stats,
    log,
    partitions: () => reader.assigned(),
  })
  consumer.on('consumer:group:join', () => {
    cache.invalidate()
    housekeeping.assigned()
  })
  return { ...clients, stats, cache, reader, commits, processor, housekeeping, statusLine }
}

/** Batches, housekeeping and status lines until the signal; a failed batch is read again from the last commit. */
async function runLoop(parts: Parts, opts: SpeedOptions, log: Logger, signal: AbortSignal): Promise<void> {
  parts.housekeeping.begin(Date.now())
  parts.statusLine.begin(Date.now())
  const { processor, reader, housekeeping } = parts
  while (!signal.aborted) {
    try {
      await reader.reopenIfStopped()
      // While a batch's write is in flight, the next batch is processed beside it if one is buffered;
      // otherwise the write is waited for (and its offsets committed) before waiting for records.
      let batch = await reader.next(0, signal)
      if (batch.length === 0) {
        await processor.settle()
        batch = await reader.next(opts.housekeepingIntervalMs, signal)
      }
      let behind = false
      if (batch.length > 0) {
        await processor.process(batch)
        behind = Date.now() - Number(batch[batch.length - 1]?.timestamp ?? 0) > BEHIND_MS
      }
      const now = Date.now()
      // Housekeeping reads and writes the view from the cache: after the write in flight.
      if (housekeeping.due(now)) {
        await processor.settle()
        await housekeeping.tick(now, behind)
      }
      parts.statusLine.tick(now)
    } catch (error) {
      if (signal.aborted) break
      const line = `speed layer batch failed (${describeError(error)}); re-reading from the last committed offsets`
      if (error instanceof RereadFromCommit) log.warn(line)
      else log.error(line)
      // The batch was not committed: reopening the stream reads it again, and the cache is
      // reloaded from Redis, which holds exactly what earlier batches wrote.
      await processor.abandon()
      parts.cache.clear()
      reader.fail(error)
      await sleep(1_000, undefined, { signal }).catch(() => undefined)
    }
  }
  // The last batch's write: its offsets are committed before the stop if it lands.
  await processor.settle().catch(() => undefined)
}

/**
 * Stops the loop, then the clients, within STOP_BUDGET_MS. A batch waiting on a Redis reconnect,
 * or a group join waiting out a crashed member's session, must not hold the shutdown: past the
 * grace period the clients are closed under it. A close that does not finish in time (a broker
 * slow to answer under load) is left behind, named in a warning. Nothing is lost: an uncommitted
 * batch is replayed at the next start.
 */
async function stopLayer(parts: Parts, loop: Promise<void>, abort: AbortController, log: Logger): Promise<void> {
  const budget = new StopBudget(STOP_BUDGET_MS, log)
  abort.abort()
  if (!(await budget.wait(loop, STOP_GRACE_MS))) {
    log.warn(`the batch in flight did not finish within ${STOP_GRACE_MS / 1000} s of the stop: abandoning it (the next start replays it from the last commit)`)
    parts.redis.destroy()
    const forced = new Promise<void>((resolve) => parts.consumer.close(true, () => resolve()))
    await budget.step('closing the Kafka consumer under the batch', forced, STOP_GRACE_MS)
    await budget.step('the abandoned batch', loop, STOP_GRACE_MS)
  }
  await budget.step('the commit in flight', parts.commits.settled(), STOP_GRACE_MS)
  await budget.step('closing the consumer stream', parts.reader.close(), CLOSE_MS)
  await budget.step('leaving the consumer group', parts.consumer.close(), CLOSE_MS)
  await budget.step('closing the Kafka producer', parts.producer.close(), CLOSE_MS)
  parts.redis.destroy()
}

export async function start(config: SpeedConfig, deps: SpeedDeps = {}): Promise<SpeedLayer> {
  const log = stageLogger(deps.log ?? createLogger({ level: config.logLevel }), 'speed')
  const abort = new AbortController()
  const retrier = new Retrier(log, abort.signal)
  const risk = await loadServedModel(config, log)
  const clients = await connect(config, log, retrier)
  await publishRiskModel(clients.redis, redisKeys(config.redisPrefix), risk, retrier)
  const parts = assemble(config, log, retrier, clients, risk)
  await parts.reader.open()
  const loop = runLoop(parts, config.speed, log, abort.signal)
  return {
    stats: () => parts.stats,
    partitions: () => parts.reader.assigned(),
    stop: () => stopLayer(parts, loop, abort, log),
  }
}
