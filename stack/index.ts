/**
 * `vigil stack up | down | status`: a real Apache Kafka broker (KRaft) and a real Redis server
 * wherever Vigil runs. Order of preference for each service: what already answers on its
 * address; else `docker compose` when a Docker engine answers; else native processes (Kafka from
 * Maven Central jars, `redis-server` from PATH), with their files under `.stack/`.
 */
import { existsSync } from 'node:fs'
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { loadSetting, type Config } from '../lib/config.ts'
import { VigilError } from '../lib/errors.ts'
import { kafkaAnswers } from '../lib/kafka.ts'
import { redisAnswers } from '../lib/redis.ts'
import { pollUntil } from '../lib/backoff.ts'
import * as P from './paths.ts'
import { stackPaths } from './paths.ts'
import { livePid, run, spawnDetached, stopPid, tail, isAlive } from './process.ts'
import { ensurePrerequisites, JAVA, REDIS } from './prerequisites.ts'
import { brokerFailureReason, ensureKafkaLibs, formatStorage, kafkaJvmArgs, kafkaVersion, kraftClusterId, lastLine } from './kafka-runtime.ts'

export { kraftClusterId } from './kafka-runtime.ts'

export type ServiceName = 'kafka' | 'redis'
export type Owner = 'native' | 'docker' | 'external'

export interface ServiceStatus {
  service: ServiceName
  address: string
  up: boolean
  /** Who runs it: Vigil's native process, Vigil's docker compose, or someone else. */
  owner?: Owner
  pid?: number
}

export interface UpResult extends ServiceStatus {
  action: 'reused' | 'started'
  ms: number
}

type Log = (line: string) => void

export interface StackOptions {
  /** State folder of the stack (pid files, logs, Kafka's data). @defaultValue `.stack/` at the project root */
  dir?: string
}

const KAFKA_MARKER = 'kafka.Kafka'
const REDIS_MARKER = 'redis-server'
const KAFKA_READY_TIMEOUT_MS = 90_000
const REDIS_READY_TIMEOUT_MS = 15_000

function kafkaAddress(config: Pick<Config, 'kafkaBrokers'>): { host: string; port: number } {
  const first = config.kafkaBrokers[0] ?? '127.0.0.1:9092'
  const i = first.lastIndexOf(':')
  return { host: first.slice(0, i), port: Number(first.slice(i + 1)) }
}

function redisAddress(config: Pick<Config, 'redisUrl'>): { host: string; port: number } {
  const url = new URL(config.redisUrl)
  return { host: url.hostname || '127.0.0.1', port: Number(url.port || 6379) }
}

const isLoopback = (host: string) => host === '127.0.0.1' || host === 'localhost' || host === '::1' || host === '[::1]'

async function dockerEngineAnswers(): Promise<boolean> {
  if (loadSetting('stackNoDocker')) return false
  const r = await run('docker', ['info', '--format', '{{.ServerVersion}}'], { timeoutMs: 5_000 })
  return r.code === 0 && r.stdout.trim().length > 0
}

export async function status(config: Pick<Config, 'kafkaBrokers' | 'redisUrl'>, options: StackOptions = {}): Promise<ServiceStatus[]> {
  const S = stackPaths(options.dir)
  const dockerStarted = existsSync(S.dockerMarker)
  const [kUp, rUp, kPid, rPid] = await Promise.all([
    kafkaAnswers(config),
    redisAnswers(config),
    livePid(S.kafkaPid, KAFKA_MARKER),
    livePid(S.redisPid, REDIS_MARKER),
  ])
  const owner = (up: boolean, pid: number | undefined): Owner | undefined =>
    !up ? undefined : pid !== undefined ? 'native' : dockerStarted ? 'docker' : 'external'
  const k = kafkaAddress(config)
  const r = redisAddress(config)
  return [
    { service: 'kafka', address: `${k.host}:${k.port}`, up: kUp, owner: owner(kUp, kPid), pid: kUp ? kPid : undefined },
    { service: 'redis', address: `${r.host}:${r.port}`, up: rUp, owner: owner(rUp, rPid), pid: rUp ? rPid : undefined },
  ]
}

