/**
 * A Redis Cluster on this machine (`vigil stack up --redis-cluster`): Debian's `redis-server` run
 * natively with `--cluster-enabled yes`, one process per node, joined by `redis-cli --cluster
 * create`. By default six nodes on 127.0.0.1:17000-17005, three masters (17000-17002) and a replica
 * of each (docs/ARCHITECTURE.md, Redis Cluster); each node also listens on its port + 10000 for
 * the cluster bus. Point Vigil at it with the URL `redisClusterUrl` gives
 * (`redis://127.0.0.1:17000,127.0.0.1:17001,127.0.0.1:17002`).
 *
 * Like the single Redis, the cluster holds only views that the speed layer rebuilds from Kafka, so
 * no node saves anything (`--save ""`, no AOF) and every `up` that has to start nodes makes a new
 * cluster from empty nodes. State (per node: nodes.conf, log, pid file; the layout) lives under
 * `.stack/redis-cluster/`; `vigil stack down` stops the nodes it started, never others.
 */
import { existsSync } from 'node:fs'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { createClient } from 'redis'
import { pollUntil } from '../lib/backoff.ts'
import { VigilError, describeError } from '../lib/errors.ts'
import { stackPaths, type StackPaths } from './paths.ts'
import { ensurePrerequisites, REDIS, type Prerequisite } from './prerequisites.ts'
import { isAlive, livePid, run, spawnDetached, stopPid, tail } from './process.ts'

type Log = (line: string) => void

/** The nodes' ports of `vigil stack up --redis-cluster`: the masters first, then their replicas. */
export const REDIS_CLUSTER_PORTS: readonly number[] = [17000, 17001, 17002, 17003, 17004, 17005]
/** Replicas per master. @defaultValue 1: a master's data survives its process (a failover) */
export const REDIS_CLUSTER_REPLICAS = 1
/**
 * How long a node may be unreachable before the cluster fails it over to its replica, in ms.
 * Redis's default is 15 s; 5 s makes a failover on this machine quick while a restart of a node
 * (under a second) is not taken for a failure.
 */
const NODE_TIMEOUT_MS = 5_000
const NODE_READY_TIMEOUT_MS = 15_000
const CLUSTER_READY_TIMEOUT_MS = 60_000
const REDIS_MARKER = 'redis-server'

/** `redis-cli`, which forms the cluster: Debian ships it in redis-tools (a dependency of redis-server). */
export const REDIS_CLI: Prerequisite = {
  name: 'redis-cli',
  why: 'to form a Redis Cluster on this machine',
  debian: ['redis-tools'],
  brew: 'redis',
  present: async () => (await run('redis-cli', ['--version'], { timeoutMs: 30_000 })).code === 0,
  code: 'STACK_REDIS_MISSING',
  otherwise: 'or start a Redis Cluster yourself and set VIGIL_REDIS_URL to its nodes',
}

export interface RedisClusterLayout {
  /** Every node's port, the masters first. */
  ports: readonly number[]
  replicas: number
}

export interface RedisClusterOptions {
  /** State folder of the stack. @defaultValue `.stack/` at the project root */
  dir?: string
  /** @defaultValue REDIS_CLUSTER_PORTS */
  ports?: readonly number[]
  /** @defaultValue REDIS_CLUSTER_REPLICAS */
  replicas?: number
}

export interface RedisClusterNode {
  port: number
  /** Answers PING. */
  up: boolean
  role?: 'master' | 'replica'
  /** Set when vigil started the node (its pid file names a live redis-server). */
  pid?: number
}

export interface RedisClusterUp {
  /** The VIGIL_REDIS_URL that names the cluster (its masters as seeds). */
  url: string
  action: 'reused' | 'started'
  nodes: RedisClusterNode[]
  ms: number
}

/** The URL naming a cluster of this layout: its masters, as seed nodes (lib/redis.ts). */
export function redisClusterUrl(layout: RedisClusterLayout = { ports: REDIS_CLUSTER_PORTS, replicas: REDIS_CLUSTER_REPLICAS }): string {
  const masters = layout.ports.slice(0, mastersOf(layout))
  return `redis://${masters.map((p) => `127.0.0.1:${p}`).join(',')}`
}

