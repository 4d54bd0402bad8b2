/**
 * Reads back what landed on a topic: used by the integration tests of the edge and the gateway
 * and by anyone checking a run (`records per partition, in offset order`).
 */
import { Consumer } from '@platformatic/kafka'
import type { Config } from '../lib/config.ts'
import { kafkaBaseOptions } from '../lib/kafka.ts'
import { pollUntil } from '../lib/backoff.ts'

export interface TopicRecord {
  key: string | undefined
  value: Buffer
  partition: number
  offset: bigint
}

/** Sum of the end offsets of every partition: the number of records ever written (no transactions). */
export async function recordCount(config: Pick<Config, 'kafkaBrokers'>, topic: string): Promise<number> {
  const consumer = new Consumer({ ...kafkaBaseOptions(config, 'vigil-offsets'), groupId: `vigil-offsets-${Math.random()}` })
  try {
    const offsets = await consumer.listOffsets({ topics: [topic] })
    return (offsets.get(topic) ?? []).reduce((s, o) => s + Number(o), 0)
  } finally {
    await consumer.close(true)
  }
}

/**
 * Reads the first `count` records of a topic (all partitions, from the earliest offset); fails
 * after `timeoutMs` if fewer are there. Records come grouped by partition in offset order.
 */
export async function readTopic(config: Pick<Config, 'kafkaBrokers'>, topic: string, count: number, timeoutMs = 30_000): Promise<TopicRecord[]> {
  const consumer = new Consumer({ ...kafkaBaseOptions(config, 'vigil-reader'), groupId: `vigil-reader-${Math.random()}` })
  const got: TopicRecord[] = []
  try {
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false, maxWaitTime: 100 })
    stream.on('data', (m) => got.push({ key: m.key?.toString(), value: m.value, partition: m.partition, offset: m.offset }))
    await pollUntil(async () => got.length >= count, { timeoutMs, intervalMs: 50, what: `${count} records on ${topic}` })
    await stream.close()
  } finally {
    await consumer.close(true)
  }
  return got.sort((a, b) => a.partition - b.partition || (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0))
}
