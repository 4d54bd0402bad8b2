/**
 * `npm run test:scale`: Vigil scaled out on real processes, under a steady seeded load, through a
 * fixed schedule of faults, then the chaos suite's invariants (verdicts.ts: nothing acknowledged
 * lost, nothing archived twice, the view exact) and how long the records stalled at each step
 * (flow.ts).
 *
 *   npm run test:scale -- [--quick] [--rate 5000] [--seed N] [--speed 3] [--archivers 3]
 *                         [--kafka-port 29092] [--redis-port 29379] [--keep] [--report FILE]
 *
 * The stack: a 3-broker KRaft cluster (`vigil stack up --kafka-nodes 3`, brokers on
 * 127.0.0.1:29092-29094, controllers on 29192-29194) and a Redis on 29379, state in a temporary
 * folder, so the shared services are never touched; topics with 12 partitions of 3 replicas,
 * min.insync.replicas 2. The layers: `--speed` speed-layer instances and `--archivers` archivers
 * (`node bin/vigil.js speed | archive --instance-id ...`), each group sharing the 12 partitions of
 * `vitals.readings`. The simulator runs in-process (the chaos suite's ledger of every record sent)
 * at `--rate` readings/s, every client bootstrapping from the three brokers.
 *
 * The schedule, one step after another (times into the load; `--quick` shortens the holds):
 *  1. kill -9 of the broker leading most partitions; 2. that broker started again, until it is
 *  back in every in-sync replica set; 3. a rolling restart of the three brokers (each: SIGTERM,
 *  start, back in sync); 4. kill -9 of the speed instance holding most partitions, restarted after
 *  its session has expired (its partitions moved to the others); 5. the same for an archiver;
 *  6. a rebalance during a Redis rebuild: a speed instance leaves (SIGTERM), then Redis restarts
 *  empty as the instance joins again. After the load the layers catch up and stop on SIGTERM.
 *
 * For each broker step it reports the producer's longest pause in acknowledgements, how long the
 * partitions the broker led took to take writes again, and the longest pause of each group's
 * commits on any partition; for each instance kill, how long its partitions took to flow again
 * under the other instances, and after its restart how long until every partition flowed. Those
 * are figures of the machine, never verdicts. The verdicts are the invariants, plus: every
 * instance of each group held partitions (the work was shared), and every layer stops cleanly.
 */
import { randomBytes, randomInt } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Admin } from '@platformatic/kafka'
import { loadConfig, type Config } from '../../lib/config.ts'
import { createAdmin, ensureTopics } from '../../lib/kafka.ts'
import { committedLag } from '../../lib/lag.ts'
import { connectRedis } from '../../lib/redis.ts'
import { redisKeys } from '../../lib/contract/keys.ts'
import { createLogger } from '../../lib/log.ts'
import { pollUntil } from '../../lib/backoff.ts'
import { TOPIC_PARTITIONS, consumerGroups, topicNames, topicSpecs } from '../../lib/contract/topics.ts'
import { edgeOptions, start as startEdge, type EdgeSummary } from '../../edge/index.ts'
import { nodePid } from '../../stack/kafka-cluster.ts'
import { stackPaths } from '../../stack/paths.ts'
import { livePid } from '../../stack/process.ts'
import { processCpuSeconds } from '../../bench/drain.ts'
import { Layer, childEnv, startPrivateCluster, type PrivateCluster } from './cluster.ts'
import { endOffsets, ledgerSink } from './ledger.ts'
import type { Verdict } from './invariants.ts'
import { checkInvariants } from './verdicts.ts'
import { lakeCoverage } from './coverage.ts'
import { table } from './table.ts'
import { committedOf, endOf, acked, pauseMs, seconds, worst, type FlowSample } from './flow.ts'

