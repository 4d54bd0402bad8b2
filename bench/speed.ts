/**
 * The speed layer's benchmarks, against the real broker and Redis, with the layer running as its
 * own process (`node bin/vigil.js speed`), as users run it. For each patient count (its own topic
 * and Redis prefix, pre-filled once, removed afterwards):
 *  - bare consume: the Kafka clients read the pre-filled topic and discard it (bench/clients.ts
 *    bareConsume): kafkajs, @platformatic/kafka as the speed layer configures it, and
 *    @platformatic/kafka with TUNED_PLATFORMATIC; the rate the speed layer could reach at best;
 *  - drain: the speed layer drains the topic (bench/drain.ts): readings/s, CPU µs per reading
 *    and peak RSS of its process, and the drain as a share of the fastest bare consume;
 *  - latency produce -> Redis at a steady rate (5 000 readings/s for 10 s by default): each
 *    reading's event time is its send time, and the latency is the time from it to the arrival
 *    of the `updates` notification that the speed layer publishes in the same atomic script call
 *    as the reading's Redis writes (so the view holds the reading when it is measured).
 * Aims (DRAIN_AIMS): ≥ 100k readings/s at 100 patients, ≥ 50k/s at 10 000, CPU per reading at
 * 10 000 patients within 1.5× of that at 100, and the drain ≥ 70 % of the fastest client.
 * With `--risk-model <file>` (or `synthetic`: every feature of lib/risk/features.ts weighted), each
 * patient count is measured twice, on topics of their own: without a model, then serving it
 * (speed-layer/risk.ts); the cost of the risk on the hot path is the difference in µs CPU per
 * reading. Both runs get an empty lake folder, so the run without a model serves none.
 *
 *   npx tsx bench/speed.ts [--readings 1000000] [--patients 100,1000,10000] [--rate 5000] [--seconds 10] [--no-clients]
 *                          [--compression snappy|none|lz4|gzip] [--risk-model <file>|synthetic]
 *
 * VIGIL_BENCH_CPU_PROF=<dir> writes a V8 CPU profile of each speed process there (open it in
 * Chrome DevTools); VIGIL_BENCH_NODE_ARGS and VIGIL_BENCH_SPEED_ARGS add node and `vigil speed`
 * flags, to compare settings.
 */
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'
import type { ChildProcess } from 'node:child_process'
import { Producer, type Admin } from '@platformatic/kafka'
import { loadBenchConfig, loadConfig, type Config } from '../lib/config.ts'
import { createAdmin, ensureTopics, kafkaBaseOptions } from '../lib/kafka.ts'
import { connectRedis, deleteKeys } from '../lib/redis.ts'
import { redisKeys } from '../lib/contract/keys.ts'
import { pollUntil } from '../lib/backoff.ts'
import { describeError } from '../lib/errors.ts'
import type { Compression } from '../lib/producer.ts'
import { TOPIC_PARTITIONS, consumerGroups, topicNames } from '../lib/contract/topics.ts'
import { FEATURE_NAMES } from '../lib/risk/features.ts'
import { compileRiskModel, loadRiskModel, type RiskModelFile } from '../lib/risk/model.ts'
import { riskModelFile } from '../test/risk-model-fixture.ts'
import { bareConsume, speedLayerConsume, TUNED_PLATFORMATIC, type BareConsumer } from './clients.ts'
import {
  DRAIN_AIMS,
  type DrainFigures,
  makeReading,
  measureDrain,
  parsePatientCounts,
  prefill,
  processPeakRssMb,
  servicePids,
  spawnLayer,
  stopLayer,
  textTable,
} from './drain.ts'

export interface SpeedBenchOptions {
  /** Readings pre-filled for each patient count. @defaultValue 1 000 000 */
  readings?: number
  /** Patient counts, each measured on its own pre-filled topic. @defaultValue 100, 1 000 and 10 000 */
  patients?: readonly number[]
  /** Steady produce rate of the latency measurement, readings/s. @defaultValue 5 000 */
  rate?: number
  /** Duration of the latency measurement, seconds; 0 leaves it out. @defaultValue 10 */
  seconds?: number
  /** Measure the Kafka clients' bare consume rates on each topic. @defaultValue true */
  clients?: boolean
  /** Compression of the pre-filled batches. @defaultValue 'snappy': what the simulator and the gateway write (lib/producer.ts) */
  compression?: Compression
  /** A risk model file, or `synthetic`: each patient count is measured without, then with it. @defaultValue none */
  riskModel?: string
  /** Brokers and Redis; prefixes are the benchmark's own. @defaultValue the loaded config */
  config?: Config
  progress?: (line: string) => void
}

