/**
 * The event archiver: `vitals.events` (lib/contract/events.ts) into the Parquet lake, every
 * offset exactly once. The archiver (archiver.ts) runs it beside the readings with the same lake
 * and instance id, and stops it in its own stop; it is not a stage of its own.
 *
 * Flow: the readings archiver's, on a smaller scale. Take the lake's lock for the events topic
 * (lock.ts); consume as group `vigil-archiver-events` with the readings' fetcher (fetcher.ts);
 * whenever the group assigns partitions, claim them (ownership.ts), delete this topic's leftover
 * temporary files of those partitions, and resume each after the highest `last` of its files in
 * <lake>/raw/events (lake.ts, scanEvents); buffer per partition; seal a buffer at `flushRecords`
 * records, when its oldest record is `flushIntervalMs` old, or at stop; write each sealed buffer as
 * ONE file under a temporary name, fsync it, rename it only while this archiver still owns the
 * partition; only then commit the group offset (lag monitoring only: the lake decides where a
 * restart resumes).
 *
 * Exactly once: lake.ts's argument with one part per flush. A flush is in the lake exactly when
 * its one file is renamed; a crash before the rename leaves a temporary file, which the next
 * owner deletes before reading where the partition resumes, so the range is archived again, once.
 * A record that fails parseClinicalEvent is archived too, with only its Kafka coordinates, its
 * bytes and `reject_reason`, so that every offset is in the lake once and readers filter on
 * `reject_reason IS NULL`. An event sent twice (the same `event_id` at two offsets) is two rows:
 * readers keep one per id (docs/CONTRACT.md, The data lake).
 *
 * Events are few (a handful per patient per day), so the files are small, never compacted, and
 * the buffers need no bound beyond `flushRecords` per partition and two sealed batches.
 */
import { rename, rm } from 'node:fs/promises'
import path from 'node:path'
import { Consumer, type KafkaRecord, type RecordsBatch } from '@platformatic/kafka'
import type { Config } from '../lib/config.ts'
import { VigilError, describeError } from '../lib/errors.ts'
import { consumerGroupOptions, createAdmin, ensureTopics, kafkaBaseOptions } from '../lib/kafka.ts'
import { createLogger, type Logger } from '../lib/log.ts'
import { retry, settlesWithin } from '../lib/backoff.ts'
import type { Stage, StageConfig } from '../lib/stage.ts'
import { TOPIC_PARTITIONS, consumerGroups, topicNames } from '../lib/contract/topics.ts'
import { parseClinicalEvent } from '../lib/contract/events.ts'
import type { ArchiverOptions } from './config.ts'
import { ensureDir, eventsDir, fileName, fsyncFile, scanEvents, tempName, temporaryPartition } from './lake.ts'
import { takeLock } from './lock.ts'
import { claimAll, generationOf, newToken, owner } from './ownership.ts'
import { TopicFetcher, closeConsumer, describeKafkaError } from './fetcher.ts'
import { LakeWriter, type EventRow } from './parquet.ts'

export interface EventArchiverStats {
  /** Records taken from Kafka by this process (written or still buffered). */
  consumed: number
  /** Records written to the lake by this process (events + rejected). */
  records: number
  events: number
  /** Records that failed parseClinicalEvent, archived with their reason. */
  rejected: number
  files: number
}

export interface EventArchiver extends Stage<EventArchiverStats> {
  /** Rejects when it stops on an error it cannot recover from (e.g. the disk is full). */
  readonly failed: Promise<never>
}

export interface EventFlushOptions {
  /**
   * A partition's buffer is written when it holds this many records.
   * @defaultValue 1 000 records: more than a day of a ward's events in one file.
   */
  flushRecords: number
  /**
   * ... or when its oldest buffered record is this old, in milliseconds.
   * @defaultValue 5 000 ms: an event is in the lake within seconds, for a training run started right after it.
   */
  flushIntervalMs: number
}

export const EVENT_FLUSH: Readonly<EventFlushOptions> = Object.freeze({ flushRecords: 1_000, flushIntervalMs: 5_000 })

export interface EventArchiverDeps {
  log?: Logger
  /** The flush bounds (tests make them small); unset: EVENT_FLUSH. */
  flush?: Partial<EventFlushOptions>
}

interface PartitionBuffer {
  rows: EventRow[]
  first: number
  last: number
  /** Wall-clock time the oldest buffered record arrived (ms). */
  since: number
}

interface Sealed extends PartitionBuffer {
  partition: number
}

/** Sealed batches waiting to be written before fetching pauses (backpressure), as the readings archiver's. */
const MAX_SEALED = 2

