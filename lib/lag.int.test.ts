/**
 * The lag every layer reports (lib/lag.ts, `vigil status`, the speed layer's status line) checked
 * against an independent client: kafkajs's admin (`fetchTopicOffsets` + `fetchOffsets`), which
 * shares no code with @platformatic/kafka.
 */
import { execFile } from 'node:child_process'
import { Writable } from 'node:stream'
import { promisify } from 'node:util'
import kafkajs from 'kafkajs'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Consumer, Producer, type Message } from '@platformatic/kafka'
import { TOPIC_PARTITIONS, consumerGroups, topicNames } from './contract/topics.ts'
import { DEFAULT_SPEED_OPTIONS, start, type SpeedLayer } from '../speed-layer/index.ts'
import { createTestEnv, freePort, type TestEnv } from '../test/support.ts'
import { pollUntil } from './backoff.ts'
import { createAdmin, kafkaBaseOptions } from './kafka.ts'
import { committedLag, describeLag, type GroupLag } from './lag.ts'
import { createLogger } from './log.ts'

const run = promisify(execFile)

interface IndependentPartition {
  partition: number
  end: number
  committed: number | null
  lag: number
}

/** Lag per partition by kafkajs: high watermark minus the committed offset, or minus the low watermark when none is committed. */
async function kafkajsLag(brokers: readonly string[], group: string, topic: string): Promise<{ total: number; partitions: IndependentPartition[] }> {
  const admin = new kafkajs.Kafka({ clientId: 'vigil-lag-test', brokers: [...brokers], logLevel: kafkajs.logLevel.NOTHING }).admin()
  await admin.connect()
  try {
    const offsets = await admin.fetchTopicOffsets(topic)
    const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] })
    const partitions = offsets
      .map((o) => {
        const c = Number(committed?.partitions.find((p) => p.partition === o.partition)?.offset ?? '-1')
        const end = Number(o.high)
        return { partition: o.partition, end, committed: c < 0 ? null : c, lag: end - (c < 0 ? Number(o.low) : c) }
      })
      .sort((a, b) => a.partition - b.partition)
    return { total: partitions.reduce((s, p) => s + p.lag, 0), partitions }
  } finally {
    await admin.disconnect()
  }
}

const strip = (g: Pick<GroupLag, 'total' | 'partitions'>) => ({
  total: g.total,
  partitions: g.partitions.map(({ partition, end, committed, lag }) => ({ partition, end, committed, lag })),
})

