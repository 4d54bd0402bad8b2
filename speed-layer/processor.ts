/**
 * One batch through the speed layer: decode it in arrival order (decode.ts), read the patients'
 * bands and, for those not cached, their state in one pipeline (view.ts), apply the readings
 * (patients.ts), produce the dead letters and alert events, write the view in one atomic call
 * (view.ts), then hand the offsets to the commit pipeline. A crash anywhere replays the batch;
 * the duplicate detection written with the view makes the replay a no-op (alert events produced
 * before the crash may be produced again, with the same deterministic ids).
 */
import type { Producer } from '@platformatic/kafka'
import type { RedisKeys } from '../lib/contract/keys.ts'
import type { AlertEvent } from '../lib/contract/views.ts'
import type { RedisClient } from '../lib/redis.ts'
import type { PatientCache } from './cache.ts'
import type { CommitPipeline } from './commit-pipeline.ts'
import type { SpeedOptions } from './config.ts'
import { decodeBatch, type DecodedBatch, type PatientGroup } from './decode.ts'
import { epochToWriteUnder } from './epoch.ts'
import type { OffsetBook } from './offsets.ts'
import type { Retrier } from './outage.ts'
import { applyReadings, type PatientRuntime } from './patients.ts'
import type { Rebuilder } from './rebuilder.ts'
import { alertRecord, type OutRecord, type SourceRecord } from './records.ts'
import { countOutcome, type SpeedStats } from './stats.ts'
import { produceChunks } from './validate.ts'
import { batchCalls, loadBands, loadPatients, writeBatch, type Loaded, type PatientChange } from './view.ts'

/** A batch given up on purpose, to be read again from the committed offsets (an expected event, not a failure). */
export class RereadFromCommit extends Error {}

export interface ProcessorParts {
  redis: RedisClient
  keys: RedisKeys
  producer: Producer<Buffer, Buffer, Buffer, Buffer>
  cache: PatientCache
  book: OffsetBook
  commits: CommitPipeline
  rebuilder: Rebuilder
  retry: Retrier
  stats: SpeedStats
  opts: SpeedOptions
  topics: { rejected: string; alerts: string }
}

/** What applying a batch's readings changed. */
interface Applied {
  changes: PatientChange[]
  /** Every alert event, in order, for the view. */
  events: AlertEvent[]
  /** The alert events of fresh readings, for Kafka (a replay's were produced the first time). */
  toProduce: AlertEvent[]
}

export class BatchProcessor {
  /** The bands version the last batch read: cached patients with older bands read theirs again. */
  private bandsVersion = ''

  constructor(private readonly p: ProcessorParts) {}

  /** `again`: the batch is being processed a second time, after a rebuild. */
  async process(batch: readonly SourceRecord[], again = false): Promise<void> {
    const { stats, cache, book, opts } = this.p
    const started = performance.now()
    cache.settle()
    const decoded = decodeBatch(batch, { rejectedTopic: this.p.topics.rejected, maxClockSkewMs: opts.maxClockSkewMs, replayUntil: (p) => book.replayUntil(p) })
    stats.timeMs.compute += performance.now() - started
    const loaded = await this.load(decoded)
    const epoch = epochToWriteUnder(this.p.rebuilder.known, loaded.epoch, loaded.rebuilt)
    if (epoch === undefined) {
      // Twice in a row (a partition of the batch no longer owned, or another wipe meanwhile): the
      // loop's error path re-reads from the committed offsets with a fresh assignment.
      if (again) throw new RereadFromCommit('the view was wiped again, or a partition was reassigned, while rebuilding')
      return this.rebuildThenProcess(batch, true)
    }
    this.p.rebuilder.known = epoch
    let t = performance.now()
    const applied = this.apply(decoded.groups, loaded)
    stats.timeMs.compute += performance.now() - t
    await this.produce([...decoded.deadLetters, ...applied.toProduce.map((e) => alertRecord(this.p.topics.alerts, e))])
    t = performance.now()
    const { redis, keys } = this.p
    const calls = batchCalls(keys, applied.changes, applied.events, opts, epoch)
    const written = await this.p.retry.run('writing the view to Redis', () => writeBatch(redis, keys, calls, epoch))
    stats.timeMs.write += performance.now() - t
    // Not written: Redis was wiped between this batch's read and its write; rebuild the view and
    // process the batch again (its alert events keep their ids).
    if (!written) return this.rebuildThenProcess(batch, again)
    this.done(batch.length, decoded, applied.toProduce.length)
  }

