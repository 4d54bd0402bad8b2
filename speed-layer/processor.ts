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
import { RereadFromCommit, type Retrier } from './outage.ts'
import { applyReadings, type PatientOptions, type PatientRuntime } from './patients.ts'
import type { Rebuilder } from './rebuilder.ts'
import type { RiskServing } from './risk.ts'
import { alertRecord, type OutRecord, type SourceRecord } from './records.ts'
import { countOutcome, type SpeedStats } from './stats.ts'
import { produceChunks } from './validate.ts'
import { batchCalls, loadBands, loadPatients, writeBatch, type Loaded, type PatientChange } from './view.ts'

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
  /** The risk model served, if any (risk.ts): its features are fed, and read back with a patient's state. */
  risk?: RiskServing
}

/** What applying a batch's readings changed. */
interface Applied {
  changes: PatientChange[]
  /** Every alert event, in order, for the view. */
  events: AlertEvent[]
  /** The alert events of fresh readings, for Kafka (a replay's were produced the first time). */
  toProduce: AlertEvent[]
}

/** A batch whose view write was sent and not yet answered. */
interface InFlight {
  batch: readonly SourceRecord[]
  decoded: DecodedBatch
  again: boolean
  alertEvents: number
  written: Promise<boolean>
  sentAt: number
}

/**
 * What waiting for the batch in flight leaves for the next one: go on; start afresh (the batch in
 * flight found the view wiped and was processed again on a rebuilt view, so the cache was
 * reloaded); or drop it (the rebuild rewound the stream, which reads it again).
 */
type Settled = 'go-on' | 'start-afresh' | 'read-again'

export class BatchProcessor {
  /** The bands version the last batch read: cached patients with older bands read theirs again. */
  private bandsVersion = ''
  /**
   * The previous batch, while Redis applies its write: the next batch is decoded, loaded and
   * applied meanwhile (the loop's two halves, the layer's CPU and Redis's, overlap). Its load is
   * sent after that write on the one connection, so it reads what the write leaves; its own write
   * waits for the previous one's answer, and its offsets are committed after.
   */
  private inFlight: InFlight | undefined
  /** What the readings are applied with: the options, and the risk model when one is served. */
  private readonly patientOptions: PatientOptions

  constructor(private readonly p: ProcessorParts) {
    this.patientOptions = p.risk === undefined ? p.opts : { ...p.opts, risk: p.risk }
  }

  /** `again`: the batch is being processed a second time, after a rebuild. */
  async process(batch: readonly SourceRecord[], again = false): Promise<void> {
    const { stats, cache, book, opts } = this.p
    // A cache about to be dropped (a rebalance) reloads its patients: from what the write in flight leaves.
    if (cache.invalidated && (await this.settle()) === 'read-again') return
    const started = performance.now()
    cache.settle()
    const generation = cache.generation
    const decoded = decodeBatch(batch, { rejectedTopic: this.p.topics.rejected, maxClockSkewMs: opts.maxClockSkewMs, replayUntil: (p) => book.replayUntil(p) })
    stats.timeMs.compute += performance.now() - started
    const loading = this.load(decoded)
    // Dropped unread when the batch in flight turns out not written: keep its failure from going unhandled.
    loading.catch(() => undefined)
    const settled = await this.settle()
    if (settled === 'read-again') return
    if (settled === 'start-afresh') return this.process(batch, again)
    const loaded = await loading
    const epoch = epochToWriteUnder(this.p.rebuilder.known, loaded.epoch, loaded.rebuilt)
    if (epoch === undefined) {
      // Twice in a row (a partition of the batch no longer owned, or another wipe meanwhile): the
      // loop's error path re-reads from the committed offsets with a fresh assignment.
      if (again) throw new RereadFromCommit('the view was wiped again, or a partition was reassigned, while rebuilding')
      await this.rebuildThenProcess(batch, true)
      return
    }
    this.p.rebuilder.known = epoch
    const t = performance.now()
    const applied = this.apply(decoded.groups, loaded)
    stats.timeMs.compute += performance.now() - t
    await this.produce([...decoded.deadLetters, ...applied.toProduce.map((e) => alertRecord(this.p.topics.alerts, e))])
    const { redis, keys } = this.p
    const calls = batchCalls(keys, applied.changes, applied.events, opts, epoch)
    let attempts = 0
    const written = this.p.retry.run('writing the view to Redis', () => {
      // A retry after a group join (the first attempt failed, e.g. Redis restarting) is not sent:
      // the patients may now be another instance's, which may already have written past this
      // batch, and a late write would take their alert states back (the batch is read again).
      if (attempts++ > 0 && cache.generation !== generation) throw new RereadFromCommit('the group rebalanced while the view write was retried')
      // Not queued in the client while it reconnects (sent whenever it is back, after any join):
      // failed, so that the retry above decides whether it is still this instance's to send.
      if (!redis.isReady) throw new Error('the Redis connection is down')
      return writeBatch(redis, keys, calls, epoch)
    })
    written.catch(() => undefined)
    this.inFlight = { batch, decoded, again, alertEvents: applied.toProduce.length, written, sentAt: performance.now() }
  }

