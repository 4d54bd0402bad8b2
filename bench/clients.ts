/**
 * Kafka and Redis client choice, by measurement (docs/CONVENTIONS.md, Hot paths): kafkajs against
 * @platformatic/kafka, ioredis against node-redis, on the real broker and Redis.
 *
 *   npx tsx bench/clients.ts [--messages 200000] [--commands 200000] [--rounds 3] [--out results.json]
 *   npx tsx bench/clients.ts --tune [--messages 500000] [--rounds 3] [--patients 1000] [--compression none|snappy|lz4|gzip]
 *
 * What is measured, identically for both clients of a pair:
 * - Kafka produce: ~200-byte JSON readings keyed by patient id, sent in awaited batches of
 *   `batchSize` (one batch in flight), acks=all, idempotent producer, into a fresh 6-partition topic.
 * - Kafka consume: the same topic read back from the earliest offset by a fresh consumer group,
 *   and discarded (no commits). The rate runs from the end of the group join to the last message
 *   (the join, which the broker delays by group.initial.rebalance.delay.ms, is reported apart as
 *   `firstMs`); so does this process's CPU per message.
 * - Redis: HSET of the patient's latest state plus ZADD into its series per reading, in awaited
 *   pipelines of `pipelineSize` commands (one pipeline in flight).
 * Every measurement is repeated `rounds` times with the clients alternating (A B A B A B), so that
 * load from other users of the machine falls on both alike; the median and the spread are reported.
 * Topics, consumer groups and Redis keys live under a random prefix and are deleted afterwards
 * (Redis by SCAN + UNLINK on that prefix only).
 *
 * `--tune` measures @platformatic/kafka's consume options instead: the speed layer's settings and
 * each change of TUNING_GRID to them, with kafkajs for reference, on one pre-filled topic.
 * `bareConsume` is the same measurement for one client on a topic a benchmark filled itself
 * (bench/speed.ts compares the speed layer's drain with it).
 */
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import os from 'node:os'
import { writeFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'
import { z } from 'zod'
import kafkajs from 'kafkajs'
import { Redis as IORedis } from 'ioredis'
import { Consumer, Producer, ProduceAcks, type ConsumeOptions } from '@platformatic/kafka'
import { loadConfig, parseOptions, kebabFlag, type Config } from '../lib/config.ts'
import { createAdmin, ensureTopics, kafkaBaseOptions } from '../lib/kafka.ts'
import { connectRedis, deleteKeys } from '../lib/redis.ts'
import { redisKeys } from '../lib/contract/keys.ts'
import { describeError, isVigilError } from '../lib/errors.ts'
import { TOPIC_PARTITIONS } from '../lib/contract/topics.ts'
import type { Reading } from '../lib/contract/schema.ts'
import { DEFAULT_SPEED_OPTIONS } from '../speed-layer/config.ts'
import { groupOptions } from '../speed-layer/records.ts'
import { prefill } from './drain.ts'
import type { Compression } from '../lib/producer.ts'

const { Kafka, Partitioners, logLevel: KafkaJsLogLevel } = kafkajs

export const clientsBenchOptionsSchema = z.strictObject({
  /** Kafka messages produced (and consumed) per run. */
  messages: z.coerce.number().int().min(1_000).max(5_000_000).default(200_000),
  /** Messages per awaited produce call. */
  batchSize: z.coerce.number().int().min(1).max(100_000).default(1_000),
  /** Redis commands per run (two per reading: HSET and ZADD). */
  commands: z.coerce.number().int().min(1_000).max(5_000_000).default(200_000),
  /** Redis commands per awaited pipeline. */
  pipelineSize: z.coerce.number().int().min(2).max(100_000).default(1_000),
  /** Runs per client and measurement; the median is reported. */
  rounds: z.coerce.number().int().min(1).max(20).default(3),
  /** Distinct patient ids (message keys, Redis hash tags). */
  patients: z.coerce.number().int().min(1).max(100_000).default(500),
  /** A consume run fails after this many milliseconds without reading every message. */
  consumeTimeoutMs: z.coerce.number().int().min(1_000).default(60_000),
  /** Which halves to run. */
  kafka: z.boolean().default(true),
  redis: z.boolean().default(true),
})
export type ClientsBenchOptions = z.infer<typeof clientsBenchOptionsSchema>

export type KafkaClientName = 'kafkajs' | '@platformatic/kafka'
export type RedisClientName = 'ioredis' | 'node-redis'

export interface RunResult {
  round: number
  /** Messages or commands per second; null when the run failed. */
  rate: number | null
  /** Milliseconds the rate is measured over. */
  ms: number
  count: number
  /** One-minute load average when the run ended. */
  load1?: number
  /** Consume only: milliseconds from subscribing to the end of the group join (not in the rate). */
  firstMs?: number
  /** Consume only: this process's CPU (user + system) per message after the join, µs. */
  cpuMicrosPerMessage?: number
  error?: string
}

export interface Measurement {
  client: string
  operation: 'produce' | 'consume' | 'pipeline'
  unit: 'messages/s' | 'commands/s'
  runs: RunResult[]
  /** Median of the successful runs' rates; null when none succeeded. */
  median: number | null
  min: number | null
  max: number | null
  /** (max - min) / median, in percent. */
  spreadPct: number | null
}

export interface MachineInfo {
  cpus: number
  cpuModel: string
  totalMemGiB: number
  freeMemGiBAtStart: number
  loadAvgAtStart: [number, number, number]
  loadAvgAtEnd: [number, number, number]
  platform: string
  node: string
}

export interface ClientsBenchResult {
  startedAt: string
  machine: MachineInfo
  versions: Record<string, string>
  options: ClientsBenchOptions
  kafka: Measurement[]
  redis: Measurement[]
  /** Distinct errors and warnings kafkajs logged (first few), to show how it fares on this broker. */
  kafkajsLog: string[]
}

export interface ClientsBenchDeps {
  /** Brokers and Redis to measure against; the loaded config (flags none, then VIGIL_*, then defaults) when left out. */
  config?: Pick<Config, 'kafkaBrokers' | 'redisUrl'>
  /** Progress lines (one per run, never per message). */
  progress?: (line: string) => void
  /** Stops between runs and batches; cleanup still runs. */
  signal?: AbortSignal
}

/** Runs every measurement and removes what it created, whatever happens. */
export async function runClientsBench(options: Partial<ClientsBenchOptions> = {}, deps: ClientsBenchDeps = {}): Promise<ClientsBenchResult> {
  const opts = clientsBenchOptionsSchema.parse(options)
  const config = deps.config ?? loadConfig({})
  const progress = deps.progress ?? (() => undefined)
  const startedAt = new Date().toISOString()
  const loadAvgAtStart = loadAvg()
  const freeMemGiBAtStart = gib(os.freemem())
  const id = `bench-${randomUUID().slice(0, 8)}`
  const readings = makeReadings(Math.max(opts.messages, Math.ceil(opts.commands / 2)), opts.patients)
  const kafkajsLog: string[] = []

  const kafka: Measurement[] = []
  const redis: Measurement[] = []
  if (opts.kafka) kafka.push(...(await benchKafka(opts, config, deps.signal, readings, `${id}.`, kafkajsLog, progress)))
  if (opts.redis) redis.push(...(await benchRedis(opts, config, deps.signal, readings, `${id}:`, progress)))

  return {
    startedAt,
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      totalMemGiB: gib(os.totalmem()),
      freeMemGiBAtStart,
      loadAvgAtStart,
      loadAvgAtEnd: loadAvg(),
      platform: `${os.platform()} ${os.release()} ${os.arch()}`,
      node: process.version,
    },
    versions: Object.fromEntries(['kafkajs', '@platformatic/kafka', 'ioredis', 'redis'].map((p) => [p, packageVersion(p)])),
    options: opts,
    kafka,
    redis,
    kafkajsLog,
  }
}