/** Starts whatever does not answer yet (of `only`, when given); returns what it did for each service. */
export async function up(
  config: Pick<Config, 'kafkaBrokers' | 'redisUrl'>,
  log: Log = () => undefined,
  options: StackOptions & { only?: ServiceName } = {},
): Promise<UpResult[]> {
  const S = stackPaths(options.dir)
  const t0 = Date.now()
  // `only`: the other service is left alone, whether it answers or not.
  const [kUp, rUp] = await Promise.all([options.only === 'redis' || kafkaAnswers(config), options.only === 'kafka' || redisAnswers(config)])
  const results: UpResult[] = []
  const missing: ServiceName[] = []
  if (kUp) {
    if (options.only !== 'redis') results.push({ ...(await statusOf(config, 'kafka', options)), action: 'reused', ms: Date.now() - t0 })
  } else missing.push('kafka')
  if (rUp) {
    if (options.only !== 'kafka') results.push({ ...(await statusOf(config, 'redis', options)), action: 'reused', ms: Date.now() - t0 })
  } else missing.push('redis')
  if (missing.length === 0) return results

  // A separate state folder is always run natively: docker compose has one fixed set of services.
  if (options.dir === undefined && (await dockerEngineAnswers())) {
    log(`starting ${missing.join(' and ')} with docker compose`)
    const r = await run('docker', ['compose', '-f', path.join(P.PROJECT_ROOT, 'docker-compose.yml'), 'up', '-d', '--wait', ...missing], { cwd: P.PROJECT_ROOT })
    if (r.code !== 0) {
      throw new VigilError(
        'STACK_START_FAILED',
        `docker compose could not start ${missing.join(' and ')} (${lastLine(r.stderr)}): fix the Docker engine or stop it so that \`vigil stack up\` runs the services natively.`,
      )
    }
    await mkdir(S.stackDir, { recursive: true })
    await writeFile(S.dockerMarker, `${missing.join('\n')}\n`)
    for (const s of missing) results.push({ ...(await statusOf(config, s, options)), action: 'started', ms: Date.now() - t0 })
    return results
  }

  // Native: Redis first (fast), then Kafka, so a missing Java is reported after Redis is up.
  if (missing.includes('redis')) {
    const started = Date.now()
    const pid = await startRedis(config, log, S)
    const how = pid === undefined ? ({ owner: 'external', action: 'reused' } as const) : ({ owner: 'native', pid, action: 'started' } as const)
    results.push({ service: 'redis', address: fmt(redisAddress(config)), up: true, ...how, ms: Date.now() - started })
  }
  if (missing.includes('kafka')) {
    const started = Date.now()
    const pid = await startKafka(config, log, S)
    results.push({ service: 'kafka', address: fmt(kafkaAddress(config)), up: true, owner: 'native', pid, action: 'started', ms: Date.now() - started })
  }
  return results.sort((a, b) => a.service.localeCompare(b.service))
}

/** Stops only what `up` started: native processes by pid file, docker services by the marker; `only` stops one service. */
export async function down(log: Log = () => undefined, options: StackOptions & { only?: ServiceName } = {}): Promise<string[]> {
  const S = stackPaths(options.dir)
  const stopped: string[] = []
  const kPid = options.only === 'redis' ? undefined : await livePid(S.kafkaPid, KAFKA_MARKER)
  if (kPid !== undefined) {
    log(`stopping Kafka (pid ${kPid})`)
    // A controlled shutdown of the broker moves leadership and flushes logs: give it 30 s.
    const how = await stopPid(kPid, S.kafkaPid, 30_000)
    stopped.push(`kafka (pid ${kPid}, ${how})`)
  }
  const rPid = options.only === 'kafka' ? undefined : await livePid(S.redisPid, REDIS_MARKER)
  if (rPid !== undefined) {
    log(`stopping Redis (pid ${rPid})`)
    const how = await stopPid(rPid, S.redisPid, 10_000)
    stopped.push(`redis (pid ${rPid}, ${how})`)
  }
  if (options.only === undefined && existsSync(S.dockerMarker)) {
    const services = (await readFile(S.dockerMarker, 'utf8')).split('\n').filter(Boolean)
    log(`stopping ${services.join(' and ')} (docker compose)`)
    const r = await run('docker', ['compose', '-f', path.join(P.PROJECT_ROOT, 'docker-compose.yml'), 'stop', ...services], { cwd: P.PROJECT_ROOT })
    if (r.code !== 0)
      throw new VigilError(
        'STACK_START_FAILED',
        `docker compose could not stop ${services.join(' and ')} (${lastLine(r.stderr)}): run \`docker compose down\` in ${P.PROJECT_ROOT}.`,
      )
    await rm(S.dockerMarker, { force: true })
    stopped.push(...services.map((s) => `${s} (docker compose)`))
  }
  return stopped
}

async function statusOf(config: Pick<Config, 'kafkaBrokers' | 'redisUrl'>, service: ServiceName, options: StackOptions): Promise<ServiceStatus> {
  const all = await status(config, options)
  return all.find((s) => s.service === service) as ServiceStatus
}

const fmt = (a: { host: string; port: number }) => `${a.host}:${a.port}`

// ---------------------------------------------------------------------------------------------
// Redis

