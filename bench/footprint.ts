/**
 * Bytes per reading, the figures a capacity plan is made of (docs/ARCHITECTURE.md, Scaling out):
 * the simulator's readings (its personas and devices, as in production) sent to a topic of their
 * own through the producer the simulator and the gateway use (snappy, acks=all), then
 * - the JSON value of a reading, on average, and the broker's CPU per reading produced (the
 *   simulator at its maximum rate, as many patients' readings per request as the producer batches);
 * - the topic's size on the broker's disk per reading (one replica; describeLogDirs);
 * - the lake's size per reading once the archiver has drained the topic (its Parquet files as
 *   written, before compaction merges a closed day's files);
 * - Redis's memory per patient whose view holds a full series window at 1 Hz (900 entries in 15
 *   minutes), written by the speed layer's own batch calls (speed-layer/view.ts).
 *
 *   npx tsx bench/footprint.ts [--patients 2000] [--seconds 20] [--redis-patients 1000]
 *
 * Runs on its own topic prefix, Redis prefix and temporary lake, all removed afterwards.
 */
import { randomUUID } from 'node:crypto'
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'
import type { ChildProcess } from 'node:child_process'
import { loadConfig, type Config } from '../lib/config.ts'
import { createAdmin, ensureTopics } from '../lib/kafka.ts'
import { createLogger } from '../lib/log.ts'
import { TOPIC_PARTITIONS, consumerGroups, topicNames } from '../lib/contract/topics.ts'
import { rawDir } from '../batch-layer/lake.ts'
import { run } from '../edge/index.ts'
import { connectRedis, deleteKeys } from '../lib/redis.ts'
import { redisKeys } from '../lib/contract/keys.ts'
import { applyReadings, emptyPatient } from '../speed-layer/patients.ts'
import { DEFAULT_SPEED_OPTIONS } from '../speed-layer/index.ts'
import { batchCalls, epochKey, setShardEpochs, writeBatch, type PatientChange } from '../speed-layer/view.ts'
import { makeReading, measureDrain, processCpuSeconds, servicePids, spawnLayer, stopLayer, textTable } from './drain.ts'

export interface Footprint {
  readings: number
  patients: number
  /** Mean length of a reading's JSON value, bytes. */
  jsonBytes: number
  /** The topic's log segments on disk (one replica), bytes per reading. */
  kafkaBytes: number
  /** The archiver's Parquet files, bytes per reading. */
  lakeBytes: number
  lakeFiles: number
  /** The broker's CPU per reading produced, µs (null when its process is not on this machine). */
  brokerProduceMicros: number | null
}

/** Sum of the sizes of the files under `dir` whose name ends with `suffix`. */
async function filesSize(dir: string, suffix: string): Promise<{ bytes: number; files: number }> {
  const entries = await readdir(dir, { recursive: true }).catch(() => [] as string[])
  let bytes = 0
  let files = 0
  for (const e of entries.filter((name) => name.endsWith(suffix))) {
    bytes += (await stat(path.join(dir, e))).size
    files++
  }
  return { bytes, files }
}

export async function measureFootprint(base: Config, patients: number, seconds: number, progress: (line: string) => void): Promise<Footprint> {
  const id = `bench-${randomUUID().slice(0, 8)}`
  const lake = await mkdtemp(path.join(tmpdir(), `vigil-${id}-`))
  const config: Config = Object.freeze({ ...base, topicPrefix: `${id}.`, redisPrefix: `${id}:`, datalakeDir: lake, logLevel: 'warn' as const })
  const topic = topicNames(config.topicPrefix).readings
  const admin = createAdmin(config, 'vigil-bench-admin')
  let child: ChildProcess | undefined
  try {
    await ensureTopics(admin, [{ name: topic, partitions: TOPIC_PARTITIONS.readings }])
    const log = createLogger({ level: 'warn', destination: process.stderr })
    const broker = (await servicePids(config, ['kafka']))[0]?.pid
    const brokerCpu0 = broker === undefined ? null : processCpuSeconds(broker)
    const summary = await run(config, { patients, rate: 'max', duration: seconds, seed: 5 }, { log })
    const brokerCpu1 = broker === undefined ? null : processCpuSeconds(broker)
    const brokerProduceMicros = brokerCpu0 === null || brokerCpu1 === null ? null : Math.round(((brokerCpu1 - brokerCpu0) * 1e7) / summary.acked) / 10
    progress(`sent ${summary.acked} readings of ${patients} patients`)
    let valueBytes = 0
    let readings = 0
    // The values' lengths, from the broker: what the producer actually sent.
    const { Consumer } = await import('@platformatic/kafka')
    const { kafkaBaseOptions } = await import('../lib/kafka.ts')
    const consumer = new Consumer({ ...kafkaBaseOptions(config, 'vigil-bench-footprint'), groupId: `${id}-count` })
    try {
      const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false })
      for await (const m of stream) {
        valueBytes += (m.value as Buffer).length
        if (++readings >= summary.acked) break
      }
      await stream.close()
    } finally {
      await consumer.close(true)
    }
    const dirs = await admin.describeLogDirs({ topics: [{ name: topic, partitions: [...Array(TOPIC_PARTITIONS.readings).keys()] }] })
    let kafka = 0n
    const partitions = dirs.flatMap((broker) => broker.results.flatMap((r) => r.topics.filter((t) => t.name === topic).flatMap((t) => t.partitions)))
    for (const p of partitions) kafka += BigInt(p.partitionSize)
    child = spawnLayer(['archive', '--compact-interval-ms', '0'], {
      VIGIL_TOPIC_PREFIX: config.topicPrefix,
      VIGIL_REDIS_PREFIX: config.redisPrefix,
      VIGIL_DATALAKE_DIR: config.datalakeDir,
    })
    await measureDrain({ admin, group: consumerGroups(config.topicPrefix).archiver, topic, total: readings, child, what: 'the archiver' })
    await stopLayer(child)
    const parquet = await filesSize(rawDir(lake, 'readings'), '.parquet')
    return {
      readings,
      patients,
      jsonBytes: Math.round(valueBytes / readings),
      kafkaBytes: Math.round((Number(kafka) / readings) * 10) / 10,
      lakeBytes: Math.round((parquet.bytes / readings) * 10) / 10,
      lakeFiles: parquet.files,
      brokerProduceMicros,
    }
  } finally {
    await stopLayer(child)
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined)
    await admin.close()
    await rm(lake, { recursive: true, force: true })
  }
}