/** One client's bare consume rate on the pre-filled topic. */
export interface BareConsumeFigure {
  client: string
  messagesPerSecond: number | null
  /** CPU of the benchmark's process per message, µs. */
  cpuMicrosPerMessage: number | null
  error?: string
}

export interface SpeedLatency {
  readings: number
  rate: number
  p50Ms: number
  p99Ms: number
  maxMs: number
}

export interface SpeedRun {
  patients: number
  /** The version of the risk model the layer served (absent: none). */
  riskModel?: string
  readings: number
  prefillSeconds: number
  /** The speed process's drain; its peakRssMb is read just before the process is stopped (after the latency phase). */
  drain: DrainFigures
  clients: BareConsumeFigure[]
  /** The drain rate as a percentage of the fastest client's bare consume rate. */
  drainPctOfFastestClient: number | null
  latency?: SpeedLatency
  /** One-minute load average when the drain ended. */
  load1: number
}

export interface SpeedBenchResult {
  runs: SpeedRun[]
  /** Each aim of DRAIN_AIMS that these runs can be held against, met or not. */
  aims: SpeedAim[]
}

export interface SpeedAim {
  /** The run it applies to (its patient count). */
  patients: number
  aim: string
  met: boolean
}

/** The clients of the bare consume measurement, in the order they run. */
export function bareConsumers(): Array<{ name: string; who: BareConsumer }> {
  const speed = speedLayerConsume()
  return [
    { name: 'kafkajs', who: { client: 'kafkajs' } },
    { name: '@platformatic/kafka (speed layer settings)', who: { client: '@platformatic/kafka', how: speed } },
    {
      name: `@platformatic/kafka (${describeTuning()})`,
      who: { client: '@platformatic/kafka', how: { options: { ...speed.options, ...TUNED_PLATFORMATIC }, read: speed.read } },
    },
  ]
}

function describeTuning(): string {
  const changes = Object.entries(TUNED_PLATFORMATIC).map(([k, v]) => `${k} ${String(v)}`)
  return changes.length === 0 ? 'tuned: no change found' : changes.join(', ')
}

/**
 * The reading entries of an `updates` message, in either form of the `readings` update: one per
 * batch (`{"type":"readings","patients":[{"patient":…,"entries":[…]}]}`) or one per patient
 * (`{"type":"readings","patient":…,"entries":[…]}`); none for the other types.
 */
export function updateEntries(message: string): Array<{ deviceId: string; ts: number }> {
  type Entry = { deviceId: string; ts: number }
  const u = JSON.parse(message) as { type?: string; entries?: Entry[]; patients?: Array<{ entries?: Entry[] }> }
  if (u.type !== 'readings') return []
  if (Array.isArray(u.patients)) return u.patients.flatMap((p) => p.entries ?? [])
  return u.entries ?? []
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number
}

/**
 * A model with every feature weighted (weight 0.1, plausible means and spreads): the hot path's
 * whole cost, no contribution skipped for a zero weight. Its risk means nothing.
 */
export function syntheticRiskModel(): RiskModelFile {
  const typical: Record<string, [mean: number, sd: number]> = {
    heartRate: [80, 15],
    spo2: [96, 2],
    respRate: [16, 4],
    systolic: [120, 20],
    temperature: [37, 0.6],
    glucose: [120, 40],
  }
  const features = FEATURE_NAMES.map((name) => {
    const [vital, stat] = name.split('.')
    const [mean, sd] = typical[vital ?? ''] ?? [1, 1]
    if (stat === 'slope10') return { name, mean: 0, sd: sd / 4, weight: 0.1 }
    if (stat === 'sd15') return { name, mean: sd / 4, sd: sd / 4, weight: 0.1 }
    if (stat === 'age') return { name, mean: 5, sd: 10, weight: 0.1 }
    return { name, mean, sd, weight: 0.1 }
  })
  const file = riskModelFile(features)
  return { ...file, version: 'lr-000000000000', training: { ...file.training, cohort: 'synthetic' } }
}

export async function runSpeedBench(options: SpeedBenchOptions = {}): Promise<SpeedBenchResult> {
  const patients = options.patients ?? [100, 1_000, 10_000]
  const runs: SpeedRun[] = []
  // An empty lake for every run: the run without a model must not find one in ./datalake.
  const lake = await mkdtemp(path.join(os.tmpdir(), 'vigil-bench-lake-'))
  try {
    const model = await benchModel(options.riskModel, lake)
    for (const count of patients) {
      options.progress?.(`speed: ${count} patients`)
      runs.push(await runOne(count, options, lake))
      if (model !== undefined) {
        options.progress?.(`speed: ${count} patients, serving risk model ${model.version}`)
        runs.push({ ...(await runOne(count, options, lake, model.file)), riskModel: model.version })
      }
    }
  } finally {
    await rm(lake, { recursive: true, force: true })
  }
  return { runs, aims: speedAims(runs.filter((r) => r.riskModel === undefined)) }
}

