/**
 * `npm run test:chaos`: the real stack under a steady, seeded load while faults are injected
 * (kill -9 of the speed layer and of the archiver, a broker stop, a Redis restart with an empty
 * dataset, a SIGTERM of `vigil all`), then invariants checked by counting (invariants.ts).
 * It runs its own broker and Redis on other loopback ports, with state in a temporary folder,
 * so the shared services are never touched; everything it started is stopped and removed at the
 * end, on failure and on Ctrl-C too.
 *
 *   npm run test:chaos -- [--seconds 120] [--rate 5000] [--seed N] [--kills 10] [--keep]
 *                         [--skip kill-speed,kill-archive,broker,redis,all]  (to bisect a failure)
 *                         [--report FILE]  (the faults, invariants and view lag as JSON)
 *
 * One run takes about 3.5 minutes on a 2-core machine (CI runs it after `npm test`). There the
 * layers fall behind the load during the faults and catch up after it; the invariants are
 * checked once everything has caught up, so they do not depend on the machine's speed.
 * The view's lag (lag.ts: how long the oldest reading not yet on the screen has waited) is sampled
 * every second of the run and reported, with the longest lag within 30 s of each fault; it is a
 * figure, never a verdict, since it depends on the machine.
 */
import { randomBytes, randomInt } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { loadConfig, type Config } from '../../lib/config.ts'
import { createAdmin, ensureTopics } from '../../lib/kafka.ts'
import { connectRedis, type RedisClient } from '../../lib/redis.ts'
import { redisKeys } from '../../lib/contract/keys.ts'
import { createLogger } from '../../lib/log.ts'
import { pollUntil } from '../../lib/backoff.ts'
import { consumerGroups, topicNames, topicSpecs } from '../../lib/contract/topics.ts'
import { rawDir } from '../../batch-layer/lake.ts'
import { consumerLag } from '../../serving/health.ts'
import { Prng } from '../../edge/prng.ts'
import { edgeOptions, start as startEdge, type EdgeSummary } from '../../edge/index.ts'
import { Layer, childEnv, startPrivateStack, type PrivateStack } from './cluster.ts'
import { endOffsets, ledgerSink } from './ledger.ts'
import type { Verdict } from './invariants.ts'
import { checkInvariants } from './verdicts.ts'
import { lakeCoverage } from './coverage.ts'
import { table } from './table.ts'
import { ViewLagMeter, summarizeLag, type FaultMark, type LagSample, type LagSummary } from './lag.ts'