/** Redis's used_memory growth per patient for `patients` patients with a full series window at 1 Hz. */
export async function redisBytesPerPatient(base: Config, patients: number): Promise<number> {
  const prefix = `bench-${randomUUID().slice(0, 8)}:`
  const keys = redisKeys(prefix)
  const redis = await connectRedis(base)
  const options = { seriesWindowMs: DEFAULT_SPEED_OPTIONS.seriesWindowMs, alertStreamMaxLen: 10_000, news2FreshnessMs: DEFAULT_SPEED_OPTIONS.news2FreshnessMs }
  const perPatient = Math.floor(options.seriesWindowMs / 1_000)
  const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? Number.NaN)
  try {
    await redis.set(epochKey(keys), 'bench')
    await setShardEpochs(redis, keys, 'bench')
    const runtimes = Array.from({ length: patients }, (_, p) => emptyPatient(`p-${String(p).padStart(5, '0')}`))
    const before = await usedMemory()
    const start = Date.now() - perPatient * 1_000
    // In batches of 30 s of readings, as the speed layer writes a steady stream.
    for (let k = 0; k < perPatient; k += 30) {
      const changes: PatientChange[] = runtimes.map((runtime, p) => {
        const accepted = []
        for (let j = k; j < Math.min(perPatient, k + 30); j++) {
          const r = { ...makeReading(j * patients + p, patients, start + j * 1_000), deviceId: `dev-${p}`, seq: j }
          accepted.push({ reading: r, noSignal: [], arrivedAt: r.ts })
        }
        return { runtime, outcome: applyReadings(runtime, accepted, DEFAULT_SPEED_OPTIONS) }
      })
      await writeBatch(redis, keys, batchCalls(keys, changes, [], options, 'bench'), 'bench')
    }
    return Math.round(((await usedMemory()) - before) / patients)
  } finally {
    await deleteKeys(redis, keys.everything).catch(() => undefined)
    redis.destroy()
  }
}

if (process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === import.meta.url) {
  const { values } = parseArgs({
    options: {
      patients: { type: 'string', default: '2000' },
      seconds: { type: 'string', default: '20' },
      'redis-patients': { type: 'string', default: '1000' },
    },
  })
  const config = loadConfig({}, {})
  const f = await measureFootprint(config, Number(values.patients), Number(values.seconds), (line) => process.stderr.write(`${line}\n`))
  const redisPatients = Number(values['redis-patients'])
  const perPatient = await redisBytesPerPatient(config, redisPatients)
  const table = textTable([
    [
      'readings',
      'patients',
      'JSON value B',
      'broker CPU µs/reading produced',
      'Kafka B/reading (1 replica)',
      'lake B/reading',
      'lake files',
      `Redis B/patient (${redisPatients}, 15-min series)`,
    ],
    [
      String(f.readings),
      String(f.patients),
      String(f.jsonBytes),
      String(f.brokerProduceMicros ?? '?'),
      String(f.kafkaBytes),
      String(f.lakeBytes),
      String(f.lakeFiles),
      String(perPatient),
    ],
  ])
  process.stdout.write(`${table.join('\n')}\n`)
}
