/**
 * The chaos suite's own Kafka broker and Redis (state in a temporary folder, other loopback
 * ports), the scale run's Kafka cluster and Redis, and the layers both run as child processes
 * (`node bin/vigil.js speed | archive | all`), so that they can kill and restart any of them
 * without touching the shared services.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { openSync, closeSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { once } from 'node:events'
import type { Config } from '../../lib/config.ts'
import { PROJECT_ROOT } from '../../stack/paths.ts'
import { down, status, up } from '../../stack/index.ts'
import { startNode, stopNode } from '../../stack/kafka-cluster.ts'
import { stackPaths } from '../../stack/paths.ts'

/** Linux's USER_HZ: /proc reports CPU time in these ticks. */
const CLOCK_TICKS = 100

export interface PrivateStack {
  dir: string
  startBroker(): Promise<number>
  stopBroker(): Promise<number>
  /** Stops Redis and starts it again: it keeps no snapshot, so it comes back empty. */
  restartRedis(): Promise<number>
  stopAll(): Promise<void>
}

/**
 * Starts a broker and a Redis for `config`, state in `dir`. Their ports must be free: a service
 * already answering there (a chaos run's Redis left behind) would be reused, and the suite could
 * neither kill nor wipe it, so a "Redis restart, empty dataset" would silently keep the view.
 * If starting fails half-way, what was started is stopped again.
 */
export async function startPrivateStack(config: Config, dir: string, log: (line: string) => void): Promise<PrivateStack> {
  // Docker compose has fixed ports and one project: the private stack always runs natively.
  process.env.VIGIL_STACK_NO_DOCKER = '1'
  const busy = (await status(config, { dir })).filter((s) => s.up)
  if (busy.length > 0) {
    const what = busy.map((s) => `${s.service} on ${s.address}`).join(' and ')
    throw new Error(`${what} already answer${busy.length === 1 ? 's' : ''}: stop it (a chaos run left behind?) or pass --kafka-port / --redis-port`)
  }
  try {
    await up(config, log, { dir })
  } catch (error) {
    await down(log, { dir }).catch(() => undefined)
    throw error
  }
  const timed = async (f: () => Promise<unknown>): Promise<number> => {
    const t0 = Date.now()
    await f()
    return Date.now() - t0
  }
  return {
    dir,
    startBroker: () => timed(() => up(config, log, { dir, only: 'kafka' })),
    stopBroker: () => timed(() => down(log, { dir, only: 'kafka' })),
    restartRedis: () =>
      timed(async () => {
        await down(log, { dir, only: 'redis' })
        await up(config, log, { dir, only: 'redis' })
      }),
    stopAll: async () => {
      await down(log, { dir })
    },
  }
}

/** The scale run's stack: a Kafka cluster of several brokers and a Redis, each of which can be stopped and started. */
export interface PrivateCluster {
  dir: string
  /** kill -9 of broker `id` (1..N): no controlled shutdown. Returns ms until it was gone. */
  killBroker(id: number): Promise<number>
  /** A controlled shutdown of broker `id` (SIGTERM: its leaderships move first). Returns ms until it was gone. */
  stopBroker(id: number): Promise<number>
  /** Starts broker `id` again; resolves (ms) once the cluster lists it. */
  startBroker(id: number): Promise<number>
  /** Stops Redis and starts it again: it keeps no snapshot, so it comes back empty. */
  restartRedis(): Promise<number>
  stopAll(): Promise<void>
}

/**
 * Starts a cluster of `brokers` brokers at `config.kafkaBrokers` (`vigil stack up --kafka-nodes`)
 * and a Redis for `config`, state in `dir`; refuses ports that already answer, as
 * startPrivateStack does, and stops what it started if starting fails half-way.
 */
export async function startPrivateCluster(config: Config, dir: string, brokers: number, log: (line: string) => void): Promise<PrivateCluster> {
  process.env.VIGIL_STACK_NO_DOCKER = '1'
  const busy = (await status(config, { dir })).filter((s) => s.up)
  if (busy.length > 0) {
    const what = busy.map((s) => `${s.service} on ${s.address}`).join(' and ')
    throw new Error(`${what} already answer${busy.length === 1 ? 's' : ''}: stop it (a scale run left behind?) or pass --kafka-port / --redis-port`)
  }
  try {
    await up(config, log, { dir, kafkaNodes: brokers })
  } catch (error) {
    await down(log, { dir }).catch(() => undefined)
    throw error
  }
  const S = stackPaths(dir)
  return {
    dir,
    killBroker: (id) => stopNode(S, id, 'kill'),
    stopBroker: (id) => stopNode(S, id, 'term'),
    startBroker: (id) => startNode(S, id),
    restartRedis: async () => {
      const t0 = Date.now()
      await down(log, { dir, only: 'redis' })
      await up(config, log, { dir, only: 'redis' })
      return Date.now() - t0
    },
    stopAll: async () => {
      await down(log, { dir })
    },
  }
}

