/**
 * A Kafka cluster of several KRaft nodes on this machine (`vigil stack up --kafka-nodes N`), run
 * from the same Maven Central jars as the single broker (stack/kafka-runtime.ts), so that
 * replication, leader failover and rolling restarts are tested on real brokers.
 *
 * Layout (`clusterLayout`): broker i (node id i, 1..N) serves clients on the i-th address of
 * VIGIL_KAFKA_BROKERS, or on the first address's port + i - 1 when it names one. The controller
 * quorum has three voters (fewer with fewer nodes), each on its broker's client port + 100
 * (9092-9094 → 9192-9194): in `combined` mode (the default) the first three brokers are also the
 * voters, in `separate` mode three controller-only processes (node ids 101-103) are. Combined by
 * default, as measured (bench/kafka-cluster.ts; docs/ARCHITECTURE.md, Scaling out):
 * half the processes, a quarter less memory and half the start time on one machine, at the same
 * CPU; separate controllers shortened the producer's pause by 2.5 s only when the broker killed
 * was also the active controller.
 *
 * State under `<stack>/kafka-cluster/`: `layout.json` (the cluster id and the nodes, written when
 * the storage is first formatted; a different layout later is refused rather than reformatted)
 * and `node-<id>/` (data, server.properties, kafka.log, kafka.pid). Each process is found by its
 * pid file checked against its command line, which names its own server.properties.
 */