// ---------------------------------------------------------------------------------------------
// Data

interface BenchReading {
  key: string
  value: string
  reading: Reading
  /** The HSET fields of the patient's latest state, as strings so neither client converts. */
  latest: Record<string, string>
}

/** Deterministic readings so that every client sends the same bytes. About 200 bytes of JSON each. */
function makeReadings(n: number, patients: number): BenchReading[] {
  const out: BenchReading[] = new Array(n)
  const t0 = Date.UTC(2026, 0, 1)
  for (let i = 0; i < n; i++) {
    const p = i % patients
    const patientId = `p-${String(p).padStart(5, '0')}`
    const wave = Math.sin(i / 97)
    const reading: Reading = {
      v: 1,
      patientId,
      deviceId: `dev-${String(p).padStart(5, '0')}-a`,
      ts: t0 + i * 250,
      seq: Math.floor(i / patients),
      vitals: {
        heartRate: Math.round(72 + 20 * wave),
        spo2: Math.round(97 - 2 * wave),
        glucose: Math.round(105 + 30 * wave),
        systolic: Math.round(122 + 15 * wave),
        diastolic: Math.round(79 + 8 * wave),
        respRate: Math.round(16 + 4 * wave),
        temperature: Math.round((36.8 + 0.6 * wave) * 10) / 10,
      },
    }
    const latest: Record<string, string> = { ts: String(reading.ts), seq: String(reading.seq), deviceId: reading.deviceId }
    for (const [k, v] of Object.entries(reading.vitals)) latest[k] = String(v)
    out[i] = { key: patientId, value: JSON.stringify(reading), reading, latest }
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// Kafka

const KAFKA_CLIENTS: readonly KafkaClientName[] = ['kafkajs', '@platformatic/kafka']

/** The same fetch sizes for both consumers (kafkajs's defaults, which are also the Java client's). */
const FETCH = { minBytes: 1, maxBytes: 10 * 1024 * 1024, maxBytesPerPartition: 1024 * 1024, maxWaitMs: 500 } as const

/** @platformatic/kafka with kafkajs's fetch sizes, one 'data' event per message. */
const FETCH_AS_KAFKAJS: PlatformaticConsume = {
  options: { minBytes: FETCH.minBytes, maxBytes: FETCH.maxBytes, maxBytesPerPartition: FETCH.maxBytesPerPartition, maxWaitTime: FETCH.maxWaitMs },
  read: 'data',
}

async function benchKafka(
  opts: ClientsBenchOptions,
  config: Pick<Config, 'kafkaBrokers' | 'redisUrl'>,
  signal: AbortSignal | undefined,
  readings: readonly BenchReading[],
  prefix: string,
  kafkajsLog: string[],
  progress: (line: string) => void,
): Promise<Measurement[]> {
  const topicOf = (client: KafkaClientName, round: number) => `${prefix}${client === 'kafkajs' ? 'kafkajs' : 'platformatic'}-${round}`
  const topics = KAFKA_CLIENTS.flatMap((c) => range(opts.rounds).map((r) => topicOf(c, r)))
  const groups: string[] = []
  const produce = new Map(KAFKA_CLIENTS.map((c) => [c, [] as RunResult[]]))
  const consume = new Map(KAFKA_CLIENTS.map((c) => [c, [] as RunResult[]]))
  const batch = readings.slice(0, opts.messages)

  const admin = createAdmin(config, `${prefix}admin`)
  try {
    await ensureTopics(
      admin,
      topics.map((name) => ({ name, partitions: TOPIC_PARTITIONS.readings })),
    )
    for (let round = 0; round < opts.rounds; round++) {
      const produced = new Map<KafkaClientName, boolean>()
      for (const client of KAFKA_CLIENTS) {
        signal?.throwIfAborted()
        const topic = topicOf(client, round)
        const run = await attempt(round, () =>
          client === 'kafkajs' ? produceKafkajs(config, topic, batch, opts, kafkajsLog) : producePlatformatic(config, topic, batch, opts),
        )
        produced.set(client, run.error === undefined)
        produce.get(client)?.push(run)
        progress(`kafka produce  ${client.padEnd(20)} round ${round + 1}: ${describeRun(run, 'messages/s')}`)
      }
      for (const client of KAFKA_CLIENTS) {
        signal?.throwIfAborted()
        // Each consumer reads what its own client wrote; if that produce failed, what the other wrote.
        const source = produced.get(client) === true ? client : KAFKA_CLIENTS.find((c) => produced.get(c) === true)
        const group = `${prefix}group-${client === 'kafkajs' ? 'kafkajs' : 'platformatic'}-${round}`
        groups.push(group)
        const run =
          source === undefined
            ? { round, rate: null, ms: 0, count: 0, error: 'nothing to read: every produce of this round failed' }
            : await attempt(round, () =>
                client === 'kafkajs'
                  ? consumeKafkajs(config, topicOf(source, round), group, opts.messages, opts.consumeTimeoutMs, kafkajsLog)
                  : consumePlatformatic(config, topicOf(source, round), group, opts.messages, opts.consumeTimeoutMs, FETCH_AS_KAFKAJS),
              )
        consume.get(client)?.push(run)
        progress(`kafka consume  ${client.padEnd(20)} round ${round + 1}: ${describeRun(run, 'messages/s')}`)
      }
    }
  } finally {
    await admin.deleteTopics({ topics }).catch((error: unknown) => progress(`could not delete topics ${prefix}*: ${describeError(error)}`))
    if (groups.length > 0) {
      // A group that never joined does not exist; delete the others one by one so one miss does not keep the rest.
      for (const group of groups) await admin.deleteGroups({ groups: [group] }).catch(() => undefined)
    }
    await admin.close()
  }
  return [
    ...KAFKA_CLIENTS.map((c) => measurement(c, 'produce', 'messages/s', produce.get(c) ?? [])),
    ...KAFKA_CLIENTS.map((c) => measurement(c, 'consume', 'messages/s', consume.get(c) ?? [])),
  ]
}

const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00])