/** How long a stop writes what was consumed before leaving the rest to the next start, as the readings archiver's. */
const STOP_WRITE_MS = 3_000

/** How long a stop waits for the consumer to leave the group. */
const CLOSE_MS = 2_000

/** The readings archiver's group settings (archiver.ts, GROUP), for the same reasons: partitions move within seconds of a kill. */
const GROUP = consumerGroupOptions({ sessionTimeoutMs: 10_000, fetchMaxWaitMs: 500 })

/** Fetch sizes: an event is a few hundred bytes, so 1 MiB a fetch holds thousands. */
const FETCH = { maxBytes: 1024 * 1024, maxBytesPerPartition: 256 * 1024 }

/** Starts archiving `vitals.events`; resolves once its consumer has joined the group. */
export async function archiveEvents(config: StageConfig<'archiver', ArchiverOptions>, deps: EventArchiverDeps = {}): Promise<EventArchiver> {
  const log = deps.log ?? createLogger({ level: config.logLevel })
  const topic = topicNames(config.topicPrefix).events
  const lake = path.resolve(config.datalakeDir)
  const instanceId = config.archiver.instanceId
  await ensureDir(eventsDir(lake))
  const releaseLock = await takeLock(lake, 'archiver', topic, instanceId)
  try {
    const admin = createAdmin(config, 'vigil-archiver-events-admin')
    try {
      await ensureTopics(admin, [{ name: topic, partitions: TOPIC_PARTITIONS.events }])
    } finally {
      await admin.close()
    }
    const flush = { ...EVENT_FLUSH, ...deps.flush }
    const archiver = new EventArchiverStage(config, instanceId, flush, log, lake, topic, await LakeWriter.open(1), releaseLock)
    try {
      await archiver.begin()
    } catch (error) {
      await archiver.stop().catch(() => undefined)
      throw error instanceof VigilError
        ? error
        : new VigilError('STAGE_FAILED', `the event archiver could not start consuming: ${describeError(error)}.`, { cause: error })
    }
    // No line of its own: the archiver's start line names both topics, and says the archiver runs only once both do.
    return archiver
  } catch (error) {
    await releaseLock()
    throw error
  }
}

class EventArchiverStage implements EventArchiver {
  readonly failed: Promise<never>
  private fail!: (error: unknown) => void
  private consumer: Consumer
  private fetcher: TopicFetcher | undefined
  private readonly buffers = new Map<number, PartitionBuffer>()
  private readonly sealed: Sealed[] = []
  /** Next offset expected per partition: redelivered records below it are skipped. */
  private readonly next = new Map<number, number>()
  /** This archiver's claim on the partitions of its current assignment (ownership.ts). */
  private token = ''
  private writing: Promise<void> = Promise.resolve()
  private timer: NodeJS.Timeout | undefined
  private stopping = false
  /** Set when a write failed: nothing more is sealed or written until a restart. */
  private broken = false
  private readonly counters: EventArchiverStats = { consumed: 0, records: 0, events: 0, rejected: 0, files: 0 }

  constructor(
    private readonly config: Config,
    private readonly instanceId: string | undefined,
    private readonly flush: EventFlushOptions,
    private readonly log: Logger,
    private readonly lake: string,
    private readonly topic: string,
    private readonly writer: LakeWriter,
    private readonly releaseLock: () => Promise<void>,
  ) {
    this.failed = new Promise<never>((_, reject) => {
      this.fail = reject
    })
    // A rejection nobody awaits must not crash the process; the archiver awaits it.
    this.failed.catch(() => undefined)
    this.consumer = this.newConsumer()
  }

  private newConsumer(): Consumer {
    const consumer = new Consumer({
      ...kafkaBaseOptions(this.config, 'vigil-archiver-events'),
      groupId: consumerGroups(this.config.topicPrefix).eventArchiver,
      // Static membership, as the readings archiver: a restart takes its partitions back at once.
      groupInstanceId: `vigil-archiver-events-${this.topic}${this.instanceId === undefined ? '' : `-${this.instanceId}`}`,
      ...GROUP,
      ...FETCH,
    })
    consumer.on('error', (error: unknown) => this.log.warn(`Kafka consumer error (events): ${describeError(error)}`))
    return consumer
  }

  async begin(): Promise<void> {
    await this.joinWithRetry()
    const tick = Math.max(50, Math.min(1_000, Math.floor(this.flush.flushIntervalMs / 4)))
    this.timer = setInterval(() => this.sealAged(), tick)
  }

