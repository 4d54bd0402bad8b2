/**
 * `vigil stack up --kafka-nodes 3` for real: three KRaft brokers (combined controllers) on
 * 127.0.0.1:29092-29094, controllers on 29192-29194, state in a temporary stack folder, so the
 * shared broker is never touched. Topics are created by `vigil init`'s reset; Redis is the shared
 * one, under a random prefix.
 */
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Consumer, type Admin } from '@platformatic/kafka'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pollUntil } from '../lib/backoff.ts'
import { loadConfig, type Config } from '../lib/config.ts'
import { identityTopics, topicNames, topicSpecs } from '../lib/contract/topics.ts'
import { consumerGroupOptions, createAdmin, ensureTopics, kafkaAnswers, kafkaBaseOptions } from '../lib/kafka.ts'
import { BatchingProducer } from '../lib/producer.ts'
import { reset } from '../scripts/init.ts'
import { readWholeTopic } from '../test/chaos/ledger.ts'
import { down, status, up } from './index.ts'
import { startNode, stopNode } from './kafka-cluster.ts'
import { stackPaths } from './paths.ts'

const BROKERS = ['127.0.0.1:29092', '127.0.0.1:29093', '127.0.0.1:29094']
/** ConfigResourceTypes.TOPIC in the Kafka protocol. */
const TOPIC_RESOURCE = 2