const ARGS = {
  options: {
    quick: { type: 'boolean', default: false },
    rate: { type: 'string', default: '5000' },
    seed: { type: 'string' },
    speed: { type: 'string', default: '3' },
    archivers: { type: 'string', default: '3' },
    'kafka-port': { type: 'string', default: '29092' },
    'redis-port': { type: 'string', default: '29379' },
    keep: { type: 'boolean', default: false },
    /** Steps left out, comma-separated, to narrow a failure down: leader, rolling, speed, archiver, redis. */
    skip: { type: 'string', default: '' },
    report: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
} as const
const USAGE =
  'usage: npm run test:scale -- [--quick] [--rate R] [--seed N] [--speed N>=2] [--archivers N>=2]\n' +
  '                             [--skip leader,rolling,speed,archiver,redis] [--kafka-port P] [--redis-port P]\n' +
  '                             [--keep] [--report FILE]\n'
const { values: args } = (() => {
  try {
    return parseArgs(ARGS)
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}`)
    process.exit(2)
  }
})()
if (args.help) {
  process.stdout.write(USAGE)
  process.exit(0)
}
const rate = Number(args.rate)
const speedCount = Number(args.speed)
const archiverCount = Number(args.archivers)
const seed = args.seed === undefined ? randomInt(0, 2 ** 32 - 1) : Number(args.seed)
const STEPS = ['leader', 'rolling', 'speed', 'archiver', 'redis'] as const
const skip = new Set(args.skip.split(',').filter(Boolean))
if ([...skip].some((s) => !(STEPS as readonly string[]).includes(s))) {
  process.stderr.write(`--skip takes ${STEPS.join(', ')}\n${USAGE}`)
  process.exit(2)
}
if (!(rate > 0) || !Number.isInteger(speedCount) || speedCount < 2 || !Number.isInteger(archiverCount) || archiverCount < 2 || !Number.isInteger(seed)) {
  process.stderr.write(USAGE)
  process.exit(2)
}

/** Brokers of the cluster. */
const BROKERS = 3
/**
 * Seconds into the load at which each step is due; a step that finds the one before still running
 * starts when it ends (and says how late). The load starts once both groups hold every partition.
 */
const PLAN = args.quick
  ? { killLeader: 15, restartLeader: 30, rolling: 45, killSpeed: 120, killArchiver: 150, redis: 180, end: 220, hold: 15, gap: 3 }
  : { killLeader: 45, restartLeader: 70, rolling: 95, killSpeed: 200, killArchiver: 245, redis: 290, end: 360, hold: 25, gap: 5 }
/** A layer that crashes is started again after this long, as a supervisor (systemd, Kubernetes) would; the crash fails the run. */
const SUPERVISOR_RESTART_MS = 1_000
/** Speed and archiver sessions expire after 10 s: a killed instance is restarted after its partitions have moved. */
const RESTART_AFTER_MS = Math.max(PLAN.hold * 1000, 15_000)
/** A broker step's figures are taken over this window after it (or until the next step). */
const SAMPLE_MS = 250
// The simulator sends ~1.06 readings per patient per simulated second (as the chaos run).
const patients = Math.max(20, Math.round(rate / 1.06))

const t0 = Date.now()
const clock = () => ((Date.now() - t0) / 1000).toFixed(1).padStart(6)
const say = (line: string) => process.stdout.write(`[${clock()}s] ${line}\n`)

let cleanupStarted = false
const cleanups: (() => Promise<void> | void)[] = []
async function cleanup(): Promise<void> {
  if (cleanupStarted) return
  cleanupStarted = true
  for (const f of cleanups.reverse()) {
    try {
      await f()
    } catch (error) {
      process.stderr.write(`cleanup: ${(error as Error).message}\n`)
    }
  }
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    say(`${signal}: stopping and cleaning up`)
    void cleanup().finally(() => process.exit(130))
  })
}

/** One step of the schedule with the moments the figures are measured from. */
interface StepRow {
  step: string
  /** When it began (ms). */
  at: number
  /** Until when its figures are measured (ms): the next step's start. */
  until?: number
  detail: string
  kind: 'broker' | 'instance' | 'redis'
  /** Broker steps: the broker's id and the partitions it led just before. */
  broker?: number
  led?: number[]
  /** Instance kills: the group, the partitions the instance held, and when it was started again. */
  group?: string
  held?: number[]
  restartedAt?: number
}

async function main(): Promise<number> {
  say(
    `scale run: seed ${seed}, ${rate} readings/s, ${patients} patients, ${BROKERS} brokers, ${speedCount} speed instances, ${archiverCount} archivers, ${TOPIC_PARTITIONS.readings} partitions${args.quick ? ', quick schedule' : ''}`,
  )
  const id = `scale-${randomBytes(4).toString('hex')}`
  const dir = await mkdtemp(path.join(tmpdir(), `vigil-${id}-`))
  cleanups.push(async () => {
    if (args.keep) say(`kept ${dir}`)
    else await rm(dir, { recursive: true, force: true })
  })
  const kafkaPort = Number(args['kafka-port'])
  const brokerList = Array.from({ length: BROKERS }, (_, i) => `127.0.0.1:${kafkaPort + i}`)
  const config: Config = loadConfig(
    {
      kafkaBrokers: brokerList.join(','),
      redisUrl: `redis://127.0.0.1:${args['redis-port']}`,
      datalakeDir: path.join(dir, 'lake'),
      topicPrefix: `${id}.`,
      redisPrefix: `${id}:`,
      logLevel: 'warn',
    },
    {},
  )
  const log = createLogger({ level: 'warn' })
  const topics = topicNames(config.topicPrefix)
  const groups = consumerGroups(config.topicPrefix)
  const keys = redisKeys(config.redisPrefix)

  // --- the private cluster -----------------------------------------------------------------
  let stack: PrivateCluster | undefined
  cleanups.push(async () => {
    await stack?.stopAll()
  })
  const stackStarted = Date.now()
  stack = await startPrivateCluster(config, path.join(dir, 'stack'), BROKERS, () => undefined)
  const S = stackPaths(stack.dir)
  say(`${BROKERS} brokers on ${brokerList.join(', ')} and Redis on ${config.redisUrl} up in ${Date.now() - stackStarted} ms (state in ${dir})`)
  const admin = createAdmin(config, 'vigil-scale')
  cleanups.push(() => admin.close())
  await ensureTopics(admin, topicSpecs(config.topicPrefix))
  const redis = await connectRedis(config)
  redis.on('error', () => undefined)
  cleanups.push(() => void redis.destroy())

  // --- the layers: groups of instances ------------------------------------------------------
  const env = childEnv(config)
  const speeds = Array.from(
    { length: speedCount },
    (_, i) => new Layer(`speed-${i + 1}`, ['speed', '--instance-id', `scale-speed-${i + 1}`], env, path.join(dir, `speed-${i + 1}.log`)),
  )
  const archivers = Array.from(
    { length: archiverCount },
    (_, i) =>
      new Layer(
        `archive-${i + 1}`,
        ['archive', '--instance-id', `scale-archive-${i + 1}`, '--flush-interval-ms', '2000'],
        env,
        path.join(dir, `archive-${i + 1}.log`),
      ),
  )
  const layers = [...speeds, ...archivers]
  let supervising = true
  cleanups.push(() => {
    supervising = false
    for (const l of layers) l.forceStop()
  })
  for (const l of layers) {
    l.onCrash = (layer) => {
      const crash = layer.crashes.at(-1)
      say(`${layer.name} CRASHED (exit ${crash?.code ?? crash?.signal}): ${crash?.why}; started again in ${SUPERVISOR_RESTART_MS / 1000} s`)
      setTimeout(() => {
        if (supervising) layer.start()
      }, SUPERVISOR_RESTART_MS)
    }
    l.start()
  }
  // The load starts once every instance of both groups holds partitions.
  const joinStart = Date.now()
  await pollUntil(
    async () => {
      const [s, a] = await Promise.all([assignment(admin, groups.speed, topics.readings), assignment(admin, groups.archiver, topics.readings)])
      const full = (m: Map<string, number[]>, n: number) => m.size === n && [...m.values()].every((p) => p.length > 0)
      return full(s, speedCount) && full(a, archiverCount)
    },
    { timeoutMs: 180_000, intervalMs: 500, what: 'every instance of both groups to hold partitions' },
  )
  say(`both groups hold every partition (${((Date.now() - joinStart) / 1000).toFixed(1)} s after the layers started)`)

  // --- load ---------------------------------------------------------------------------------
  const ledger = ledgerSink(config, log)
  const cpuBefore = process.cpuUsage()
  const edge = await startEdge({ ...config, edge: edgeOptions({ patients, rate, duration: PLAN.end, seed, faults: 0.01 }) }, { log, sink: ledger.sink })
  cleanups.push(() => edge.stop())
  const runStart = Date.now()
  const loadEnd = runStart + PLAN.end * 1000
  say(`simulator started for ${PLAN.end} s (in-process, ledger of every record sent)`)

  // --- samplers: the flow every 250 ms, the CPU of every process every second ------------------
  let sampling = true
  const samples: FlowSample[] = []
  let sampleError = ''
  const flow = (async () => {
    // A client of its own, replaced after two failed samples in a row: it must not keep a view of
    // the cluster (leaders, coordinators) from before a fault.
    let sampler = createAdmin(config, 'vigil-scale-flow')
    let failures = 0
    let next = Date.now()
    while (sampling) {
      const sample = await Promise.race([flowSample(sampler, config, () => edge.stats().acked), sleep(2_000).then(() => undefined)]).catch((error: unknown) => {
        sampleError = (error as Error).message
        return undefined
      })
      if (sample !== undefined) {
        samples.push(sample)
        failures = 0
      } else if (++failures >= 2) {
        void sampler.close().catch(() => undefined)
        sampler = createAdmin(config, 'vigil-scale-flow')
        failures = 0
      }
      next += SAMPLE_MS
      await sleep(Math.max(0, next - Date.now()))
    }
    await sampler.close().catch(() => undefined)
  })()
  const brokerCpu = new Map<number, number>()
  const redisCpu = new Map<number, number>()
  const cpu = (async () => {
    while (sampling) {
      for (const l of layers) l.sampleCpu()
      for (let b = 1; b <= BROKERS; b++) {
        const pid = await nodePid(S, b)
        const s = pid === undefined ? null : processCpuSeconds(pid)
        if (pid !== undefined && s !== null) brokerCpu.set(pid, s)
      }
      const rPid = await redisPid(stack.dir)
      const rs = rPid === undefined ? null : processCpuSeconds(rPid)
      if (rPid !== undefined && rs !== null) redisCpu.set(rPid, rs)
      await sleep(1_000)
    }
  })()
  const progress = (async () => {
    while (sampling) {
      await sleep(10_000)
      const last = samples.at(-1)
      const behind = (g: string) =>
        last === undefined ? '?' : last.end.reduce((sum, e, p) => sum + Math.max(0, e - Math.max(0, last.committed[g]?.[p] ?? 0)), 0)
      const stale = last === undefined || Date.now() - last.at > 2_000 ? ` (flow samples failing: ${sampleError})` : ''
      say(
        `sent ${edge.stats().sent}, acked ${edge.stats().acked}, speed behind ${behind(groups.speed)}, archiver behind ${behind(groups.archiver)}${stale}, up: ${layers
          .filter((l) => l.running)
          .map((l) => l.name)
          .join(' ')}`,
      )
    }
  })()

  // --- the schedule ------------------------------------------------------------------------------
  const rows: StepRow[] = []
  /** Resolves once the speed group (every instance, stable) has committed up to `ends` and the lake holds every offset below them. */
  const drain = async (ends: readonly number[]) => {
    await pollUntil(
      // A new client each time (see the flow sampler).
      () =>
        withAdmin(config, async (a) => {
          const g = (await a.describeGroups({ groups: [groups.speed] })).get(groups.speed)
          if (g === undefined || g.members.size !== speeds.length || String(g.state).toUpperCase() !== 'STABLE') return false
          const lag = (await committedLag(a, { groups: [groups.speed], topic: topics.readings }))?.[0]
          return lag?.partitions.every((p, i) => p.committed !== null && p.committed >= (ends[i] ?? 0)) === true
        }),
      { timeoutMs: 300_000, intervalMs: 500, what: 'the speed group to catch up' },
    )
    await pollUntil(async () => (await lakeCoverage(config.datalakeDir, ends)) === 0, {
      timeoutMs: 300_000,
      intervalMs: 500,
      what: 'the archivers to reach the end of every partition',
    })
  }
  const at = async (s: number) => {
    const due = runStart + s * 1000
    if (Date.now() > due + 1_000) say(`(this step is ${((Date.now() - due) / 1000).toFixed(1)} s late: the one before took longer than its slot)`)
    await sleep(Math.max(0, due - Date.now()))
  }
  const share = { speed: [] as number[], archiver: [] as number[] }
  /** CPU (ms) of each part and the acknowledged count now: two of them make the steady cost per reading, before any fault. */
  const cpuSnapshot = async () => {
    for (const l of layers) l.sampleCpu()
    let kafka = 0
    for (let b = 1; b <= BROKERS; b++) {
      const pid = await nodePid(S, b)
      kafka += (pid === undefined ? 0 : (processCpuSeconds(pid) ?? 0)) * 1000
    }
    const rPid = await redisPid(stack!.dir)
    const redisMs = (rPid === undefined ? 0 : (processCpuSeconds(rPid) ?? 0)) * 1000
    const sumOf = (ls: Layer[]) => ls.reduce((a, l) => a + l.cpuMs, 0)
    return { acked: edge.stats().acked, speed: sumOf(speeds), archiver: sumOf(archivers), kafka, redis: redisMs }
  }
  let steady: { readings: number; speed: number; archiver: number; kafka: number; redis: number } | undefined
  const schedule = async () => {
    // Warm-up: the steady cost per reading, and how the groups share the partitions under load.
    await at(Math.min(15, PLAN.killLeader / 3))
    const from = await cpuSnapshot()
    await at(PLAN.killLeader - 2)
    const to = await cpuSnapshot()
    const readings = Math.max(1, to.acked - from.acked)
    const us = (a: number, b: number) => ((b - a) * 1000) / readings
    steady = {
      readings,
      speed: us(from.speed, to.speed),
      archiver: us(from.archiver, to.archiver),
      kafka: us(from.kafka, to.kafka),
      redis: us(from.redis, to.redis),
    }
    share.speed = [...(await assignment(admin, groups.speed, topics.readings)).values()].map((p) => p.length)
    share.archiver = [...(await assignment(admin, groups.archiver, topics.readings)).values()].map((p) => p.length)
    say(`partitions per instance: speed ${share.speed.join('/')}, archiver ${share.archiver.join('/')}`)

    // 1. kill -9 of the broker leading most partitions, 2. started again.
    if (!skip.has('leader')) await killLeader()
    // 3. rolling restart: each broker in turn stops cleanly, starts, and catches up.
    if (!skip.has('rolling')) await rollingRestart()
    // 4. and 5. kill -9 of the instance holding most partitions, restarted after its partitions moved.
    if (!skip.has('speed')) {
      await at(PLAN.killSpeed)
      rows.push(await killInstance(speeds, groups.speed, 'scale-speed-'))
    }
    if (!skip.has('archiver')) {
      await at(PLAN.killArchiver)
      rows.push(await killInstance(archivers, groups.archiver, 'scale-archive-'))
    }
    // 6. a rebalance during a Redis rebuild.
    if (!skip.has('redis')) {
      await at(PLAN.redis)
      rows.push(await rebalanceDuringRebuild())
    }
  }

  const killLeader = async () => {
    await at(PLAN.killLeader)
    const leaders = await leadersOf(admin, topics.readings)
    const victim = mostLeading(leaders)
    const killAt = Date.now()
    const killMs = await stack!.killBroker(victim)
    rows.push({
      step: `kill -9 broker ${victim}`,
      at: killAt,
      kind: 'broker',
      broker: victim,
      led: partitionsLedBy(leaders, victim),
      detail: `led ${partitionsLedBy(leaders, victim).length} of ${leaders.length} partitions; gone in ${killMs} ms`,
    })
    say(`broker ${victim} killed (it led ${partitionsLedBy(leaders, victim).length} partitions)`)

    await at(PLAN.restartLeader)
    rows.push(await brokerBack(victim, 'restart broker'))
  }

  const rollingRestart = async () => {
    await at(PLAN.rolling)
    for (let b = 1; b <= BROKERS; b++) {
      const before = await leadersOf(admin, topics.readings)
      const stopAt = Date.now()
      const stopMs = await stack!.stopBroker(b)
      say(`rolling restart: broker ${b} stopped (${stopMs} ms)`)
      const back = await brokerBack(b, 'rolling restart: broker')
      rows.push({ ...back, at: stopAt, led: partitionsLedBy(before, b), detail: `controlled shutdown ${stopMs} ms; ${back.detail}` })
      await sleep(PLAN.gap * 1000)
    }
  }

  /** Starts broker `b` again and waits until it is back in every in-sync replica set. */
  const brokerBack = async (b: number, what: string): Promise<StepRow> => {
    const startAt = Date.now()
    const startMs = await stack!.startBroker(b)
    const isr = await pollUntil(async () => underReplicated(admin, topics.readings).then((n) => n === 0), {
      timeoutMs: 120_000,
      intervalMs: 250,
      what: `broker ${b} to rejoin every in-sync replica set`,
    })
      .then(() => Date.now() - startAt)
      .catch(() => undefined)
    say(`${what} ${b}: listed after ${startMs} ms, in sync after ${seconds(isr, 'more than 120 s')}`)
    return {
      step: `${what} ${b}`,
      at: startAt,
      kind: 'broker',
      broker: b,
      led: [],
      detail: `listed after ${startMs} ms, every replica in sync after ${seconds(isr, '> 120 s')}`,
    }
  }

  const killInstance = async (group: Layer[], groupName: string, idPrefix: string): Promise<StepRow> => {
    const held = await assignment(admin, groupName, topics.readings)
    let victim = group[0]!
    let most: number[] = []
    for (const l of group) {
      const parts = heldBy(held, `${idPrefix}${l.name.split('-').at(-1)}`)
      if (parts.length > most.length) {
        most = parts
        victim = l
      }
    }
    const killAt = Date.now()
    await victim.kill9()
    say(`${victim.name} killed (held partitions ${most.join(', ')})`)
    await sleep(RESTART_AFTER_MS)
    const restartedAt = Date.now()
    victim.start()
    say(`${victim.name} started again`)
    return {
      step: `kill -9 ${victim.name}`,
      at: killAt,
      kind: 'instance',
      group: groupName,
      held: most,
      restartedAt,
      detail: `held ${most.length} partitions; restarted ${((restartedAt - killAt) / 1000).toFixed(1)} s later`,
    }
  }

  const rebalanceDuringRebuild = async (): Promise<StepRow> => {
    const leaving = speeds[seed % speeds.length]!
    const { code, ms } = await leaving.terminate()
    say(`${leaving.name} left the group (SIGTERM, exit ${code} after ${ms} ms)`)
    await pollUntil(
      async () => {
        const g = (await admin.describeGroups({ groups: [groups.speed] })).get(groups.speed)
        return g !== undefined && g.members.size === speeds.length - 1 && String(g.state).toUpperCase() === 'STABLE'
      },
      { timeoutMs: 60_000, intervalMs: 250, what: 'the speed group to settle without the instance' },
    )
    const before = await redis.zCard(keys.patients)
    // The instance starts; Redis is wiped the moment its join shows (the group rebalancing, or
    // back to full size): the rebuild and the rebalance run together.
    leaving.start()
    const startedAt = Date.now()
    const joining = await pollUntil(
      async () => {
        const g = (await admin.describeGroups({ groups: [groups.speed] })).get(groups.speed)
        if (g === undefined) return undefined
        const state = String(g.state).toUpperCase()
        return state !== 'STABLE' || g.members.size === speeds.length ? `${state.toLowerCase()}, ${g.members.size} members` : undefined
      },
      { timeoutMs: 60_000, intervalMs: 50, what: `${leaving.name} to join` },
    )
    const wipeAt = Date.now()
    const restartMs = await stack!.restartRedis()
    say(
      `Redis restarted empty (${restartMs} ms) ${((wipeAt - startedAt) / 1000).toFixed(1)} s after ${leaving.name} started (group ${joining}); ${before} patients to rebuild`,
    )
    const rebuilt = await pollUntil(async () => (await redis.zCard(keys.patients).catch(() => 0)) >= before, {
      timeoutMs: 120_000,
      intervalMs: 250,
      what: 'the view to be rebuilt',
    })
      .then(() => Date.now() - wipeAt)
      .catch(() => undefined)
    const stable = await pollUntil(
      async () => {
        const g = (await admin.describeGroups({ groups: [groups.speed] })).get(groups.speed)
        return g !== undefined && g.members.size === speeds.length && String(g.state).toUpperCase() === 'STABLE'
      },
      { timeoutMs: 60_000, intervalMs: 250, what: 'the speed group to take the instance back' },
    )
      .then(() => Date.now() - wipeAt)
      .catch(() => undefined)
    return {
      step: `Redis wiped as ${leaving.name} joins`,
      at: wipeAt,
      kind: 'redis',
      detail: `wiped as the group was ${joining}; view rebuilt (${before} patients) after ${seconds(rebuilt, '> 120 s')}; group of ${speeds.length} stable after ${seconds(stable, '> 60 s')}`,
    }
  }

  let scheduleError: unknown
  const scheduled = schedule().catch((error: unknown) => {
    scheduleError = error
    say(`schedule stopped: ${(error as Error).message}`)
  })
  const summary: EdgeSummary = await edge.done
  await scheduled
  for (let i = 0; i < rows.length; i++) rows[i]!.until = rows[i + 1]?.at ?? Math.max(loadEnd, rows[i]!.at + 30_000)
  say(
    `simulator done: ${summary.sent} sent, ${summary.acked} acked, ${summary.outages} outages (${summary.outageMs} ms) in ${(summary.elapsedMs / 1000).toFixed(1)} s`,
  )
  const cpuEdgeMs = (() => {
    const u = process.cpuUsage(cpuBefore)
    return (u.user + u.system) / 1000
  })()

  // --- drain: every instance up, the groups caught up --------------------------------------------
  for (const l of layers) l.start()
  const drainStart = Date.now()
  const ends = await endOffsets(config, topics.readings)
  let drainError: string | undefined
  try {
    await drain(ends)
  } catch (error) {
    drainError = (error as Error).message
    say(`the layers did not catch up: ${drainError}`)
  }
  const drainMs = Date.now() - drainStart
  if (drainError === undefined) say(`layers caught up in ${(drainMs / 1000).toFixed(1)} s`)
  supervising = false
  sampling = false
  await Promise.all([flow, cpu, progress])
  for (const l of layers) l.sampleCpu()
  const stops = await Promise.all(layers.map((l) => l.terminate()))

  // --- invariants ----------------------------------------------------------------------------------
  const checkStart = Date.now()
  const verdicts: Verdict[] = [
    // Without a full drain the topic differs from the lake and the view by what was not processed: nothing to check.
    ...(drainError === undefined ? await checkInvariants({ config, ledger: ledger.records, summary, redis, keys, t0 }) : []),
    {
      name: 'every layer caught up after the load',
      pass: drainError === undefined,
      figures:
        drainError === undefined
          ? `in ${(drainMs / 1000).toFixed(1)} s`
          : `${drainError} (the invariants of the data were not checked); last log lines: ${layers.map((l) => `${l.name}: ${lastLogLine(path.join(dir, `${l.name}.log`))}`).join('; ')}`,
    },
    {
      name: 'every instance of each group held partitions (the work was shared)',
      pass:
        share.speed.length === speedCount && share.speed.every((n) => n > 0) && share.archiver.length === archiverCount && share.archiver.every((n) => n > 0),
      figures: `partitions per instance before the faults: speed ${share.speed.join('/') || 'none'}, archiver ${share.archiver.join('/') || 'none'}`,
    },
    {
      name: 'no instance crashed (each one that did was started again by this run, as a supervisor would)',
      pass: layers.every((l) => l.crashes.length === 0),
      figures: crashList(layers, runStart) || 'none',
    },
    {
      name: 'the schedule ran to its end',
      pass: scheduleError === undefined,
      figures: scheduleError === undefined ? `${rows.length} steps` : `stopped after ${rows.length} steps: ${(scheduleError as Error).message}`,
    },
    {
      name: 'every layer stops cleanly on SIGTERM',
      pass: stops.every((s) => s.code === 0),
      figures: layers.map((l, i) => `${l.name} exit ${stops[i]!.code} (${stops[i]!.ms} ms)`).join(', '),
    },
  ]
  const checkMs = Date.now() - checkStart

  // --- report ----------------------------------------------------------------------------------------
  const report = describeSteps(rows, samples, groups)
  process.stdout.write('\nSteps\n')
  process.stdout.write(
    table(
      ['at (s)', 'step', 'detail'],
      rows.map((r) => [((r.at - runStart) / 1000).toFixed(1), r.step, r.detail]),
    ),
  )
  process.stdout.write('\nBroker steps: stalls (longest pause within the step, until the next one)\n')
  process.stdout.write(
    table(
      ['step', 'producer acks', 'writes on its partitions', 'speed commits (any partition)', 'archiver commits (any partition)'],
      report.brokers.map((b) => [b.step, b.producerPause, b.writesPause, b.speedPause, b.archiverPause]),
    ),
  )
  process.stdout.write('\nInstance kills: time until the moved partitions flowed again\n')
  process.stdout.write(
    table(
      ['step', 'its partitions', 'longest pause of their commits until the restart', 'after the restart: longest pause of any partition'],
      report.instances.map((r) => [r.step, r.moved, r.movedPause, r.rejoin]),
    ),
  )
  const total = summary.sent
  const usPer = (ms: number) => ((ms * 1000) / Math.max(1, total)).toFixed(1)
  const sum = (m: Map<number, number>) => [...m.values()].reduce((a, b) => a + b, 0) * 1000
  const layerCpu = (ls: Layer[]) => ls.reduce((a, l) => a + l.cpuMs, 0)
  const steadyRows =
    steady === undefined
      ? []
      : [
          [`steady, before any fault (${steady.readings} readings): speed layer, all instances`, steady.speed.toFixed(1)],
          ['steady: archiver, all instances', steady.archiver.toFixed(1)],
          ['steady: Kafka, all brokers', steady.kafka.toFixed(1)],
          ['steady: Redis', steady.redis.toFixed(1)],
        ]
  const cpuRows = [
    ...steadyRows,
    ['simulator + this suite', usPer(cpuEdgeMs)],
    [`speed layer (${speedCount} instances)`, usPer(layerCpu(speeds))],
    [`archiver (${archiverCount} instances)`, usPer(layerCpu(archivers))],
    [`Kafka (${BROKERS} brokers, replication factor 3)`, usPer(sum(brokerCpu))],
    ['Redis', usPer(sum(redisCpu))],
  ]
  process.stdout.write('\nInvariants\n')
  process.stdout.write(
    table(
      ['invariant', 'result', 'figures'],
      verdicts.map((v) => [v.name, v.pass ? 'PASS' : 'FAIL', v.figures]),
    ),
  )
  process.stdout.write('\nFigures\n')
  process.stdout.write(
    table(
      ['figure', 'value'],
      [
        ['readings sent / acknowledged', `${summary.sent} / ${summary.acked} in ${(summary.elapsedMs / 1000).toFixed(1)} s`],
        ...cpuRows.map(([what, us]) => [`CPU µs per reading: ${what}${(what ?? '').startsWith('steady') ? '' : ' (whole run, restarts included)'}`, us!]),
        ['drain after the load / checks', `${(drainMs / 1000).toFixed(1)} s / ${(checkMs / 1000).toFixed(1)} s`],
        ['flow samples (every 250 ms)', `${samples.length}`],
        ['seed', String(seed)],
      ],
    ),
  )
  if (args.report !== undefined) {
    await writeFile(
      args.report,
      `${JSON.stringify(
        {
          seed,
          rate,
          quick: args.quick,
          patients,
          brokers: BROKERS,
          speed: speedCount,
          archivers: archiverCount,
          partitions: TOPIC_PARTITIONS.readings,
          steps: rows.map((r) => ({ ...r, atS: (r.at - runStart) / 1000 })),
          stalls: report,
          cpuUsPerReading: Object.fromEntries(cpuRows),
          invariants: verdicts.map(({ name, pass, figures }) => ({ name, pass, figures })),
        },
        null,
        1,
      )}\n`,
    )
    say(`report written to ${args.report}`)
  }
  const failed = verdicts.filter((v) => !v.pass)
  for (const v of failed) process.stdout.write(`\nFAILED: ${v.name}\n  ${v.figures}\n  evidence: ${v.evidence ?? '(see figures)'}\n`)
  say(
    failed.length === 0
      ? `all ${verdicts.length} invariants hold (seed ${seed})`
      : `${failed.length} of ${verdicts.length} invariants broken (seed ${seed}; logs of the layers in ${dir}, kept with --keep)`,
  )
  return failed.length === 0 ? 0 : 1
}

