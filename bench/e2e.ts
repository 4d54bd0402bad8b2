/**
 * The end-to-end benchmark: simulator -> Kafka -> speed layer + archiver -> Redis -> Socket.io
 * client of the serving layer. The speed layer, the archiver and the serving layer run as their
 * own processes (`vigil speed`, `vigil archive`, `vigil serve`), as users run them; the simulator,
 * a Redis subscriber and a Socket.io client run in this process. Everything lives under its own
 * topic prefix, Redis prefix and temporary lake, deleted afterwards.
 *
 * Two phases on the same processes: a steady rate (5 000 readings/s by default) and the maximum
 * (the simulator with --rate max). Each reading's event time is set to the moment the simulator
 * hands it to the Kafka producer, so that latencies are measured from produce:
 *  - produce -> Redis: arrival of the speed layer's `updates` notification, published in the
 *    same atomic script call as the reading's writes (steady phase only: parsing every update
 *    would compete with the layers for the CPU at the maximum);
 *  - produce -> browser: the `reading` event at a Socket.io client subscribed to a few patients.
 * Throughput: readings produced (acknowledged by Kafka) per second while producing, and the
 * time for each consumer group's committed offsets to reach the end of the topic after the
 * producer stopped (lag back to 0). The archiver commits after each file rename, so its lag
 * returns to 0 at its next flush (every 10 s or 50 000 records per partition by default).
 * CPU and peak memory of each process come from /proc (Linux) and process.cpuUsage.
 *
 *   npx tsx bench/e2e.ts [--rate 5000] [--seconds 10] [--max-seconds 10] [--patients 1000]
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { io as connect, type Socket } from 'socket.io-client'
import { childEnv, loadBenchConfig, loadConfig, type Config } from '../lib/config.ts'
import { createAdmin, ensureTopics } from '../lib/kafka.ts'
import { connectRedis, deleteKeys } from '../lib/redis.ts'
import { redisKeys } from '../lib/contract/keys.ts'
import { pollUntil } from '../lib/backoff.ts'
import { createLogger } from '../lib/log.ts'
import type { Update } from '../lib/contract/views.ts'
import { consumerGroups, topicNames, topicSpecs } from '../lib/contract/topics.ts'
import { start as startEdge } from '../edge/index.ts'
import { edgeOptions } from '../edge/config.ts'
import { kafkaSink, type Sink } from '../edge/sinks.ts'
import type { EdgeRecord } from '../edge/faults.ts'
import type { ReadingPush } from '../serving/events.ts'
import { freePort } from '../test/view-fixtures.ts'
import { listenerPid } from './drain.ts'

export interface E2eBenchOptions {
  /** Readings/s of the steady phase. @defaultValue 5 000 */
  rate?: number
  /** Length of the steady phase, seconds. @defaultValue 10 */
  seconds?: number
  /** Length of the maximum-rate phase, seconds (0: skip it). @defaultValue 10 */
  maxSeconds?: number
  /** Simulated patients. @defaultValue 1 000 */
  patients?: number
  /** Longest wait for the lag to return to 0 after a phase, seconds. @defaultValue 90 */
  catchUpTimeoutS?: number
  /** Base config (brokers, Redis); prefixes and lake folder are the benchmark's own. */
  config?: Config
}

export interface E2eProcessUse {
  /** Percent of one core over the phase (producing and catching up). */
  cpuPercent: number
  /** Peak resident memory since the process started, MB. */
  peakRssMb: number
}

export interface E2ePhaseResult {
  phase: string
  /** Target rate, readings/s, or 'max'. */
  target: number | 'max'
  produceSeconds: number
  produced: number
  /** Acknowledged by Kafka per second while producing. */
  producedPerSecond: number
  /** Seconds after the producer stopped until the group's lag was 0 (null: not within the timeout). */
  speedCatchUpS: number | null
  archiverCatchUpS: number | null
  /** Readings per second through each consumer, from the first produce to lag 0. */
  speedPerSecond: number | null
  archiverPerSecond: number | null
  /** Both caught up: the speed layer within 5 s, the archiver within its flush interval + 5 s. */
  keptUp: boolean
  redisSamples: number
  redisP50Ms: number | null
  redisP99Ms: number | null
  browserSamples: number
  browserP50Ms: number | null
  browserP99Ms: number | null
  /**
   * The browser's delay in two legs: produce -> the serving layer's push (`serverTime` of the
   * `reading` event: the speed layer, Redis pub/sub and the push interval's coalescing), and that
   * push -> its arrival at the client (Socket.io and the network).
   */
  pushP50Ms: number | null
  pushP99Ms: number | null
  wireP50Ms: number | null
  wireP99Ms: number | null
  /**
   * This process (simulator, subscriber, Socket.io client), the three layers, and the Redis
   * server and Kafka broker when `ss` names them (they serve every user of the machine).
   */
  processes: Record<'bench' | 'speed' | 'archive' | 'serve', E2eProcessUse> & Partial<Record<'redis' | 'kafka', E2eProcessUse>>
}

