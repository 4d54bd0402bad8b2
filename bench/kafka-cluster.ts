/**
 * Where a cluster's controller quorum should run (`vigil stack up --kafka-nodes 3
 * --kafka-controllers combined | separate`), measured: for each mode, a 3-broker cluster on
 * 127.0.0.1:29092-29094 (controllers on 29192-29194) in a temporary stack folder, a topic of 12
 * partitions with three replicas, the batching producer (acks=all, idempotent) at a steady rate,
 * then a kill -9 of the broker leading most partitions and its restart. Reported per mode:
 *  - the cluster's start (every broker listed), its processes and their resident memory at rest
 *    (VmRSS, after the steady phase);
 *  - the brokers' and controllers' CPU per record during the steady phase (utime + stime);
 *  - after the kill: the producer's longest pause in acknowledgements, and whether the killed
 *    broker was also the quorum's active controller;
 *  - the restarted broker's time until it is listed and back in every in-sync replica set.
 *
 *   npx tsx bench/kafka-cluster.ts [--rate 5000] [--steady-seconds 20] [--modes combined,separate]
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { loadConfig } from '../lib/config.ts'
import { createAdmin, ensureTopics } from '../lib/kafka.ts'
import { BatchingProducer } from '../lib/producer.ts'
import { TOPIC_PARTITIONS } from '../lib/contract/topics.ts'
import { pollUntil } from '../lib/backoff.ts'
import { stackPaths } from '../stack/paths.ts'
import { bootstrapList, clusterLayout, nodePid, startKafkaCluster, startNode, stopKafkaCluster, stopNode, type ControllerMode } from '../stack/kafka-cluster.ts'
import { processCpuSeconds, textTable } from './drain.ts'

const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '5000' },
    'steady-seconds': { type: 'string', default: '20' },
    modes: { type: 'string', default: 'combined,separate' },
  },
})
const rate = Number(args.rate)
const steadyMs = Number(args['steady-seconds']) * 1000
const modes = args.modes.split(',') as ControllerMode[]

interface ModeFigures {
  mode: ControllerMode
  processes: number
  startMs: number
  rssMb: number
  cpuUsPerRecord: number
  killed: number
  killedWasController: boolean
  producerPauseMs: number
  listedMs: number
  inSyncMs: number
}

async function rssMb(pid: number): Promise<number> {
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(await readFile(`/proc/${pid}/status`, 'utf8').catch(() => ''))?.[1]
  return kb === undefined ? 0 : Number(kb) / 1024
}

async function measure(mode: ControllerMode): Promise<ModeFigures> {
  const dir = await mkdtemp(path.join(tmpdir(), `vigil-bench-kafka-${mode}-`))
  const S = stackPaths(dir)
  const layout = clusterLayout(['127.0.0.1:29092'], 3, mode)
  const config = loadConfig({ kafkaBrokers: bootstrapList(layout).join(','), logLevel: 'warn' }, {})
  const admin = createAdmin(config, 'vigil-bench-kafka-cluster')
  const topic = `bench-cluster-${mode}`
  let producer: BatchingProducer | undefined
  let sending = true
  try {
    const started = await startKafkaCluster(layout, () => undefined, S)
    await ensureTopics(admin, [{ name: topic, partitions: TOPIC_PARTITIONS.readings }])
    producer = new BatchingProducer(config, { topic, clientId: 'vigil-bench-kafka-cluster', onFailure: 'retry' })
    const p = producer
    // The load: `rate` records a second, in 10 ms slices, acknowledged counts sampled every 50 ms.
    const acks: Array<{ at: number; acked: number }> = []
    const load = (async () => {
      let i = 0
      const t0 = Date.now()
      while (sending) {
        const due = Math.floor(((Date.now() - t0) * rate) / 1000)
        const batch = []
        for (; i < due; i++) batch.push({ key: `p-${i % 5000}`, value: `{"i":${i}}` })
        if (batch.length > 0) void p.send(batch).catch(() => undefined)
        await (p.waitForCapacity() ?? sleep(10))
      }
    })()
    const sampler = (async () => {
      while (sending) {
        acks.push({ at: Date.now(), acked: p.stats.acked })
        await sleep(50)
      }
    })()
    const pids = async () => (await Promise.all(layout.nodes.map((n) => nodePid(S, n.id)))).filter((x): x is number => x !== undefined)
    const cpu = async () => (await pids()).reduce((sum, pid) => sum + (processCpuSeconds(pid) ?? 0), 0)
    // Steady phase, after a warm-up of 5 s.
    await sleep(5_000)
    const [cpu0, acked0] = [await cpu(), p.stats.acked]
    await sleep(steadyMs)
    const [cpu1, acked1] = [await cpu(), p.stats.acked]
    const rss = (await Promise.all((await pids()).map(rssMb))).reduce((a, b) => a + b, 0)

    // The kill.
    const meta = await admin.metadata({ topics: [topic], forceUpdate: true })
    const leaders = meta.topics.get(topic)?.partitions.map((x) => x.leader) ?? []
    const victim = [1, 2, 3].reduce((best, b) => (leaders.filter((l) => l === b).length > leaders.filter((l) => l === best).length ? b : best), 1)
    const controllerBefore = await activeController(
      S,
      layout.nodes.map((n) => n.id),
    )
    const killAt = Date.now()
    await stopNode(S, victim, 'kill')
    await sleep(15_000)
    const window = acks.filter((a) => a.at >= killAt)
    let pause = 0
    let last = killAt
    for (let k = 1; k < window.length; k++) {
      if (window[k]!.acked > window[k - 1]!.acked) {
        pause = Math.max(pause, window[k]!.at - last)
        last = window[k]!.at
      }
    }
    pause = Math.max(pause, Date.now() - last)
    const listedMs = await startNode(S, victim)
    const back = Date.now() - listedMs
    await pollUntil(
      async () => {
        const t = (await admin.metadata({ topics: [topic], forceUpdate: true })).topics.get(topic)
        return t?.partitions.every((x) => x.isr.length === 3) === true
      },
      { timeoutMs: 120_000, intervalMs: 100, what: `broker ${victim} back in sync` },
    )
    const inSyncMs = Date.now() - back
    sending = false
    await Promise.all([load, sampler])
    return {
      mode,
      processes: layout.nodes.length,
      startMs: started.ms,
      rssMb: rss,
      cpuUsPerRecord: ((cpu1 - cpu0) * 1e6) / Math.max(1, acked1 - acked0),
      killed: victim,
      killedWasController: controllerBefore === victim,
      producerPauseMs: pause,
      listedMs,
      inSyncMs,
    }
  } finally {
    sending = false
    await producer?.close({ drain: false }).catch(() => undefined)
    await admin.close().catch(() => undefined)
    await stopKafkaCluster(S, () => undefined)
    await rm(dir, { recursive: true, force: true })
  }
}

/** The quorum's active controller, from the nodes' logs (the last "Becoming the active controller" line wins); undefined when none says so. */
async function activeController(S: ReturnType<typeof stackPaths>, ids: number[]): Promise<number | undefined> {
  let best: { id: number; at: string } | undefined
  for (const id of ids) {
    const log = await readFile(path.join(S.stackDir, 'kafka-cluster', `node-${id}`, 'kafka.log'), 'utf8').catch(() => '')
    for (const m of log.matchAll(/^\[([^\]]+)\].*(?:Becoming the active controller|transitioned from \w+ to Leader)/gm)) {
      if (best === undefined || m[1]! > best.at) best = { id, at: m[1]! }
    }
  }
  return best?.id
}

const rows: ModeFigures[] = []
for (const mode of modes) {
  process.stderr.write(`measuring ${mode} controllers...\n`)
  rows.push(await measure(mode))
}
const header = [
  'controllers',
  'processes',
  'start (s)',
  'RSS at rest (MB)',
  'broker+controller CPU µs/record',
  'killed broker (active controller?)',
  'producer pause (s)',
  'restart: listed / in sync (s)',
]
for (const line of textTable([
  header,
  ...rows.map((r) => [
    r.mode,
    String(r.processes),
    (r.startMs / 1000).toFixed(1),
    r.rssMb.toFixed(0),
    r.cpuUsPerRecord.toFixed(1),
    `${r.killed} (${r.killedWasController ? 'yes' : 'no'})`,
    (r.producerPauseMs / 1000).toFixed(1),
    `${(r.listedMs / 1000).toFixed(1)} / ${(r.inSyncMs / 1000).toFixed(1)}`,
  ]),
]))
  process.stdout.write(`${line}\n`)
process.stdout.write(`rate ${rate} records/s, steady phase ${steadyMs / 1000} s, ${TOPIC_PARTITIONS.readings} partitions × 3 replicas\n`)