/** The model file of `--risk-model` (the synthetic one written into `dir`), checked as the layer will; undefined without one. */
async function benchModel(riskModel: string | undefined, dir: string): Promise<{ file: string; version: string } | undefined> {
  if (riskModel === undefined) return undefined
  if (riskModel !== 'synthetic') return { file: riskModel, version: (await loadRiskModel(riskModel)).version }
  const file = path.join(dir, 'synthetic-model.json')
  const model = syntheticRiskModel()
  await writeFile(file, JSON.stringify(model))
  return { file, version: compileRiskModel(model, file).version }
}

/** The aims of DRAIN_AIMS these runs can be held against. */
export function speedAims(runs: readonly SpeedRun[]): SpeedAim[] {
  if (runs.length === 0) return []
  const fewest = runs.reduce((a, b) => (b.patients < a.patients ? b : a))
  const most = runs.reduce((a, b) => (b.patients > a.patients ? b : a))
  const aims: SpeedAim[] = []
  if (fewest.patients <= 100)
    aims.push({ patients: fewest.patients, aim: `≥ ${DRAIN_AIMS.speedAtFewPatients / 1000}k/s`, met: fewest.drain.perSecond >= DRAIN_AIMS.speedAtFewPatients })
  if (most.patients >= 10_000)
    aims.push({ patients: most.patients, aim: `≥ ${DRAIN_AIMS.speedAtManyPatients / 1000}k/s`, met: most.drain.perSecond >= DRAIN_AIMS.speedAtManyPatients })
  const a = fewest.drain.cpuMicrosPerItem
  const b = most.drain.cpuMicrosPerItem
  if (most !== fewest && a !== null && b !== null)
    aims.push({
      patients: most.patients,
      aim: `CPU/reading ${(b / a).toFixed(2)}× that at ${fewest.patients} (≤ ${DRAIN_AIMS.speedCpuGrowth}×)`,
      met: b <= a * DRAIN_AIMS.speedCpuGrowth,
    })
  for (const r of runs)
    if (r.drainPctOfFastestClient !== null)
      aims.push({
        patients: r.patients,
        aim: `${r.drainPctOfFastestClient} % of the fastest client (≥ ${DRAIN_AIMS.speedShareOfClient * 100} %)`,
        met: r.drainPctOfFastestClient >= DRAIN_AIMS.speedShareOfClient * 100,
      })
  return aims
}

/** One patient count: its own prefixes, topic pre-filled once, removed at the end whatever happens. */
async function runOne(patients: number, options: SpeedBenchOptions, lake: string, riskModel?: string): Promise<SpeedRun> {
  const { readings = 1_000_000, rate = 5_000, seconds = 10 } = options
  const id = `bench-${randomUUID().slice(0, 8)}`
  const config = Object.freeze({ ...(options.config ?? loadConfig({}, {})), topicPrefix: `${id}.`, redisPrefix: `${id}:`, logLevel: 'warn' as const })
  const topics = topicNames(config.topicPrefix)
  const group = consumerGroups(config.topicPrefix).speed
  const admin = createAdmin(config, 'vigil-bench-admin')
  const redis = await connectRedis(config)
  let child: ChildProcess | undefined
  try {
    await ensureTopics(admin, [
      { name: topics.readings, partitions: TOPIC_PARTITIONS.readings },
      { name: topics.rejected, partitions: TOPIC_PARTITIONS.rejected },
      { name: topics.alerts, partitions: TOPIC_PARTITIONS.alerts },
    ])
    const compression = options.compression ?? 'snappy'
    const filled = await prefill(config, topics.readings, readings, patients, compression)
    options.progress?.(`speed: pre-filled ${readings} readings of ${patients} patients (${compression}) in ${filled.seconds} s`)

    const clients: BareConsumeFigure[] = []
    if (options.clients !== false)
      for (const { name, who } of bareConsumers()) {
        const r = await bareConsume(config, topics.readings, readings, who)
        clients.push({
          client: name,
          messagesPerSecond: r.rate === null ? null : Math.round(r.rate),
          cpuMicrosPerMessage: r.cpuMicrosPerMessage ?? null,
          ...(r.error === undefined ? {} : { error: r.error }),
        })
        options.progress?.(`speed: bare consume ${name}: ${r.rate === null ? `failed: ${r.error}` : `${Math.round(r.rate)} messages/s`}`)
      }

    const services = await servicePids(config, ['redis', 'kafka'])
    child = startSpeed(config, lake, riskModel)
    const drain = await measureDrain({ admin, group, topic: topics.readings, total: readings, child, what: 'the speed layer', services })
    const load1 = Math.round(os.loadavg()[0]! * 100) / 100
    options.progress?.(`speed: drained ${drain.items} readings at ${drain.perSecond}/s, ${drain.cpuMicrosPerItem} µs CPU each (load ${load1})`)
    const latency = seconds > 0 ? await measureLatency(config, redis, admin, child, { patients, rate, seconds }) : undefined
    const fastest = Math.max(0, ...clients.map((c) => c.messagesPerSecond ?? 0))
    const peak = child.pid === undefined ? null : processPeakRssMb(child.pid)
    return {
      patients,
      readings,
      prefillSeconds: filled.seconds,
      drain: { ...drain, peakRssMb: peak ?? drain.peakRssMb },
      clients,
      drainPctOfFastestClient: fastest > 0 ? Math.round((drain.perSecond / fastest) * 100) : null,
      ...(latency === undefined ? {} : { latency }),
      load1,
    }
  } finally {
    await stopLayer(child)
    await cleanup(admin, config, group).catch((error: unknown) => options.progress?.(`speed: could not remove ${id}: ${describeError(error)}`))
    await admin.close()
    await deleteKeys(redis, redisKeys(config.redisPrefix).everything)
    redis.destroy()
  }
}

