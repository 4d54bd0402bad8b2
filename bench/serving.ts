/**
 * The serving layer's benchmark, against the real Redis, with `vigil serve` running as its own
 * process as users run it. N patients at R Hz: every 100 ms, one tenth of the patients get an
 * `Update` (one reading each) published on the updates channel, as the speed layer does per
 * batch. A Socket.io client in this process is connected (subscribed to a few patients' rooms, as
 * a page with a chart open is) and measures, for every patient state it receives, the delay from
 * publish (the reading's event time is its publish time) to the `reading` event. The serving
 * process's CPU is read from /proc (Linux) over the measured interval.
 *
 *   npx tsx bench/serving.ts [--patients 1000] [--rate 1] [--seconds 20]
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { io as connect } from 'socket.io-client'
import { childEnv, loadConfig } from '../lib/config.ts'
import { connectRedis, deleteKeys } from '../lib/redis.ts'
import { redisKeys } from '../lib/contract/keys.ts'
import type { Update } from '../lib/contract/views.ts'
import type { ReadingPush, Snapshot } from '../serving/events.ts'
import { freePort, stateOf } from '../test/view-fixtures.ts'

export interface ServingBenchOptions {
  /** Distinct patients. @defaultValue 1 000 */
  patients?: number
  /** Readings per patient per second. @defaultValue 1 */
  rate?: number
  /** Measured duration, seconds (after a 3 s warm-up). @defaultValue 20 */
  seconds?: number
  /** Patients whose rooms the client joins. @defaultValue 6 */
  subscribed?: number
}

export interface ServingBenchResult {
  patients: number
  rateHz: number
  seconds: number
  updatesPerSecond: number
  /** Serving process CPU over the measured interval, percent of one core. */
  servingCpuPercent: number
  servingRssMb: number
  /** `reading` events per second at the client (coalesced). */
  pushesPerSecond: number
  samples: number
  p50Ms: number
  p99Ms: number
  maxMs: number
  /** Same delay, for series entries of the subscribed patients (the chart's data). */
  seriesSamples: number
  seriesP99Ms: number
}

/** utime + stime of a process, in seconds (Linux /proc). */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the command name, in clock ticks (100/s on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100
}

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
  return Math.round(kb / 1024)
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number
}

export async function runServingBench(options: ServingBenchOptions = {}): Promise<ServingBenchResult> {
  const patients = options.patients ?? 1_000
  const rate = options.rate ?? 1
  const seconds = options.seconds ?? 20
  const subscribed = Math.min(options.subscribed ?? 6, patients)
  const id = `bench-${randomUUID().slice(0, 8)}`
  const token = `bench-token-${randomUUID()}`
  const base = loadConfig({ redisPrefix: `${id}:`, topicPrefix: `${id}.`, logLevel: 'warn' })
  const port = await freePort()
  const keys = redisKeys(base.redisPrefix)
  const redis = await connectRedis(base)
  const ids = Array.from({ length: patients }, (_, i) => `p-${String(i).padStart(4, '0')}`)
  let child: ChildProcess | undefined
  let socket: ReturnType<typeof connect> | undefined
  try {
    child = spawn(process.execPath, ['bin/vigil.js', 'serve', '--port', String(port)], {
      env: childEnv({ VIGIL_TOKEN: token, VIGIL_REDIS_PREFIX: base.redisPrefix, VIGIL_TOPIC_PREFIX: base.topicPrefix, VIGIL_LOG_LEVEL: 'warn' }),
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const pid = child.pid as number
    // `vigil serve` prints the dashboard URL once it listens.
    await new Promise<void>((resolve, reject) => {
      child?.stdout?.on('data', (d: Buffer) => d.toString().includes('Dashboard:') && resolve())
      child?.once('exit', (code) => reject(new Error(`vigil serve exited with ${code}`)))
    })
    socket = connect(`http://127.0.0.1:${port}`, { transports: ['websocket'], extraHeaders: { authorization: `Bearer ${token}` } })
    await new Promise<Snapshot>((resolve) => socket?.once('snapshot', resolve))
    for (const p of ids.slice(0, subscribed)) await socket.emitWithAck('subscribe', { patientId: p })

    let measuring = false
    const delays: number[] = []
    const seriesDelays: number[] = []
    let pushes = 0
    socket.on('reading', (push: ReadingPush) => {
      if (!measuring) return
      const now = Date.now()
      pushes++
      for (const p of push.patients) delays.push(now - p.ts)
      for (const s of push.series) for (const e of s.entries) seriesDelays.push(now - e.ts)
    })

    // Publisher: every tick one slice of the patients, one reading each, in one pipeline.
    const tickMs = 100
    const perTick = Math.max(1, Math.round((patients * rate * tickMs) / 1000))
    let cursor = 0
    let seq = 0
    let published = 0
    const publishTick = async () => {
      const m = redis.multi()
      const now = Date.now()
      for (let i = 0; i < perTick; i++) {
        const patientId = ids[cursor] as string
        cursor = (cursor + 1) % ids.length
        const { patient, entry } = stateOf({
          patientId,
          ts: now,
          seq: seq++,
          vitals: { heartRate: 60 + (seq % 40), spo2: 95 + (seq % 5), respRate: 12 + (seq % 8) },
        })
        m.publish(keys.updates, JSON.stringify({ type: 'readings', patient, entries: [entry] } satisfies Update))
      }
      await m.execAsPipeline()
      published += perTick
    }
    const runFor = async (ms: number) => {
      const end = Date.now() + ms
      let next = Date.now()
      while (Date.now() < end) {
        await publishTick()
        next += tickMs
        const wait = next - Date.now()
        if (wait > 0) await sleep(wait)
      }
    }

    await runFor(3_000)
    measuring = true
    published = 0
    const cpu0 = await cpuSeconds(pid)
    const t0 = Date.now()
    await runFor(seconds * 1000)
    const elapsed = (Date.now() - t0) / 1000
    const cpu1 = await cpuSeconds(pid)
    const rss = await rssMb(pid)
    measuring = false
    delays.sort((a, b) => a - b)
    seriesDelays.sort((a, b) => a - b)
    return {
      patients,
      rateHz: rate,
      seconds: Math.round(elapsed * 10) / 10,
      updatesPerSecond: Math.round(published / elapsed),
      servingCpuPercent: Math.round(((cpu1 - cpu0) / elapsed) * 1000) / 10,
      servingRssMb: rss,
      pushesPerSecond: Math.round((pushes / elapsed) * 10) / 10,
      samples: delays.length,
      p50Ms: quantile(delays, 0.5),
      p99Ms: quantile(delays, 0.99),
      maxMs: delays.at(-1) ?? NaN,
      seriesSamples: seriesDelays.length,
      seriesP99Ms: quantile(seriesDelays, 0.99),
    }
  } finally {
    socket?.disconnect()
    if (child !== undefined && child.exitCode === null) {
      child.kill('SIGTERM')
      await once(child, 'exit')
    }
    await deleteKeys(redis, keys.everything)
    redis.destroy()
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { patients: { type: 'string' }, rate: { type: 'string' }, seconds: { type: 'string' } } })
  const result = await runServingBench({
    patients: values.patients === undefined ? undefined : Number(values.patients),
    rate: values.rate === undefined ? undefined : Number(values.rate),
    seconds: values.seconds === undefined ? undefined : Number(values.seconds),
  })
  console.table([result])
  console.log(JSON.stringify(result))
}