/**
 * kafkajs decodes snappy batches only with a codec registered (the kafkajs-snappy package, not a
 * dependency of Vigil). This one uses snappyjs, which parquetjs-lite brings, and reads both the
 * raw block format and the Java client's xerial framing (a 16-byte header, then length-prefixed
 * blocks). Without snappyjs, kafkajs fails on snappy topics and the benchmark says so.
 */
async function registerKafkajsSnappy(): Promise<void> {
  const snappyjs = (await import(String('snappyjs')).catch(() => undefined)) as { uncompress(b: Buffer): Buffer } | undefined
  if (snappyjs === undefined) return
  const uncompress = (b: Buffer) => Buffer.from(snappyjs.uncompress(b))
  kafkajs.CompressionCodecs[kafkajs.CompressionTypes.Snappy] = () => ({
    async compress(): Promise<Buffer> {
      throw new Error('the benchmark only reads snappy with kafkajs')
    },
    async decompress(b: Buffer): Promise<Buffer> {
      if (b.length < 16 || !b.subarray(0, 8).equals(XERIAL_MAGIC)) return uncompress(b)
      const parts: Buffer[] = []
      for (let at = 16; at < b.length; ) {
        const n = b.readInt32BE(at)
        parts.push(uncompress(b.subarray(at + 4, at + 4 + n)))
        at += 4 + n
      }
      return Buffer.concat(parts)
    },
  })
}
const kafkajsSnappy = registerKafkajsSnappy()