function mastersOf(layout: RedisClusterLayout): number {
  return layout.ports.length / (layout.replicas + 1)
}

/** Refuses a layout `redis-cli --cluster create` would refuse, in a sentence that says why. */
export function checkLayout(layout: RedisClusterLayout): void {
  const masters = mastersOf(layout)
  if (!Number.isInteger(layout.replicas) || layout.replicas < 0 || !Number.isInteger(masters) || masters < 3) {
    throw new VigilError(
      'USAGE',
      `a Redis Cluster of ${layout.ports.length} nodes with ${layout.replicas} replica(s) per master is not possible: it needs at least 3 masters, each with the same number of replicas.`,
    )
  }
}

function clusterDir(S: StackPaths): string {
  return path.join(S.stackDir, 'redis-cluster')
}

function layoutFile(S: StackPaths): string {
  return path.join(clusterDir(S), 'layout.json')
}

function nodeDir(S: StackPaths, port: number): string {
  return path.join(clusterDir(S), String(port))
}

function pidFile(S: StackPaths, port: number): string {
  return path.join(nodeDir(S, port), 'redis.pid')
}

/** The layout of the cluster vigil last started under `S` and has not stopped since; undefined when none. */
async function recordedLayout(S: StackPaths): Promise<RedisClusterLayout | undefined> {
  if (!existsSync(layoutFile(S))) return undefined
  return JSON.parse(await readFile(layoutFile(S), 'utf8')) as RedisClusterLayout
}

/** One command to the node on 127.0.0.1:`port`, its reply as text; undefined when it does not answer within `timeoutMs`. */
async function ask(port: number, args: string[], timeoutMs = 1_000): Promise<string | undefined> {
  const reply = await askFor(port, args, timeoutMs)
  return reply === undefined ? undefined : String(reply)
}

/** The same, the reply as the client gives it (RESP3: a map is an object). */
async function askFor(port: number, args: string[], timeoutMs = 1_000): Promise<unknown> {
  const client = createClient({ socket: { host: '127.0.0.1', port, connectTimeout: timeoutMs, reconnectStrategy: false } })
  client.on('error', () => undefined)
  try {
    await client.connect()
    return await client.sendCommand(args)
  } catch {
    return undefined
  } finally {
    if (client.isOpen) client.destroy()
  }
}

/** A field of CLUSTER INFO or INFO text (`cluster_state:ok` -> 'ok'). */
function field(info: string | undefined, name: string): string | undefined {
  return info === undefined ? undefined : new RegExp(`^${name}:(\\S*)`, 'm').exec(info)?.[1]
}

/** Whether the nodes form one healthy cluster of all of them: on each, every slot served and every node known. */
export async function redisClusterHealthy(ports: readonly number[] = REDIS_CLUSTER_PORTS): Promise<boolean> {
  const infos = await Promise.all(ports.map((p) => ask(p, ['CLUSTER', 'INFO'])))
  return infos.every((i) => field(i, 'cluster_state') === 'ok' && Number(field(i, 'cluster_known_nodes')) === ports.length)
}

/** Each node: whether it answers, its role, and its pid when vigil started it. */
export async function redisClusterNodes(layout: RedisClusterLayout, options: { dir?: string } = {}): Promise<RedisClusterNode[]> {
  const S = stackPaths(options.dir)
  return Promise.all(
    layout.ports.map(async (port) => {
      const [info, pid] = await Promise.all([ask(port, ['INFO', 'replication']), livePid(pidFile(S, port), REDIS_MARKER)])
      const role = field(info, 'role')
      return {
        port,
        up: info !== undefined,
        ...(role === undefined ? {} : { role: role === 'master' ? ('master' as const) : ('replica' as const) }),
        ...(pid === undefined ? {} : { pid }),
      }
    }),
  )
}