/** Runs `f` with an admin client of its own, closed after. */
async function withAdmin<T>(config: Config, f: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = createAdmin(config, 'vigil-scale-check')
  try {
    return await f(admin)
  } finally {
    await admin.close().catch(() => undefined)
  }
}

/** One flow sample: each partition's end and both groups' commits, and the producer's acknowledged count when they came back. */
async function flowSample(admin: Admin, config: Config, ackedNow: () => number): Promise<FlowSample | undefined> {
  const groups = consumerGroups(config.topicPrefix)
  const lags = await committedLag(admin, { groups: [groups.speed, groups.archiver], topic: topicNames(config.topicPrefix).readings })
  if (lags === null) return undefined
  const committed: Record<string, number[]> = {}
  for (const g of lags) committed[g.group] = g.partitions.map((p) => p.committed ?? -1)
  return { at: Date.now(), acked: ackedNow(), end: lags[0]?.partitions.map((p) => p.end) ?? [], committed }
}

/** The last line of a layer's log, for a report. */
function lastLogLine(file: string): string {
  try {
    return (readFileSync(file, 'utf8').trimEnd().split('\n').at(-1) ?? '').slice(0, 240) || '(empty)'
  } catch {
    return '(no log)'
  }
}

/** Every crash of the run, as `name at S s (exit code): first error line`. */
function crashList(layers: readonly Layer[], runStart: number): string {
  return layers
    .flatMap((l) => l.crashes.map((c) => ({ name: l.name, ...c })))
    .sort((a, b) => a.at - b.at)
    .map((c) => `${c.name} at ${((c.at - runStart) / 1000).toFixed(1)} s (exit ${c.code ?? c.signal}): ${c.why}`)
    .join('; ')
}