function kafkajsClient(config: Pick<Config, 'kafkaBrokers'>, clientId: string, log: string[]) {
  return new Kafka({
    clientId,
    brokers: [...config.kafkaBrokers],
    connectionTimeout: 10_000,
    requestTimeout: 30_000,
    retry: { retries: 3 },
    logLevel: KafkaJsLogLevel.WARN,
    // Keep what kafkajs reports (it is part of the finding) without printing it per retry.
    logCreator: () => (entry) => {
      const { message, error } = entry.log as { message?: string; error?: string }
      const line = `${entry.label} ${entry.namespace}: ${message ?? ''}${error === undefined ? '' : ` (${error})`}`
      if (log.length < 20 && !log.includes(line)) log.push(line)
    },
  })
}

async function produceKafkajs(
  config: Pick<Config, 'kafkaBrokers'>,
  topic: string,
  readings: readonly BenchReading[],
  opts: ClientsBenchOptions,
  log: string[],
): Promise<Omit<RunResult, 'round'>> {
  const kafka = kafkajsClient(config, 'bench-kafkajs-producer', log)
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  try {
    const t0 = performance.now()
    for (let i = 0; i < readings.length; i += opts.batchSize) {
      const messages = readings.slice(i, i + opts.batchSize).map((r) => ({ key: r.key, value: r.value }))
      await producer.send({ topic, acks: -1, messages })
    }
    const ms = performance.now() - t0
    return { rate: (readings.length * 1000) / ms, ms, count: readings.length }
  } finally {
    await producer.disconnect()
  }
}

async function producePlatformatic(
  config: Pick<Config, 'kafkaBrokers'>,
  topic: string,
  readings: readonly BenchReading[],
  opts: ClientsBenchOptions,
): Promise<Omit<RunResult, 'round'>> {
  const producer = new Producer({
    clientId: 'bench-platformatic-producer',
    bootstrapBrokers: [...config.kafkaBrokers],
    timeout: 30_000,
    retries: 3,
    idempotent: true,
    acks: ProduceAcks.ALL,
  })
  try {
    // Connect and learn the partition leaders before the clock starts, as kafkajs's connect() does.
    await producer.metadata({ topics: [topic] })
    const t0 = performance.now()
    for (let i = 0; i < readings.length; i += opts.batchSize) {
      const messages = readings.slice(i, i + opts.batchSize).map((r) => ({ topic, key: Buffer.from(r.key), value: Buffer.from(r.value) }))
      await producer.send({ messages })
    }
    const ms = performance.now() - t0
    return { rate: (readings.length * 1000) / ms, ms, count: readings.length }
  } finally {
    await producer.close()
  }
}

/**
 * Counts delivered messages until `expected` arrived. The rate and this process's CPU run from
 * the moment the consumer has joined its group (`joined`), so that the join (which the broker
 * delays by group.initial.rebalance.delay.ms) is left out and reported apart as `firstMs`.
 */
class ConsumeClock {
  private readonly t0 = performance.now()
  private tJoined: number | undefined
  private cpuJoined: NodeJS.CpuUsage | undefined
  count = 0
  bytes = 0
  constructor(readonly expected: number) {}
  joined(): void {
    if (this.tJoined !== undefined) return
    this.tJoined = performance.now()
    this.cpuJoined = process.cpuUsage()
  }
  add(messages: number, bytes: number): boolean {
    this.joined()
    this.count += messages
    this.bytes += bytes
    return this.count >= this.expected
  }
  result(): Omit<RunResult, 'round'> {
    const tEnd = performance.now()
    const cpu = this.cpuJoined === undefined ? undefined : process.cpuUsage(this.cpuJoined)
    const tJoined = this.tJoined ?? tEnd
    const ms = tEnd - tJoined
    return {
      rate: ms > 0 && this.count > 0 ? (this.count * 1000) / ms : null,
      ms,
      count: this.count,
      firstMs: tJoined - this.t0,
      ...(cpu === undefined || this.count === 0 ? {} : { cpuMicrosPerMessage: Math.round(((cpu.user + cpu.system) / this.count) * 100) / 100 }),
    }
  }
}

/** Rejects after `ms` with what was read, unless `done` settles first. */
function consumeDeadline(clock: ConsumeClock, ms: number): { promise: Promise<never>; clear: () => void } {
  let timer: NodeJS.Timeout | undefined
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`read ${clock.count} of ${clock.expected} messages in ${ms} ms`)), ms)
  })
  return { promise, clear: () => clearTimeout(timer) }
}

/**
 * kafkajs reading `expected` messages of `topic` from the earliest offset in a fresh group, with
 * eachBatch and no work per message, and without commits (read and discard).
 */
