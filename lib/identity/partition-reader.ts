/**
 * Reads the one partition of an identity topic (`vitals.registry`, `vitals.audit`) from its start,
 * without a consumer group: every process that opens the registry reads all of it, so there is
 * nothing to share out, no offset to commit and no group to leave behind on the broker (a group
 * join would also cost each `vigil device list` a rebalance). Built on the client's plain `fetch`,
 * as @platformatic/kafka's own MessagesStream is, one request at a time.
 */
import { Consumer, type RecordsBatch } from '@platformatic/kafka'
import type { Config } from '../config.ts'
import { backoffDelay } from '../backoff.ts'
import { describeError } from '../errors.ts'
import { kafkaBaseOptions } from '../kafka.ts'
import type { Logger } from '../log.ts'

/** One record of the partition. */
export interface PartitionRecord {
  key: string | undefined
  /** undefined for a tombstone (a compacted topic's delete marker). */
  value: Buffer | undefined
  offset: bigint
}

export interface PartitionReaderOptions {
  topic: string
  clientId: string
  /**
   * Longest one fetch waits for a new record, in milliseconds. A record written meanwhile is
   * answered at once (the broker returns as soon as it has one), so this bounds only an idle poll.
   */
  maxWaitMs: number
  log?: Logger
}

/** A batch whose attributes carry this bit holds transaction markers, not records (Kafka's record batch format). */
const CONTROL_BATCH = 1 << 5
/** Bytes one fetch may return from the partition: about ten thousand registry records. */
const PARTITION_MAX_BYTES = 4 * 1024 * 1024

export class PartitionReader {
  readonly #o: PartitionReaderOptions
  readonly #consumer: Consumer<Buffer, Buffer, Buffer, Buffer>
  /**
   * A second client for end offsets: a broker answers one connection's requests in order, so on
   * the fetching client an end-offset request would wait behind an idle fetch (up to `maxWaitMs`),
   * and every registry write asks for one first.
   */
  readonly #offsets: Consumer<Buffer, Buffer, Buffer, Buffer>
  #next = 0n
  #stopping = false
  #following: Promise<void> | undefined
  #wake: (() => void) | undefined