import { existsSync } from 'node:fs'
import { mkdir, open, readFile, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import path from 'node:path'
import { Admin } from '@platformatic/kafka'
import { pollUntil } from '../lib/backoff.ts'
import { VigilError } from '../lib/errors.ts'
import { TOPIC_PARTITIONS } from '../lib/contract/topics.ts'
import { brokerFailureReason, ensureKafkaLibs, formatStorage, kafkaJvmArgs, kafkaVersion, kraftClusterId } from './kafka-runtime.ts'
import type { StackPaths } from './paths.ts'
import { isAlive, livePid, spawnDetached, stopPid } from './process.ts'
import { ensurePrerequisites, JAVA } from './prerequisites.ts'

type Log = (line: string) => void

/** Whether the controller quorum runs inside the first three brokers or as processes of its own. */
export type ControllerMode = 'combined' | 'separate'
export const CONTROLLER_MODES: readonly ControllerMode[] = ['combined', 'separate']

/** A controller listens on its broker's client port + this. */
export const CONTROLLER_PORT_OFFSET = 100
/** Node ids of separate controllers start here (101, 102, 103). */
const SEPARATE_CONTROLLER_ID_BASE = 100
/** Voters of the controller quorum: three survive the loss of one. */
const MAX_VOTERS = 3
/** A broker's heap (MiB): as the single broker's. A controller-only node holds only the metadata log. */
const BROKER_HEAP = { minMb: 256, maxMb: 1024 }
const CONTROLLER_HEAP = { minMb: 64, maxMb: 256 }
/** How long a whole cluster may take to list every broker (JIT, quorum election), in milliseconds. */
const CLUSTER_READY_TIMEOUT_MS = 120_000
/** How long a controlled shutdown may take (leadership moves away, logs flushed) before SIGKILL. */
const STOP_GRACE_MS = 30_000

export interface ClusterNode {
  id: number
  roles: 'broker,controller' | 'broker' | 'controller'
  host: string
  /** Client port; absent on a controller-only node. */
  port?: number
  /** Controller port; absent on a broker-only node. */
  controllerPort?: number
}

export interface ClusterLayout {
  controllers: ControllerMode
  nodes: ClusterNode[]
}

/** The layout of `count` brokers at `brokers` (all of them, or the first to count up from). Pure. */
export function clusterLayout(brokers: readonly string[], count: number, controllers: ControllerMode = 'combined'): ClusterLayout {
  if (!Number.isInteger(count) || count < 2) throw new VigilError('USAGE', `--kafka-nodes ${count} is not valid: expected a whole number of at least 2.`)
  const addresses = brokerAddresses(brokers, count)
  const voters = Math.min(MAX_VOTERS, count)
  const nodes: ClusterNode[] = addresses.map(({ host, port }, i) => {
    const voter = controllers === 'combined' && i < voters
    return { id: i + 1, roles: voter ? 'broker,controller' : 'broker', host, port, ...(voter ? { controllerPort: port + CONTROLLER_PORT_OFFSET } : {}) }
  })
  if (controllers === 'separate') {
    for (let i = 0; i < voters; i++) {
      const { host, port } = addresses[i]!
      nodes.push({ id: SEPARATE_CONTROLLER_ID_BASE + i + 1, roles: 'controller', host, controllerPort: port + CONTROLLER_PORT_OFFSET })
    }
  }
  return { controllers, nodes }
}

function brokerAddresses(brokers: readonly string[], count: number): Array<{ host: string; port: number }> {
  const parsed = brokers.map((b) => {
    const i = b.lastIndexOf(':')
    return { host: b.slice(0, i), port: Number(b.slice(i + 1)) }
  })
  const all =
    parsed.length === count
      ? parsed
      : parsed.length === 1
        ? Array.from({ length: count }, (_, i) => ({ host: parsed[0]!.host, port: parsed[0]!.port + i }))
        : undefined
  if (all === undefined) {
    throw new VigilError(
      'USAGE',
      `--kafka-nodes ${count} needs ${count} broker addresses, or one to count up from, and VIGIL_KAFKA_BROKERS (or --brokers) names ${parsed.length}: name ${count} or one.`,
    )
  }
  const local = new Set(['127.0.0.1', 'localhost'])
  const remote = all.find((a) => !local.has(a.host))
  if (remote !== undefined) {
    throw new VigilError('STACK_NOT_LOCAL', `a cluster runs on this machine only, and ${remote.host}:${remote.port} is not on it: name 127.0.0.1 addresses.`)
  }
  const ports = all.flatMap((a) => [a.port, a.port + CONTROLLER_PORT_OFFSET])
  if (new Set(ports).size !== ports.length || ports.some((p) => p > 65535)) {
    throw new VigilError(
      'USAGE',
      `the brokers' ports and their controller ports (+${CONTROLLER_PORT_OFFSET}) overlap or pass 65535 (${ports.join(', ')}): pick other ports.`,
    )
  }
  return all
}

/** The client addresses of the layout's brokers, `host:port`, for VIGIL_KAFKA_BROKERS. */
export function bootstrapList(layout: ClusterLayout): string[] {
  return layout.nodes.filter((n) => n.port !== undefined).map((n) => `${n.host}:${n.port}`)
}

const brokerCount = (layout: ClusterLayout) => layout.nodes.filter((n) => n.roles !== 'controller').length

/** A node's server.properties. Pure. */
export function nodeProperties(layout: ClusterLayout, node: ClusterNode, logDirs: string): string {
  const brokers = brokerCount(layout)
  const replicas = Math.min(3, brokers)
  const voters = layout.nodes
    .filter((n) => n.controllerPort !== undefined)
    .map((n) => `${n.id}@${n.host}:${n.controllerPort}`)
    .join(',')
  const isBroker = node.roles !== 'controller'
  const listeners = [
    ...(isBroker ? [`PLAINTEXT://${node.host}:${node.port}`] : []),
    ...(node.controllerPort !== undefined ? [`CONTROLLER://${node.host}:${node.controllerPort}`] : []),
  ]
  return [
    `# Node ${node.id} of a ${brokers}-broker KRaft cluster (${layout.controllers} controllers), written by \`vigil stack up --kafka-nodes ${brokers}\``,
    '# (stack/kafka-cluster.ts) at every start.',
    `process.roles=${node.roles}`,
    `node.id=${node.id}`,
    `controller.quorum.voters=${voters}`,
    'controller.listener.names=CONTROLLER',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    `listeners=${listeners.join(',')}`,
    ...(isBroker ? [`advertised.listeners=PLAINTEXT://${node.host}:${node.port}`, 'inter.broker.listener.name=PLAINTEXT'] : []),
    `log.dirs=${logDirs}`,
    '# Topics are created by Vigil (lib/kafka.ts ensureTopics: three replicas, min.insync.replicas 2); a typo must not create one.',
    'auto.create.topics.enable=false',
    `num.partitions=${TOPIC_PARTITIONS.readings}`,
    `default.replication.factor=${replicas}`,
    "# Internal topics (group offsets, transactions) replicated like Vigil's own: a broker down loses no committed offset.",
    `offsets.topic.replication.factor=${replicas}`,
    `transaction.state.log.replication.factor=${replicas}`,
    `transaction.state.log.min.isr=${Math.min(2, replicas)}`,
    `share.coordinator.state.topic.replication.factor=${replicas}`,
    `share.coordinator.state.topic.min.isr=${Math.min(2, replicas)}`,
    '# Consumers join at once instead of waiting 3 s for more members (tests and restarts).',
    'group.initial.rebalance.delay.ms=0',
    '# Keep a week of readings; the lake holds them for good.',
    'log.retention.hours=168',
    '',
  ].join('\n')
}

// ---------------------------------------------------------------------------------------------
// Files

export interface NodePaths {
  dir: string
  data: string
  props: string
  log: string
  pid: string
}

const clusterDir = (S: StackPaths) => path.join(S.stackDir, 'kafka-cluster')
const layoutFile = (S: StackPaths) => path.join(clusterDir(S), 'layout.json')

export function nodePaths(S: StackPaths, id: number): NodePaths {
  const dir = path.join(clusterDir(S), `node-${id}`)
  return { dir, data: path.join(dir, 'data'), props: path.join(dir, 'server.properties'), log: path.join(dir, 'kafka.log'), pid: path.join(dir, 'kafka.pid') }
}

interface StoredLayout extends ClusterLayout {
  clusterId: string
}

/** The layout this stack folder's cluster was formatted with; undefined when it never was. */
export async function readClusterLayout(S: StackPaths): Promise<ClusterLayout | undefined> {
  if (!existsSync(layoutFile(S))) return undefined
  const stored = JSON.parse(await readFile(layoutFile(S), 'utf8')) as StoredLayout
  return { controllers: stored.controllers, nodes: stored.nodes }
}

const sameLayout = (a: ClusterLayout, b: ClusterLayout) => JSON.stringify(a) === JSON.stringify(b)

/** Writes every node's properties and formats the storage of those never formatted, with the cluster's one id. */
async function ensureClusterStorage(layout: ClusterLayout, log: Log, S: StackPaths): Promise<void> {
  await mkdir(clusterDir(S), { recursive: true })
  let clusterId: string
  if (existsSync(layoutFile(S))) {
    const stored = JSON.parse(await readFile(layoutFile(S), 'utf8')) as StoredLayout
    if (!sameLayout({ controllers: stored.controllers, nodes: stored.nodes }, layout)) {
      throw new VigilError(
        'USAGE',
        `${clusterDir(S)} holds a cluster of ${describeLayout(stored)}, not ${describeLayout(layout)}: run \`vigil stack down\` and delete that folder to make another, or ask for the same nodes and ports.`,
      )
    }
    clusterId = stored.clusterId
  } else {
    clusterId = kraftClusterId()
    await writeFile(layoutFile(S), `${JSON.stringify({ clusterId, ...layout }, null, 1)}\n`)
  }
  for (const node of layout.nodes) {
    const p = nodePaths(S, node.id)
    await mkdir(p.dir, { recursive: true })
    await writeFile(p.props, nodeProperties(layout, node, p.data))
    if (existsSync(path.join(p.data, 'meta.properties'))) continue
    log(`formatting the storage of Kafka node ${node.id} (once)`)
    await formatStorage(p.props, clusterId, p.dir, `delete ${clusterDir(S)} and run \`vigil stack up\` again`)
  }
}

export function describeLayout(layout: ClusterLayout): string {
  const brokers = layout.nodes.filter((n) => n.port !== undefined)
  return `${brokers.length} brokers on ${brokers.map((n) => n.port).join(', ')} with ${layout.controllers} controllers`
}

// ---------------------------------------------------------------------------------------------
// Processes

export interface NodeStatus {
  node: ClusterNode
  /** `host:port` of a broker, `host:port (controller)` of a controller-only node. */
  address: string
  up: boolean
  pid?: number
}

const addressOf = (n: ClusterNode) => (n.port !== undefined ? `${n.host}:${n.port}` : `${n.host}:${n.controllerPort} (controller)`)

/** The live pid of a node started by this stack folder, if any. */
export function nodePid(S: StackPaths, id: number): Promise<number | undefined> {
  const p = nodePaths(S, id)
  return livePid(p.pid, p.props)
}

/** Each node of the cluster, whether its process runs and its port answers; undefined when this stack folder has no cluster. */
export async function kafkaClusterStatus(S: StackPaths): Promise<NodeStatus[] | undefined> {
  const layout = await readClusterLayout(S)
  if (layout === undefined) return undefined
  return Promise.all(
    layout.nodes.map(async (node) => {
      const pid = await nodePid(S, node.id)
      const up = pid !== undefined && (await portAnswers(node.host, node.port ?? (node.controllerPort as number)))
      return { node, address: addressOf(node), up, ...(up ? { pid } : {}) }
    }),
  )
}

/** True when any node of this stack folder's cluster runs. */
export async function kafkaClusterRuns(S: StackPaths): Promise<boolean> {
  const layout = await readClusterLayout(S)
  if (layout === undefined) return false
  const pids = await Promise.all(layout.nodes.map((n) => nodePid(S, n.id)))
  return pids.some((p) => p !== undefined)
}

/**
 * Starts every node of `layout` that does not run yet and waits until the cluster's metadata lists
 * every broker. Returns each node's status and how long the start took.
 */
export async function startKafkaCluster(layout: ClusterLayout, log: Log, S: StackPaths): Promise<{ nodes: NodeStatus[]; ms: number; started: number }> {
  const t0 = Date.now()
  await ensurePrerequisites([JAVA], log)
  await ensureKafkaLibs(log, S)
  await ensureClusterStorage(layout, log, S)
  const version = await kafkaVersion()
  let started = 0
  for (const node of layout.nodes) {
    if ((await nodePid(S, node.id)) !== undefined) continue
    log(`starting Apache Kafka ${version} node ${node.id} (${node.roles}) on ${addressOf(node)}`)
    await spawnNode(S, node)
    started++
  }
  await waitForCluster(layout, S)
  return { nodes: (await kafkaClusterStatus(S)) ?? [], ms: Date.now() - t0, started }
}

async function spawnNode(S: StackPaths, node: ClusterNode): Promise<number> {
  const p = nodePaths(S, node.id)
  const out = await open(p.log, 'a')
  let pid: number
  try {
    const heap = node.roles === 'controller' ? CONTROLLER_HEAP : BROKER_HEAP
    pid = spawnDetached('java', [...kafkaJvmArgs(p.dir, heap), 'kafka.Kafka', p.props], { cwd: p.dir, stdout: out.fd })
  } finally {
    await out.close()
  }
  await writeFile(p.pid, `${pid}\n`)
  return pid
}

/** Waits until every broker of `layout` is listed in the cluster's metadata (registered and unfenced). */
async function waitForCluster(layout: ClusterLayout, S: StackPaths, only?: number): Promise<void> {
  const brokers = layout.nodes.filter((n) => n.port !== undefined)
  const wanted = only === undefined ? brokers.map((n) => n.id) : [only]
  const pids = new Map<number, number | undefined>()
  for (const n of layout.nodes) pids.set(n.id, await nodePid(S, n.id))
  try {
    await pollUntil(
      async () => {
        const listed = await listedBrokers(bootstrapList(layout))
        return wanted.every((id) => listed.has(id))
      },
      {
        giveUpIf: () => {
          for (const [id, pid] of pids) if (pid === undefined || !isAlive(pid)) return `Kafka node ${id} is not running`
          return undefined
        },
        timeoutMs: CLUSTER_READY_TIMEOUT_MS,
        intervalMs: 250,
        what: `Kafka node${wanted.length > 1 ? 's' : ''} ${wanted.join(', ')} to join the cluster`,
      },
    )
  } catch (error) {
    const dead = []
    for (const n of layout.nodes) if ((await nodePid(S, n.id)) === undefined) dead.push(n)
    const node = dead[0] ?? layout.nodes.find((n) => n.id === wanted[0])!
    const why = await brokerFailureReason(nodePaths(S, node.id).log, (error as Error).message)
    throw new VigilError(
      'STACK_START_FAILED',
      `the Kafka cluster did not start: node ${node.id} on ${addressOf(node)} (${why}): free ${describeLayout(layout)} and their controller ports or see ${nodePaths(S, node.id).log}.`,
      { cause: error },
    )
  }
}

/** Broker ids the metadata of a cluster lists now (empty when none of `bootstrap` answers). */
export async function listedBrokers(bootstrap: readonly string[], timeoutMs = 2_000): Promise<Set<number>> {
  const admin = new Admin({ clientId: 'vigil-stack-probe', bootstrapBrokers: [...bootstrap], timeout: timeoutMs, retries: 0 })
  try {
    const metadata = await admin.metadata({ topics: [], forceUpdate: true })
    return new Set(metadata.brokers.keys())
  } catch {
    return new Set()
  } finally {
    await admin.close().catch(() => undefined)
  }
}

function portAnswers(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

/**
 * Starts one node of this stack folder's cluster again (after `stopNode`) and waits until the
 * cluster lists it (a broker) or its controller port answers (a controller). Returns milliseconds.
 */
export async function startNode(S: StackPaths, id: number): Promise<number> {
  const t0 = Date.now()
  const layout = await readClusterLayout(S)
  const node = layout?.nodes.find((n) => n.id === id)
  if (layout === undefined || node === undefined) throw new VigilError('USAGE', `no Kafka node ${id} in ${clusterDir(S)}: start the cluster first.`)
  if ((await nodePid(S, id)) === undefined) {
    const pid = await spawnNode(S, node)
    if (node.port === undefined) {
      await pollUntil(() => portAnswers(node.host, node.controllerPort as number), {
        giveUpIf: () => (isAlive(pid) ? undefined : `Kafka node ${id} exited`),
        timeoutMs: CLUSTER_READY_TIMEOUT_MS,
        intervalMs: 250,
        what: `Kafka controller ${id} to answer`,
      })
    }
  }
  if (node.port !== undefined) await waitForCluster(layout, S, id)
  return Date.now() - t0
}

/**
 * Stops one node: `term` is a controlled shutdown (leadership moves first; SIGKILL after 30 s),
 * `kill` is kill -9. Returns milliseconds until the process was gone; 0 when it was not running.
 */
export async function stopNode(S: StackPaths, id: number, how: 'term' | 'kill'): Promise<number> {
  const pid = await nodePid(S, id)
  if (pid === undefined) return 0
  const t0 = Date.now()
  await stopPid(pid, nodePaths(S, id).pid, how === 'kill' ? 0 : STOP_GRACE_MS)
  return Date.now() - t0
}

/**
 * Stops every running node: brokers first (a broker's controlled shutdown needs the controller
 * quorum), one after another so each hands its leaderships to brokers still up, then the
 * controllers together. Returns one line per node stopped.
 */
export async function stopKafkaCluster(S: StackPaths, log: Log): Promise<string[]> {
  const layout = await readClusterLayout(S)
  if (layout === undefined) return []
  const stopped: string[] = []
  const stop = async (n: ClusterNode) => {
    const pid = await nodePid(S, n.id)
    if (pid === undefined) return
    log(`stopping Kafka node ${n.id} (pid ${pid})`)
    const how = await stopPid(pid, nodePaths(S, n.id).pid, STOP_GRACE_MS)
    stopped.push(`kafka node ${n.id} (pid ${pid}, ${how})`)
  }
  const brokersOnly = layout.nodes.filter((n) => n.roles === 'broker')
  const voters = layout.nodes.filter((n) => n.roles !== 'broker')
  for (const n of brokersOnly) await stop(n)
  // The voters (combined: brokers too) together: the last one alone could not reach a quorum to shut down cleanly.
  await Promise.all(voters.map(stop))
  return stopped.sort()
}