async function consumeKafkajs(
  config: Pick<Config, 'kafkaBrokers'>,
  topic: string,
  groupId: string,
  expected: number,
  timeoutMs: number,
  log: string[],
): Promise<Omit<RunResult, 'round'>> {
  await kafkajsSnappy
  const kafka = kafkajsClient(config, 'bench-kafkajs-consumer', log)
  const consumer = kafka.consumer({
    groupId,
    minBytes: FETCH.minBytes,
    maxBytes: FETCH.maxBytes,
    maxBytesPerPartition: FETCH.maxBytesPerPartition,
    maxWaitTimeInMs: FETCH.maxWaitMs,
  })
  await consumer.connect()
  const clock = new ConsumeClock(expected)
  const deadline = consumeDeadline(clock, timeoutMs)
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    consumer.on(consumer.events.GROUP_JOIN, () => clock.joined())
    const done = new Promise<void>((resolve, reject) => {
      consumer.on(consumer.events.CRASH, (event) => reject(new Error(`consumer crashed: ${String(event.payload.error)}`)))
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            let bytes = 0
            for (const m of batch.messages) bytes += m.value?.length ?? 0
            if (clock.add(batch.messages.length, bytes)) resolve()
          },
        })
        .catch(reject)
    })
    await Promise.race([done, deadline.promise])
    return clock.result()
  } finally {
    deadline.clear()
    await consumer.disconnect()
  }
}

/** Options of a @platformatic/kafka consumer and of its consume() call (fetch sizes and wait, buffer, group settings). */
export type PlatformaticConsumeOptions = Omit<ConsumeOptions<Buffer, Buffer, Buffer, Buffer>, 'topics' | 'mode' | 'fallbackMode'>

/** How a @platformatic/kafka consumer is built and read in a consume measurement. */
export interface PlatformaticConsume {
  options: PlatformaticConsumeOptions
  /**
   * 'data': flowing mode, one event per message; a number: paused mode, `read()` in batches of
   * at most that many on each 'readable', as speed-layer/reader.ts reads.
   */
  read: 'data' | number
}

/**
 * @platformatic/kafka as the speed layer configures and reads it (its default options:
 * speed-layer/records.ts groupOptions, speed-layer/reader.ts), without commits.
 */
export function speedLayerConsume(): PlatformaticConsume {
  return { options: groupOptions(DEFAULT_SPEED_OPTIONS), read: DEFAULT_SPEED_OPTIONS.maxBatchReadings }
}

/**
 * The fastest settings `npx tsx bench/clients.ts --tune` found for the speed layer's reads: the
 * speed layer's own, with these changes (see TUNING_GRID for why this one). 1M readings, 2 runs
 * each, load 5-7.5; medians against the speed layer's settings (maxBytesPerPartition unset, so
 * maxBytes, 10 MiB): uncompressed, 174k messages/s and 4.6 µs CPU per message against 81k/s and
 * 7.8 µs; snappy batches, 189k/s and 4.4 µs against 116k/s and 5.7 µs.
 */
export const TUNED_PLATFORMATIC: Partial<PlatformaticConsumeOptions> = { maxBytesPerPartition: 256 * 1024 }

/** @platformatic/kafka reading `expected` messages of `topic` from the earliest offset in a fresh group, without commits. */
async function consumePlatformatic(
  config: Pick<Config, 'kafkaBrokers'>,
  topic: string,
  groupId: string,
  expected: number,
  timeoutMs: number,
  how: PlatformaticConsume,
): Promise<Omit<RunResult, 'round'>> {
  const consumer = new Consumer({ ...kafkaBaseOptions(config, 'bench-platformatic-consumer'), timeout: 30_000, groupId, ...how.options, autocommit: false })
  consumer.on('error', () => undefined)
  const clock = new ConsumeClock(expected)
  const deadline = consumeDeadline(clock, timeoutMs)
  try {
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest', ...how.options, autocommit: false })
    clock.joined()
    const batch = how.read
    try {
      const done = new Promise<void>((resolve, reject) => {
        stream.on('error', reject)
        if (batch === 'data') {
          stream.on('data', (m: { value?: Buffer }) => {
            if (clock.add(1, m.value?.length ?? 0)) resolve()
          })
          return
        }
        stream.on('readable', () => {
          for (;;) {
            let n = 0
            let bytes = 0
            for (let m = stream.read() as { value?: Buffer } | null; m !== null; m = n < batch ? (stream.read() as { value?: Buffer } | null) : null) {
              n++
              bytes += m.value?.length ?? 0
            }
            if (n === 0) return
            if (clock.add(n, bytes)) return resolve()
          }
        })
      })
      await Promise.race([done, deadline.promise])
    } finally {
      await stream.close()
    }
    return clock.result()
  } finally {
    deadline.clear()
    await consumer.close(true)
  }
}

/** A client of the bare consume measurement. */
export type BareConsumer = { client: 'kafkajs' } | { client: '@platformatic/kafka'; how: PlatformaticConsume }

/** The bare consume rate: `who` reads `expected` messages of an existing topic and discards them, in a fresh group deleted afterwards. */
export async function bareConsume(
  config: Pick<Config, 'kafkaBrokers'>,
  topic: string,
  expected: number,
  who: BareConsumer,
  timeoutMs = 600_000,
): Promise<Omit<RunResult, 'round'>> {
  const groupId = `${topic}.bare-${randomUUID().slice(0, 8)}`
  const log: string[] = []
  const run = await attempt(0, () =>
    who.client === 'kafkajs'
      ? consumeKafkajs(config, topic, groupId, expected, timeoutMs, log)
      : consumePlatformatic(config, topic, groupId, expected, timeoutMs, who.how),
  )
  const admin = createAdmin(config, 'vigil-bench-admin')
  try {
    await admin.deleteGroups({ groups: [groupId] }).catch(() => undefined)
  } finally {
    await admin.close()
  }
  const { round: _, ...rest } = run
  return log.length > 0 && rest.error !== undefined ? { ...rest, error: `${rest.error}; kafkajs: ${log[0]}` } : rest
}

