/**
 * The chaos suite's own Kafka broker and Redis (state in a temporary folder, other loopback
 * ports) and the layers it runs as child processes (`node bin/vigil.js speed | archive | all`),
 * so that it can kill and restart any of them without touching the shared services.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { openSync, closeSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { once } from 'node:events'
import type { Config } from '../../lib/config.ts'
import { PROJECT_ROOT } from '../../stack/paths.ts'
import { down, status, up } from '../../stack/index.ts'

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
      this.#exited = once(child, 'exit').then(([code]) => {
        if (this.#child === child) this.#child = undefined
        this.#cpuPastMs += this.#cpuNowMs
        this.#cpuNowMs = 0
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
    child.kill('SIGKILL')
    await this.#exited
    this.kills++
  }

  /** SIGTERM and wait for the exit; returns the exit code and how long the shutdown took. */
  async terminate(timeoutMs = 30_000): Promise<{ code: number | null; ms: number }> {
    const child = this.#child
    if (child === undefined) return { code: null, ms: 0 }
    const t0 = Date.now()
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
    this.#child?.kill('SIGKILL')
  }
}
