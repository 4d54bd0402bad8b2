/**
 * What the drain benchmarks of the speed layer (bench/speed.ts) and the archiver (bench/batch.ts)
 * share: the pre-filled topic, the layer run as its own process (`node bin/vigil.js <layer>`, as
 * users run it), and the figures of that process while it drains the topic:
 *  - rate: items committed by the layer's consumer group per second, from the group's first
 *    commit to the commit of the last offset (so the start-up, the group join and the first
 *    batch are left out on both sides of the division);
 *  - CPU per item: the process's utime + stime (/proc/<pid>/stat, in clock ticks) over the same
 *    interval, divided by the items committed in it;
 *  - peak RSS: the process's VmHWM (/proc/<pid>/status), read just before it is stopped;
 *  - the CPU per item of Redis and the broker over the same interval, where they run on this
 *    machine (found by their listening port): part of what a reading costs.
 * Where /proc is missing (not Linux) the CPU and memory figures are null.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { promisify } from 'node:util'
import { Producer, type Admin } from '@platformatic/kafka'
import { childEnv, loadBenchConfig, type Config } from '../lib/config.ts'
import { kafkaBaseOptions } from '../lib/kafka.ts'
import type { Compression } from '../lib/producer.ts'
import { pollUntil } from '../lib/backoff.ts'
import type { Reading } from '../lib/contract/schema.ts'

/** The aims the project set itself (docs/ARCHITECTURE.md), reported against, never tuned. */
export const DRAIN_AIMS = {
  /** Speed layer drain, readings/s, at the fewest patients measured (100). */
  speedAtFewPatients: 100_000,
  /** Speed layer drain, readings/s, at the most patients measured (10 000). */
  speedAtManyPatients: 50_000,
  /** The speed layer's CPU per reading at the most patients, as a multiple of that at the fewest. */
  speedCpuGrowth: 1.5,
  /** Archiver drain, rows/s. */
  archiver: 100_000,
  /** The speed layer's drain as a share of the fastest client's bare consume rate. */
  speedShareOfClient: 0.7,
} as const

/** The figures of one drain. */
export interface DrainFigures {
  /** Items committed between the first commit and the last. */
  items: number
  seconds: number
  perSecond: number
  /** CPU time of the layer's process per item, µs; null without /proc. */
  cpuMicrosPerItem: number | null
  /** The process's CPU over the drain, in percent of one core; null without /proc. */
  cpuPercent: number | null
  /** VmHWM of the process just before it was stopped, MB; null without /proc. */
  peakRssMb: number | null
  /** CPU per item, µs, of the services on this machine over the same interval (Redis, the broker), where found. */
  services: Partial<Record<ServiceName, number>>
}

export type ServiceName = 'redis' | 'kafka'

/** The process listening on `port` on this machine (`ss -ltnp`), if it can be seen. */
export async function listenerPid(port: number): Promise<number | undefined> {
  try {
    const { stdout } = await promisify(execFile)('ss', ['-ltnpH', `sport = :${port}`])
    const m = /pid=(\d+)/.exec(stdout)
    return m === null ? undefined : Number(m[1])
  } catch {
    return undefined
  }
}

/** Redis's and the broker's processes, where they run on this machine (their CPU counts in a drain's cost). */
export async function servicePids(
  config: Pick<Config, 'redisUrl' | 'kafkaBrokers'>,
  names: readonly ServiceName[],
): Promise<Array<{ name: ServiceName; pid: number }>> {
  const ports: Record<ServiceName, number> = {
    redis: Number(new URL(config.redisUrl).port || 6379),
    kafka: Number(config.kafkaBrokers[0]?.split(':').at(-1) ?? 9092),
  }
  const found: Array<{ name: ServiceName; pid: number }> = []
  for (const name of names) {
    const pid = await listenerPid(ports[name])
    if (pid !== undefined) found.push({ name, pid })
  }
  return found
}

/**
 * A reading of patient `i % patients`: mostly normal values with a few excursions, so that
 * classification and alerts do real work; one in ten is a glucose reading of a CGM.
 */
export function makeReading(i: number, patients: number, ts: number): Reading {
  const p = i % patients
  const k = Math.floor(i / patients)
  const hr = 60 + ((i * 7919) % 45) + (k % 97 === 0 ? 50 : 0)
  const vitals: Reading['vitals'] = i % 10 === 0 ? { glucose: 80 + ((i * 31) % 120) } : { heartRate: hr, spo2: 94 + ((i * 13) % 6), respRate: 12 + (i % 8) }
  return { v: 1, patientId: `p-${String(p).padStart(5, '0')}`, deviceId: `dev-${p}-${i % 10 === 0 ? 'cgm' : 'ox'}`, ts, seq: k, vitals }
}

/**
 * Sends count readings of patients' devices, spread over the last count/patients seconds of event
 * time (one a second per patient), keyed by patient, in batches of 5 000 compressed as
 * `compression` (the simulator and the gateway write snappy: lib/producer.ts).
 */