  /** Joins the group and fetches each assigned partition from where the lake ends. */
  private async consume(): Promise<void> {
    const fetcher = new TopicFetcher(
      this.consumer,
      this.topic,
      (partitions, generation) => this.takeOver(partitions, generation),
      { ...FETCH, maxWaitTime: GROUP.maxWaitTime },
      (partition, offset, record, batch) => this.take(partition, offset, record, batch),
      (error) => {
        if (this.stopping || this.fetcher !== fetcher) return
        this.log.warn(`Kafka fetch of ${this.topic} failed (${describeKafkaError(error)}); resuming from the archiver's own positions`)
        fetcher.close()
        this.fetcher = undefined
        void this.restart()
      },
    )
    this.fetcher = fetcher
    if (this.sealed.length >= MAX_SEALED || this.broken) fetcher.pause()
    try {
      await fetcher.start()
    } catch (error) {
      fetcher.close()
      if (this.fetcher === fetcher) this.fetcher = undefined
      throw error
    }
  }

  /** `consume` until it has joined the group, with a capped backoff; only a stop ends the tries. */
  private async joinWithRetry(): Promise<void> {
    await retry(() => this.consume(), {
      maxDelayMs: 5_000,
      isFatal: () => this.stopping,
      onRetry: (n, error, delay) => this.log.warn(`cannot consume ${this.topic} (${describeKafkaError(error)}); retry ${n} in ${delay} ms`),
    })
  }

  /** After a fetch failure: a new consumer and fetcher, which take the assignment over from the lake again. */
  private async restart(): Promise<void> {
    try {
      await closeConsumer(this.consumer).catch(() => undefined)
      this.consumer = this.newConsumer()
      await this.joinWithRetry()
    } catch (error) {
      if (!this.stopping) this.fail(error)
    }
  }

  /**
   * The group assigned `partitions` in `generation`: what is buffered is dropped, the flush being
   * written ends first, and each partition is claimed and resumed from the lake (archiver.ts's
   * takeOver, with the events folder's scan).
   */
  private async takeOver(partitions: readonly number[], generation: number): Promise<Map<number, number> | null> {
    this.buffers.clear()
    this.sealed.length = 0
    await this.writing.catch(() => undefined)
    if (!this.broken && !this.stopping) this.fetcher?.resume()
    this.token = newToken(this.instanceId ?? 'archiver', generation)
    const claimed = await claimAll(this.lake, this.topic, partitions, this.token, () => this.consumer.generationId === generation)
    if (!claimed.claimed) {
      if (claimed.refused !== undefined) {
        this.log.info(
          `partition ${claimed.refused} of ${this.topic} is claimed under a later group generation than ${generation}: waiting for the group's next assignment`,
        )
      }
      return null
    }
    const scan = await scanEvents(this.lake, this.topic)
    const mine = new Set(partitions)
    const leftovers = scan.temporary.filter((file) => mine.has(temporaryPartition(file) ?? -1))
    for (const file of leftovers) await rm(file, { force: true })
    if (leftovers.length > 0)
      this.log.warn(`removed ${leftovers.length} leftover file(s) of an interrupted flush of ${this.topic}; their offsets will be archived again`)
    this.next.clear()
    const start = new Map<number, number>()
    for (const partition of partitions) {
      const offset = scan.next.get(partition)
      if (offset === undefined) continue
      start.set(partition, offset)
      this.next.set(partition, offset)
    }
    this.log.info(`partitions ${partitions.join(', ')} of ${this.topic} assigned; ${start.size} resume from the lake, the others from their first offset`)
    return start
  }

  /** One record into its partition's buffer: the event's fields, or the reason it was refused. */
  private take(partition: number, offset: number, record: KafkaRecord, batch: RecordsBatch): void {
    if (offset < (this.next.get(partition) ?? 0)) return
    this.next.set(partition, offset + 1)
    this.counters.consumed++
    let buf = this.buffers.get(partition)
    if (buf === undefined) {
      buf = { rows: [], first: offset, last: offset, since: Date.now() }
      this.buffers.set(partition, buf)
    }
    buf.last = offset
    const value = new Uint8Array(record.value ?? Buffer.alloc(0))
    const kafkaTs = Number(batch.firstTimestamp + record.timestampDelta)
    const parsed = parseClinicalEvent(value)
    buf.rows.push(parsed.ok ? { event: parsed.event, partition, offset, kafkaTs, value } : { partition, offset, kafkaTs, rejectReason: parsed.detail, value })
    if (buf.rows.length >= this.flush.flushRecords) this.seal(partition)
  }

