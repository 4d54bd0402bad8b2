/**
 * The speed layer's benchmarks, against the real broker and Redis, with the layer running as its
 * own process (`node bin/vigil.js speed`), as users run it:
 *  - drain rate: readings/s from a pre-filled `vitals.readings` (own topic prefix), measured from
 *    the group's first commit to the commit of the last offset. 200 000 readings by default (the
 *    issue's 1M takes minutes on a shared 2-core machine; the rate is flat after the first batches);
 *  - latency produce -> Redis at a steady rate (5 000 readings/s for 10 s by default): each
 *    reading's event time is its send time, and the latency is the time from it to the arrival
 *    of the `updates` notification that the speed layer publishes in the same atomic script call as the
 *    reading's Redis writes (so the view holds the reading when it is measured).
 *
 *   npx tsx bench/speed.ts [--readings 200000] [--rate 5000] [--seconds 10] [--patients 1000]
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'
import { Producer } from '@platformatic/kafka'
import { childEnv, loadBenchConfig, loadConfig, type Config } from '../lib/config.ts'
import { createAdmin, ensureTopics, kafkaBaseOptions } from '../lib/kafka.ts'
import { connectRedis, deleteKeys } from '../lib/redis.ts'
import { redisKeys } from '../lib/contract/keys.ts'
import { pollUntil } from '../lib/backoff.ts'
import type { Update } from '../lib/contract/views.ts'
import { TOPIC_PARTITIONS, consumerGroups, topicNames } from '../lib/contract/topics.ts'
import type { Reading } from '../lib/contract/schema.ts'

export interface SpeedBenchOptions {
  /** Readings pre-filled for the drain measurement. @defaultValue 200 000 */
  readings?: number
  /** Steady produce rate of the latency measurement, readings/s. @defaultValue 5 000 */
  rate?: number
  /** Duration of the latency measurement, seconds. @defaultValue 10 */
  seconds?: number
  /** Distinct patients. @defaultValue 1 000 */
  patients?: number
}

export interface SpeedBenchResult {
  drainReadings: number
  drainSeconds: number
  drainReadingsPerSecond: number
  latencyReadings: number
  latencyRate: number
  p50Ms: number
  p99Ms: number
  maxMs: number
}

function makeReading(i: number, patients: number, ts: number): Reading {
  const p = i % patients
  const k = Math.floor(i / patients)
  // Mostly normal values with a few excursions, so classification and alerts do real work.
  const hr = 60 + ((i * 7919) % 45) + (k % 97 === 0 ? 50 : 0)
  const vitals: Reading['vitals'] = i % 10 === 0 ? { glucose: 80 + ((i * 31) % 120) } : { heartRate: hr, spo2: 94 + ((i * 13) % 6), respRate: 12 + (i % 8) }
  return { v: 1, patientId: `p-${String(p).padStart(4, '0')}`, deviceId: `dev-${p}-${i % 10 === 0 ? 'cgm' : 'ox'}`, ts, seq: k, vitals }
}

async function committedTotal(config: Config, topic: string): Promise<bigint> {
  const admin = createAdmin(config, 'vigil-bench-admin')
  try {
    const groups = await admin.listConsumerGroupOffsets({ groups: [consumerGroups(config.topicPrefix).speed] })
    let sum = 0n
    for (const t of groups[0]?.topics ?? []) if (t.name === topic) for (const p of t.partitions) if (p.committedOffset > 0n) sum += p.committedOffset
    return sum
  } finally {
    await admin.close()
  }
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number
}