export async function prefill(
  config: Pick<Config, 'kafkaBrokers'>,
  topic: string,
  count: number,
  patients: number,
  compression: Compression = 'none',
): Promise<{ seconds: number }> {
  // Not idempotent, so that two sends may be in flight; one connection keeps them in order.
  const producer = new Producer({ ...kafkaBaseOptions(config, 'vigil-bench-prefill'), acks: -1, compression })
  const t0 = performance.now()
  try {
    const now = Date.now()
    const span = Math.ceil(count / patients)
    let inflight: Promise<unknown> | undefined
    for (let i = 0; i < count; i += 5_000) {
      const messages = []
      for (let j = i; j < Math.min(count, i + 5_000); j++) {
        const r = makeReading(j, patients, now - (span - Math.floor(j / patients)) * 1_000)
        messages.push({ topic, key: Buffer.from(r.patientId), value: Buffer.from(JSON.stringify(r)) })
      }
      const sent = producer.send({ messages })
      await inflight
      inflight = sent
    }
    await inflight
  } finally {
    await producer.close()
  }
  return { seconds: Math.round(performance.now() - t0) / 1000 }
}

/** Sum of the offsets `group` has committed on `topic`. */
export async function committedTotal(admin: Admin, group: string, topic: string): Promise<bigint> {
  const groups = await admin.listConsumerGroupOffsets({ groups: [group] })
  let sum = 0n
  for (const t of groups[0]?.topics ?? []) if (t.name === topic) for (const p of t.partitions) if (p.committedOffset > 0n) sum += p.committedOffset
  return sum
}

let ticksPerSecond: number | undefined
/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`; 100 where it does not answer). */
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      ticksPerSecond = 100
    }
  }
  return ticksPerSecond
}

/** CPU seconds (user + system) the process has used so far; null without /proc. */
export function processCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name in parentheses (which may hold spaces): state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / clockTicks()
  } catch {
    return null
  }
}

/** The process's peak resident set (VmHWM), MB; null without /proc. */
export function processPeakRssMb(pid: number): number | null {
  try {
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
    return kb === undefined ? null : Math.round(Number(kb) / 1024)
  } catch {
    return null
  }
}

/** A layer of Vigil as its own process, with its env over the bench's; killed if the bench exits first. */
export function spawnLayer(args: readonly string[], env: Record<string, string>, options: { nodeArgs?: readonly string[] } = {}): ChildProcess {
  const bench = loadBenchConfig()
  const nodeArgs = [...(options.nodeArgs ?? [])]
  const child = spawn(process.execPath, [...nodeArgs, 'bin/vigil.js', ...args], {
    env: childEnv({ VIGIL_LOG_LEVEL: bench.benchLogLevel, ...env }),
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const orphan = () => child.kill('SIGKILL')
  process.once('exit', orphan)
  child.once('exit', () => process.off('exit', orphan))
  return child
}

/** Stops the layer (SIGTERM, as a user would) and waits for it to exit. */
export async function stopLayer(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  await exited
}

/**
 * Waits until `group` has committed `total` offsets on `topic`, and measures the drain of the
 * layer process `child` from the group's first commit (see the module's comment).
 */
export async function measureDrain(o: {
  admin: Admin
  group: string
  topic: string
  total: number
  child: ChildProcess
  what: string
  services?: ReadonlyArray<{ name: ServiceName; pid: number }>
}): Promise<DrainFigures> {
  const pid = o.child.pid
  if (pid === undefined) throw new Error(`${o.what} did not start`)
  const services = o.services ?? []
  let t0 = 0
  let c0 = 0n
  let cpu0: number | null = null
  let services0: Array<number | null> = []
  await pollUntil(
    async () => {
      if (o.child.exitCode !== null) throw new Error(`${o.what} exited with code ${o.child.exitCode} before it drained the topic`)
      const c = await committedTotal(o.admin, o.group, o.topic)
      if (t0 === 0 && c > 0n) {
        t0 = performance.now()
        c0 = c
        cpu0 = processCpuSeconds(pid)
        services0 = services.map((x) => processCpuSeconds(x.pid))
      }
      return c >= BigInt(o.total)
    },
    { timeoutMs: 900_000, intervalMs: 50, what: `${o.what} to drain the topic` },
  )
  const seconds = (performance.now() - t0) / 1000
  const cpu1 = processCpuSeconds(pid)
  const items = Number(BigInt(o.total) - c0)
  const cpu = cpu0 === null || cpu1 === null ? null : cpu1 - cpu0
  const perItem = (seconds: number) => Math.round(((seconds * 1e6) / items) * 10) / 10
  const serviceCpu: Partial<Record<ServiceName, number>> = {}
  services.forEach((x, i) => {
    const before = services0[i]
    const after = processCpuSeconds(x.pid)
    if (before != null && after !== null && items > 0) serviceCpu[x.name] = perItem(after - before)
  })
  return {
    items,
    seconds: Math.round(seconds * 100) / 100,
    perSecond: Math.round(items / seconds),
    cpuMicrosPerItem: cpu === null || items === 0 ? null : perItem(cpu),
    cpuPercent: cpu === null ? null : Math.round((cpu / seconds) * 100),
    peakRssMb: processPeakRssMb(pid),
    services: serviceCpu,
  }
}

/** `--patients 100,1000,10000`: the patient counts, each a positive integer. */
export function parsePatientCounts(text: string): number[] {
  const counts = text.split(',').map((s) => Number(s.trim()))
  if (counts.length === 0 || counts.some((n) => !Number.isInteger(n) || n < 1))
    throw new Error(`--patients ${text}: give positive integers separated by commas`)
  return counts
}

/** Rows as a plain-text table: the first row the header, a rule under it, columns padded to their widest cell. */
export function textTable(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)))
  const lines = rows.map((r) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join(' | ')
      .trimEnd(),
  )
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('-+-'))
  return lines
}
