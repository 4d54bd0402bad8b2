/**
 * Edge throughput: readings/s produced by the simulator straight to Kafka, and through the
 * gateway (NDJSON batches of 500, the gateway in its own process as in production). Every
 * reading counted was acknowledged by Kafka (acks=all, idempotent, snappy). Each run follows a
 * 1-second warm-up that is not counted.
 *
 *   npx tsx bench/edge.ts [--seconds 5] [--patients 1000] [--lanes 8] [--compression snappy|lz4|gzip|none] [--direct-only]
 *
 * Runs on its own topic prefix (bench-<random>.) and deletes its topics afterwards, so it never
 * writes into the demo's topics. `vigil bench` calls `benchEdge`.
 */
import { spawn } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import path from 'node:path'
import { childEnv, loadConfig, type Config } from '../lib/config.ts'
import { createAdmin, ensureTopics } from '../lib/kafka.ts'
import { createLogger } from '../lib/log.ts'
import { pollUntil } from '../lib/backoff.ts'
import { TOPIC_PARTITIONS, topicNames } from '../lib/contract/topics.ts'
import type { Compression } from '../lib/producer.ts'
import { run, type EdgeSummary } from '../edge/index.ts'
import { kafkaSink } from '../edge/sinks.ts'

export interface EdgeBenchOptions {
  /** Length of each run, in seconds. @defaultValue 5 */
  seconds?: number
  /** Simulated patients. @defaultValue 1000 */
  patients?: number
  /** Parallel HTTP requests to the gateway. @defaultValue 8 */
  lanes?: number
  /** Skip the gateway run. */
  directOnly?: boolean
  /** Codec of the direct run, to compare them. @defaultValue the producer's default */
  compression?: Compression
}

export interface EdgeBenchResult {
  name: string
  /** Acknowledged readings per second of wall-clock time. */
  readingsPerSecond: number
  /**
   * CPU microseconds spent per acknowledged reading by Vigil's processes (edge, and gateway when
   * used; not the broker): a figure that holds when other work shares the cores.
   */
  cpuMicrosPerReading: number
  acked: number
  seconds: number
  aim: number
}

async function freePort(): Promise<number> {
  const net = await import('node:net')
  const srv = net.createServer()
  srv.listen(0, '127.0.0.1')
  await once(srv, 'listening')
  const port = (srv.address() as { port: number }).port
  srv.close()
  await once(srv, 'close')
  return port
}

function row(name: string, s: EdgeSummary, cpuMs: number, aim: number): EdgeBenchResult {
  return {
    name,
    readingsPerSecond: Math.round((s.acked / s.elapsedMs) * 1000),
    cpuMicrosPerReading: Math.round(((cpuMs * 1000) / Math.max(1, s.acked)) * 10) / 10,
    acked: s.acked,
    seconds: s.elapsedMs / 1000,
    aim,
  }
}

/** CPU milliseconds used so far by this process. */
function ownCpuMs(): number {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

/** CPU milliseconds used so far by another process (Linux /proc; 0 elsewhere). */
async function cpuMsOf(pid: number | undefined): Promise<number> {
  if (pid === undefined) return 0
  try {
    const { readFile } = await import('node:fs/promises')
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // utime and stime, fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100
  } catch {
    return 0
  }
}

/** Runs the edge benchmarks against the configured broker; resolves with one row per run. */
export async function benchEdge(base: Config, options: EdgeBenchOptions = {}): Promise<EdgeBenchResult[]> {
  const seconds = options.seconds ?? 5
  const patients = options.patients ?? 1000
  const prefix = `bench-${randomUUID().slice(0, 8)}.`
  const config = loadConfig({ kafkaBrokers: base.kafkaBrokers.join(','), topicPrefix: prefix, logLevel: 'warn' }, {})
  const log = createLogger({ level: 'warn', destination: process.stderr })
  const topic = topicNames(prefix).readings
  const admin = createAdmin(config)
  await ensureTopics(admin, [{ name: topic, partitions: TOPIC_PARTITIONS.readings }])
  const results: EdgeBenchResult[] = []
  try {
    // Warm-up (not counted): JIT compilation and the producer's first connections.
    await run(config, { patients, rate: 'max', duration: 1, seed: 9 }, { log })
    const cpu0 = ownCpuMs()
    const sink = options.compression === undefined ? undefined : kafkaSink(config, { log, compression: options.compression })
    const direct = await run(config, { patients, rate: 'max', duration: seconds, seed: 1 }, { log, sink })
    results.push(row(`edge -> kafka (direct${options.compression === undefined ? '' : `, ${options.compression}`})`, direct, ownCpuMs() - cpu0, 100_000))

    if (options.directOnly !== true) {
      const port = await freePort()
      const token = randomBytes(16).toString('hex')
      const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
      const child = spawn(process.execPath, [path.join(root, 'bin/vigil.js'), 'ingest', '--port', String(port), '--host', '127.0.0.1'], {
        env: childEnv({ VIGIL_TOPIC_PREFIX: prefix, VIGIL_KAFKA_BROKERS: config.kafkaBrokers.join(','), VIGIL_DEVICE_TOKENS: token, VIGIL_LOG_LEVEL: 'warn' }),
        stdio: ['ignore', 'ignore', 'inherit'],
      })
      try {
        await pollUntil(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, {
          timeoutMs: 60_000,
          intervalMs: 200,
          what: 'the gateway to answer /healthz',
        })
        await run(
          config,
          { patients, rate: 'max', duration: 1, seed: 8, via: 'http', gatewayUrl: `http://127.0.0.1:${port}`, httpBatch: 500, httpLanes: options.lanes ?? 8 },
          { log, deviceToken: token },
        )
        const cpuEdge0 = ownCpuMs()
        const cpuGateway0 = await cpuMsOf(child.pid)
        const viaHttp = await run(
          config,
          {
            patients,
            rate: 'max',
            duration: seconds,
            seed: 2,
            via: 'http',
            gatewayUrl: `http://127.0.0.1:${port}`,
            httpBatch: 500,
            httpLanes: options.lanes ?? 8,
          },
          { log, deviceToken: token },
        )
        const cpu = ownCpuMs() - cpuEdge0 + (await cpuMsOf(child.pid)) - cpuGateway0
        results.push(row('edge -> gateway (NDJSON x500) -> kafka', viaHttp, cpu, 30_000))
      } finally {
        child.kill('SIGTERM')
        if (child.exitCode === null) await once(child, 'exit')
      }
    }
  } finally {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined)
    await admin.close()
  }
  return results
}

export function formatEdgeBench(rows: EdgeBenchResult[]): string {
  const lines = rows.map(
    (r) =>
      `${r.name.padEnd(42)} ${String(r.readingsPerSecond).padStart(9)} readings/s  ${String(r.cpuMicrosPerReading).padStart(6)} µs CPU/reading  (${r.acked} acked in ${r.seconds.toFixed(1)} s; aim ${r.aim}/s)`,
  )
  return `${lines.join('\n')}\n`
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2)
  const flag = (name: string): number | undefined => {
    const i = args.indexOf(`--${name}`)
    return i >= 0 ? Number(args[i + 1]) : undefined
  }
  const i = args.indexOf('--compression')
  const compression = i >= 0 ? (args[i + 1] as Compression) : undefined
  const rows = await benchEdge(loadConfig({}), {
    seconds: flag('seconds'),
    patients: flag('patients'),
    lanes: flag('lanes'),
    compression,
    directOnly: args.includes('--direct-only'),
  })
  process.stdout.write(formatEdgeBench(rows))
  process.stdout.write(`${JSON.stringify(rows)}\n`)
}