const ARCHIVER_FLUSH_S = 10

function quantile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number
}

/** utime + stime of a process in milliseconds (Linux /proc; 0 elsewhere). */
async function cpuMsOf(pid: number | undefined): Promise<number> {
  if (pid === undefined) return 0
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // Fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux).
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return 0
  }
}

/** Peak resident memory of a process, MB (VmHWM). */
async function peakRssMbOf(pid: number | undefined): Promise<number> {
  if (pid === undefined) return 0
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8')
    return Math.round(Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024)
  } catch {
    return 0
  }
}

function ownCpuMs(): number {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

/**
 * The Kafka sink of the simulator, with each reading's event time replaced by the moment it is
 * handed to the producer: the simulator's own event time runs ahead of the wall clock at a
 * forced rate, and a latency needs the produce instant.
 */
function stampingSink(inner: Sink, seqOffset: number): Sink {
  const sink = Object.create(inner) as Sink
  sink.send = (records: EdgeRecord[]) => {
    const now = String(Date.now())
    for (const r of records) {
      // `..."ts":<n>,"seq":<n>,...`: each run of the simulator starts its devices at seq 0, and
      // the speed layer would drop a later run's readings as duplicates of an earlier one's.
      const at = r.value.indexOf('"ts":')
      if (at < 0) continue
      const seqAt = r.value.indexOf(',"seq":', at)
      const seqEnd = r.value.indexOf(',', seqAt + 7)
      const seq = Number(r.value.slice(seqAt + 7, seqEnd)) + seqOffset
      r.value = `${r.value.slice(0, at + 5) + now},"seq":${seq}${r.value.slice(seqEnd)}`
    }
    inner.send(records)
  }
  return sink
}

interface Child {
  name: 'speed' | 'archive' | 'serve'
  proc: ChildProcess
}

export async function runE2eBench(options: E2eBenchOptions = {}): Promise<E2ePhaseResult[]> {
  const { rate = 5_000, seconds = 10, maxSeconds = 10, patients = 1_000, catchUpTimeoutS = 90 } = options
  const id = `bench-${randomUUID().slice(0, 8)}`
  const lake = await mkdtemp(path.join(tmpdir(), 'vigil-e2e-'))
  const base = options.config ?? loadConfig({})
  const config = loadConfig(
    { kafkaBrokers: base.kafkaBrokers.join(','), redisUrl: base.redisUrl, topicPrefix: `${id}.`, redisPrefix: `${id}:`, datalakeDir: lake, logLevel: 'warn' },
    {},
  )
  const topic = topicNames(config.topicPrefix).readings
  const groups = consumerGroups(config.topicPrefix)
  const keys = redisKeys(config.redisPrefix)
  const log = createLogger({ level: 'warn', destination: process.stderr })
  const token = `bench-${randomUUID()}`
  const port = await freePort()
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

  const admin = createAdmin(config, 'vigil-bench-admin')
  await ensureTopics(admin, topicSpecs(config.topicPrefix))
  const redis = await connectRedis(config)
  const sub = redis.duplicate()
  sub.on('error', () => undefined)
  const children: Child[] = []
  let socket: Socket | undefined

  /** Committed offsets of each group on the readings topic, summed over partitions. */
  const committed = async (): Promise<{ speed: number; archiver: number }> => {
    const answer = await admin.listConsumerGroupOffsets({ groups: [groups.speed, groups.archiver] })
    const sum = (g: string) => {
      let n = 0n
      for (const entry of answer) {
        if (entry.groupId !== g) continue
        for (const t of entry.topics) if (t.name === topic) for (const p of t.partitions) if (p.committedOffset > 0n) n += p.committedOffset
      }
      return Number(n)
    }
    return { speed: sum(groups.speed), archiver: sum(groups.archiver) }
  }

  try {
    const bench = loadBenchConfig()
    const env = childEnv({
      VIGIL_KAFKA_BROKERS: config.kafkaBrokers.join(','),
      VIGIL_REDIS_URL: config.redisUrl,
      VIGIL_TOPIC_PREFIX: config.topicPrefix,
      VIGIL_REDIS_PREFIX: config.redisPrefix,
      VIGIL_DATALAKE_DIR: lake,
      VIGIL_TOKEN: token,
      VIGIL_LOG_LEVEL: bench.benchLogLevel,
    })
    // VIGIL_BENCH_CPU_PROF=<dir>: V8 CPU profiles of the three processes (open them in Chrome DevTools).
    const prof = bench.benchCpuProf
    const nodeArgs = prof === undefined || prof === '' ? [] : ['--cpu-prof', '--cpu-prof-dir', prof]
    for (const [name, args] of [
      ['speed', ['speed']],
      ['archive', ['archive']],
      ['serve', ['serve', '--port', String(port), '--host', '127.0.0.1']],
    ] as const) {
      const proc = spawn(process.execPath, [...nodeArgs, path.join(root, 'bin/vigil.js'), ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] })
      children.push({ name, proc })
      process.once('exit', () => proc.kill('SIGKILL'))
    }
    const serve = children.find((c) => c.name === 'serve')!.proc
    await new Promise<void>((resolve, reject) => {
      serve.stdout?.on('data', (d: Buffer) => d.toString().includes('Dashboard:') && resolve())
      serve.once('exit', (code) => reject(new Error(`vigil serve exited with ${code}`)))
    })

    // Produce -> Redis: the speed layer's notifications (measured only while `measureRedis`).
    let measureRedis = false
    let lastSampleAt = 0
    const redisDelays: number[] = []
    await sub.connect()
    await sub.subscribe(keys.updates, (message) => {
      if (!measureRedis) return
      const at = Date.now()
      const u = JSON.parse(message) as Update
      lastSampleAt = at
      if (u.type === 'readings') for (const p of u.patients) for (const e of p.entries) redisDelays.push(at - e.ts)
    })

    // Produce -> browser: the `reading` events at a client subscribed to a few patients.
    let measureBrowser = false
    const browserDelays: number[] = []
    const pushDelays: number[] = []
    const wireDelays: number[] = []
    const subscribed = new Set<string>()
    socket = connect(`http://127.0.0.1:${port}`, { transports: ['websocket'], extraHeaders: { authorization: `Bearer ${token}` } })
    const client = socket
    await new Promise((resolve) => client.once('snapshot', resolve))
    client.on('reading', (push: ReadingPush) => {
      const at = Date.now()
      if (subscribed.size < 6) {
        for (const p of push.patients.slice(0, 6 - subscribed.size)) {
          subscribed.add(p.patientId)
          void client.emitWithAck('subscribe', { patientId: p.patientId })
        }
      }
      if (!measureBrowser) return
      lastSampleAt = at
      for (const p of push.patients) {
        browserDelays.push(at - p.ts)
        pushDelays.push(push.serverTime - p.ts)
      }
      wireDelays.push(at - push.serverTime)
    })

    let producedTotal = 0
    let runs = 0
    const produce = async (target: number | 'max', duration: number, seed: number) => {
      const sink = stampingSink(kafkaSink(config, { log }), runs++ * 100_000_000)
      const edge = await startEdge({ ...config, edge: edgeOptions({ patients, rate: target, duration, seed, progress: false }) }, { log, sink })
      const summary = await edge.done
      producedTotal += summary.acked
      return summary
    }

    // Warm-up: JIT, connections and group joins; not counted.
    await produce(2_000, 2, 7)
    await pollUntil(
      async () => {
        const c = await committed()
        return c.speed >= producedTotal && c.archiver >= producedTotal
      },
      { timeoutMs: (ARCHIVER_FLUSH_S + catchUpTimeoutS) * 1000, intervalMs: 250, what: 'the speed layer and the archiver to process the warm-up' },
    )

    const services: Array<{ name: 'redis' | 'kafka'; pid: number | undefined }> = []
    for (const [name, port] of [
      ['redis', Number(new URL(config.redisUrl).port || 6379)],
      ['kafka', Number(config.kafkaBrokers[0]?.split(':').at(-1) ?? 9092)],
    ] as const) {
      const pid = await listenerPid(port)
      if (pid !== undefined) services.push({ name, pid })
    }
    const results: E2ePhaseResult[] = []
    const phases: Array<[string, number | 'max', number]> = [[`steady ${rate}/s`, rate, seconds]]
    if (maxSeconds > 0) phases.push(['maximum', 'max', maxSeconds])
    for (const [phase, target, duration] of phases) {
      redisDelays.length = 0
      browserDelays.length = 0
      pushDelays.length = 0
      wireDelays.length = 0
      measureRedis = target !== 'max'
      measureBrowser = true
      const before = producedTotal
      const watched: Array<{ name: keyof E2ePhaseResult['processes']; pid: number | undefined }> = [
        ...children.map((c) => ({ name: c.name, pid: c.proc.pid })),
        ...services,
      ]
      const cpu0 = { bench: ownCpuMs(), ...Object.fromEntries(await Promise.all(watched.map(async (c) => [c.name, await cpuMsOf(c.pid)]))) } as Record<
        string,
        number
      >
      const t0 = Date.now()
      const summary = await produce(target, duration, results.length + 1)
      const tEnd = Date.now()
      let speedAt: number | undefined
      let archiverAt: number | undefined
      await pollUntil(
        async () => {
          const c = await committed()
          if (speedAt === undefined && c.speed >= producedTotal) speedAt = Date.now()
          if (archiverAt === undefined && c.archiver >= producedTotal) archiverAt = Date.now()
          return speedAt !== undefined && archiverAt !== undefined
        },
        { timeoutMs: catchUpTimeoutS * 1000, intervalMs: 100, what: 'the lag to return to 0' },
      ).catch(() => undefined)
      // Notifications still on their way count too (leaving them out would flatter the p99):
      // measurement ends once none has arrived for a second.
      await pollUntil(async () => Date.now() - lastSampleAt > 1_000, { timeoutMs: 30_000, intervalMs: 100, what: 'the last notifications' }).catch(
        () => undefined,
      )
      measureRedis = false
      measureBrowser = false
      const tDone = Math.max(speedAt ?? Date.now(), archiverAt ?? Date.now())
      const elapsedMs = tDone - t0
      const processes = {} as E2ePhaseResult['processes']
      processes.bench = {
        cpuPercent: Math.round(((ownCpuMs() - cpu0.bench!) / elapsedMs) * 1000) / 10,
        peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
      }
      for (const c of watched) {
        processes[c.name] = { cpuPercent: Math.round((((await cpuMsOf(c.pid)) - cpu0[c.name]!) / elapsedMs) * 1000) / 10, peakRssMb: await peakRssMbOf(c.pid) }
      }
      const n = producedTotal - before
      const catchUp = (at: number | undefined) => (at === undefined ? null : Math.round((at - tEnd) / 100) / 10)
      const through = (at: number | undefined) => (at === undefined ? null : Math.round((n / (at - t0)) * 1000))
      redisDelays.sort((a, b) => a - b)
      browserDelays.sort((a, b) => a - b)
      pushDelays.sort((a, b) => a - b)
      wireDelays.sort((a, b) => a - b)
      const speedCatchUpS = catchUp(speedAt)
      const archiverCatchUpS = catchUp(archiverAt)
      results.push({
        phase,
        target,
        produceSeconds: Math.round(summary.elapsedMs / 100) / 10,
        produced: n,
        producedPerSecond: summary.readingsPerSecond,
        speedCatchUpS,
        archiverCatchUpS,
        speedPerSecond: through(speedAt),
        archiverPerSecond: through(archiverAt),
        keptUp: speedCatchUpS !== null && speedCatchUpS <= 5 && archiverCatchUpS !== null && archiverCatchUpS <= ARCHIVER_FLUSH_S + 5,
        redisSamples: redisDelays.length,
        redisP50Ms: quantile(redisDelays, 0.5),
        redisP99Ms: quantile(redisDelays, 0.99),
        browserSamples: browserDelays.length,
        browserP50Ms: quantile(browserDelays, 0.5),
        browserP99Ms: quantile(browserDelays, 0.99),
        pushP50Ms: quantile(pushDelays, 0.5),
        pushP99Ms: quantile(pushDelays, 0.99),
        wireP50Ms: quantile(wireDelays, 0.5),
        wireP99Ms: quantile(wireDelays, 0.99),
        processes,
      })
      // Nothing of this phase may still be in flight when the next one starts.
      if (speedAt === undefined || archiverAt === undefined) break
    }
    return results
  } finally {
    socket?.disconnect()
    for (const c of [...children].reverse()) {
      if (c.proc.exitCode === null && c.proc.signalCode === null) {
        c.proc.kill('SIGTERM')
        await once(c.proc, 'exit')
      }
    }
    if (sub.isOpen) sub.destroy()
    try {
      await admin.deleteTopics({ topics: (await admin.listTopics()).filter((t) => t.startsWith(config.topicPrefix)) })
      await admin.deleteGroups({ groups: [groups.speed, groups.archiver] }).catch(() => undefined)
    } finally {
      await admin.close()
    }
    await deleteKeys(redis, keys.everything)
    redis.destroy()
    await rm(lake, { recursive: true, force: true })
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: { rate: { type: 'string' }, seconds: { type: 'string' }, 'max-seconds': { type: 'string' }, patients: { type: 'string' } },
  })
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v))
  const result = await runE2eBench({
    rate: num(values.rate),
    seconds: num(values.seconds),
    maxSeconds: num(values['max-seconds']),
    patients: num(values.patients),
  })
  console.log(JSON.stringify(result, null, 2))
}
