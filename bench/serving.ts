/**
 * The serving layer's benchmark, against the real Redis, with `vigil serve` running as its own
 * process as users run it. The view holds N patients; D dashboards (real Socket.io clients, each
 * its own connection, each subscribed to one patient's room as a page with a patient open is)
 * connect at once. Then, every 100 ms, one `readings` update holding one tenth of the patients
 * (one reading each) is published on the updates channel, as the speed layer publishes a batch.
 *
 * Measured: the delay from publish (a reading's event time is its publish time) to the `reading`
 * event, for the grid's states (at the first dashboard) and for the series entries of each
 * dashboard's patient (at every dashboard); whether each reading reached its room's dashboards
 * exactly once (after the run, one last reading per room tells when every push is in); the
 * serving process's CPU over the measured interval and its RSS from /proc (Linux): when idle,
 * at its peak (VmHWM: connections and snapshots included) and at the end.
 *
 *   npx tsx bench/serving.ts [--patients 1000] [--rate 1] [--seconds 20] [--dashboards 200]
 *                            [--serving-node-options=--max-old-space-size=192]
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import os from 'node:os'
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { io as connect, type Socket } from 'socket.io-client'
import { childEnv, loadConfig } from '../lib/config.ts'
import { connectRedis, deleteKeys } from '../lib/redis.ts'
import { redisKeys } from '../lib/contract/keys.ts'
import { encodeUpdate } from '../lib/contract/codecs/updates.ts'
import { pollUntil } from '../lib/backoff.ts'
import type { PatientReadings } from '../lib/contract/views.ts'
import type { ClientToServerEvents, ReadingPush, ServerToClientEvents, Snapshot } from '../serving/events.ts'
import { writeReadings } from '../serving/state-fixtures.ts'
import { freePort, stateOf } from '../test/view-fixtures.ts'

type Dashboard = Socket<ServerToClientEvents, ClientToServerEvents>

export interface ServingBenchOptions {
  /** Distinct patients, all in the view. @defaultValue 1 000 */
  patients?: number
  /** Readings per patient per second. @defaultValue 1 */
  rate?: number
  /** Measured duration, seconds (after a 3 s warm-up). @defaultValue 20 */
  seconds?: number
  /** Connected dashboards, each subscribed to one patient's room (distinct rooms while there are patients enough). @defaultValue 200 */
  dashboards?: number
  /** NODE_OPTIONS of the serving process (e.g. `--max-old-space-size=192`, to tell live memory from garbage not yet collected). @defaultValue none */
  servingNodeOptions?: string
}

export interface ServingBenchResult {
  patients: number
  rateHz: number
  dashboards: number
  seconds: number
  /** Readings published per second (one update per 100 ms holds a tenth of them). */
  updatesPerSecond: number
  /** Serving process CPU over the measured interval, percent of one core. */
  servingCpuPercent: number
  /** This process's CPU (the dashboards and the publisher) over the measured interval, percent of one core. */
  benchCpuPercent: number
  /** Serving process RSS once listening, before any dashboard, MB. */
  servingIdleRssMb: number
  /** Serving process peak RSS over its life (VmHWM), MB: the 200 connections and snapshots included. */
  servingPeakRssMb: number
  /** Serving process RSS at the end of the measured interval, MB. */
  servingRssMb: number
  /** Highest RSS sampled (every 250 ms) in each phase, MB: the dashboards connecting, the warm-up, the measured interval. */
  servingRssPeakByPhaseMb: { connect: number; warmUp: number; measured: number }
  /** `reading` events received per second per dashboard (coalesced). */
  pushesPerSecond: number
  /** `reading` events the server sent per second per dashboard (its `vigil_serving_pushes_total`): more than received when the dashboards fall behind. */
  serverPushesPerSecond: number | null
  /** Grid states received by the first dashboard, and their delay from publish. */
  samples: number
  p50Ms: number
  p99Ms: number
  maxMs: number
  /** Series entries of their room's patient received by the dashboards, and their delay from publish. */
  seriesSamples: number
  seriesP50Ms: number
  seriesP99Ms: number
  /** Readings owed to dashboards (each reading of a room's patient, once per dashboard in the room), from the first update on. */
  roomReadingsOwed: number
  /** Of those, received more than once (the extra copies) and never received. */
  duplicates: number
  missing: number
  /** Series entries a dashboard received for a patient other than its room's. */
  foreign: number
  /** Pushes the server skipped for a client too far behind (`vigil_serving_slow_client_skips_total`). */
  slowClientSkips: number | null
  loadAvg: number[]
}