  constructor(config: Pick<Config, 'kafkaBrokers'>, options: PartitionReaderOptions) {
    this.#o = options
    // The client wants a group id; `fetch` never uses it (no join, no commit).
    this.#consumer = new Consumer({ ...kafkaBaseOptions(config, options.clientId), groupId: `${options.clientId}-unused` })
    this.#offsets = new Consumer({ ...kafkaBaseOptions(config, `${options.clientId}-offsets`), groupId: `${options.clientId}-unused` })
    for (const client of [this.#consumer, this.#offsets])
      client.on('error', (error: unknown) => options.log?.debug({ err: describeError(error) }, 'kafka reader error'))
  }

  /** The offset of the next record to read. */
  get position(): bigint {
    return this.#next
  }

  /** The partition's end offset now (its high watermark): everything before it is readable. */
  async endOffset(): Promise<bigint> {
    const offsets = await this.#offsets.listOffsets({ topics: [this.#o.topic] })
    return offsets.get(this.#o.topic)?.[0] ?? 0n
  }

  /**
   * One fetch from the position: hands each record to `onRecord`, in offset order, and moves past
   * them. When the position is past the log's end (the topic was deleted and created again), it
   * calls `onReset` and starts again from the beginning.
   */
  async fetchOnce(onRecord: (r: PartitionRecord) => void, onReset: () => void = () => undefined): Promise<void> {
    const metadata = await this.#consumer.metadata({ topics: [this.#o.topic] })
    const topic = metadata.topics.get(this.#o.topic)
    const leader = topic?.partitions[0]?.leader
    if (topic === undefined || leader === undefined) throw new Error(`no leader known for ${this.#o.topic}`)
    const fetchOffset = this.#next
    let batches: RecordsBatch[]
    try {
      batches = await this.#fetch(leader, topic.id, fetchOffset)
    } catch (error) {
      if (hasErrorId(error, 'OFFSET_OUT_OF_RANGE')) {
        this.#o.log?.warn(`${this.#o.topic} starts again below the position read (${fetchOffset}): it was recreated; reading it again from its start`)
        this.#next = 0n
        onReset()
        return
      }
      throw error
    }
    for (const batch of batches) this.#takeBatch(batch, fetchOffset, onRecord)
  }

  /** The record batches of partition 0 from `fetchOffset`, from its leader `node`. */
  async #fetch(node: number, topicId: string, fetchOffset: bigint): Promise<RecordsBatch[]> {
    const response = await this.#consumer.fetch({
      node,
      maxWaitTime: this.#o.maxWaitMs,
      topics: [{ topicId, partitions: [{ partition: 0, fetchOffset, partitionMaxBytes: PARTITION_MAX_BYTES, currentLeaderEpoch: -1, lastFetchedEpoch: -1 }] }],
    })
    return response.responses.flatMap((t) => t.partitions.flatMap((p) => p.records ?? []))
  }

  #takeBatch(batch: RecordsBatch, fetchOffset: bigint, onRecord: (r: PartitionRecord) => void): void {
    const last = batch.firstOffset + BigInt(batch.lastOffsetDelta)
    if (last + 1n > this.#next) this.#next = last + 1n
    if ((batch.attributes & CONTROL_BATCH) !== 0) return
    for (const record of batch.records) {
      const offset = batch.firstOffset + BigInt(record.offsetDelta)
      // A fetch returns whole batches: the first may begin before the offset asked for.
      if (offset < fetchOffset) continue
      onRecord({ key: record.key?.toString() ?? undefined, value: record.value ?? undefined, offset })
    }
  }

  /** Reads until the position reaches `end` (an end offset taken before). */
  async readTo(end: bigint, onRecord: (r: PartitionRecord) => void, onReset?: () => void): Promise<void> {
    while (this.#next < end && !this.#stopping) await this.fetchOnce(onRecord, onReset)
  }

  /**
   * Keeps fetching until `close`. A failure (broker down, leader moved) is logged once per outage
   * and retried with capped backoff: a reader must never stop following while its process runs.
   */
  follow(onRecord: (r: PartitionRecord) => void, onReset?: () => void): void {
    if (this.#following !== undefined) return
    this.#following = (async () => {
      let failures = 0
      while (!this.#stopping) {
        try {
          await this.fetchOnce(onRecord, onReset)
          if (failures > 0) this.#o.log?.info(`reading ${this.#o.topic} again after ${failures} failed attempts`)
          failures = 0
        } catch (error) {
          if (this.#stopping) break
          // The leader may have moved or the topic been recreated: ask the cluster again.
          this.#consumer.clearMetadata()
          failures++
          if (failures === 1) this.#o.log?.warn(`cannot read ${this.#o.topic} (${describeError(error)}); retrying with backoff`)
          await this.#sleep(backoffDelay(failures, 200, 5_000))
        }
      }
    })()
  }

  /** A pause between attempts that `close` cuts short. */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined
        resolve()
      }, ms)
      this.#wake = () => {
        clearTimeout(timer)
        this.#wake = undefined
        resolve()
      }
    })
  }

  /** Stops following (waits for the fetch in flight, at most `maxWaitMs`) and closes the client. */
  async close(): Promise<void> {
    this.#stopping = true
    this.#wake?.()
    await this.#following
    for (const client of [this.#consumer, this.#offsets]) await new Promise<void>((resolve) => client.close(true, () => resolve()))
  }
}

/** True when a client error (or one it wraps) carries this Kafka error id. */
function hasErrorId(error: unknown, id: string): boolean {
  const e = error as { findBy?: (property: string, value: unknown) => unknown }
  return typeof e?.findBy === 'function' && e.findBy('apiId', id) != null
}