/** The nodes of the cluster vigil started under the state folder (none when it started none, or stopped it). */
export async function redisClusterStatus(options: { dir?: string } = {}): Promise<{ layout: RedisClusterLayout; nodes: RedisClusterNode[] } | undefined> {
  const layout = await recordedLayout(stackPaths(options.dir))
  if (layout === undefined) return undefined
  return { layout, nodes: await redisClusterNodes(layout, options) }
}

/**
 * Starts the cluster unless it already answers, healthy, on its ports (then it is reused). Nodes
 * vigil started before whose cluster is not healthy are stopped and made again; a port answering
 * that vigil did not start is an error naming it.
 */
export async function upRedisCluster(log: Log = () => undefined, options: RedisClusterOptions = {}): Promise<RedisClusterUp> {
  const t0 = Date.now()
  const layout: RedisClusterLayout = { ports: options.ports ?? REDIS_CLUSTER_PORTS, replicas: options.replicas ?? REDIS_CLUSTER_REPLICAS }
  checkLayout(layout)
  const S = stackPaths(options.dir)
  const url = redisClusterUrl(layout)
  if (await redisClusterHealthy(layout.ports)) {
    return { url, action: 'reused', nodes: await redisClusterNodes(layout, options), ms: Date.now() - t0 }
  }
  const before = await redisClusterNodes(layout, options)
  const foreign = before.filter((n) => n.up && n.pid === undefined)
  if (foreign.length > 0) {
    throw new VigilError(
      'STACK_START_FAILED',
      `127.0.0.1:${foreign.map((n) => n.port).join(', ')} answer${foreign.length === 1 ? 's' : ''} but ${foreign.length === 1 ? 'is' : 'are'} not a healthy Redis Cluster node vigil started: stop ${foreign.length === 1 ? 'it' : 'them'} or free ports ${layout.ports.join(', ')}.`,
    )
  }
  await stopNodes(S, before, log)
  await ensurePrerequisites([REDIS, REDIS_CLI], log)
  await rm(clusterDir(S), { recursive: true, force: true })
  log(`starting a Redis Cluster of ${mastersOf(layout)} masters with ${layout.replicas} replica(s) each on 127.0.0.1:${layout.ports.join(',')}`)
  try {
    await Promise.all(layout.ports.map((port) => startNode(nodeDir(S, port), port)))
    await formCluster(layout, S)
  } catch (error) {
    // Half a cluster is no use to anyone: stop what was started, keep the logs.
    await stopNodes(S, await redisClusterNodes(layout, options), () => undefined)
    throw error
  }
  await writeFile(layoutFile(S), `${JSON.stringify(layout)}\n`)
  return { url, action: 'started', nodes: await redisClusterNodes(layout, options), ms: Date.now() - t0 }
}

/** Stops the nodes vigil started (by their pid files) and forgets the cluster; returns what it stopped. */
export async function downRedisCluster(log: Log = () => undefined, options: { dir?: string } = {}): Promise<string[]> {
  const S = stackPaths(options.dir)
  const layout = await recordedLayout(S)
  if (layout === undefined) return []
  const stopped = await stopNodes(S, await redisClusterNodes(layout, options), log)
  await rm(layoutFile(S), { force: true })
  return stopped
}

/**
 * Kills the node on `port` (SIGKILL: no chance to hand anything over) and starts it again at once
 * with its nodes.conf: it comes back with its id and slots and, saving nothing, empty (for a
 * master, before its replica could take over). What a cluster's master losing its data looks
 * like to Vigil. The node is found by what it says of itself (its pid and folder), so a cluster
 * that another checkout's `vigil stack up --redis-cluster` started is restarted as well; only a
 * node in a folder of such a cluster (`redis-cluster/<port>`). Returns the new pid.
 */