// ---------------------------------------------------------------------------------------------
// Tuning @platformatic/kafka's consumer (`--tune`)

const MiB = 1024 * 1024

/**
 * Changes to the speed layer's consumer settings, each measured against them (`--tune`). The
 * client parses a partition's records straight from the socket's chunks (about 64 KiB each), and
 * each read of a field first walks the chunks from the start of that partition's data
 * (@platformatic/dynamic-buffer 1.x), so the CPU per record grows with the bytes one partition
 * returns per fetch: maxBytesPerPartition is the setting that matters.
 */
export const TUNING_GRID: Readonly<Record<string, { options?: Partial<PlatformaticConsumeOptions>; read?: PlatformaticConsume['read'] }>> = {
  'speed layer': {},
  'maxBytesPerPartition 128 KiB': { options: { maxBytesPerPartition: 128 * 1024 } },
  'maxBytesPerPartition 256 KiB': { options: { maxBytesPerPartition: 256 * 1024 } },
  'maxBytesPerPartition 512 KiB': { options: { maxBytesPerPartition: 512 * 1024 } },
  'maxBytesPerPartition 1 MiB': { options: { maxBytesPerPartition: MiB } },
  'maxBytes 2 MiB': { options: { maxBytes: 2 * MiB } },
  'maxBytesPerPartition 256 KiB, highWaterMark 50000': { options: { maxBytesPerPartition: 256 * 1024, highWaterMark: 50_000 } },
  'maxBytesPerPartition 256 KiB, highWaterMark 2048': { options: { maxBytesPerPartition: 256 * 1024, highWaterMark: 2_048 } },
  "maxBytesPerPartition 256 KiB, read 'data' events": { options: { maxBytesPerPartition: 256 * 1024 }, read: 'data' },
}

export interface TuningRow {
  variant: string
  runs: RunResult[]
  median: number | null
  cpuMicrosPerMessage: number | null
}

/**
 * Pre-fills one topic with `messages` readings of `patients` patients (bench/drain.ts prefill),
 * then reads it whole with every variant of `grid` and with kafkajs, `rounds` times in turn, so
 * that load from other users of the machine falls on all alike. Removes the topic and groups.
 */
export async function runConsumeTuning(
  o: { messages: number; rounds: number; patients: number; compression?: Compression; grid?: typeof TUNING_GRID },
  config: Pick<Config, 'kafkaBrokers'>,
  progress: (line: string) => void,
): Promise<TuningRow[]> {
  const grid = o.grid ?? TUNING_GRID
  const topic = `bench-${randomUUID().slice(0, 8)}.tune`
  const admin = createAdmin(config, 'vigil-bench-admin')
  const runs = new Map<string, RunResult[]>([['kafkajs', []], ...Object.keys(grid).map((k) => [k, [] as RunResult[]] as const)])
  try {
    await ensureTopics(admin, [{ name: topic, partitions: TOPIC_PARTITIONS.readings }])
    const filled = await prefill(config, topic, o.messages, o.patients, o.compression)
    progress(`pre-filled ${topic} with ${o.messages} readings (compression ${o.compression ?? 'none'}) in ${filled.seconds} s`)
    const base = speedLayerConsume()
    for (let round = 0; round < o.rounds; round++) {
      for (const variant of runs.keys()) {
        const change = grid[variant]
        const who: BareConsumer =
          change === undefined
            ? { client: 'kafkajs' }
            : { client: '@platformatic/kafka', how: { options: { ...base.options, ...change.options }, read: change.read ?? base.read } }
        const run = { round, ...(await bareConsume(config, topic, o.messages, who)), load1: loadAvg()[0] }
        runs.get(variant)?.push(run)
        progress(`${variant.padEnd(32)} round ${round + 1}: ${describeRun(run, 'messages/s')}, ${run.cpuMicrosPerMessage ?? '?'} µs CPU/message`)
      }
    }
  } finally {
    await admin.deleteTopics({ topics: [topic] }).catch((error: unknown) => progress(`could not delete ${topic}: ${describeError(error)}`))
    await admin.close()
  }
  return [...runs].map(([variant, rs]) => {
    const m = measurement(variant, 'consume', 'messages/s', rs)
    const cpu = rs.flatMap((r) => (r.cpuMicrosPerMessage === undefined ? [] : [r.cpuMicrosPerMessage])).sort((a, b) => a - b)
    return { variant, runs: rs, median: m.median, cpuMicrosPerMessage: cpu[Math.floor(cpu.length / 2)] ?? null }
  })
}