describe('committed-offset lag', () => {
  let env: TestEnv
  let producer: Producer<Buffer, Buffer, Buffer, Buffer>
  const layers: SpeedLayer[] = []

  beforeEach(async () => {
    env = await createTestEnv()
    producer = new Producer({ ...kafkaBaseOptions(env.config, 'test-lag-producer'), acks: -1 })
  })
  afterEach(async () => {
    for (const l of layers.splice(0)) await l.stop()
    await producer.close()
    await env.cleanup()
  })

  it('is, per group and partition, what kafkajs says, from lib/lag.ts and from `vigil status --json` alike', async () => {
    const topic = env.topics.readings
    const groups = consumerGroups(env.config.topicPrefix)
    // Records per partition: p5 and the partitions after it stay empty.
    const counts = [12, 9, 7, 15, 10, 0]
    await producer.send({
      messages: counts.flatMap((n, partition) =>
        Array.from({ length: n }, (_, i) => ({ topic, partition, key: Buffer.from(`k-${partition}-${i}`), value: Buffer.from('{}') })),
      ),
    })

    // The speed layer's group reads everything, then commits p0 to its end, p1 to 3 and p2 to 0;
    // nothing on p3-p5.
    const consumer = new Consumer({ ...kafkaBaseOptions(env.config, 'test-lag-consumer'), groupId: groups.speed, autocommit: false, maxWaitTime: 100 })
    try {
      const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false, maxWaitTime: 100 })
      const total = counts.reduce((a, b) => a + b, 0)
      let read = 0
      await new Promise<void>((resolve, reject) => {
        stream.on('data', (_m: Message<Buffer, Buffer, Buffer, Buffer>) => {
          if (++read === total) resolve()
        })
        stream.on('error', reject)
      })
      await consumer.commit({
        offsets: [
          { topic, partition: 0, offset: 12n, leaderEpoch: -1 },
          { topic, partition: 1, offset: 3n, leaderEpoch: -1 },
          { topic, partition: 2, offset: 0n, leaderEpoch: -1 },
        ],
      })
      await stream.close()
    } finally {
      await consumer.close(true)
    }

    // Records deleted before offset 5 on p3: its log start moves to 5, so a group without a commit
    // there is 10 behind, not 15.
    const kafkaAdmin = new kafkajs.Kafka({ clientId: 'vigil-lag-test', brokers: [...env.config.kafkaBrokers], logLevel: kafkajs.logLevel.NOTHING }).admin()
    await kafkaAdmin.connect()
    try {
      // kafkajs finds the partition's leader in metadata it must have loaded first.
      await kafkaAdmin.fetchTopicMetadata({ topics: [topic] })
      await kafkaAdmin.deleteTopicRecords({ topic, partitions: [{ partition: 3, offset: '5' }] })
    } finally {
      await kafkaAdmin.disconnect()
    }

    const none = (n: number) => Array.from({ length: n }, () => null)
    const expected = {
      [groups.speed]: { total: 0 + 6 + 7 + 10 + 10 + 0, committed: [12, 3, 0, ...none(TOPIC_PARTITIONS.readings - 3)] },
      // The archiver's group never committed: every partition counts from its log start.
      [groups.archiver]: { total: 12 + 9 + 7 + 10 + 10 + 0, committed: none(TOPIC_PARTITIONS.readings) },
    }
    const independent = {
      [groups.speed]: await kafkajsLag(env.config.kafkaBrokers, groups.speed, topic),
      [groups.archiver]: await kafkajsLag(env.config.kafkaBrokers, groups.archiver, topic),
    }
    for (const [group, e] of Object.entries(expected)) {
      expect(independent[group]?.total).toBe(e.total)
      expect(independent[group]?.partitions.map((p) => p.committed)).toEqual(e.committed)
    }

    const admin = createAdmin(env.config, 'test-lag')
    let ours: GroupLag[] | null
    try {
      ours = await committedLag(admin, { groups: [groups.speed, groups.archiver], topic })
    } finally {
      await admin.close()
    }
    expect(ours?.map((g) => g.group)).toEqual([groups.speed, groups.archiver])
    for (const g of ours ?? []) expect(strip(g)).toEqual(independent[g.group])
    expect(ours?.[0]?.partitions[3]).toMatchObject({ start: 5, end: 15, committed: null, lag: 10 })
    expect(describeLag(ours?.[0])).toBe('lag 33 (partition 3: 10)')

    const cli = ['bin/vigil.js', 'status', '--topic-prefix', env.config.topicPrefix, '--brokers', env.config.kafkaBrokers.join(',')]
    type TopicReport = { topic: string; exists: boolean; groups: GroupLag[] }
    const json = JSON.parse((await run('node', [...cli, '--json'])).stdout) as TopicReport & { events: TopicReport }
    expect(json).toMatchObject({ topic, exists: true })
    // The events topic's one group, the archiver's events consumer: nothing produced, nothing behind.
    expect(json.events).toMatchObject({ topic: topicNames(env.config.topicPrefix).events, exists: true })
    expect(json.events.groups.map((g) => [g.group, g.total, g.partitions.length])).toEqual([[groups.eventArchiver, 0, TOPIC_PARTITIONS.events]])
    expect(json.groups.map((g) => g.group)).toEqual([groups.speed, groups.archiver])
    for (const g of json.groups) expect(strip(g)).toEqual(independent[g.group])

    const text = (await run('node', cli)).stdout
    expect(text).toContain(`group ${groups.speed}`)
    expect(text).toMatch(/^ {2}total +33 +\(furthest behind: partition 3, 10\)$/m)
    expect(text).toMatch(/^ {2}3 +15 +- +10$/m)
    expect(text).toContain(`topic ${topicNames(env.config.topicPrefix).events}, ${TOPIC_PARTITIONS.events} partitions`)
    expect(text).toContain(`group ${groups.eventArchiver}`)
  })

  it('`vigil status` exits 3 with one sentence when Kafka does not answer', async () => {
    const port = await freePort()
    const failed = await run('node', ['bin/vigil.js', 'status', '--brokers', `127.0.0.1:${port}`]).then(
      () => undefined,
      (error: { code: number; stdout: string; stderr: string }) => error,
    )
    expect(failed?.code).toBe(3)
    expect(failed?.stdout).toBe('')
    expect(failed?.stderr).toBe(`vigil status: Kafka is not reachable at 127.0.0.1:${port}: start it with \`npx vigil stack up\` or set VIGIL_KAFKA_BROKERS.\n`)
  })

  it("the speed layer's status line reports lag 0 once it has caught up, as kafkajs does, however much it has read", async () => {
    const topic = env.topics.readings
    const lines: { msg: string; lag: number | null }[] = []
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line.includes('readings/s')) lines.push(JSON.parse(line) as { msg: string; lag: number | null })
        done()
      },
    })
    const log = createLogger({ level: 'info', pretty: false, destination: sink })
    const layer = await start({ ...env.config, speed: { ...DEFAULT_SPEED_OPTIONS, housekeepingIntervalMs: 300, statusIntervalMs: 300 } }, { log })
    layers.push(layer)

    let seq = 0
    const sendReadings = async (n: number) => {
      const now = Date.now()
      await producer.send({
        messages: Array.from({ length: n }, (_, i) => {
          const patientId = `p-${String(i % 20).padStart(4, '0')}`
          const reading = { v: 1, patientId, deviceId: `dev-${patientId}`, ts: now - n + i, seq: ++seq, vitals: { heartRate: 72, spo2: 98 } }
          return { topic, key: Buffer.from(patientId), value: Buffer.from(JSON.stringify(reading)) }
        }),
      })
    }
    // Twice: the lag the layer used to report grew with every record it had read since it joined.
    for (const produced of [200, 400]) {
      await sendReadings(200)
      const lag = await pollUntil(
        async () => {
          const l = layer.stats().lag
          // A measurement taken after the last record was produced (its ends cover them all).
          return l !== undefined && l !== null && l.partitions.reduce((s, p) => s + p.end, 0) === produced && l.total === 0 ? l : undefined
        },
        { timeoutMs: 60_000, intervalMs: 100, what: `the speed layer to report lag 0 over ${produced} records` },
      )
      expect(layer.stats().records).toBe(produced)
      expect(strip(lag)).toEqual(await kafkajsLag(env.config.kafkaBrokers, consumerGroups(env.config.topicPrefix).speed, topic))
    }
    await pollUntil(async () => lines.some((l) => l.lag === 0 && / lag 0, /.test(l.msg)), { timeoutMs: 5_000, what: 'a status line saying lag 0' })
  })
})