/** The environment a child layer reads its configuration from (lib/config.ts). */
export function childEnv(config: Config, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    VIGIL_KAFKA_BROKERS: config.kafkaBrokers.join(','),
    VIGIL_REDIS_URL: config.redisUrl,
    VIGIL_DATALAKE_DIR: config.datalakeDir,
    VIGIL_TOPIC_PREFIX: config.topicPrefix,
    VIGIL_REDIS_PREFIX: config.redisPrefix,
    VIGIL_LOG_LEVEL: 'warn',
    ...extra,
  }
}

/** One layer as a child process that can be killed and started again; its output goes to a log file. */
export class Layer {
  #child: ChildProcess | undefined
  #exited: Promise<number | null> | undefined
  starts = 0
  kills = 0
  /** CPU time of past runs (ms), from /proc samples; the current run's latest sample is added by `cpuMs`. */
  #cpuPastMs = 0
  #cpuNowMs = 0
  /** Exit codes of runs that ended on their own or on SIGTERM (not kill -9). */
  readonly exits: (number | null)[] = []
  /** Runs that ended on their own (neither kill9 nor terminate asked for it): when, how, and the log's first error line. */
  readonly crashes: Array<{ at: number; code: number | null; signal: NodeJS.Signals | null; why: string }> = []
  /** Set while kill9 or terminate stops the process: its exit is not a crash. */
  #stopping = false
  /**
   * A supervisor's restart (the scale run's): called after a crash with the layer, which it may
   * start again. The chaos run leaves it unset: a layer that ended on its own stays down.
   */
  onCrash: ((layer: Layer) => void) | undefined

  constructor(
    readonly name: string,
    private readonly args: string[],
    private readonly env: NodeJS.ProcessEnv,
    private readonly logFile: string,
  ) {}

  get pid(): number | undefined {
    return this.#child?.pid
  }

  get running(): boolean {
    return this.#child !== undefined
  }

  start(): void {
    if (this.#child !== undefined) return
    const fd = openSync(this.logFile, 'a')
    try {
      const child = spawn(process.execPath, [path.join(PROJECT_ROOT, 'bin', 'vigil.js'), ...this.args], {
        cwd: PROJECT_ROOT,
        env: this.env,
        stdio: ['ignore', fd, fd],
      })
      this.#child = child
      this.#cpuNowMs = 0
      this.#stopping = false
      this.#exited = once(child, 'exit').then(([code, signal]) => {
        if (this.#child === child) this.#child = undefined
        this.#cpuPastMs += this.#cpuNowMs
        this.#cpuNowMs = 0
        if (!this.#stopping) {
          this.crashes.push({ at: Date.now(), code: code as number | null, signal: signal as NodeJS.Signals | null, why: firstError(this.logFile) })
          this.onCrash?.(this)
        }
        return code as number | null
      })
    } finally {
      closeSync(fd)
    }
    this.starts++
  }

  /** kill -9: no shutdown hook runs, buffers and uncommitted work are lost. */
  async kill9(): Promise<void> {
    const child = this.#child
    if (child === undefined) return
    this.#stopping = true
    child.kill('SIGKILL')
    await this.#exited
    this.kills++
  }

  /** SIGTERM and wait for the exit; returns the exit code and how long the shutdown took. */
  async terminate(timeoutMs = 30_000): Promise<{ code: number | null; ms: number }> {
    const child = this.#child
    if (child === undefined) return { code: null, ms: 0 }
    const t0 = Date.now()
    this.#stopping = true
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    const code = await this.#exited
    clearTimeout(timer)
    this.exits.push(code ?? null)
    return { code: code ?? null, ms: Date.now() - t0 }
  }

  /** Reads the child's CPU time (user + system) from /proc; call it every second or so. */
  sampleCpu(): void {
    const pid = this.#child?.pid
    if (pid === undefined) return
    try {
      // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      this.#cpuNowMs = ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS
    } catch {
      // Gone between the check and the read, or no /proc: the figure is then a lower bound.
    }
  }

  get cpuMs(): number {
    return this.#cpuPastMs + this.#cpuNowMs
  }

  /** Best effort, for cleanup: SIGKILL without waiting long. */
  forceStop(): void {
    this.#stopping = true
    this.#child?.kill('SIGKILL')
  }
}

/** The last error a layer's log holds (an uncaught exception's first line and where it was thrown), for a crash report. */
function firstError(logFile: string): string {
  try {
    const lines = readFileSync(logFile, 'utf8').trimEnd().split('\n')
    const at = lines.findLastIndex((l) => /^\w*Error\b|^\w+Error:|"level":(50|60)/.test(l))
    if (at < 0) return lines.at(-1)?.slice(0, 200) ?? ''
    const where = lines
      .slice(at + 1)
      .find((l) => /^\s+at /.test(l))
      ?.trim()
    return `${lines[at]!.slice(0, 200)}${where === undefined ? '' : ` ${where.slice(0, 160)}`}`
  } catch {
    return ''
  }
}