/** The partitions of the member whose static id ends with `instanceId` (the archiver puts its topic in front of it). */
function heldBy(held: ReadonlyMap<string, number[]>, instanceId: string): number[] {
  for (const [member, parts] of held) if (member === instanceId || member.endsWith(`-${instanceId}`)) return parts
  return []
}

/** The partitions each member of `group` holds, by its static id (its member id without one). */
async function assignment(admin: Admin, group: string, topic: string): Promise<Map<string, number[]>> {
  const g = (await admin.describeGroups({ groups: [group] })).get(group)
  const out = new Map<string, number[]>()
  for (const m of g?.members.values() ?? [])
    out.set(
      m.groupInstanceId ?? m.id,
      [...(m.assignments?.get(topic)?.partitions ?? [])].sort((a, b) => a - b),
    )
  return out
}

/** The leader of each partition of `topic`. */
async function leadersOf(admin: Admin, topic: string): Promise<number[]> {
  const t = (await admin.metadata({ topics: [topic], forceUpdate: true })).topics.get(topic)
  return t?.partitions.map((p) => p.leader) ?? []
}

const partitionsLedBy = (leaders: readonly number[], broker: number) => leaders.flatMap((l, p) => (l === broker ? [p] : []))

/** The broker that leads most partitions (the lowest id on a tie). */
function mostLeading(leaders: readonly number[]): number {
  let best = 1
  for (let b = 1; b <= BROKERS; b++) if (partitionsLedBy(leaders, b).length > partitionsLedBy(leaders, best).length) best = b
  return best
}