/** utime + stime of a process, in seconds (Linux /proc). */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the command name, in clock ticks (100/s on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** A memory field of /proc/<pid>/status (VmRSS: now, VmHWM: peak), MB. */
async function statusMb(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0)
  return Math.round(kb / 1024)
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number
}

/**
 * Dashboards connecting together. Each connection's snapshot reads every patient (1,000 HGETALL):
 * 200 at once queue 200,000 commands, and on a loaded 2-core machine most of them passed
 * node-redis's 5 s command timeout (127 of 200 snapshots failed, load 5), so they open as pages
 * do over a shift, a few at a time.
 */
const CONNECTING_TOGETHER = 20

/** How long a dashboard waits for its snapshot. */
const SNAPSHOT_TIMEOUT_MS = 30_000

/** What one dashboard received of its room's patient: how many times each seq, and entries of other patients. */
interface Received {
  patientId: string
  seqs: Map<number, number>
  foreign: number
  pushes: number
}

async function openDashboard(
  url: string,
  token: string,
  patientId: string,
  onPush: (push: ReadingPush, got: Received) => void,
): Promise<[Dashboard, Received]> {
  const socket: Dashboard = connect(url, { transports: ['websocket'], extraHeaders: { authorization: `Bearer ${token}` }, forceNew: true, reconnection: false })
  const got: Received = { patientId, seqs: new Map(), foreign: 0, pushes: 0 }
  socket.on('reading', (push) => onPush(push, got))
  try {
    await new Promise<Snapshot>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no snapshot within ${SNAPSHOT_TIMEOUT_MS} ms`)), SNAPSHOT_TIMEOUT_MS)
      socket.once('snapshot', (snapshot) => {
        clearTimeout(timer)
        resolve(snapshot)
      })
      socket.once('connect_error', (error) => {
        clearTimeout(timer)
        reject(error)
      })
    })
    const ack = await socket.emitWithAck('subscribe', { patientId })
    if (!ack.ok) throw new Error(`subscribe ${patientId}: ${ack.error}`)
  } catch (error) {
    socket.disconnect()
    throw error
  }
  return [socket, got]
}

/** A counter of the serving process's /metrics (the first series whose name and labels start so), or null. */
async function servingCounter(url: string, token: string, series: string): Promise<number | null> {
  try {
    const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text()
    const line = text.split('\n').find((l) => l.startsWith(series))
    return line === undefined ? null : Number(line.slice(line.lastIndexOf(' ') + 1))
  } catch {
    return null
  }
}

const SLOW_CLIENT_SKIPS = 'vigil_serving_slow_client_skips_total'
const READING_PUSHES = 'vigil_serving_pushes_total{event="reading"}'

export async function runServingBench(options: ServingBenchOptions = {}): Promise<ServingBenchResult> {
  const patients = options.patients ?? 1_000
  const rate = options.rate ?? 1
  const seconds = options.seconds ?? 20
  const dashboards = options.dashboards ?? 200
  const id = `bench-${randomUUID().slice(0, 8)}`
  const token = `bench-token-${randomUUID()}`
  const base = loadConfig({ redisPrefix: `${id}:`, topicPrefix: `${id}.`, logLevel: 'warn' })
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const keys = redisKeys(base.redisPrefix)
  const redis = await connectRedis(base)
  const ids = Array.from({ length: patients }, (_, i) => `p-${String(i).padStart(5, '0')}`)
  let child: ChildProcess | undefined
  let rssTimer: NodeJS.Timeout | undefined
  const sockets: Dashboard[] = []
  try {
    // The view the snapshots are read from: every patient with one reading.
    const t0 = Date.now()
    for (let i = 0; i < ids.length; i += 100) {
      await Promise.all(
        ids
          .slice(i, i + 100)
          .map((patientId, k) =>
            writeReadings(redis, keys, [{ patientId, ts: t0, seq: -1, vitals: { heartRate: 60 + (k % 40), spo2: 97, respRate: 14 } }], { publish: false }),
          ),
      )
    }
    child = spawn(process.execPath, ['bin/vigil.js', 'serve', '--port', String(port)], {
      env: childEnv({
        VIGIL_TOKEN: token,
        VIGIL_REDIS_PREFIX: base.redisPrefix,
        VIGIL_TOPIC_PREFIX: base.topicPrefix,
        VIGIL_LOG_LEVEL: 'warn',
        ...(options.servingNodeOptions === undefined ? {} : { NODE_OPTIONS: options.servingNodeOptions }),
      }),
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const pid = child.pid as number
    // `vigil serve` prints the dashboard URL once it listens.
    await new Promise<void>((resolve, reject) => {
      child?.stdout?.on('data', (d: Buffer) => d.toString().includes('Dashboard:') && resolve())
      child?.once('exit', (code) => reject(new Error(`vigil serve exited with ${code}`)))
    })
    const idleRss = await statusMb(pid, 'VmRSS')
    const phases = { connect: 0, warmUp: 0, measured: 0 }
    let phase: keyof typeof phases = 'connect'
    rssTimer = setInterval(() => {
      statusMb(pid, 'VmRSS').then(
        (mb) => {
          phases[phase] = Math.max(phases[phase], mb)
        },
        () => undefined,
      )
    }, 250)

    let measuring = false
    const delays: number[] = []
    const seriesDelays: number[] = []
    const onPush = (push: ReadingPush, got: Received) => {
      const now = Date.now()
      got.pushes++
      for (const s of push.series) {
        if (s.patientId !== got.patientId) {
          got.foreign += s.entries.length
          continue
        }
        for (const e of s.entries) {
          got.seqs.set(e.seq, (got.seqs.get(e.seq) ?? 0) + 1)
          if (measuring) seriesDelays.push(now - e.ts)
        }
      }
    }
    const rooms = Array.from({ length: dashboards }, (_, i) => ids[Math.floor((i * patients) / dashboards) % patients] as string)
    const received: Received[] = []
    for (let i = 0; i < rooms.length; i += CONNECTING_TOGETHER) {
      const opened = await Promise.all(
        rooms.slice(i, i + CONNECTING_TOGETHER).map((room, k) =>
          openDashboard(url, token, room, (push, got) => {
            onPush(push, got)
            if (i + k === 0 && measuring) for (const p of push.patients) delays.push(Date.now() - p.ts)
          }),
        ),
      )
      for (const [socket, got] of opened) {
        sockets.push(socket)
        received.push(got)
      }
    }

    // Publisher: every tick one slice of the patients, one reading each, in one update.
    const tickMs = 100
    const perTick = Math.max(1, Math.round((patients * rate * tickMs) / 1000))
    const published = new Map<string, number[]>()
    let cursor = 0
    let seq = 0
    let readingsPublished = 0
    const publish = async (patientIds: readonly string[]) => {
      const now = Date.now()
      const parts: PatientReadings[] = patientIds.map((patientId) => {
        const s = seq++
        const { patient, entry } = stateOf({ patientId, ts: now, seq: s, vitals: { heartRate: 60 + (s % 40), spo2: 95 + (s % 5), respRate: 12 + (s % 8) } })
        published.set(patientId, [...(published.get(patientId) ?? []), s])
        return { patient, entries: [entry] }
      })
      await redis.publish(keys.updates, encodeUpdate({ type: 'readings', patients: parts }))
      readingsPublished += parts.length
    }
    const runFor = async (ms: number) => {
      const end = Date.now() + ms
      let next = Date.now()
      while (Date.now() < end) {
        const slice = Array.from({ length: perTick }, () => {
          const p = ids[cursor] as string
          cursor = (cursor + 1) % ids.length
          return p
        })
        await publish(slice)
        next += tickMs
        const wait = next - Date.now()
        if (wait > 0) await sleep(wait)
      }
    }

    phase = 'warmUp'
    await runFor(3_000)
    phase = 'measured'
    measuring = true
    readingsPublished = 0
    const pushesBefore = received.reduce((n, r) => n + r.pushes, 0)
    const serverPushes0 = await servingCounter(url, token, READING_PUSHES)
    const cpu0 = await cpuSeconds(pid)
    const benchCpu0 = process.cpuUsage()
    const start = Date.now()
    await runFor(seconds * 1000)
    const elapsed = (Date.now() - start) / 1000
    const cpu1 = await cpuSeconds(pid)
    const benchCpu = process.cpuUsage(benchCpu0)
    const rss = await statusMb(pid, 'VmRSS')
    clearInterval(rssTimer)
    measuring = false
    const pushes = received.reduce((n, r) => n + r.pushes, 0) - pushesBefore
    const serverPushes1 = await servingCounter(url, token, READING_PUSHES)
    const serverPushes = serverPushes0 === null || serverPushes1 === null ? null : serverPushes1 - serverPushes0

    // One last reading per room: pushes reach a client in order, so once it has its room's, it has every earlier one.
    const roomIds = [...new Set(rooms)]
    const lastSeq = new Map(roomIds.map((room, i) => [room, seq + i]))
    await publish(roomIds)
    await pollUntil(async () => received.every((r) => r.seqs.has(lastSeq.get(r.patientId)!)), {
      timeoutMs: 15_000,
      intervalMs: 50,
      what: 'every dashboard to receive its room’s last reading',
    }).catch(() => undefined)
    let owed = 0
    let duplicates = 0
    let missing = 0
    for (const r of received) {
      for (const s of published.get(r.patientId) ?? []) {
        owed++
        const n = r.seqs.get(s) ?? 0
        if (n === 0) missing++
        else duplicates += n - 1
      }
    }
    const peakRss = await statusMb(pid, 'VmHWM')
    delays.sort((a, b) => a - b)
    seriesDelays.sort((a, b) => a - b)
    return {
      patients,
      rateHz: rate,
      dashboards,
      seconds: Math.round(elapsed * 10) / 10,
      updatesPerSecond: Math.round(readingsPublished / elapsed),
      servingCpuPercent: Math.round(((cpu1 - cpu0) / elapsed) * 1000) / 10,
      benchCpuPercent: Math.round(((benchCpu.user + benchCpu.system) / 1e6 / elapsed) * 1000) / 10,
      servingIdleRssMb: idleRss,
      servingPeakRssMb: peakRss,
      servingRssMb: rss,
      servingRssPeakByPhaseMb: phases,
      pushesPerSecond: Math.round((pushes / dashboards / elapsed) * 10) / 10,
      samples: delays.length,
      p50Ms: quantile(delays, 0.5),
      p99Ms: quantile(delays, 0.99),
      maxMs: delays.at(-1) ?? NaN,
      seriesSamples: seriesDelays.length,
      seriesP50Ms: quantile(seriesDelays, 0.5),
      seriesP99Ms: quantile(seriesDelays, 0.99),
      roomReadingsOwed: owed,
      duplicates,
      missing,
      foreign: received.reduce((n, r) => n + r.foreign, 0),
      serverPushesPerSecond: serverPushes === null ? null : Math.round((serverPushes / dashboards / elapsed) * 10) / 10,
      slowClientSkips: await servingCounter(url, token, SLOW_CLIENT_SKIPS),
      loadAvg: os.loadavg().map((x) => Math.round(x * 100) / 100),
    }
  } finally {
    clearInterval(rssTimer)
    for (const s of sockets) s.disconnect()
    if (child !== undefined && child.exitCode === null) {
      child.kill('SIGTERM')
      await once(child, 'exit')
    }
    await deleteKeys(redis, keys.everything)
    redis.destroy()
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      patients: { type: 'string' },
      rate: { type: 'string' },
      seconds: { type: 'string' },
      dashboards: { type: 'string' },
      'serving-node-options': { type: 'string' },
    },
  })
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v))
  const result = await runServingBench({
    patients: num(values.patients),
    rate: num(values.rate),
    seconds: num(values.seconds),
    dashboards: num(values.dashboards),
    servingNodeOptions: values['serving-node-options'],
  })
  console.table([result])
  console.log(JSON.stringify(result))
}
