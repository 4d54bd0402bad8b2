import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Consumer, Producer, stringDeserializers, stringSerializers } from '@platformatic/kafka'
import { createTestEnv, type TestEnv } from './support.ts'
import { kafkaBaseOptions } from '../lib/kafka.ts'
import { connectRedis, scanKeys } from '../lib/redis.ts'
import { redisKeys } from '../lib/contract/keys.ts'
import { parseReading, type Reading } from '../lib/contract/schema.ts'

const run = promisify(execFile)

describe('the real stack', () => {
  let env: TestEnv
  beforeAll(async () => {
    env = await createTestEnv()
  })
  afterAll(async () => {
    await env.cleanup()
  })

  it('gives back readings produced to a topic, in order per patient key', async () => {
    const producer = new Producer({ ...kafkaBaseOptions(env.config, 'test-producer'), serializers: stringSerializers, idempotent: true, acks: -1 })
    const patients = ['p-0001', 'p-0002', 'p-0003', 'p-0004', 'p-0005']
    const perPatient = 200
    const sent: Reading[] = []
    try {
      for (let seq = 0; seq < perPatient; seq += 50) {
        const messages = []
        for (let i = seq; i < seq + 50; i++) {
          for (const p of patients) {
            const reading: Reading = {
              v: 1,
              patientId: p,
              deviceId: `wrist-${p}`,
              ts: 1_763_805_600_000 + i * 1_000,
              seq: i,
              vitals: { heartRate: 60 + (i % 40) },
            }
            sent.push(reading)
            messages.push({ topic: env.topics.readings, key: p, value: JSON.stringify(reading) })
          }
        }
        await producer.send({ messages })
      }
    } finally {
      await producer.close()
    }

    const consumer = new Consumer({
      ...kafkaBaseOptions(env.config, 'test-consumer'),
      groupId: `${env.config.topicPrefix}test-group`,
      deserializers: stringDeserializers,
    })
    const received = new Map<string, number[]>()
    const partitionOf = new Map<string, number>()
    try {
      const stream = await consumer.consume({ topics: [env.topics.readings], mode: 'earliest', autocommit: false })
      let count = 0
      for await (const message of stream) {
        const parsed = parseReading(message.value as string)
        expect(parsed.ok).toBe(true)
        if (!parsed.ok) break
        expect(message.key).toBe(parsed.reading.patientId)
        const seqs = received.get(parsed.reading.patientId) ?? []
        seqs.push(parsed.reading.seq)
        received.set(parsed.reading.patientId, seqs)
        // One patient, one partition: the key decides where a reading goes.
        const p = partitionOf.get(parsed.reading.patientId) ?? message.partition
        expect(message.partition).toBe(p)
        partitionOf.set(parsed.reading.patientId, p)
        if (++count === sent.length) break
      }
      await stream.close()
    } finally {
      await consumer.close()
    }
    const expected = Array.from({ length: perPatient }, (_, i) => i)
    for (const p of patients) expect(received.get(p)).toEqual(expected)
  })

  it('writes and reads Redis under its own prefix only', async () => {
    const redis = await connectRedis(env.config)
    const keys = redisKeys(env.config.redisPrefix)
    try {
      await redis.hSet(keys.latest('p-0001'), { heartRate: '72', 'heartRate:status': 'NORMAL' })
      await redis.zAdd(keys.patients, { score: 1_763_805_600_123, value: 'p-0001' })
      expect(await redis.hGetAll(keys.latest('p-0001'))).toEqual({ heartRate: '72', 'heartRate:status': 'NORMAL' })
      expect(await redis.zRange(keys.patients, 0, -1)).toEqual(['p-0001'])
      const mine: string[] = []
      for await (const batch of scanKeys(redis, keys.everything)) mine.push(...batch)
      expect(mine.sort()).toEqual([keys.latest('p-0001'), keys.patients].sort())
    } finally {
      redis.destroy()
    }
  })
})

describe('vigil stack status', () => {
  it('reports Kafka and Redis up, with their addresses, and exits 0', async () => {
    const { stdout } = await run('node', ['bin/vigil.js', 'stack', 'status'])
    expect(stdout).toMatch(/^kafka\s+127\.0\.0\.1:9092\s+up/m)
    expect(stdout).toMatch(/^redis\s+127\.0\.0\.1:6379\s+up/m)
  })

  it('reports a service that does not answer as down and exits 3', async () => {
    const result = await run('node', ['bin/vigil.js', 'stack', 'status'], { env: { ...process.env, VIGIL_REDIS_URL: 'redis://127.0.0.1:1' } }).catch(
      (e: { code: number; stdout: string }) => e,
    )
    expect('code' in result ? result.code : 0).toBe(3)
    expect(result.stdout).toMatch(/^redis\s+127\.0\.0\.1:1\s+down/m)
  })
})

describe('the vigil command', () => {
  it('answers a bad environment value with one sentence and exit code 2', async () => {
    const result = await run('node', ['bin/vigil.js', 'stack', 'status'], { env: { ...process.env, VIGIL_KAFKA_BROKERS: 'nowhere' } }).catch(
      (e: { code: number; stderr: string }) => e,
    )
    expect('code' in result ? result.code : 0).toBe(2)
    expect(result.stderr.trim()).toBe('vigil: VIGIL_KAFKA_BROKERS="nowhere" is not valid: expected host:port.')
  })
})