const ARGS = {
  options: {
    seconds: { type: 'string', default: '120' },
    rate: { type: 'string', default: '5000' },
    seed: { type: 'string' },
    kills: { type: 'string', default: '10' },
    'kafka-port': { type: 'string', default: '19092' },
    'redis-port': { type: 'string', default: '16379' },
    keep: { type: 'boolean', default: false },
    /** Faults left out, comma-separated, to bisect a failure: kill-speed, kill-archive, broker, redis, all. */
    skip: { type: 'string', default: '' },
    /** A file to write the faults, the invariants and the view's lag to, as JSON. */
    report: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
} as const
const USAGE =
  'usage: npm run test:chaos -- [--seconds S>=30] [--rate R] [--seed N] [--kills K] [--keep]\n' +
  '                             [--skip kill-speed,kill-archive,broker,redis,all] [--kafka-port P] [--redis-port P]\n' +
  '                             [--report FILE]\n'
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

const seconds = Number(args.seconds)
const rate = Number(args.rate)
const kills = Number(args.kills)
const skip = new Set(args.skip.split(',').filter(Boolean))
const seed = args.seed === undefined ? randomInt(0, 2 ** 32 - 1) : Number(args.seed)
if (!(seconds >= 30) || !(rate > 0) || !(kills >= 0) || !Number.isInteger(seed)) {
  process.stderr.write(USAGE)
  process.exit(2)
}
// The simulator sends ~1.06 readings per patient per simulated second: this many patients keep
// simulated time close to the wall clock, so event times stay within the allowed clock skew.
const patients = Math.max(20, Math.round(rate / 1.06))

const t0 = Date.now()
const clock = () => ((Date.now() - t0) / 1000).toFixed(1).padStart(6)
const say = (line: string) => process.stdout.write(`[${clock()}s] ${line}\n`)

interface FaultRow {
  fault: string
  count: number
  detail: string
}

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

async function main(): Promise<number> {
  say(
    `chaos run: seed ${seed}, ${seconds} s at ${rate} readings/s, ${patients} patients, ${kills} kills per layer (replay: --seed ${seed} --seconds ${seconds} --rate ${rate})`,
  )
  const chaosRng = new Prng(seed).fork('chaos')
  const id = `chaos-${randomBytes(4).toString('hex')}`
  const dir = await mkdtemp(path.join(tmpdir(), `vigil-${id}-`))
  cleanups.push(async () => {
    if (args.keep) say(`kept ${dir}`)
    else await rm(dir, { recursive: true, force: true })
  })
  const kafkaPort = Number(args['kafka-port'])
  const config: Config = loadConfig(
    {
      kafkaBrokers: `127.0.0.1:${kafkaPort}`,
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
  const keys = redisKeys(config.redisPrefix)

  // --- the private stack -----------------------------------------------------------------
  let stack: PrivateStack | undefined
  cleanups.push(async () => {
    await stack?.stopAll()
  })
  const stackStarted = Date.now()
  stack = await startPrivateStack(config, path.join(dir, 'stack'), () => undefined)
  say(`own broker on 127.0.0.1:${kafkaPort} and Redis on ${config.redisUrl} up in ${Date.now() - stackStarted} ms (state in ${dir})`)
  const admin = createAdmin(config)
  cleanups.push(() => admin.close())
  await ensureTopics(admin, topicSpecs(config.topicPrefix))
  const redis = await connectRedis(config)
  redis.on('error', () => undefined)
  cleanups.push(() => void redis.destroy())

  // --- the layers as child processes ------------------------------------------------------
  const env = childEnv(config)
  const speed = new Layer('speed', ['speed', '--instance-id', 'chaos-speed'], env, path.join(dir, 'speed.log'))
  const archiver = new Layer('archive', ['archive', '--flush-interval-ms', '2000'], env, path.join(dir, 'archive.log'))
  const layers = [speed, archiver]
  cleanups.push(() => {
    for (const l of layers) l.forceStop()
  })
  speed.start()
  archiver.start()

  // --- load ---------------------------------------------------------------------------------
  const ledger = ledgerSink(config, log)
  const cpuBefore = process.cpuUsage()
  const edge = await startEdge({ ...config, edge: edgeOptions({ patients, rate, duration: seconds, seed, faults: 0.01 }) }, { log, sink: ledger.sink })
  cleanups.push(() => edge.stop())
  const runStart = Date.now()
  const T = seconds * 1000
  say(`simulator started (in-process, ledger of every record sent)`)

  // --- samplers: the view's lag; consumer lag of the speed layer, CPU of the layers ------------
  let sampling = true
  // The simulator's schedule ends at runStart + T (its summary comes later, once Kafka has acknowledged everything).
  let loadEnd = runStart + T
  let maxLag = 0
  let maxLagAt = 0
  let lastProgress = Date.now()
  const faultMarks: FaultMark[] = []
  const mark = (fault: string) => faultMarks.push({ atMs: Date.now(), fault })
  const lagSamples: LagSample[] = []
  const viewLag = (async () => {
    const meter = new ViewLagMeter()
    let ledgerRead = 0
    let next = Date.now()
    while (sampling) {
      const shown = await readShown(redis, keys.patients)
      const records = ledger.records
      for (; ledgerRead < records.length; ledgerRead++) {
        const r = records[ledgerRead]!
        if (r.fault === undefined) meter.produced(r.key, r.ts)
      }
      const now = Date.now()
      lagSamples.push(meter.sample(now, shown, now < loadEnd))
      next += 1_000
      await sleep(Math.max(0, next - Date.now()))
    }
  })()
  const samplers = (async () => {
    while (sampling) {
      for (const l of layers) l.sampleCpu()
      try {
        const lag = (await Promise.race([consumerLag(admin, config), sleep(2_000).then(() => [])])).find((g) => g.group.endsWith('vigil-speed'))?.lag ?? null
        if (lag !== null && lag > maxLag) {
          maxLag = lag
          maxLagAt = (Date.now() - runStart) / 1000
        }
        if (Date.now() - lastProgress >= 10_000) {
          lastProgress = Date.now()
          const inRedis = await redis.zCard(keys.patients).catch(() => '?')
          const viewLagS = ((lagSamples.at(-1)?.lagMs ?? 0) / 1000).toFixed(1)
          say(
            `sent ${edge.stats().sent}, speed lag ${lag ?? '?'}, view lag ${viewLagS} s, patients in Redis ${inRedis}, layers up: ${layers
              .filter((l) => l.running)
              .map((l) => l.name)
              .join(' ')}`,
          )
        }
      } catch {
        // The broker is down on purpose now and then.
      }
      await sleep(1_000)
    }
  })()

  // --- faults ----------------------------------------------------------------------------------
  const at = (ms: number) => sleep(Math.max(0, runStart + ms - Date.now()))
  const faults: FaultRow[] = []
  // `vigil all` runs an archiver too and the lake takes one at a time: it borrows the archiver's turn.
  let archiverTurn: Promise<void> = Promise.resolve()
  const withArchiver = <T>(f: () => Promise<T>): Promise<T> => {
    const run = archiverTurn.then(f)
    archiverTurn = run.then(
      () => undefined,
      () => undefined,
    )
    return run
  }
  const killTimes: string[] = []
  // Each fault draws from its own stream of the seed: the schedule does not depend on how the
  // tasks interleave, so a seed replays the same faults at the same moments.
  const killLoop = async (layer: Layer): Promise<FaultRow> => {
    const rng = chaosRng.fork(`kill-${layer.name}`)
    const times = Array.from({ length: kills }, () => rng.uniform(0.05 * T, 0.85 * T)).sort((a, b) => a - b)
    let pauses = 0
    for (const t of times) {
      await at(t)
      const pause = rng.uniform(300, 2_500)
      pauses += pause
      const fault = async () => {
        killTimes.push(`${layer.name} ${clock().trim()}`)
        mark(`kill -9 ${layer.name}`)
        await layer.kill9()
        await sleep(pause)
        layer.start()
      }
      await (layer === archiver ? withArchiver(fault) : fault())
    }
    return { fault: `kill -9 ${layer.name}`, count: layer.kills, detail: `restarted after ${(pauses / Math.max(1, kills) / 1000).toFixed(1)} s on average` }
  }
  const brokerFault = async (): Promise<FaultRow> => {
    const rng = chaosRng.fork('broker')
    await at(rng.uniform(0.25 * T, 0.4 * T))
    const downMs = rng.uniform(3_000, 8_000)
    mark('broker stop')
    const stopMs = await stack!.stopBroker()
    say(`broker stopped (${stopMs} ms), down for ${(downMs / 1000).toFixed(1)} s`)
    await sleep(downMs)
    const startMs = await stack!.startBroker()
    say(`broker back (${startMs} ms to answer)`)
    return { fault: 'broker stop + restart', count: 1, detail: `stop ${stopMs} ms, down ${((downMs + startMs) / 1000).toFixed(1)} s in all` }
  }
  const redisFault = async (brokerDone: Promise<unknown>): Promise<FaultRow> => {
    const rng = chaosRng.fork('redis')
    await at(rng.uniform(0.55 * T, 0.7 * T))
    // Not while the broker is down: the rebuild time would measure the broker's outage.
    await brokerDone
    // A view to lose: the speed layer has written some patients.
    await pollUntil(async () => (await redis.zCard(keys.patients).catch(() => 0)) > 0, {
      timeoutMs: 60_000,
      intervalMs: 250,
      what: 'the speed layer to write a view',
    }).catch(() => undefined)
    const before = await redis.zCard(keys.patients)
    mark('Redis wipe')
    const ms = await stack!.restartRedis()
    const back = Date.now()
    say(`Redis restarted empty (${ms} ms); ${before} patients to rebuild`)
    let rebuildMs = -1
    try {
      await pollUntil(async () => (await redis.zCard(keys.patients).catch(() => 0)) >= before, {
        timeoutMs: 60_000,
        intervalMs: 250,
        what: 'the view to be rebuilt',
      })
      rebuildMs = Date.now() - back
    } catch {
      // Reported as not rebuilt within 60 s; the final invariants say whether it ever was.
    }
    return {
      fault: 'Redis restart, empty dataset',
      count: 1,
      detail: rebuildMs >= 0 ? `view rebuilt (${before} patients) in ${(rebuildMs / 1000).toFixed(1)} s` : 'view NOT rebuilt within 60 s',
    }
  }
  const allFault = async (): Promise<FaultRow> => {
    const rng = chaosRng.fork('all')
    await at(rng.uniform(0.7 * T, 0.75 * T))
    return withArchiver(async () => {
      await archiver.terminate()
      const ports = {
        VIGIL_PORT: String(20000 + randomInt(0, 20000)),
        VIGIL_INGEST_PORT: String(40000 + randomInt(0, 20000)),
        VIGIL_TOKEN: randomBytes(16).toString('hex'),
      }
      const all = new Layer('all', ['all', '--no-edge'], childEnv(config, ports), path.join(dir, 'all.log'))
      layers.push(all)
      try {
        all.start()
        // SIGTERM while it works: once the dashboard answers (every stage started), a few seconds in.
        const ready = Date.now()
        await pollUntil(async () => (await fetch(`http://127.0.0.1:${ports.VIGIL_PORT}/healthz`).catch(() => undefined))?.status !== undefined, {
          timeoutMs: 90_000,
          intervalMs: 250,
          what: 'vigil all to answer',
        })
        const startedMs = Date.now() - ready
        await sleep(rng.uniform(1_000, 6_000))
        mark('SIGTERM vigil all')
        const { code, ms } = await all.terminate(30_000)
        say(`vigil all --no-edge: SIGTERM, exit ${code} after ${ms} ms`)
        allExit = { code, ms }
        return {
          fault: 'SIGTERM vigil all --no-edge',
          count: 1,
          detail: `answered after ${(startedMs / 1000).toFixed(1)} s; exit code ${code}, ${ms} ms after SIGTERM`,
        }
      } finally {
        all.forceStop()
        archiver.start()
      }
    })
  }
  let allExit: { code: number | null; ms: number } | undefined
  const none = (fault: string): Promise<FaultRow> => Promise.resolve({ fault, count: 0, detail: 'skipped (--skip)' })
  const broker: Promise<FaultRow> = skip.has('broker') ? none('broker stop + restart') : brokerFault()
  const chaos = Promise.all([
    skip.has('kill-speed') ? none('kill -9 speed') : killLoop(speed),
    skip.has('kill-archive') ? none('kill -9 archive') : killLoop(archiver),
    broker,
    skip.has('redis') ? none('Redis restart, empty dataset') : redisFault(broker),
    skip.has('all') ? none('SIGTERM vigil all --no-edge') : allFault(),
  ])

  const summary: EdgeSummary = await edge.done
  loadEnd = Math.min(loadEnd, Date.now())
  faults.push(...(await chaos))
  say(`kill -9 at (s, clock of these lines): ${killTimes.join(', ')}`)
  say(
    `simulator done: ${summary.sent} sent, ${summary.acked} acked, ${summary.outages} outages (${summary.outageMs} ms) in ${(summary.elapsedMs / 1000).toFixed(1)} s`,
  )
  const cpuEdgeMs = (() => {
    const u = process.cpuUsage(cpuBefore)
    return (u.user + u.system) / 1000
  })()

  // --- drain: the layers catch up, then stop cleanly ---------------------------------------------
  for (const l of [speed, archiver]) l.start()
  const drainStart = Date.now()
  const ends = await endOffsets(config, topics.readings)
  // Caught up, by the processes running now: the speed layer alone in its group (members killed
  // with -9 are gone after the session timeout) with no lag; the archiver holding the lake's lock.
  const speedGroup = consumerGroups(config.topicPrefix).speed
  await pollUntil(
    async () => {
      const group = (await admin.describeGroups({ groups: [speedGroup] })).get(speedGroup)
      if (group === undefined || group.members.size !== 1 || String(group.state).toUpperCase() !== 'STABLE') return false
      const lag = (await consumerLag(admin, config)).find((g) => g.group === speedGroup)?.lag
      return lag === 0
    },
    { timeoutMs: 180_000, intervalMs: 500, what: 'the speed layer to catch up' },
  )
  const lock = path.join(rawDir(config.datalakeDir, 'readings'), '..', `.archiver-${topics.readings}.lock`)
  await pollUntil(
    async () => (await readFile(lock, 'utf8').catch(() => '')).trim() === String(archiver.pid) && (await lakeCoverage(config.datalakeDir, ends)) === 0,
    {
      timeoutMs: 180_000,
      intervalMs: 500,
      what: 'the archiver to reach the end of every partition',
    },
  )
  say(`layers caught up in ${((Date.now() - drainStart) / 1000).toFixed(1)} s`)
  sampling = false
  await Promise.all([samplers, viewLag])
  const lagSummary = summarizeLag(lagSamples, faultMarks, { loadEndMs: loadEnd, windowMs: LAG_WINDOW_MS })
  for (const l of [speed, archiver]) l.sampleCpu()
  const stops = await Promise.all([speed.terminate(), archiver.terminate()])

  // --- invariants -----------------------------------------------------------------------------------
  const checkStart = Date.now()
  const verdicts: Verdict[] = [
    ...(await checkInvariants({ config, ledger: ledger.records, summary, redis, keys, t0 })),
    {
      name: 'every layer stops cleanly on SIGTERM',
      pass: stops.every((s) => s.code === 0) && (skip.has('all') || (allExit?.code === 0 && (allExit?.ms ?? Infinity) <= 15_000)),
      figures: `speed exit ${stops[0]!.code} (${stops[0]!.ms} ms), archive exit ${stops[1]!.code} (${stops[1]!.ms} ms), vigil all exit ${allExit?.code} (${allExit?.ms} ms)`,
    },
  ]
  const checkMs = Date.now() - checkStart

  // --- report ---------------------------------------------------------------------------------------
  const total = summary.sent
  const perK = (ms: number) => ((ms / 1000) * 1000) / Math.max(1, total)
  process.stdout.write('\nFaults injected\n')
  process.stdout.write(
    table(
      ['fault', 'count', 'detail'],
      faults.map((f) => [f.fault, String(f.count), f.detail]),
    ),
  )
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
        ['readings sent / lost / duplicated in the lake', `${total} / ${verdicts[1]!.pass ? 0 : 'see above'} / ${verdicts[1]!.pass ? 0 : 'see above'}`],
        ['longest speed-layer lag in records (consumer group)', `${maxLag} (at ${maxLagAt.toFixed(0)} s into the run)`],
        ...lagFigures(lagSummary, runStart),
        [
          'CPU s per 1,000 readings: simulator + suite / speed / archiver',
          `${perK(cpuEdgeMs).toFixed(3)} / ${perK(speed.cpuMs).toFixed(3)} / ${perK(archiver.cpuMs).toFixed(3)} (speed and archiver include their restarts)`,
        ],
        ['drain after the load / checks', `${((checkStart - drainStart) / 1000).toFixed(1)} s / ${(checkMs / 1000).toFixed(1)} s`],
        ['seed', String(seed)],
      ],
    ),
  )
  process.stdout.write(`\nView lag after each fault (longest within ${LAG_WINDOW_MS / 1000} s of it)\n`)
  process.stdout.write(
    table(
      ['at (s into the run)', 'fault', 'longest view lag (s)'],
      lagSummary.perFault.map(({ fault, maxLagMs }) => [
        ((fault.atMs - runStart) / 1000).toFixed(1),
        fault.fault,
        maxLagMs === null ? 'no sample' : (maxLagMs / 1000).toFixed(1),
      ]),
    ),
  )
  if (args.report !== undefined) {
    const report = {
      seed,
      seconds,
      rate,
      patients,
      faults,
      invariants: verdicts.map(({ name, pass, figures }) => ({ name, pass, figures })),
      viewLag: lagReport(lagSummary, lagSamples, runStart, loadEnd),
    }
    await writeFile(args.report, `${JSON.stringify(report, null, 1)}\n`)
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

/** The window after a fault in which the view's lag is ascribed to it. */
const LAG_WINDOW_MS = 30_000

/**
 * The view's patients (id → event time of the newest applied reading), or null when Redis does not
 * answer within the sampling second (down on purpose): one command per sample.
 */
async function readShown(redis: RedisClient, patientsKey: string): Promise<Map<string, number> | null> {
  const entries = await Promise.race([redis.zRangeWithScores(patientsKey, 0, -1), sleep(900).then(() => null)]).catch(() => null)
  return entries === null ? null : new Map(entries.map((e) => [String(e.value), e.score]))
}

/** The view's lag for the JSON report, times in seconds into the run. */
function lagReport(lag: LagSummary, samples: readonly LagSample[], runStart: number, loadEnd: number) {
  const s = (ms: number) => Math.round((ms - runStart) / 100) / 10
  const longest = lag.longest
  return {
    definition:
      'per patient, the age of the oldest reading sent (without an injected fault) newer than what the view shows; the longest over patients (test/chaos/lag.ts)',
    loadEndS: s(loadEnd),
    longest:
      longest === null
        ? null
        : {
            lagS: longest.sample.lagMs / 1000,
            atS: s(longest.sample.atMs),
            patient: longest.sample.patient,
            after: longest.after === null ? null : { atS: s(longest.after.atMs), fault: longest.after.fault },
          },
    atLoadEndS: (lag.atLoadEnd?.lagMs ?? 0) / 1000,
    lastS: (lag.last?.lagMs ?? 0) / 1000,
    perFault: lag.perFault.map(({ fault, maxLagMs }) => ({ atS: s(fault.atMs), fault: fault.fault, maxLagS: maxLagMs === null ? null : maxLagMs / 1000 })),
    /** [s into the run, lag s, the patient waiting longest (null: the simulator's newest record), patients missing from the view, view readable] */
    samples: samples.map((x) => [s(x.atMs), x.lagMs / 1000, x.patient, x.missing, x.readable]),
  }
}

/** The view-lag rows of the figures table. */
function lagFigures(lag: LagSummary, runStart: number): string[][] {
  const at = (ms: number) => `${((ms - runStart) / 1000).toFixed(0)} s into the run`
  const seconds = (sample: LagSample | null) => (sample === null ? 'no sample' : `${(sample.lagMs / 1000).toFixed(1)} s`)
  const longest = lag.longest
  const after = longest?.after
  return [
    [
      'longest view lag (oldest reading not yet on the screen, sampled every second)',
      longest === null
        ? 'no sample'
        : `${seconds(longest.sample)} at ${at(longest.sample.atMs)}, ${after === null || after === undefined ? 'before any fault' : `${((longest.sample.atMs - after.atMs) / 1000).toFixed(0)} s after ${after.fault} (${at(after.atMs)})`}`,
    ],
    ['view lag at the end of the load / once caught up', `${seconds(lag.atLoadEnd)} / ${seconds(lag.last)}`],
  ]
}

let code = 1
try {
  code = await main()
} catch (error) {
  say(`chaos run aborted: ${(error as Error).stack ?? String(error)}`)
  code = 1
} finally {
  await cleanup()
}
say(`done in ${((Date.now() - t0) / 1000).toFixed(0)} s`)
process.exit(code)
