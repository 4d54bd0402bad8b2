/**
 * The producer's side of the count: a sink around the edge's Kafka sink that keeps every record
 * handed to Kafka, and a reader that takes a whole topic back, offset by offset.
 */
import { Consumer } from '@platformatic/kafka'
import type { Config } from '../../lib/config.ts'
import { kafkaBaseOptions } from '../../lib/kafka.ts'
import { pollUntil } from '../../lib/backoff.ts'
import type { Logger } from '../../lib/log.ts'
import { kafkaSink, type Sink } from '../../edge/sinks.ts'
import type { EdgeRecord } from '../../edge/faults.ts'

export interface Ledger {
  sink: Sink
  /** Every record handed to Kafka, in sending order. */
  readonly records: EdgeRecord[]
}

export function ledgerSink(config: Config, log: Logger): Ledger {
  const inner = kafkaSink(config, { log })
  const records: EdgeRecord[] = []
  const sink: Sink = {
    ready: () => inner.ready?.() ?? Promise.resolve(),
    send(batch) {
      for (const r of batch) records.push(r)
      inner.send(batch)
    },
    waitForCapacity: () => inner.waitForCapacity(),
    flush: () => inner.flush(),
    close: (o) => inner.close(o),
    get pending() {
      return inner.pending
    },
    get stats() {
      return inner.stats
    },
    get fatal() {
      return inner.fatal
    },
  }
  return { sink, records }
}

export interface TopicRecord {
  partition: number
  offset: number
  key: string | undefined
  value: Buffer
  /** Broker timestamp (ms). */
  timestamp: number
  headers: Map<string, string>
}

/** End offset of each partition of `topic`. */
export async function endOffsets(config: Config, topic: string): Promise<number[]> {
  const consumer = new Consumer({ ...kafkaBaseOptions(config, 'vigil-chaos-offsets'), groupId: `vigil-chaos-offsets-${Math.random()}` })
  try {
    const offsets = await consumer.listOffsets({ topics: [topic] })
    return (offsets.get(topic) ?? []).map(Number)
  } finally {
    await consumer.close(true)
  }
}

/** Every record of `topic` up to its current end, grouped by partition in offset order. */
export async function readWholeTopic(config: Config, topic: string, timeoutMs = 120_000): Promise<{ records: TopicRecord[]; ends: number[] }> {
  const ends = await endOffsets(config, topic)
  const total = ends.reduce((a, b) => a + b, 0)
  const got: TopicRecord[] = []
  if (total > 0) {
    const consumer = new Consumer({ ...kafkaBaseOptions(config, 'vigil-chaos-reader'), groupId: `vigil-chaos-reader-${Math.random()}` })
    try {
      const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false, maxWaitTime: 100 })
      const seen = ends.map(() => 0)
      stream.on('data', (m) => {
        const offset = Number(m.offset)
        if (offset >= (ends[m.partition] ?? 0)) return
        seen[m.partition] = (seen[m.partition] ?? 0) + 1
        const headers = new Map<string, string>()
        for (const [k, v] of m.headers) headers.set(k.toString(), v.toString())
        got.push({ partition: m.partition, offset, key: m.key?.toString(), value: m.value, timestamp: Number(m.timestamp), headers })
      })
      await pollUntil(async () => got.length >= total, { timeoutMs, intervalMs: 100, what: `${total} records of ${topic}` })
      await stream.close()
    } finally {
      await consumer.close(true)
    }
  }
  got.sort((a, b) => a.partition - b.partition || a.offset - b.offset)
  return { records: got, ends }
}
