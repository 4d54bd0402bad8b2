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
import { redisAnswers, redisSeeds } from '../lib/redis.ts'
import { pollUntil } from '../lib/backoff.ts'
import * as P from './paths.ts'
import { stackPaths } from './paths.ts'
import { livePid, run, spawnDetached, stopPid, tail, isAlive } from './process.ts'
import { ensurePrerequisites, JAVA, REDIS } from './prerequisites.ts'
import { downRedisCluster, redisClusterStatus } from './redis-cluster.ts'
import { brokerFailureReason, ensureKafkaLibs, formatStorage, kafkaJvmArgs, kafkaVersion, kraftClusterId, lastLine } from './kafka-runtime.ts'
import {
  bootstrapList,
  clusterLayout,
  kafkaClusterRuns,
  kafkaClusterStatus,
  listedBrokers,
  readClusterLayout,
  startKafkaCluster,
  stopKafkaCluster,
  type ClusterLayout,
  type ControllerMode,
} from './kafka-cluster.ts'

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

/** `vigil stack up --kafka-nodes N [--kafka-controllers M]`: a cluster of N brokers (stack/kafka-cluster.ts). */
export interface KafkaClusterOptions {
  /** Brokers to run; above 1, a KRaft cluster. @defaultValue 1 (one combined broker + controller) */
  kafkaNodes?: number
  /** Where the controller quorum runs in a cluster. @defaultValue `combined` */
  kafkaControllers?: ControllerMode
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

/** The Redis of the config; of a Redis Cluster named by several nodes, the first (lib/redis.ts redisSeeds). */
function redisAddress(config: Pick<Config, 'redisUrl'>): { host: string; port: number } {
  const url = new URL(redisSeeds(config.redisUrl)[0] ?? config.redisUrl)
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
  const cluster = await kafkaClusterRows(S)
  const redisCluster = await redisClusterRows(options)
  return [
    ...(cluster !== undefined && kPid === undefined
      ? []
      : [{ service: 'kafka', address: `${k.host}:${k.port}`, up: kUp, owner: owner(kUp, kPid), pid: kUp ? kPid : undefined } as const]),
    ...(cluster ?? []),
    // A Redis Cluster vigil started that the config names is shown by its nodes' rows.
    ...(redisCluster.some((row) => row.address.startsWith(`${r.host}:${r.port} `))
      ? []
      : [{ service: 'redis', address: `${r.host}:${r.port}`, up: rUp, owner: owner(rUp, rPid), pid: rUp ? rPid : undefined } as const]),
    ...redisCluster,
  ]
}

/** Starts whatever does not answer yet (of `only`, when given); returns what it did for each service. */
export async function up(
  config: Pick<Config, 'kafkaBrokers' | 'redisUrl'>,
  log: Log = () => undefined,
  options: StackOptions & KafkaClusterOptions & { only?: ServiceName } = {},
): Promise<UpResult[]> {
  const cluster = options.only === 'redis' ? undefined : await clusterAskedFor(config, options)
  if (cluster !== undefined) return upWithKafkaCluster(config, log, { ...options, ...cluster })
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
  if (options.only !== 'redis') stopped.push(...(await stopKafkaCluster(S, log)))
  if (options.only !== 'kafka') stopped.push(...(await downRedisCluster(log, options)))
  const rPid = options.only === 'kafka' ? undefined : await livePid(S.redisPid, REDIS_MARKER)
  if (rPid !== undefined) {
    log(`stopping Redis (pid ${rPid})`)
    const how = await stopPid(rPid, S.redisPid, 10_000)
    stopped.push(`redis (pid ${rPid}, ${how})`)
  }
  if (options.only === undefined && existsSync(S.dockerMarker)) {
    const services = (await readFile(S.dockerMarker, 'utf8')).split('\n').filter(Boolean)
    log(`stopping ${services.join(' and ')} (docker compose)`)
    const r = await run('docker', ['compose', '-f', path.join(P.PROJECT_ROOT, 'docker-compose.yml'), ...composeProfiles(services), 'stop', ...services], {
      cwd: P.PROJECT_ROOT,
    })
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

/** One row per node of the Redis Cluster vigil started (stack/redis-cluster.ts); none when it started none. */
async function redisClusterRows(options: StackOptions): Promise<ServiceStatus[]> {
  const cluster = await redisClusterStatus(options)
  return (cluster?.nodes ?? []).map((n) => ({
    service: 'redis',
    address: `127.0.0.1:${n.port} (cluster ${n.role ?? 'node'})`,
    up: n.up,
    ...(n.up ? { owner: n.pid === undefined ? 'external' : 'native', pid: n.pid } : {}),
  }))
}

/** Starts redis-server; undefined when installing it started a system-wide Redis that now answers. */
async function startRedis(config: Pick<Config, 'redisUrl'>, log: Log, S: P.StackPaths): Promise<number | undefined> {
  const { host, port } = redisAddress(config)
  if (redisSeeds(config.redisUrl).length > 1) {
    throw new VigilError(
      'STACK_START_FAILED',
      `VIGIL_REDIS_URL names a Redis Cluster (${config.redisUrl}) and none of its nodes answers: start it with \`vigil stack up --redis-cluster\`, or unset VIGIL_REDIS_URL to use a single local Redis.`,
    )
  }
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

// ---------------------------------------------------------------------------------------------
// A Kafka cluster (`--kafka-nodes N`, stack/kafka-cluster.ts)

/** The docker compose profile of the 3-broker cluster and its services, on 127.0.0.1:9092-9094 only. */
const COMPOSE_CLUSTER = {
  profile: 'kafka-cluster',
  services: ['kafka-1', 'kafka-2', 'kafka-3'],
  brokers: ['127.0.0.1:9092', '127.0.0.1:9093', '127.0.0.1:9094'],
}

/** `--profile kafka-cluster` when docker compose is asked about the cluster's services (a profile's services are hidden without it). */
function composeProfiles(services: readonly string[]): string[] {
  return services.some((s) => COMPOSE_CLUSTER.services.includes(s)) ? ['--profile', COMPOSE_CLUSTER.profile] : []
}

/**
 * The cluster `up` is asked for: `--kafka-nodes` above 1, or, without it, the cluster this stack
 * folder was formatted with when VIGIL_KAFKA_BROKERS names exactly its brokers (so `vigil stack
 * up` after `vigil stack down` brings the same cluster back); undefined for one broker.
 */
async function clusterAskedFor(
  config: Pick<Config, 'kafkaBrokers'>,
  options: StackOptions & KafkaClusterOptions,
): Promise<{ kafkaNodes: number; kafkaControllers: ControllerMode } | undefined> {
  if (options.kafkaNodes !== undefined) {
    return options.kafkaNodes > 1 ? { kafkaNodes: options.kafkaNodes, kafkaControllers: options.kafkaControllers ?? 'combined' } : undefined
  }
  const stored = await readClusterLayout(stackPaths(options.dir))
  if (stored === undefined || config.kafkaBrokers.length < 2 || bootstrapList(stored).join(',') !== config.kafkaBrokers.join(',')) return undefined
  return { kafkaNodes: config.kafkaBrokers.length, kafkaControllers: options.kafkaControllers ?? stored.controllers }
}

/** The status rows of this stack folder's cluster, one per node, while any node runs; undefined otherwise. */
async function kafkaClusterRows(S: P.StackPaths): Promise<ServiceStatus[] | undefined> {
  if (!(await kafkaClusterRuns(S))) return undefined
  const nodes = (await kafkaClusterStatus(S)) ?? []
  return nodes.map((n) => ({ service: 'kafka', address: n.address, up: n.up, ...(n.up ? { owner: 'native' as const, pid: n.pid } : {}) }))
}

/**
 * `up` with a cluster of `kafkaNodes` brokers instead of one: Redis as `up` starts it, then the
 * cluster: reused when this stack folder's cluster runs (nodes that stopped are started again) or
 * when that many brokers already answer; refused when fewer answer there (a single broker on the
 * first port); else docker compose's `kafka-cluster` profile (on 9092-9094 with combined
 * controllers, when a Docker engine answers) or native processes.
 */
async function upWithKafkaCluster(
  config: Pick<Config, 'kafkaBrokers' | 'redisUrl'>,
  log: Log,
  options: StackOptions & { kafkaNodes: number; kafkaControllers: ControllerMode; only?: ServiceName },
): Promise<UpResult[]> {
  const S = stackPaths(options.dir)
  const layout = clusterLayout(config.kafkaBrokers, options.kafkaNodes, options.kafkaControllers)
  const results = options.only === 'kafka' ? [] : await up(config, log, { dir: options.dir, only: 'redis' })
  const bootstrap = bootstrapList(layout)
  const t0 = Date.now()
  if (!(await kafkaClusterRuns(S))) {
    const listed = await listedBrokers(bootstrap)
    if (listed.size >= bootstrap.length) {
      const rows = bootstrap.map((address) => ({
        service: 'kafka' as const,
        address,
        up: true,
        owner: 'external' as const,
        action: 'reused' as const,
        ms: Date.now() - t0,
      }))
      return [...results, ...rows]
    }
    if (listed.size > 0) {
      throw new VigilError(
        'STACK_PORT_BUSY',
        `a Kafka of ${listed.size} broker${listed.size === 1 ? '' : 's'} already answers on ${bootstrap.join(',')}: stop it (\`vigil stack down\` stops one vigil started) or name other ports with --brokers, then ask for ${bootstrap.length} nodes again.`,
      )
    }
    if (options.dir === undefined && (await composeCluster(layout, log, S))) {
      const rows = bootstrap.map((address) => ({
        service: 'kafka' as const,
        address,
        up: true,
        owner: 'docker' as const,
        action: 'started' as const,
        ms: Date.now() - t0,
      }))
      return [...results, ...rows]
    }
  }
  const started = await startKafkaCluster(layout, log, S)
  const action = started.started > 0 ? ('started' as const) : ('reused' as const)
  return [
    ...results,
    ...started.nodes.map((n) => ({ service: 'kafka' as const, address: n.address, up: n.up, owner: 'native' as const, pid: n.pid, action, ms: started.ms })),
  ]
}

/** Starts the cluster with docker compose when a Docker engine answers and the layout is the profile's; false when not. */
async function composeCluster(layout: ClusterLayout, log: Log, S: P.StackPaths): Promise<boolean> {
  if (layout.controllers !== 'combined' || bootstrapList(layout).join(',') !== COMPOSE_CLUSTER.brokers.join(',')) return false
  if (!(await dockerEngineAnswers())) return false
  log(`starting a ${COMPOSE_CLUSTER.services.length}-broker Kafka cluster with docker compose (profile ${COMPOSE_CLUSTER.profile})`)
  const file = path.join(P.PROJECT_ROOT, 'docker-compose.yml')
  const r = await run('docker', ['compose', '-f', file, '--profile', COMPOSE_CLUSTER.profile, 'up', '-d', '--wait', ...COMPOSE_CLUSTER.services], {
    cwd: P.PROJECT_ROOT,
  })
  if (r.code !== 0) {
    throw new VigilError(
      'STACK_START_FAILED',
      `docker compose could not start the Kafka cluster (${lastLine(r.stderr)}): fix the Docker engine or stop it so that \`vigil stack up\` runs the brokers natively.`,
    )
  }
  await mkdir(S.stackDir, { recursive: true })
  const before = existsSync(S.dockerMarker) ? (await readFile(S.dockerMarker, 'utf8')).split('\n').filter(Boolean) : []
  await writeFile(S.dockerMarker, `${[...new Set([...before, ...COMPOSE_CLUSTER.services])].join('\n')}\n`)
  return true
}
