/**
 * The rebuild of the Redis view from Kafka (docs/CONTRACT.md, Principles: Kafka is the source of
 * truth), and the epoch this instance works against. The decisions are epoch.ts's; this class
 * makes the round trips: adopt (or create) the epoch, rewind the owned partitions that no
 * instance rebuilt under it to now − series window, mark them rebuilt, reopen the stream.
 */
import { randomUUID } from 'node:crypto'
import type { Consumer } from '@platformatic/kafka'
import type { RedisKeys } from '../lib/contract/keys.ts'
import type { Logger } from '../lib/log.ts'
import type { RedisClient } from '../lib/redis.ts'
import type { PatientCache } from './cache.ts'
import type { CommitPipeline } from './commit-pipeline.ts'
import { planRewinds, rebuildWarning, unrebuiltPartitions, type PartitionFacts, type Rewind } from './epoch.ts'
import type { OffsetBook } from './offsets.ts'
import type { BatchReader } from './reader.ts'
import type { SpeedStats } from './stats.ts'
import { epochKey, rebuiltKey, setShardEpochs } from './view.ts'

export interface RebuilderParts {
  redis: RedisClient
  keys: RedisKeys
  consumer: Pick<Consumer<Buffer, Buffer, Buffer, Buffer>, 'commit' | 'listCommittedOffsets' | 'listOffsetsWithTimestamps'>
  reader: Pick<BatchReader, 'assigned' | 'close' | 'open'>
  book: OffsetBook
  commits: CommitPipeline
  cache: PatientCache
  stats: SpeedStats
  log: Logger
  topic: string
  seriesWindowMs: number
}

export class Rebuilder {
  /** The view's epoch this instance works against (null until the first batch adopts or creates one). */
  known: string | null = null

  constructor(private readonly p: RebuilderParts) {}

  /**
   * Detected a wiped (or new) Redis, or owned partitions not rebuilt under the view's epoch: adopt
   * the epoch (creating one if none) and rewind the owned partitions that no instance rebuilt for
   * it to now − series window; then mark them rebuilt. True when partitions were rewound (the
   * stream was reopened: the batch at hand is read again).
   */
  async rebuild(): Promise<boolean> {
    const { redis, keys, cache, log } = this.p
    this.p.stats.rebuilds++
    const before = this.known
    cache.clear()
    // A commit still in flight would otherwise land after the rewind and undo it.
    await this.p.commits.settled()
    const created = (await redis.set(epochKey(keys), randomUUID(), { condition: 'NX' })) !== null
    this.known = await redis.get(epochKey(keys))
    // Only the instance that created the epoch copies it into the shards: an instance adopting it
    // must not, or it would hide a shard that lost its data (a cluster master restarted empty)
    // behind a fresh copy. A shard without the copy refuses writes, and the writer then drops the
    // epoch so that the whole view is rebuilt (view.ts writeBatch).
    if (created && this.known !== null) await setShardEpochs(redis, keys, this.known)
    const owned = this.p.reader.assigned()
    if (owned.length === 0) return false
    const parts = unrebuiltPartitions(owned, await redis.hmGet(rebuiltKey(keys), owned.map(String)), this.known)
    if (parts.length === 0) return false
    const { facts, sinceMs } = await this.facts(parts)
    const rewinds = planRewinds(facts)
    for (const r of rewinds) this.p.book.rewound(r.partition, r.until)
    const warning = rebuildWarning({ before, after: this.known, created, parts, rewound: rewinds.length, sinceMs })
    if (warning !== undefined) log.warn(warning)
    if (rewinds.length === 0) {
      await this.markDone(parts)
      return false
    }
    await this.rewind(rewinds)
    await this.markDone(parts)
    await this.p.reader.close()
    this.p.book.forgetPositions()
    await this.p.reader.open()
    return true
  }

  /** Per partition: the position, the committed offset and the first offset of the series window. */
  private async facts(parts: readonly number[]): Promise<{ facts: PartitionFacts[]; sinceMs: number }> {
    const { consumer, topic, book } = this.p
    const committed = await consumer.listCommittedOffsets({ topics: [{ topic, partitions: [...parts] }] })
    const sinceMs = Date.now() - this.p.seriesWindowMs
    const byTime = await consumer.listOffsetsWithTimestamps({ topics: [topic], partitions: { [topic]: [...parts] }, timestamp: BigInt(sinceMs) })
    const facts = parts.map((partition) => ({
      partition,
      position: book.position(partition),
      committed: committed.get(topic)?.[partition],
      target: byTime.get(topic)?.get(partition)?.offset,
    }))
    return { facts, sinceMs }
  }

  private async rewind(rewinds: readonly Rewind[]): Promise<void> {
    const offsets = rewinds.map((r) => ({ topic: this.p.topic, partition: r.partition, offset: r.offset, leaderEpoch: -1 }))
    await this.p.consumer.commit({ offsets })
  }

  private async markDone(parts: readonly number[]): Promise<void> {
    const epoch = this.known
    if (epoch !== null) await this.p.redis.hSet(rebuiltKey(this.p.keys), Object.fromEntries(parts.map((p) => [String(p), epoch])))
  }
}