/** Partitions of `topic` with fewer in-sync replicas than replicas. */
async function underReplicated(admin: Admin, topic: string): Promise<number> {
  const t = (await admin.metadata({ topics: [topic], forceUpdate: true })).topics.get(topic)
  return t === undefined ? Number.POSITIVE_INFINITY : t.partitions.filter((p) => p.isr.length < p.replicas.length).length
}

/** The pid of the run's Redis, from its stack folder's pid file. */
function redisPid(dir: string): Promise<number | undefined> {
  return livePid(stackPaths(dir).redisPid, 'redis-server')
}

/** Each step's stall figures (flow.ts), as text. */
function describeSteps(rows: readonly StepRow[], samples: readonly FlowSample[], groups: { speed: string; archiver: string }) {
  const all = Array.from({ length: TOPIC_PARTITIONS.readings }, (_, p) => p)
  const pauseOver = (group: string, from: number, to: number) => worst(all.map((p) => pauseMs(samples, committedOf(group, p), from, to)))
  const brokers = rows
    .filter((r) => r.kind === 'broker')
    .map((r) => {
      const to = r.until ?? r.at + 30_000
      const led = r.led ?? []
      return {
        step: r.step,
        producerPause: seconds(pauseMs(samples, acked, r.at, to)),
        writesPause: led.length === 0 ? 'led none' : seconds(worst(led.map((p) => pauseMs(samples, endOf(p), r.at, to)))),
        speedPause: seconds(pauseOver(groups.speed, r.at, to)),
        archiverPause: seconds(pauseOver(groups.archiver, r.at, to)),
      }
    })
  const instances = rows
    .filter((r) => r.kind === 'instance')
    .map((r) => {
      const held = r.held ?? []
      const group = r.group ?? groups.speed
      return {
        step: r.step,
        moved: held.join(', '),
        // The longest pause of its partitions' commits between the kill and the restart: the session timeout, the rebalance and the takeover.
        movedPause: seconds(worst(held.map((p) => pauseMs(samples, committedOf(group, p), r.at, r.restartedAt ?? r.until ?? r.at + 30_000)))),
        rejoin: r.restartedAt === undefined ? '-' : seconds(pauseOver(group, r.restartedAt, r.until ?? r.restartedAt + 30_000)),
      }
    })
  return { brokers, instances }
}

let code = 1
try {
  code = await main()
} catch (error) {
  say(`scale run aborted: ${(error as Error).stack ?? String(error)}`)
  code = 1
} finally {
  await cleanup()
}
say(`done in ${((Date.now() - t0) / 1000).toFixed(0)} s`)
process.exit(code)
