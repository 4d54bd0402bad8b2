import { afterEach, describe, expect, it } from 'vitest'
import { Consumer, Producer } from '@platformatic/kafka'
import { createTestEnv, type TestEnv } from '../test/support.ts'
import { createAdmin, kafkaBaseOptions } from '../lib/kafka.ts'
import { pollUntil } from '../lib/backoff.ts'
import { TopicFetcher } from './fetcher.ts'

let env: TestEnv | undefined
const closers: (() => Promise<unknown>)[] = []

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined)
  await env?.cleanup()
  env = undefined
})

/** `count` records `<partition>:<i>` into one partition, in one request. */
async function produce(e: TestEnv, partition: number, count: number, from = 0): Promise<void> {
  const producer = new Producer({ ...kafkaBaseOptions(e.config, 'test-fetcher'), idempotent: true, acks: -1 })
  try {
    const messages = Array.from({ length: count }, (_, i) => ({ topic: e.topics.readings, partition, value: Buffer.from(`${partition}:${from + i}`) }))
    await producer.send({ messages })
  } finally {
    await producer.close()
  }
}

interface Taken {
  partition: number
  offset: number
  value: string
}

/** A fetcher of the readings topic in a group of its own; what it takes is pushed to `taken`. */
async function startFetcher(e: TestEnv, start: Map<number, number>, taken: Taken[], errors: unknown[] = [], consumers: Consumer[] = []): Promise<TopicFetcher> {
  const consumer = new Consumer({ ...kafkaBaseOptions(e.config, 'test-fetcher'), groupId: `${e.config.topicPrefix}fetcher`, autocommit: false })
  consumers.push(consumer)
  closers.push(() => closeConsumer(consumer))
  const fetcher = new TopicFetcher(
    consumer,
    e.topics.readings,
    async () => start,
    { maxBytes: 64 * 1024, maxBytesPerPartition: 4 * 1024, maxWaitTime: 100 },
    (partition, offset, record) => taken.push({ partition, offset, value: record.value?.toString() ?? '' }),
    (error) => errors.push(error),
  )
  closers.push(async () => fetcher.close())
  await fetcher.start()
  return fetcher
}

const closeConsumer = (consumer: Consumer) => new Promise<void>((resolve) => consumer.close(true, () => resolve()))
const offsetsOf = (taken: readonly Taken[], partition: number) => taken.filter((t) => t.partition === partition).map((t) => t.offset)
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i)

describe('the archiver fetcher', () => {
  it('takes every record of its partitions once and in offset order, from the positions it is given or else the earliest', async () => {
    env = await createTestEnv()
    await produce(env, 0, 300)
    await produce(env, 1, 200)
    const taken: Taken[] = []
    await startFetcher(env, new Map([[0, 120]]), taken)
    await produce(env, 1, 100, 200)
    await pollUntil(async () => taken.length >= 180 + 300 || undefined, { timeoutMs: 30_000, intervalMs: 20, what: 'the records' })
    expect(offsetsOf(taken, 0)).toEqual(range(120, 300))
    expect(offsetsOf(taken, 1)).toEqual(range(0, 300))
    expect(taken.find((t) => t.partition === 1 && t.offset === 250)?.value).toBe('1:250')
  })

  it("starts a partition it has no position for at the log's start when older records were deleted", async () => {
    env = await createTestEnv()
    await produce(env, 2, 50)
    const admin = createAdmin(env.config)
    try {
      await admin.deleteRecords({ topics: [{ name: env.topics.readings, partitions: [{ partition: 2, offset: 30n }] }] })
    } finally {
      await admin.close()
    }
    const taken: Taken[] = []
    const errors: unknown[] = []
    await startFetcher(env, new Map(), taken, errors)
    await pollUntil(async () => taken.length >= 20 || undefined, { timeoutMs: 30_000, intervalMs: 20, what: 'the records' })
    expect(offsetsOf(taken, 2)).toEqual(range(30, 50))
    expect(errors).toEqual([])
  })

  it('skips the control records and aborted records of transactions and goes on after them', async () => {
    env = await createTestEnv()
    const producer = new Producer({
      ...kafkaBaseOptions(env.config, 'test-fetcher-tx'),
      idempotent: true,
      acks: -1,
      transactionalId: `${env.config.topicPrefix}tx`,
    })
    closers.push(() => producer.close())
    const send = async (values: string[], end: 'commit' | 'abort') => {
      const tx = await producer.beginTransaction()
      await tx.send({ messages: values.map((v) => ({ topic: env!.topics.readings, partition: 3, value: Buffer.from(v) })) })
      await (end === 'commit' ? tx.commit() : tx.abort())
    }
    await send(['a', 'b'], 'commit')
    await send(['x', 'y'], 'abort')
    await send(['c'], 'commit')
    const taken: Taken[] = []
    await startFetcher(env, new Map(), taken)
    await pollUntil(async () => taken.length >= 3 || undefined, { timeoutMs: 30_000, intervalMs: 20, what: 'the records' })
    await produce(env, 3, 1)
    await pollUntil(async () => taken.length >= 4 || undefined, { timeoutMs: 30_000, intervalMs: 20, what: 'the record after the transactions' })
    expect(taken.map((t) => t.value)).toEqual(['a', 'b', 'c', '3:0'])
  })

  it('fetches no more while paused, takes nothing once closed', async () => {
    env = await createTestEnv()
    await produce(env, 4, 10)
    const taken: Taken[] = []
    const fetcher = await startFetcher(env, new Map(), taken)
    await pollUntil(async () => taken.length >= 10 || undefined, { timeoutMs: 30_000, intervalMs: 20, what: 'the records' })
    fetcher.pause()
    // A fetch in flight when paused may still bring records: let it end.
    await new Promise((resolve) => setTimeout(resolve, 300))
    const atPause = taken.length
    await produce(env, 4, 5, 10)
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(taken.length).toBe(atPause)
    fetcher.resume()
    await pollUntil(async () => taken.length >= 15 || undefined, { timeoutMs: 30_000, intervalMs: 20, what: 'the records after resume' })
    fetcher.close()
    await produce(env, 4, 5, 15)
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(offsetsOf(taken, 4)).toEqual(range(0, 15))
  })

  it('reports an error of the client once and takes nothing after it', async () => {
    env = await createTestEnv()
    await produce(env, 5, 10)
    const taken: Taken[] = []
    const errors: unknown[] = []
    const consumers: Consumer[] = []
    const fetcher = await startFetcher(env, new Map(), taken, errors, consumers)
    await pollUntil(async () => taken.length >= 10 || undefined, { timeoutMs: 30_000, intervalMs: 20, what: 'the records' })
    // The consumer closed under the fetcher between two fetches.
    fetcher.pause()
    await new Promise((resolve) => setTimeout(resolve, 300))
    await closeConsumer(consumers[0] as Consumer)
    fetcher.resume()
    await pollUntil(async () => errors.length > 0 || undefined, { timeoutMs: 30_000, intervalMs: 20, what: 'the error' })
    await produce(env, 5, 5, 10)
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(errors).toHaveLength(1)
    expect(offsetsOf(taken, 5)).toEqual(range(0, 10))
  })
})