function formatTuning(rows: TuningRow[], o: { messages: number; rounds: number }): string {
  const lines = [`${o.messages} messages per run, ${o.rounds} runs each in turn; medians`, '']
  const table = [['variant', 'messages/s', 'µs CPU/message', 'runs']]
  for (const r of rows)
    table.push([
      r.variant,
      r.median === null ? 'failed' : fmt(r.median),
      r.cpuMicrosPerMessage === null ? '-' : String(r.cpuMicrosPerMessage),
      r.runs.map((x) => (x.rate === null ? `x (${x.error ?? ''})` : fmt(x.rate))).join(', '),
    ])
  const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => (r[i] ?? '').length)))
  for (const r of table)
    lines.push(
      r
        .map((c, i) => (i === 1 || i === 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
  return lines.join('\n')
}

// ---------------------------------------------------------------------------------------------
// Redis

const REDIS_CLIENTS: readonly RedisClientName[] = ['ioredis', 'node-redis']

async function benchRedis(
  opts: ClientsBenchOptions,
  config: Pick<Config, 'kafkaBrokers' | 'redisUrl'>,
  signal: AbortSignal | undefined,
  readings: readonly BenchReading[],
  prefix: string,
  progress: (line: string) => void,
): Promise<Measurement[]> {
  const perPipeline = Math.max(1, Math.floor(opts.pipelineSize / 2))
  const batch = readings.slice(0, Math.ceil(opts.commands / 2))
  const runs = new Map(REDIS_CLIENTS.map((c) => [c, [] as RunResult[]]))
  const nodeRedis = await connectRedis(config, { name: 'vigil-bench-node-redis' })
  const ioredis = new IORedis(config.redisUrl, { lazyConnect: true, connectionName: 'vigil-bench-ioredis', maxRetriesPerRequest: 3 })
  ioredis.on('error', (error: unknown) => progress(`ioredis: ${describeError(error)}`))
  try {
    await ioredis.connect()
    for (let round = 0; round < opts.rounds; round++) {
      for (const client of REDIS_CLIENTS) {
        signal?.throwIfAborted()
        const keys = redisKeys(`${prefix}${client}-${round}:`)
        const run = await attempt(round, async () => {
          const t0 = performance.now()
          for (let i = 0; i < batch.length; i += perPipeline) {
            const slice = batch.slice(i, i + perPipeline)
            if (client === 'ioredis') {
              const p = ioredis.pipeline()
              for (const r of slice) {
                p.hset(keys.latest(r.key), r.latest)
                p.zadd(keys.series(r.key), r.reading.ts, r.value)
              }
              const replies = await p.exec()
              const failed = replies?.find(([error]) => error !== null)
              if (failed) throw failed[0]
            } else {
              const m = nodeRedis.multi()
              for (const r of slice) {
                m.hSet(keys.latest(r.key), r.latest)
                m.zAdd(keys.series(r.key), { score: r.reading.ts, value: r.value })
              }
              await m.execAsPipeline()
            }
          }
          const ms = performance.now() - t0
          const count = batch.length * 2
          return { rate: (count * 1000) / ms, ms, count }
        })
        runs.get(client)?.push(run)
        progress(`redis pipeline ${client.padEnd(20)} round ${round + 1}: ${describeRun(run, 'commands/s')}`)
        // Untimed: keep Redis memory flat between runs.
        await deleteKeys(nodeRedis, keys.everything)
      }
    }
  } finally {
    await deleteKeys(nodeRedis, redisKeys(prefix).everything).catch((error: unknown) => progress(`could not delete ${prefix}*: ${describeError(error)}`))
    ioredis.disconnect()
    nodeRedis.destroy()
  }
  return REDIS_CLIENTS.map((c) => measurement(c, 'pipeline', 'commands/s', runs.get(c) ?? []))
}

// ---------------------------------------------------------------------------------------------
// Statistics and report

async function attempt(round: number, fn: () => Promise<Omit<RunResult, 'round'>>): Promise<RunResult> {
  const t0 = performance.now()
  try {
    return { round, ...(await fn()), load1: loadAvg()[0] }
  } catch (error) {
    return { round, rate: null, ms: performance.now() - t0, count: 0, load1: loadAvg()[0], error: describeError(error) }
  }
}

function measurement(client: string, operation: Measurement['operation'], unit: Measurement['unit'], runs: RunResult[]): Measurement {
  const rates = runs.flatMap((r) => (r.rate === null ? [] : [r.rate])).sort((a, b) => a - b)
  const median =
    rates.length === 0 ? null : rates.length % 2 === 1 ? rates[(rates.length - 1) / 2]! : (rates[rates.length / 2 - 1]! + rates[rates.length / 2]!) / 2
  const min = rates[0] ?? null
  const max = rates[rates.length - 1] ?? null
  const spreadPct = median === null || min === null || max === null ? null : ((max - min) / median) * 100
  return { client, operation, unit, runs, median, min, max, spreadPct }
}

function describeRun(run: RunResult, unit: string): string {
  if (run.rate === null) return `failed after ${Math.round(run.ms)} ms: ${run.error ?? 'no rate'}`
  const first = run.firstMs === undefined ? '' : ` (joined after ${Math.round(run.firstMs)} ms)`
  return `${fmt(run.rate)} ${unit} over ${Math.round(run.ms)} ms${first}, load ${run.load1 ?? '?'}`
}

/** One plain-text table of the results, with the machine and its load. */
export function formatClientsBench(result: ClientsBenchResult): string {
  const m = result.machine
  const lines = [
    `machine: ${m.cpus} x ${m.cpuModel}, ${m.totalMemGiB} GiB memory (${m.freeMemGiBAtStart} GiB free), ${m.platform}, node ${m.node}`,
    `load average (1/5/15 min): ${m.loadAvgAtStart.join(' / ')} at start, ${m.loadAvgAtEnd.join(' / ')} at end`,
    `versions: ${Object.entries(result.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    `kafka: ${result.options.messages} messages per run in batches of ${result.options.batchSize}, acks=all, idempotent, ${TOPIC_PARTITIONS.readings} partitions; ` +
      `redis: ${result.options.commands} commands per run (HSET+ZADD) in pipelines of ${result.options.pipelineSize}; ${result.options.rounds} runs each, alternating`,
    '',
  ]
  const rows = [['operation', 'client', 'median', 'unit', 'min', 'max', 'spread', 'runs (join ms)', 'failures']]
  for (const x of [...result.kafka, ...result.redis]) {
    const failures = x.runs.filter((r) => r.error !== undefined)
    rows.push([
      x.operation,
      x.client,
      x.median === null ? 'failed' : fmt(x.median),
      x.unit,
      x.min === null ? '-' : fmt(x.min),
      x.max === null ? '-' : fmt(x.max),
      x.spreadPct === null ? '-' : `${x.spreadPct.toFixed(1)}%`,
      x.runs.map((r) => (r.rate === null ? 'x' : `${fmt(r.rate)}${r.firstMs === undefined ? '' : ` (${Math.round(r.firstMs)})`}`)).join(', '),
      failures.length === 0 ? '' : `${failures.length}: ${failures[0]?.error ?? ''}`,
    ])
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)))
  for (const r of rows)
    lines.push(
      r
        .map((c, i) => (i === 2 || i === 4 || i === 5 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
  if (result.kafkajsLog.length > 0) lines.push('', 'kafkajs reported:', ...result.kafkajsLog.map((l) => `  ${l}`))
  return lines.join('\n')
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US')
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i)
}

function loadAvg(): [number, number, number] {
  const [a = 0, b = 0, c = 0] = os.loadavg()
  return [a, b, c].map((x) => Math.round(x * 100) / 100) as [number, number, number]
}

function gib(bytes: number): number {
  return Math.round((bytes / 1024 ** 3) * 10) / 10
}

/** The installed version, read from the package's own package.json (some packages do not export it). */
function packageVersion(name: string): string {
  try {
    const file = fileURLToPath(new URL(`../node_modules/${name}/package.json`, import.meta.url))
    return (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version ?? 'unknown'
  } catch {
    return 'not installed'
  }
}

// ---------------------------------------------------------------------------------------------
// Command line

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string' },
      messages: { type: 'string' },
      'batch-size': { type: 'string' },
      commands: { type: 'string' },
      'pipeline-size': { type: 'string' },
      rounds: { type: 'string' },
      patients: { type: 'string' },
      'only-kafka': { type: 'boolean' },
      'only-redis': { type: 'boolean' },
      tune: { type: 'boolean' },
      compression: { type: 'string' },
    },
    strict: true,
  })
  const log = (line: string) => process.stderr.write(`${line}\n`)
  if (values.tune === true) {
    const o = {
      messages: Number(values.messages ?? 500_000),
      rounds: Number(values.rounds ?? 3),
      patients: Number(values.patients ?? 1_000),
      compression: (values.compression ?? 'none') as Compression,
    }
    log(`load average at start: ${loadAvg().join(' / ')} on ${os.cpus().length} cores`)
    const rows = await runConsumeTuning(o, loadConfig({}), log)
    process.stdout.write(`${formatTuning(rows, o)}\nload average at end: ${loadAvg().join(' / ')}\n`)
    if (values.out !== undefined) await writeFile(values.out, `${JSON.stringify(rows, null, 2)}\n`)
    return
  }
  const flags: Record<string, unknown> = {
    messages: values.messages,
    batchSize: values['batch-size'],
    commands: values.commands,
    pipelineSize: values['pipeline-size'],
    rounds: values.rounds,
    patients: values.patients,
    kafka: values['only-redis'] !== true,
    redis: values['only-kafka'] !== true,
  }
  for (const k of Object.keys(flags)) if (flags[k] === undefined) delete flags[k]
  const options = parseOptions(clientsBenchOptionsSchema, flags, kebabFlag)
  const abort = new AbortController()
  process.once('SIGINT', () => abort.abort(new Error('interrupted')))
  log(`load average at start: ${loadAvg().join(' / ')} on ${os.cpus().length} cores`)
  const result = await runClientsBench(options, { progress: log, signal: abort.signal })
  process.stdout.write(`${formatClientsBench(result)}\n`)
  if (values.out !== undefined) {
    await writeFile(values.out, `${JSON.stringify(result, null, 2)}\n`)
    log(`wrote ${values.out}`)
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`bench/clients: ${isVigilError(error) ? error.message : describeError(error)}\n`)
    process.exitCode = 1
  })
}