export async function runSpeedBench(options: SpeedBenchOptions = {}): Promise<SpeedBenchResult> {
  const { readings = 200_000, rate = 5_000, seconds = 10, patients = 1_000 } = options
  const id = `bench-${randomUUID().slice(0, 8)}`
  const config = loadConfig({ topicPrefix: `${id}.`, redisPrefix: `${id}:`, logLevel: 'warn' }, {})
  const topics = topicNames(config.topicPrefix)
  const keys = redisKeys(config.redisPrefix)
  const admin = createAdmin(config)
  await ensureTopics(admin, [
    { name: topics.readings, partitions: TOPIC_PARTITIONS.readings },
    { name: topics.rejected, partitions: TOPIC_PARTITIONS.rejected },
    { name: topics.alerts, partitions: TOPIC_PARTITIONS.alerts },
  ])
  await admin.close()
  // Not idempotent: the steady-rate phase keeps several sends in flight, which the idempotent producer refuses.
  const producer = new Producer({ ...kafkaBaseOptions(config, 'vigil-bench'), acks: -1 })
  const redis = await connectRedis(config)
  const sub = redis.duplicate()
  sub.on('error', () => undefined)
  let child: ChildProcess | undefined
  try {
    // Pre-fill: readings spread over the last readings/patients seconds of event time.
    const now = Date.now()
    const span = Math.ceil(readings / patients)
    for (let i = 0; i < readings; i += 5_000) {
      const messages = []
      for (let j = i; j < Math.min(readings, i + 5_000); j++) {
        const r = makeReading(j, patients, now - (span - Math.floor(j / patients)) * 1_000)
        messages.push({ topic: topics.readings, key: Buffer.from(r.patientId), value: Buffer.from(JSON.stringify(r)) })
      }
      await producer.send({ messages })
    }

    // VIGIL_BENCH_CPU_PROF=<dir>: write a V8 CPU profile of the speed process there (open it in Chrome DevTools).
    const bench = loadBenchConfig()
    const profile = bench.benchCpuProf
    const nodeArgs = profile === undefined || profile === '' ? [] : ['--cpu-prof', '--cpu-prof-dir', profile]
    // VIGIL_BENCH_NODE_ARGS: extra node flags for the speed process (e.g. --max-semi-space-size=64), to compare tunings.
    nodeArgs.push(...bench.benchNodeArgs)
    // VIGIL_BENCH_SPEED_ARGS: extra `vigil speed` flags (e.g. --max-batch-readings 20000), to compare settings.
    const speedArgs = bench.benchSpeedArgs
    child = spawn(process.execPath, [...nodeArgs, 'bin/vigil.js', 'speed', ...speedArgs], {
      env: childEnv({ VIGIL_TOPIC_PREFIX: config.topicPrefix, VIGIL_REDIS_PREFIX: config.redisPrefix, VIGIL_LOG_LEVEL: bench.benchLogLevel }),
      stdio: ['ignore', 'ignore', 'inherit'],
    })
    const orphan = child
    process.once('exit', () => orphan.kill('SIGKILL'))
    let t0 = 0
    let c0 = 0n
    await pollUntil(
      async () => {
        const c = await committedTotal(config, topics.readings)
        if (t0 === 0 && c > 0n) {
          t0 = performance.now()
          c0 = c
        }
        return c >= BigInt(readings)
      },
      { timeoutMs: 600_000, intervalMs: 50, what: 'the speed layer to drain the topic' },
    )
    const drainSeconds = (performance.now() - t0) / 1000
    const drained = Number(BigInt(readings) - c0)

    // Latency at a steady rate: a batch every 10 ms.
    const latencies: number[] = []
    let updatesSeen = 0
    await sub.connect()
    await sub.subscribe(keys.updates, (message) => {
      const at = Date.now()
      updatesSeen++
      const u = JSON.parse(message) as Update
      if (u.type === 'readings') for (const e of u.entries) if (e.deviceId.endsWith('-lat')) latencies.push(at - e.ts)
    })
    const perTick = Math.max(1, Math.round(rate / 100))
    const total = rate * seconds
    let sent = 0
    const start = performance.now()
    const inflight: Promise<unknown>[] = []
    while (sent < total) {
      const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate) + perTick)
      const messages = []
      const ts = Date.now()
      for (; sent < due; sent++) {
        const r = makeReading(sent, patients, ts)
        r.deviceId = `${r.deviceId}-lat`
        messages.push({ topic: topics.readings, key: Buffer.from(r.patientId), value: Buffer.from(JSON.stringify(r)) })
      }
      if (messages.length > 0) inflight.push(producer.send({ messages }))
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    await Promise.all(inflight)
    try {
      await pollUntil(async () => latencies.length >= total, { timeoutMs: 60_000, intervalMs: 50, what: 'every latency reading in Redis' })
    } catch (error) {
      const newest = await redis.zRangeWithScores(keys.patients, -1, -1)
      const c = await committedTotal(config, topics.readings)
      throw new Error(
        `${latencies.length} of ${total} latency readings seen (${updatesSeen} updates, child exit ${child.exitCode}, newest ${Date.now() - (newest[0]?.score ?? 0)} ms ago, committed ${c})`,
        { cause: error },
      )
    }
    latencies.sort((a, b) => a - b)
    return {
      drainReadings: drained,
      drainSeconds: Math.round(drainSeconds * 100) / 100,
      drainReadingsPerSecond: Math.round(drained / drainSeconds),
      latencyReadings: latencies.length,
      latencyRate: rate,
      p50Ms: quantile(latencies, 0.5),
      p99Ms: quantile(latencies, 0.99),
      maxMs: latencies[latencies.length - 1] ?? NaN,
    }
  } finally {
    if (child !== undefined && child.exitCode === null) {
      child.kill('SIGTERM')
      await once(child, 'exit')
    }
    await producer.close()
    if (sub.isOpen) sub.destroy()
    const a = createAdmin(config)
    try {
      await a.deleteTopics({ topics: (await a.listTopics()).filter((t) => t.startsWith(config.topicPrefix)) })
    } finally {
      await a.close()
    }
    await deleteKeys(redis, keys.everything)
    redis.destroy()
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: { readings: { type: 'string' }, rate: { type: 'string' }, seconds: { type: 'string' }, patients: { type: 'string' } },
  })
  const result = await runSpeedBench({
    readings: values.readings === undefined ? undefined : Number(values.readings),
    rate: values.rate === undefined ? undefined : Number(values.rate),
    seconds: values.seconds === undefined ? undefined : Number(values.seconds),
    patients: values.patients === undefined ? undefined : Number(values.patients),
  })
  console.table([result])
  console.log(JSON.stringify(result))
}