describe('a 3-broker Kafka cluster from `vigil stack up --kafka-nodes 3`', () => {
  let dir: string
  let config: Config
  let admin: Admin
  let startedMs = 0

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'vigil-kafka-cluster-'))
    const id = `test-${randomUUID().slice(0, 8)}`
    // Every layer gets the whole list (VIGIL_KAFKA_BROKERS=...,...,...); `up` takes one broker per address.
    config = loadConfig(
      { kafkaBrokers: BROKERS.join(','), topicPrefix: `${id}.`, redisPrefix: `${id}:`, datalakeDir: path.join(dir, 'lake'), logLevel: 'warn' },
      {},
    )
    const t0 = Date.now()
    const results = await up(config, () => undefined, { dir, kafkaNodes: 3, only: 'kafka' })
    startedMs = Date.now() - t0
    expect(results.map((r) => [r.address, r.owner, r.action])).toEqual(BROKERS.map((b) => [b, 'native', 'started']))
    admin = createAdmin(config, 'vigil-cluster-test')
  })

  afterAll(async () => {
    await admin?.close().catch(() => undefined)
    await down(() => undefined, { dir, only: 'kafka' }).catch(() => undefined)
    await rm(dir, { recursive: true, force: true })
  })

  it('lists every broker as a native process in `vigil stack status`', async () => {
    const kafka = (await status(config, { dir })).filter((s) => s.service === 'kafka')
    expect(kafka.map((s) => [s.address, s.up, s.owner])).toEqual(BROKERS.map((b) => [b, true, 'native']))
    expect(kafka.every((s) => typeof s.pid === 'number')).toBe(true)
    expect(startedMs).toBeGreaterThan(0)
  })

  it('has `vigil init` create every topic with three replicas, all in sync, and min.insync.replicas 2', async () => {
    await reset(config)
    const names = [...topicSpecs(config.topicPrefix).map((t) => t.name), identityTopics(config.topicPrefix).registry.name]
    // The identity registry is created by what opens it, with ensureTopics: checked too.
    await ensureTopics(admin, [identityTopics(config.topicPrefix).registry])
    const metadata = await admin.metadata({ topics: names, forceUpdate: true })
    for (const name of names) {
      const topic = metadata.topics.get(name)
      expect(topic, name).toBeDefined()
      for (const p of topic!.partitions) {
        expect(p.replicas.toSorted(), name).toEqual([1, 2, 3])
        expect(p.isr.toSorted(), name).toEqual([1, 2, 3])
      }
    }
    const described = await admin.describeConfigs({
      resources: names.map((resourceName) => ({ resourceType: TOPIC_RESOURCE, resourceName, configurationKeys: ['min.insync.replicas', 'cleanup.policy'] })),
    })
    const conf = new Map(described.map((d) => [d.resourceName, new Map(d.configs.map((c) => [c.name, c.value]))]))
    for (const name of names) expect(conf.get(name)?.get('min.insync.replicas'), name).toBe('2')
    // A topic's own configs are kept beside the replication's.
    expect(conf.get(identityTopics(config.topicPrefix).registry.name)?.get('cleanup.policy')).toBe('compact')
  })

  it('loses no acknowledged write (acks=all, idempotent) when the broker leading most partitions is killed, and bootstraps past it', async () => {
    const topic = topicNames(config.topicPrefix).readings
    const producer = new BatchingProducer(config, { topic, clientId: 'vigil-cluster-test', onFailure: 'retry' })
    let victim: number | undefined
    let restarted = false
    try {
      const batch = (from: number) => Array.from({ length: 1_000 }, (_, i) => ({ key: `p-${(from + i) % 97}`, value: `r-${from + i}` }))
      await producer.send(batch(0))
      const leaders = (await admin.metadata({ topics: [topic], forceUpdate: true })).topics.get(topic)!.partitions.map((p) => p.leader)
      const counts = [1, 2, 3].map((id) => leaders.filter((l) => l === id).length)
      victim = counts.indexOf(Math.max(...counts)) + 1
      expect(await stopNode(stackPaths(dir), victim, 'kill')).toBeGreaterThanOrEqual(0)
      // Every write after the kill is acknowledged by the two brokers left (min.insync.replicas 2).
      await producer.send(batch(1_000))
      const kafka = (await status(config, { dir })).filter((s) => s.service === 'kafka')
      expect(kafka.map((s) => s.up)).toEqual([1, 2, 3].map((id) => id !== victim))
      // A client whose first bootstrap broker is the dead one still gets in.
      const dead = BROKERS[victim - 1] as string
      expect(await kafkaAnswers({ kafkaBrokers: [dead, ...BROKERS.filter((b) => b !== dead)] })).toBe(true)
      // A new reader (consumer group) each try: a group right after the kill may find no
      // coordinator yet (its __consumer_offsets partition is moving).
      const back = await pollUntil(() => readWholeTopic(config, topic, 30_000), { timeoutMs: 90_000, intervalMs: 1_000, what: 'the topic to be read back' })
      const values = back.records.map((r) => r.value.toString())
      expect(values).toHaveLength(2_000)
      expect(new Set(values).size).toBe(2_000)

      // Started again, it rejoins the in-sync replicas of every partition it holds.
      await startNode(stackPaths(dir), victim)
      restarted = true
      await pollUntil(
        async () => {
          const parts = (await admin.metadata({ topics: [topic], forceUpdate: true })).topics.get(topic)!.partitions
          return parts.every((p) => p.isr.length === 3)
        },
        { timeoutMs: 60_000, intervalMs: 250, what: `broker ${victim} to rejoin every in-sync replica set` },
      )
    } finally {
      await producer.close()
      // The tests after this one expect the whole cluster.
      if (victim !== undefined && !restarted) await startNode(stackPaths(dir), victim).catch(() => undefined)
    }
  })

  it("keeps a group member consuming when its group coordinator's broker is killed (the client's patch)", async () => {
    const topic = `${config.topicPrefix}coordinator`
    await ensureTopics(admin, [{ name: topic, partitions: 3 }])
    const consumer = new Consumer({
      ...kafkaBaseOptions(config, 'vigil-coordinator-test'),
      groupId: `${config.topicPrefix}coordinator-group`,
      // The archiver's group settings.
      ...consumerGroupOptions({ sessionTimeoutMs: 10_000, fetchMaxWaitMs: 500 }),
    })
    const producer = new BatchingProducer(config, { topic, clientId: 'vigil-coordinator-test', onFailure: 'retry' })
    const seen = new Set<string>()
    let victim: number | undefined
    let closing = false
    // As the layers do (speed-layer/reader.ts, batch-layer/fetcher.ts): a stream that fails is opened again on the same consumer.
    const open = async (): Promise<void> => {
      const stream = await pollUntil(() => consumer.consume({ topics: [topic], mode: 'earliest' }).catch(() => undefined), {
        timeoutMs: 90_000,
        intervalMs: 1_000,
        what: 'the consumer to join its group',
      })
      stream.on('data', (m) => seen.add(String(m.value)))
      stream.on('error', () => {
        if (closing) return
        setTimeout(() => void open().catch(() => undefined), 1_000)
      })
    }
    try {
      await producer.send(Array.from({ length: 100 }, (_, i) => ({ key: `p-${i}`, value: `before-${i}` })))
      await open()
      await pollUntil(async () => seen.size >= 100, { timeoutMs: 30_000, intervalMs: 250, what: 'the records before the kill' })
      victim = consumer.coordinatorId ?? undefined
      expect(victim).toBeGreaterThan(0)
      expect(await stopNode(stackPaths(dir), victim as number, 'kill')).toBeGreaterThanOrEqual(0)
      await producer.send(Array.from({ length: 100 }, (_, i) => ({ key: `p-${i}`, value: `after-${i}` })))
      // Unpatched, 1.35.0 kept asking the dead coordinator: a TypeError thrown from a callback
      // ended the process, or NOT_COORDINATOR for ever (docs/ARCHITECTURE.md, Scaling out).
      await pollUntil(async () => seen.size >= 200, { timeoutMs: 120_000, intervalMs: 500, what: 'the records after the kill' })
      expect(consumer.coordinatorId).not.toBe(victim)
    } finally {
      closing = true
      await producer.close()
      await consumer.close(true).catch(() => undefined)
      if (victim !== undefined) await startNode(stackPaths(dir), victim).catch(() => undefined)
    }
  })

  it('refuses another layout in the same stack folder instead of reformatting it', async () => {
    await expect(up(config, () => undefined, { dir, kafkaNodes: 3, kafkaControllers: 'separate', only: 'kafka' })).rejects.toThrow(
      /holds a cluster of 3 brokers on 29092, 29093, 29094 with combined controllers, not 3 brokers on 29092, 29093, 29094 with separate controllers/,
    )
  })

  it('is stopped whole by `vigil stack down`, after which status lists no node of it', async () => {
    const stopped = await down(() => undefined, { dir, only: 'kafka' })
    expect(stopped.map((s) => s.replace(/\(pid \d+, \w+\)/, ''))).toEqual(['kafka node 1 ', 'kafka node 2 ', 'kafka node 3 '])
    const kafka = (await status(config, { dir })).filter((s) => s.service === 'kafka')
    expect(kafka.map((s) => [s.address, s.up])).toEqual([[BROKERS[0], false]])
  })
})