  /**
   * Waits for the write of the batch in flight, if any; once written, its offsets may be committed.
   * Not written (Redis wiped between its read and its write): the view is rebuilt and the batch
   * processed again (its alert events keep their ids). A failed write throws: the loop re-reads
   * from the committed offsets.
   */
  async settle(): Promise<Settled> {
    const f = this.inFlight
    if (f === undefined) return 'go-on'
    this.inFlight = undefined
    const written = await f.written
    this.p.stats.timeMs.write += performance.now() - f.sentAt
    if (written) {
      this.done(f.batch.length, f.decoded, f.alertEvents)
      return 'go-on'
    }
    // Stopping: the batch is read again at the next start; no rebuild in the middle of the stop.
    if (this.p.retry.signal.aborted || (await this.rebuildThenProcess(f.batch, f.again))) return 'read-again'
    return (await this.settle()) === 'read-again' ? 'read-again' : 'start-afresh'
  }

  /** After a failure elsewhere: waits out the write in flight without counting or committing it (the stream reads it again). */
  async abandon(): Promise<void> {
    const f = this.inFlight
    this.inFlight = undefined
    await f?.written.catch(() => undefined)
  }

  /**
   * Rebuilds the view, then processes the batch again (its write left in flight). True when it was
   * not processed: the rebuild rewound the stream (which reads it again) or the layer stops.
   */
  private async rebuildThenProcess(batch: readonly SourceRecord[], again: boolean): Promise<boolean> {
    if ((await this.p.retry.run('rebuilding the Redis view', () => this.p.rebuilder.rebuild())) || this.p.retry.signal.aborted) return true
    await this.process(batch, again)
    return false
  }

  /**
   * One round trip: the epoch, the rebuild marks of the batch's partitions, the bands version, the
   * bands of the patients whose cached bands predate the version last seen, and the uncached
   * patients' state. When the version moved meanwhile, those bands are read again after it
   * (view.ts loadPatients) and another round trip reads the bands of the batch's other patients
   * (rare: only after a band change).
   */
  private async load(decoded: DecodedBatch): Promise<Loaded> {
    const { redis, keys, cache, stats } = this.p
    const ids = [...decoded.groups.keys()]
    const uncached = new Set(ids.filter((id) => !cache.has(id)))
    const stale = (id: string, version: string) => !uncached.has(id) && cache.get(id)?.bandsVersion !== version
    const bandsFor = new Set(ids.filter((id) => stale(id, this.bandsVersion)))
    const partitions = [...decoded.lastOffsets.keys()]
    const t = performance.now()
    const loaded = await this.p.retry.run('reading patient state from Redis', () =>
      loadPatients(redis, keys, ids, uncached, partitions, bandsFor, this.bandsVersion, this.p.risk?.model.version),
    )
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
        const outcome = applyReadings(p, readings, this.patientOptions)
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