export async function restartRedisClusterNodeEmpty(port: number): Promise<number> {
  const [server, config] = await Promise.all([ask(port, ['INFO', 'server']), askFor(port, ['CONFIG', 'GET', 'dir'])])
  const pid = Number(field(server, 'process_id'))
  const dir = String((config as { dir?: unknown } | undefined)?.dir ?? '')
  if (!Number.isInteger(pid) || pid <= 0 || path.basename(dir) !== String(port) || path.basename(path.dirname(dir)) !== 'redis-cluster') {
    throw new VigilError('STACK_START_FAILED', `no Redis Cluster node started by \`vigil stack up --redis-cluster\` answers on 127.0.0.1:${port}.`)
  }
  process.kill(pid, 'SIGKILL')
  await pollUntil(async () => !isAlive(pid), { timeoutMs: 5_000, intervalMs: 20, what: `redis-server (pid ${pid}) to exit` })
  return startNode(dir, port)
}

function nodeArgs(dir: string, port: number): string[] {
  return [
    ...['--bind', '127.0.0.1', '--port', String(port), '--protected-mode', 'yes', '--daemonize', 'no'],
    ...['--dir', dir, '--logfile', path.join(dir, 'redis.log')],
    // Views rebuilt from Kafka: nothing saved (as the single Redis of `vigil stack up`).
    ...['--save', '', '--appendonly', 'no'],
    ...['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', String(NODE_TIMEOUT_MS)],
  ]
}

/** Starts one node with its files in `dir` and waits for its PING; returns its pid. */
async function startNode(dir: string, port: number): Promise<number> {
  await mkdir(dir, { recursive: true })
  const pid = spawnDetached('redis-server', nodeArgs(dir, port), { cwd: dir, stdout: 'ignore' })
  await writeFile(path.join(dir, 'redis.pid'), `${pid}\n`)
  try {
    await pollUntil(async () => (await ask(port, ['PING'])) === 'PONG', {
      giveUpIf: () => (isAlive(pid) ? undefined : 'redis-server exited'),
      timeoutMs: NODE_READY_TIMEOUT_MS,
      what: `the Redis Cluster node on 127.0.0.1:${port} to answer PING`,
    })
  } catch (error) {
    const why = (await tail(path.join(dir, 'redis.log'), 3)) || describeError(error)
    throw new VigilError(
      'STACK_START_FAILED',
      `a Redis Cluster node did not start on 127.0.0.1:${port} (${why.split('\n').pop()}): free ports ${port} and ${port + 10_000} or see ${path.join(dir, 'redis.log')}.`,
      { cause: error },
    )
  }
  return pid
}

/** `redis-cli --cluster create` over the nodes, then waits until every node sees every slot served. */
async function formCluster(layout: RedisClusterLayout, S: StackPaths): Promise<void> {
  const addresses = layout.ports.map((p) => `127.0.0.1:${p}`)
  const r = await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', String(layout.replicas), '--cluster-yes'], {
    timeoutMs: CLUSTER_READY_TIMEOUT_MS,
  })
  if (r.code !== 0) {
    const why = `${r.stdout}\n${r.stderr}`.trim().split('\n').filter(Boolean).pop() ?? `exit ${r.code}`
    throw new VigilError('STACK_START_FAILED', `redis-cli could not form the Redis Cluster (${why}): see the nodes' logs under ${clusterDir(S)}.`)
  }
  await pollUntil(() => redisClusterHealthy(layout.ports), {
    timeoutMs: CLUSTER_READY_TIMEOUT_MS,
    intervalMs: 200,
    what: 'every Redis Cluster node to report cluster_state:ok',
  })
}

async function stopNodes(S: StackPaths, nodes: readonly RedisClusterNode[], log: Log): Promise<string[]> {
  const ours = nodes.filter((n): n is RedisClusterNode & { pid: number } => n.pid !== undefined)
  if (ours.length > 0) log(`stopping the Redis Cluster nodes on 127.0.0.1:${ours.map((n) => n.port).join(',')}`)
  return Promise.all(ours.map(async (n) => `redis-cluster node 127.0.0.1:${n.port} (pid ${n.pid}, ${await stopPid(n.pid, pidFile(S, n.port), 10_000)})`))
}