  /** Rebuilds the view; processes the batch again unless the rebuild rewound (the stream reads it again) or the layer stops. */
  private async rebuildThenProcess(batch: readonly SourceRecord[], again: boolean): Promise<void> {
    if ((await this.p.retry.run('rebuilding the Redis view', () => this.p.rebuilder.rebuild())) || this.p.retry.signal.aborted) return
    return this.process(batch, again)
  }

  /**
   * One pipeline: the epoch, the rebuild marks of the batch's partitions, the bands version, the
   * bands of the patients whose cached bands predate the version last seen, and the uncached
   * patients' state. When the version moved meanwhile, a second round trip reads the bands of
   * the batch's other patients (rare: only after a band change).
   */
  private async load(decoded: DecodedBatch): Promise<Loaded> {
    const { redis, keys, cache, stats } = this.p
    const ids = [...decoded.groups.keys()]
    const uncached = new Set(ids.filter((id) => !cache.has(id)))
    const stale = (id: string, version: string) => !uncached.has(id) && cache.get(id)?.bandsVersion !== version
    const bandsFor = new Set(ids.filter((id) => stale(id, this.bandsVersion)))
    const partitions = [...decoded.lastOffsets.keys()]
    const t = performance.now()
    const loaded = await this.p.retry.run('reading patient state from Redis', () => loadPatients(redis, keys, ids, uncached, partitions, bandsFor))
    this.bandsVersion = loaded.bandsVersion
    const late = ids.filter((id) => !loaded.tables.has(id) && stale(id, loaded.bandsVersion))
    if (late.length > 0) {
      const tables = await this.p.retry.run('reading band overrides from Redis', () => loadBands(redis, keys, late))
      for (const [id, table] of tables) loaded.tables.set(id, table)
    }
    stats.timeMs.load += performance.now() - t
    return loaded
  }

  /** Applies each patient's replayed readings, then its fresh ones, in arrival order. */
  private apply(groups: ReadonlyMap<string, PatientGroup>, loaded: Loaded): Applied {
    const out: Applied = { changes: [], events: [], toProduce: [] }
    for (const [id, g] of groups) {
      let p = this.p.cache.get(id)
      if (p === undefined) {
        p = loaded.loaded.get(id) as PatientRuntime
        this.p.cache.set(id, p)
      }
      const table = loaded.tables.get(id)
      if (table !== undefined) {
        p.table = table
        p.bandsVersion = loaded.bandsVersion
      }
      for (const [readings, produce] of [
        [g.replayed, false],
        [g.fresh, true],
      ] as const) {
        if (readings.length === 0) continue
        const outcome = applyReadings(p, readings, this.p.opts)
        countOutcome(this.p.stats, outcome)
        out.changes.push({ runtime: p, outcome })
        out.events.push(...outcome.events)
        if (produce) out.toProduce.push(...outcome.events)
      }
    }
    return out
  }

  private async produce(messages: OutRecord[]): Promise<void> {
    const t = performance.now()
    // In requests under the broker's message limit: one request over it would be refused, and retried, for ever.
    for (const chunk of produceChunks(messages)) {
      await this.p.retry.run('producing rejects and alerts to Kafka', () => this.p.producer.send({ messages: chunk }))
    }
    this.p.stats.timeMs.produce += performance.now() - t
  }

  /** The batch is written: its offsets may be committed, and it is counted. */
  private done(records: number, decoded: DecodedBatch, alertEvents: number): void {
    const { stats } = this.p
    stats.alertEvents += alertEvents
    this.p.commits.schedule(decoded.lastOffsets)
    for (const r of decoded.rejects) stats.rejected[r]++
    stats.partialRejects += decoded.partialRejects
    stats.records += records
    stats.batches++
  }
}