function startSpeed(config: Config, lake: string, riskModel: string | undefined): ChildProcess {
  const bench = loadBenchConfig()
  const profile = bench.benchCpuProf
  const nodeArgs = profile === undefined || profile === '' ? [] : ['--cpu-prof', '--cpu-prof-dir', profile]
  nodeArgs.push(...bench.benchNodeArgs)
  const args = ['speed', ...bench.benchSpeedArgs, ...(riskModel === undefined ? [] : ['--risk-model', riskModel])]
  return spawnLayer(args, { VIGIL_TOPIC_PREFIX: config.topicPrefix, VIGIL_REDIS_PREFIX: config.redisPrefix, VIGIL_DATALAKE_DIR: lake }, { nodeArgs })
}

async function cleanup(admin: Admin, config: Config, group: string): Promise<void> {
  const mine = (await admin.listTopics()).filter((t) => t.startsWith(config.topicPrefix))
  if (mine.length > 0) await admin.deleteTopics({ topics: mine })
  await admin.deleteGroups({ groups: [group] }).catch(() => undefined)
}

/** Latency at a steady rate: a batch every 10 ms, each reading's event time its send time, on devices of their own (`-lat`). */
async function measureLatency(
  config: Config,
  redis: Awaited<ReturnType<typeof connectRedis>>,
  admin: Admin,
  child: ChildProcess,
  o: { patients: number; rate: number; seconds: number },
): Promise<SpeedLatency> {
  const keys = redisKeys(config.redisPrefix)
  const topic = topicNames(config.topicPrefix).readings
  // Not idempotent: several sends stay in flight, which the idempotent producer refuses.
  const producer = new Producer({ ...kafkaBaseOptions(config, 'vigil-bench'), acks: -1 })
  const sub = redis.duplicate()
  sub.on('error', () => undefined)
  const latencies: number[] = []
  let updatesSeen = 0
  try {
    await sub.connect()
    await sub.subscribe(keys.updates, (message) => {
      const at = Date.now()
      updatesSeen++
      for (const e of updateEntries(message)) if (e.deviceId.endsWith('-lat')) latencies.push(at - e.ts)
    })
    const perTick = Math.max(1, Math.round(o.rate / 100))
    const total = o.rate * o.seconds
    let sent = 0
    const start = performance.now()
    const inflight: Promise<unknown>[] = []
    while (sent < total) {
      const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * o.rate) + perTick)
      const messages = []
      const ts = Date.now()
      for (; sent < due; sent++) {
        const r = makeReading(sent, o.patients, ts)
        r.deviceId = `${r.deviceId}-lat`
        messages.push({ topic, key: Buffer.from(r.patientId), value: Buffer.from(JSON.stringify(r)) })
      }
      if (messages.length > 0) inflight.push(producer.send({ messages }))
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    await Promise.all(inflight)
    try {
      await pollUntil(async () => latencies.length >= total, { timeoutMs: 60_000, intervalMs: 50, what: 'every latency reading in Redis' })
    } catch (error) {
      const group = consumerGroups(config.topicPrefix).speed
      const committed = await admin.listConsumerGroupOffsets({ groups: [group] }).catch(() => [])
      throw new Error(
        `${latencies.length} of ${total} latency readings seen (${updatesSeen} updates, child exit ${child.exitCode}, group offsets ${JSON.stringify(committed, (_, v) => (typeof v === 'bigint' ? String(v) : v))})`,
        { cause: error },
      )
    }
    latencies.sort((a, b) => a - b)
    return { readings: latencies.length, rate: o.rate, p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99), maxMs: latencies.at(-1) ?? NaN }
  } finally {
    await producer.close()
    if (sub.isOpen) sub.destroy()
  }
}