/** Starts redis-server; undefined when installing it started a system-wide Redis that now answers. */
async function startRedis(config: Pick<Config, 'redisUrl'>, log: Log, S: P.StackPaths): Promise<number | undefined> {
  const { host, port } = redisAddress(config)
  if (!isLoopback(host)) {
    throw new VigilError(
      'STACK_NOT_LOCAL',
      `Redis at ${host}:${port} is not answering and is not on this machine: start it there, or unset VIGIL_REDIS_URL to use a local one.`,
    )
  }
  await ensurePrerequisites([REDIS], log)
  // The Debian package may have started a system-wide Redis on the default port: reuse it.
  if (await redisAnswers(config)) {
    log(`Redis answers on ${host}:${port} now (a service the package started): reusing it`)
    return undefined
  }
  const version = await run('redis-server', ['--version'])
  await mkdir(S.redisDir, { recursive: true })
  log(`starting Redis on 127.0.0.1:${port} (${version.stdout.trim().split(' ').slice(0, 3).join(' ')})`)
  // Redis holds views rebuilt from Kafka, so no snapshots: `--save ""`.
  const pid = spawnDetached(
    'redis-server',
    [
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
      '--dir',
      S.redisDir,
      '--logfile',
      S.redisLog,
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
      '--protected-mode',
      'yes',
    ],
    { cwd: S.redisDir, stdout: 'ignore' },
  )
  await writeFile(S.redisPid, `${pid}\n`)
  try {
    await pollUntil(() => redisAnswers(config, 1_000), {
      giveUpIf: () => (isAlive(pid) ? undefined : 'redis-server exited'),
      timeoutMs: REDIS_READY_TIMEOUT_MS,
      what: 'Redis to answer PING',
    })
  } catch (error) {
    const why = (await tail(S.redisLog, 3)) || (error as Error).message
    throw new VigilError('STACK_START_FAILED', `Redis did not start on 127.0.0.1:${port} (${why.split('\n').pop()}): free the port or see ${S.redisLog}.`, {
      cause: error,
    })
  }
  return pid
}

// ---------------------------------------------------------------------------------------------
// Kafka

/** Writes server.properties and formats the storage once (KRaft needs a cluster id on disk). */
async function ensureKafkaStorage(port: number, log: Log, S: P.StackPaths): Promise<void> {
  const template = await readFile(path.join(P.STACK_SOURCES, 'server.properties'), 'utf8')
  const props = template
    .replaceAll('@LOG_DIRS@', S.kafkaData)
    .replaceAll('@PORT@', String(port))
    .replaceAll('@CONTROLLER_PORT@', String(port + 1))
  await mkdir(S.kafkaDir, { recursive: true })
  await writeFile(S.kafkaProps, props)
  if (existsSync(path.join(S.kafkaData, 'meta.properties'))) return
  log('formatting Kafka storage (once)')
  await formatStorage(S.kafkaProps, kraftClusterId(), S.kafkaDir, 'delete .stack/kafka/data and run `vigil stack up` again')
}

async function startKafka(config: Pick<Config, 'kafkaBrokers'>, log: Log, S: P.StackPaths): Promise<number> {
  const { host, port } = kafkaAddress(config)
  if (!isLoopback(host)) {
    throw new VigilError(
      'STACK_NOT_LOCAL',
      `Kafka at ${host}:${port} is not answering and is not on this machine: start it there, or unset VIGIL_KAFKA_BROKERS to use a local one.`,
    )
  }
  await ensurePrerequisites([JAVA], log)
  await ensureKafkaLibs(log, S)
  await ensureKafkaStorage(port, log, S)
  log(`starting Apache Kafka ${await kafkaVersion()} (KRaft) on 127.0.0.1:${port}`)
  const out = await open(S.kafkaLog, 'a')
  let pid: number
  try {
    pid = spawnDetached('java', [...kafkaJvmArgs(S.kafkaDir), 'kafka.Kafka', S.kafkaProps], { cwd: S.kafkaDir, stdout: out.fd })
  } finally {
    await out.close()
  }
  await writeFile(S.kafkaPid, `${pid}\n`)
  try {
    await pollUntil(() => kafkaAnswers(config, 2_000), {
      giveUpIf: () => (isAlive(pid) ? undefined : 'the broker process exited'),
      timeoutMs: KAFKA_READY_TIMEOUT_MS,
      intervalMs: 250,
      what: 'the Kafka broker to answer',
    })
  } catch (error) {
    const why = await brokerFailureReason(S.kafkaLog, (error as Error).message)
    throw new VigilError('STACK_START_FAILED', `Kafka did not start on 127.0.0.1:${port} (${why}): free ports ${port}-${port + 1} or see ${S.kafkaLog}.`, {
      cause: error,
    })
  }
  return pid
}
