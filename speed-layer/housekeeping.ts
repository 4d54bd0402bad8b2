/**
 * What the speed layer does between batches, every housekeepingIntervalMs: notice a wiped view
 * (or a partition not rebuilt under its epoch, or on a Redis Cluster a view shard that lost its
 * copy of the epoch: a master restarted empty) while no readings arrive and rebuild it; after an
 * assignment, load the recently active patients of the owned partitions into the cache; raise the
 * stale-data alerts of the cached devices that fell silent (nothing arrived from them for their
 * threshold, by the records' Kafka timestamps against this clock: stale.ts).
 */
import type { Consumer, Producer } from '@platformatic/kafka'
import type { RedisKeys } from '../lib/contract/keys.ts'
import type { RedisClient } from '../lib/redis.ts'
import type { PatientCache } from './cache.ts'
import type { SpeedOptions } from './config.ts'
import { epochToWriteUnder, housekeepingNeedsRebuild } from './epoch.ts'
import type { Retrier } from './outage.ts'
import type { BatchReader } from './reader.ts'
import type { Rebuilder } from './rebuilder.ts'
import { alertRecord } from './records.ts'
import { partitionOf, raiseStaleDevices } from './stale.ts'
import type { SpeedStats } from './stats.ts'
import { dropEpoch, epochKey, loadPatients, rebuiltKey, shardsWithoutEpoch, writeDevices } from './view.ts'

/** Patients read per pipeline during the warm-up. */
const WARM_UP_CHUNK = 1_000

export interface HousekeepingParts {
  redis: RedisClient
  keys: RedisKeys
  consumer: Pick<Consumer<Buffer, Buffer, Buffer, Buffer>, 'metadata'>
  producer: Producer<Buffer, Buffer, Buffer, Buffer>
  reader: Pick<BatchReader, 'assigned'>
  cache: PatientCache
  rebuilder: Rebuilder
  retry: Retrier
  stats: SpeedStats
  opts: SpeedOptions
  topics: { readings: string; alerts: string }
  /** The version of the risk model served (undefined: none): the warm-up then reads the series too (view.ts loadPatients). */
  riskModel: string | undefined
}

export class Housekeeping {
  private last = Date.now()
  /** After an assignment: load the recently active patients of the owned partitions, so that a device that fell silent is noticed. */
  private warmUpDue = false

  constructor(private readonly p: HousekeepingParts) {}

  /** The loop starts: the first pass comes one interval later. */
  begin(nowMs: number): void {
    this.last = nowMs
  }

  /** The group assigned partitions (again). */
  assigned(): void {
    this.warmUpDue = true
  }

  /** Whether a pass is due at `nowMs` (at most one per interval). */
  due(nowMs: number): boolean {
    return nowMs - this.last >= this.p.opts.housekeepingIntervalMs
  }

  /** At most once per interval. `behind`: draining a backlog, stale checks wait, or every device would look silent. */
  async tick(nowMs: number, behind: boolean): Promise<void> {
    if (!this.due(nowMs)) return
    this.last = nowMs
    const { redis, keys } = this.p
    const epoch = await redis.get(epochKey(keys))
    const owned = this.p.reader.assigned()
    const marks = epoch === null || owned.length === 0 ? [] : await redis.hmGet(rebuiltKey(keys), owned.map(String))
    if (housekeepingNeedsRebuild(this.p.rebuilder.known, epoch, marks)) await this.p.rebuilder.rebuild()
    else if (epoch !== null && epoch === this.p.rebuilder.known && (await shardsWithoutEpoch(redis, keys, epoch)).length > 0) {
      // Shards that lost their data while the epoch survived (the epoch's creator copies it into
      // every shard at once, long before a pass of an instance working under it): as a batch's
      // write would (view.ts writeBatch), drop the epoch so that the whole view is rebuilt.
      await dropEpoch(redis, keys, epoch)
      await this.p.rebuilder.rebuild()
    } else if (!behind) {
      if (this.warmUpDue) {
        this.warmUpDue = false
        await this.warmUp()
      }
      await this.checkStale()
    }
  }

  /**
   * Loads into the cache the patients of the owned partitions that sent readings within the
   * series window (from the patients index), so that a device silent since before a restart or a
   * rebalance still gets its stale-data alert.
   */
  private async warmUp(): Promise<void> {
    const { redis, keys, cache } = this.p
    cache.settle()
    const owned = new Set(this.p.reader.assigned())
    if (owned.size === 0) return
    const metadata = await this.p.consumer.metadata({ topics: [this.p.topics.readings] })
    const count = metadata.topics.get(this.p.topics.readings)?.partitionsCount ?? 0
    if (count === 0) return
    const recent = await redis.zRangeByScore(keys.patients, Date.now() - this.p.opts.seriesWindowMs, '+inf')
    const mine = recent.filter((id) => !cache.has(id) && owned.has(partitionOf(id, count)))
    for (let i = 0; i < mine.length; i += WARM_UP_CHUNK) {
      const ids = mine.slice(i, i + WARM_UP_CHUNK)
      const loaded = await loadPatients(redis, keys, ids, new Set(ids), [], new Set(), undefined, this.p.riskModel)
      for (const [id, p] of loaded.loaded) {
        p.table = loaded.tables.get(id) ?? p.table
        p.bandsVersion = loaded.bandsVersion
        if (!cache.has(id)) cache.set(id, p)
      }
    }
  }

  /**
   * Stale-device check over the cached patients at wall-clock now (compared with the devices'
   * arrival times): alert events to Kafka, then the devices and events to Redis.
   */
  private async checkStale(): Promise<void> {
    const { retry, redis, keys, opts } = this.p
    const { changes, events } = raiseStaleDevices(this.p.cache.values(), Date.now(), opts)
    if (events.length === 0) return
    const messages = events.map((e) => alertRecord(this.p.topics.alerts, e))
    await retry.run('producing stale-data alerts to Kafka', () => this.p.producer.send({ messages }))
    // A wiped Redis gets no half-view: the next batch or housekeeping pass rebuilds it first. An
    // instance that has processed no batch yet adopts the view's epoch as it finds it.
    const current = await retry.run('reading the view epoch', () => redis.get(epochKey(keys)))
    const epoch = epochToWriteUnder(this.p.rebuilder.known, current)
    if (epoch === undefined) return
    this.p.rebuilder.known = epoch
    await retry.run('writing stale-data alerts to Redis', () => writeDevices(redis, keys, changes, events, opts.alertStreamMaxLen))
    this.p.stats.alertEvents += events.length
  }
}