  private seal(partition: number): void {
    const buf = this.buffers.get(partition)
    if (buf === undefined || this.broken) return
    this.buffers.delete(partition)
    this.sealed.push({ ...buf, partition })
    if (this.sealed.length >= MAX_SEALED) this.fetcher?.pause()
    this.writing = this.writing
      .then(() => this.writeNext())
      .catch((error: unknown) => {
        this.broken = true
        this.log.error(`cannot write events to the lake at ${this.lake}: ${describeError(error)}`)
        this.fail(
          new VigilError(
            'STAGE_FAILED',
            `the archiver cannot write events to ${this.lake}: ${describeError(error)}; check the disk and restart \`vigil archive\`.`,
            {
              cause: error,
            },
          ),
        )
        // Stop taking records: what is not in the lake will be consumed again on restart.
        this.fetcher?.pause()
        throw error
      })
  }

  private sealAged(): void {
    const now = Date.now()
    for (const [partition, buf] of this.buffers) {
      if (now - buf.since >= this.flush.flushIntervalMs) this.seal(partition)
    }
  }

  private async writeNext(): Promise<void> {
    const batch = this.sealed.shift()
    if (batch === undefined) return
    await this.writeBatch(batch)
    if (this.sealed.length < MAX_SEALED && !this.stopping && !this.broken) this.fetcher?.resume()
  }

  /** One flush: one temporary file, fsync, rename while this archiver owns the partition, then commit the offset. */
  private async writeBatch(b: Sealed): Promise<void> {
    const name = fileName({ topic: this.topic, partition: b.partition, first: b.first, last: b.last, parts: 1 })
    const dir = eventsDir(this.lake)
    const tmp = path.join(dir, tempName(name))
    try {
      await this.writer.writeEvents(b.rows, tmp)
      await fsyncFile(tmp)
      if (await this.leftToNewOwner(b, tmp)) return
      await rename(tmp, path.join(dir, name))
    } catch (error) {
      // The new owner deletes a former owner's temporary file: gone from under this flush means the partition moved.
      if (await this.leftToNewOwner(b, tmp)) return
      throw error
    }
    const rejected = b.rows.filter((r) => r.rejectReason !== undefined).length
    this.counters.files++
    this.counters.records += b.rows.length
    this.counters.events += b.rows.length - rejected
    this.counters.rejected += rejected
    try {
      await this.consumer.commit({ offsets: [{ topic: this.topic, partition: b.partition, offset: BigInt(b.last + 1), leaderEpoch: -1 }] })
    } catch (error) {
      // The group offset only feeds lag monitoring; the lake already holds the records.
      this.log.debug(`could not commit offset ${b.last + 1} of partition ${b.partition} of ${this.topic}: ${describeError(error)}`)
    }
  }

  /** True when another archiver claimed the flush's partition since this one took it over (archiver.ts, leftToNewOwner). */
  private async leftToNewOwner(b: Sealed, tmp: string): Promise<boolean> {
    const current = await owner(this.lake, this.topic, b.partition)
    if (current === this.token) return false
    await rm(tmp, { force: true })
    if (generationOf(current) < generationOf(this.token)) {
      this.log.warn(`partition ${b.partition} of ${this.topic} was claimed by an archiver of an older group generation: taking it over again`)
      this.fetcher?.takeOverAgain()
      return true
    }
    this.log.info(`partition ${b.partition} of ${this.topic} moved to another archiver: offsets ${b.first}-${b.last} left to it`)
    return true
  }

  stats(): EventArchiverStats {
    return { ...this.counters }
  }

  async stop(): Promise<void> {
    if (this.stopping) return
    this.stopping = true
    clearInterval(this.timer)
    try {
      this.fetcher?.close()
      // What was consumed is written before leaving, so a clean stop leaves the lake current.
      for (const partition of [...this.buffers.keys()]) this.seal(partition)
      if (!(await settlesWithin(this.writing, STOP_WRITE_MS))) {
        const left = this.sealed.reduce((n, b) => n + b.rows.length, 0)
        this.sealed.length = 0
        this.log.warn(`stopping: ${left} consumed events not written within ${STOP_WRITE_MS / 1000} s are left to the next start, which reads them again`)
        await this.writing.catch(() => undefined)
      }
      const closed = closeConsumer(this.consumer).catch((error: unknown) => this.log.debug(`events consumer close: ${describeError(error)}`))
      if (!(await settlesWithin(closed, CLOSE_MS)))
        this.log.warn(`the events consumer did not leave the group within ${CLOSE_MS / 1000} s; stopping without it`)
    } finally {
      this.writer.close()
      await this.releaseLock()
    }
  }
}