/** The runs as one table for a terminal. */
export function formatSpeedBench(result: SpeedBenchResult): string {
  const rows = [
    [
      'patients',
      'risk model',
      'readings/s',
      'µs CPU/reading',
      'CPU %',
      'peak MB',
      'redis, kafka µs/reading',
      '% of fastest client',
      'p50 / p99 ms',
      'load',
      'bare consume (messages/s, µs CPU/message)',
    ],
  ]
  for (const r of result.runs)
    rows.push([
      String(r.patients),
      r.riskModel ?? '-',
      r.drain.perSecond.toLocaleString('en-US'),
      String(r.drain.cpuMicrosPerItem ?? '-'),
      String(r.drain.cpuPercent ?? '-'),
      String(r.drain.peakRssMb ?? '-'),
      `${r.drain.services.redis ?? '-'}, ${r.drain.services.kafka ?? '-'}`,
      r.drainPctOfFastestClient === null ? '-' : `${r.drainPctOfFastestClient} %`,
      r.latency === undefined ? '-' : `${r.latency.p50Ms} / ${r.latency.p99Ms}`,
      String(r.load1),
      r.clients
        .map(
          (c) =>
            `${c.client}: ${c.messagesPerSecond === null ? `failed (${c.error ?? ''})` : c.messagesPerSecond.toLocaleString('en-US')}, ${c.cpuMicrosPerMessage ?? '-'}`,
        )
        .join('; '),
    ])
  const lines = textTable(rows)
  for (const a of result.aims) lines.push(`${a.patients} patients: ${a.aim}: ${a.met ? 'met' : 'MISSED'}`)
  lines.push(...riskCostLines(result.runs))
  return lines.join('\n')
}

/** Per patient count measured both ways: µs CPU per reading without and with the risk model. */
export function riskCostLines(runs: readonly SpeedRun[]): string[] {
  const lines: string[] = []
  for (const withModel of runs) {
    if (withModel.riskModel === undefined) continue
    const without = runs.find((r) => r.patients === withModel.patients && r.riskModel === undefined)
    const a = without?.drain.cpuMicrosPerItem
    const b = withModel.drain.cpuMicrosPerItem
    if (a === undefined || a === null || b === null) continue
    const pct = Math.round(((b - a) / a) * 100)
    lines.push(`${withModel.patients} patients: ${a} µs CPU/reading without a risk model, ${b} µs with ${withModel.riskModel} (${pct >= 0 ? '+' : ''}${pct} %)`)
  }
  return lines
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      readings: { type: 'string' },
      rate: { type: 'string' },
      seconds: { type: 'string' },
      patients: { type: 'string' },
      'no-clients': { type: 'boolean' },
      compression: { type: 'string' },
      'risk-model': { type: 'string' },
    },
  })
  const load = () => os.loadavg().map((x) => x.toFixed(2))
  const loadAtStart = load()
  const result = await runSpeedBench({
    readings: values.readings === undefined ? undefined : Number(values.readings),
    rate: values.rate === undefined ? undefined : Number(values.rate),
    seconds: values.seconds === undefined ? undefined : Number(values.seconds),
    patients: values.patients === undefined ? undefined : parsePatientCounts(values.patients),
    clients: values['no-clients'] !== true,
    ...(values.compression === undefined ? {} : { compression: values.compression as Compression }),
    ...(values['risk-model'] === undefined ? {} : { riskModel: values['risk-model'] }),
    config: loadConfig({}),
    progress: (line) => process.stderr.write(`${line}\n`),
  })
  console.log(formatSpeedBench(result))
  console.log(`load average (1/5/15 min): ${loadAtStart.join(' / ')} at start, ${load().join(' / ')} at end; ${os.availableParallelism()} cores`)
  console.log(JSON.stringify(result))
}
