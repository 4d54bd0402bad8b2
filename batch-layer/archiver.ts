/**
 * The archiver (`vigil archive`): `vitals.readings` into the Parquet lake, every offset exactly
 * once (the layout and the exactly-once argument are in lake.ts).
 *
 * Flow: on start, take the lake's lock (one archiver per lake, topic and instance id); consume as
 * group `vigil-archiver`; whenever the group assigns partitions, take each over (ownership.ts:
 * claim it, delete the leftovers of an interrupted flush, and position it after the lake's last
 * complete flush); buffer per partition; seal a partition's buffer at `flushRecords` records
 * or when its oldest record is `flushIntervalMs` old; write each sealed batch as one Parquet
 * file per (kind, dt) under a temporary name, fsync, rename; only then commit the group offset
 * (kept for lag monitoring: the lake, not the group, decides where a restart resumes).
 *
 * Exactly once, in short: a flush is in the lake when all its parts are renamed; a restart
 * deletes the parts of a flush that is not, and resumes each partition after its last complete
 * flush, so a crash at any point loses nothing and archives nothing twice. Several archivers
 * (`--instance-id`) share the partitions on one lake: a flush is renamed only while its archiver
 * still owns the partition (ownership.ts), so a partition moved in a rebalance is never written
 * by two. `vigil compact`
 * (compact.ts) may rewrite complete files into larger ones while this runs; lake.ts's rules make
 * a compacted file count as the flushes it replaced, so neither where a partition resumes nor
 * which flushes are complete changes, and this process never deletes what compaction wrote.
 *
 * The archiver also archives `vitals.events` into <lake>/raw/events (event-archiver.ts): its own
 * consumer group, started in `start` beside this one's join, stopped in `stop`, its counters the
 * `events` of the stats and the status line.
 *
 * The archiver also compacts on its own, every `compactIntervalMs` (periodic-compaction.ts).
 * A compaction never delays a flush or a commit by more than a bounded amount: the archiver
 * never awaits it (its own DuckDB instance, its own lock, no shared queue); what they share is the
 * event loop, which a run holds only for synchronous slices: listing the lake (proportional to its
 * small files, which the interval bounds: ~2,000 an hour at 10 s flushes) and reading DuckDB's
 * answers about at most 500 files (measured in docs/ARCHITECTURE.md); libuv's thread pool, of
 * which a run holds one thread at a time (one query or file operation awaited at a time); one
 * core (DuckDB with one thread); and the disk. Stop aborts a running compaction and waits for it
 * at most COMPACTION_STOP_WAIT_MS, beside the last flush.
 */
import { rename, rm } from 'node:fs/promises'
import path from 'node:path'
import { Consumer, type KafkaRecord, type RecordsBatch } from '@platformatic/kafka'
import type { Config } from '../lib/config.ts'
import { VigilError, describeError } from '../lib/errors.ts'
import { consumerGroupOptions, createAdmin, ensureTopics, kafkaAnswers, kafkaBaseOptions, kafkaUnreachable } from '../lib/kafka.ts'
import { createLogger, type Logger } from '../lib/log.ts'
import { retry, settlesWithin, withTimeout } from '../lib/backoff.ts'
import { committedLag, describeLag, type GroupLag } from '../lib/lag.ts'
import type { Stage, StageConfig } from '../lib/stage.ts'
import { TOPIC_PARTITIONS, consumerGroups, topicNames } from '../lib/contract/topics.ts'
import { parseReading } from '../lib/contract/schema.ts'
import { compactLake, type CompactDeps } from './compact.ts'
import type { ArchiverOptions } from './config.ts'
import { dtDir, ensureDir, fileName, fsyncFile, rawDir, repairLake, scanLake, tempName, utcDay, type RawKind } from './lake.ts'
import { takeLock } from './lock.ts'
import { claimAll, generationOf, newToken, owner } from './ownership.ts'
import { TopicFetcher, closeConsumer, describeKafkaError } from './fetcher.ts'
import { LakeWriter, ReadingColumns, type GroupOutput, type ParquetOutput, type RejectedRow } from './parquet.ts'
import { PeriodicCompaction } from './periodic-compaction.ts'
import { archiveEvents, type EventArchiver, type EventArchiverStats } from './event-archiver.ts'

export interface ArchiverStats {
  /** Records taken from Kafka by this process (written or still buffered). */
  consumed: number
  /** Records written to the lake by this process (readings + rejected). */
  records: number
  readings: number
  rejected: number
  files: number
  flushes: number
  /** The clinical events of `vitals.events`, archived beside the readings (event-archiver.ts). */
  events: EventArchiverStats
}

export interface Archiver extends Stage<ArchiverStats> {
  /** Rejects when the archiver stops on an error it cannot recover from (e.g. the disk is full). */
  readonly failed: Promise<never>
}

/** The config the archiver starts with: its options under `archiver` (lib/stage.ts). */
export type ArchiverConfig = StageConfig<'archiver', ArchiverOptions>

export interface ArchiverDeps {
  log?: Logger
  /** Called at each step of the periodic compaction's rewrites (tests stop the archiver there). */
  onCompactStep?: CompactDeps['onStep']
}

interface PartitionBuffer {
  /** Grouped by UTC day number (epoch ms / DAY_MS): one file per day. */
  readings: ReadingColumns
  rejected: RejectedRow[]
  first: number
  last: number
  /** Wall-clock time the oldest buffered record arrived (ms). */
  since: number
}

interface Sealed extends PartitionBuffer {
  partition: number
}

/**
 * Bound on sealed batches waiting to be written before fetching pauses (backpressure). The
 * records of the fetch in flight are still taken, so at most one fetch (FETCH.maxBytes) more
 * is buffered beyond it.
 */
const MAX_SEALED = 2

/**
 * How long stop waits for an aborted compaction, beside the last flush, before leaving it. An
 * abort usually ends a run in milliseconds (at its next step, or by interrupting DuckDB); 2 s keeps
 * the archiver's stop well inside `vigil all`'s 10 s.
 */
const COMPACTION_STOP_WAIT_MS = 2_000

/**
 * How long a stop writes what was consumed before leaving the rest to the next start, which reads
 * it again from where the lake ends (nothing is lost or written twice). With 12 partitions a
 * catching-up archiver can hold 12 × flushRecords consumed records: writing them all made `vigil
 * all` miss its 10 s shutdown in the chaos suite, under a rebuild at load 4-5.
 */
const STOP_WRITE_MS = 3_000

/** How long a stop waits for the consumer to leave the group. */
const CLOSE_MS = 2_000

/**
 * The archiver's consumer group (lib/kafka.ts): 10 s sessions, so a killed archiver's partitions
 * move (or a restarted one, by its static membership, takes them back) within seconds; fetches
 * wait at most 500 ms. The rebalance timeout stays at the client's default (102 s), as it always
 * was here, unlike the speed layer's (speed-layer/records.ts): a restarted archiver takes its
 * partitions back by static membership, not by a quick rebalance. Its memory is bounded by its
 * own buffers (flushRecords per partition, MAX_SEALED sealed batches, one fetch).
 */
const GROUP = consumerGroupOptions({ sessionTimeoutMs: 10_000, fetchMaxWaitMs: 500 })

/**
 * DuckDB threads of the lake writer: one. Its COPYs of one flush each gain little from a second
 * thread, which costs CPU the fetcher and the parsing on the main thread need. A/B on a pre-filled
 * topic of 1M readings: with 10,000-record flushes, 5.8-6.4 CPU µs a row and 124-162k rows/s with
 * one thread, 6.7-7.2 µs and 100-137k rows/s with two; with the default 50,000, 5.0-5.2 µs and
 * 167-175k rows/s against 6.2 µs and 140k rows/s.
 */
const WRITER_THREADS = 1

/**
 * Fetch sizes: 256 KiB per partition (~5,000 readings in lz4 batches, ~1,300 uncompressed), 2 MiB
 * in all. The client decodes a whole fetch before handing over its first record, and what it
 * decoded lives until the archiver has taken it; a fetch also holds the main thread while it is
 * decoded and taken, and the lake writer waits for it between its steps. Measured on a pre-filled
 * topic of 1M readings: with the client's message stream, 32 MiB fetches (4 MiB a partition)
 * peaked at ~1.0 GB of RSS and took 11.7-12.1 CPU µs a row, 2 MiB ~430 MB and 10.6-11.3 µs; with
 * the fetcher (load 3.7-7, two rounds), 1 MiB drained 87-96k rows/s, 2 MiB 128-147k, 8 MiB
 * 92-104k at ~420 MB.
 */
const FETCH = { maxBytes: 2 * 1024 * 1024, maxBytesPerPartition: 256 * 1024 }

export async function start(config: ArchiverConfig, deps: ArchiverDeps = {}): Promise<Archiver> {
  const log = deps.log ?? createLogger({ level: config.logLevel })
  const options = config.archiver
  const topic = topicNames(config.topicPrefix).readings
  const lake = path.resolve(config.datalakeDir)

  await ensureDir(rawDir(lake, 'readings'))
  const releaseLock = await takeLock(lake, 'archiver', topic, options.instanceId)
  try {
    if (!(await kafkaAnswers(config))) throw kafkaUnreachable(config)
    const admin = createAdmin(config, 'vigil-archiver-admin')
    try {
      await ensureTopics(admin, [{ name: topic, partitions: TOPIC_PARTITIONS.readings }])
    } finally {
      await admin.close()
    }
    const compaction = new PeriodicCompaction(
      options.compactIntervalMs,
      (signal) => compactLake(config, { onlyDaysWithSmallFiles: true, threads: 1 }, { log, signal, onStep: deps.onCompactStep }),
      log,
    )
    const writer = await LakeWriter.open(WRITER_THREADS)
    // The clinical events go into the same lake under the same instance id (event-archiver.ts):
    // started beside this archiver's join, stopped in its stop, failing it when they fail.
    const archiver = new ArchiverStage(config, options, log, lake, topic, writer, releaseLock, compaction, archiveEvents(config, { log }))
    try {
      await archiver.begin()
    } catch (error) {
      await archiver.stop().catch(() => undefined)
      throw startFailure(error)
    }
    const events = topicNames(config.topicPrefix).events
    log.info(`archiving ${topic} and ${events} into ${lake}/raw${options.instanceId === undefined ? '' : ` as instance ${options.instanceId}`}`)
    return archiver
  } catch (error) {
    await releaseLock()
    throw error
  }
}

class ArchiverStage implements Archiver {
  readonly failed: Promise<never>
  private fail!: (error: unknown) => void
  private consumer: Consumer
  private fetcher: TopicFetcher | undefined
  private readonly buffers = new Map<number, PartitionBuffer>()
  private readonly sealed: Sealed[] = []
  /** Next offset expected per partition: redelivered records below it are skipped. */
  private readonly next = new Map<number, number>()
  /** This archiver's claim on the partitions of its current assignment (ownership.ts); set at each assignment. */
  private token = ''
  private writing: Promise<void> = Promise.resolve()
  private timer: NodeJS.Timeout | undefined
  private statusTimer: NodeJS.Timeout | undefined
  private stopping = false
  /** Set when a write failed: nothing more is sealed or written until a restart. */
  private broken = false
  private lastStatus = 0
  private lastEvents = 0
  private eventArchiver: EventArchiver | undefined
  private lastStatusAt = Date.now()
  private readonly counters: Omit<ArchiverStats, 'events'> = { consumed: 0, records: 0, readings: 0, rejected: 0, files: 0, flushes: 0 }

  constructor(
    private readonly config: Config,
    private readonly options: ArchiverOptions,
    private readonly log: Logger,
    private readonly lake: string,
    private readonly topic: string,
    private readonly writer: LakeWriter,
    private readonly releaseLock: () => Promise<void>,
    private readonly compaction: PeriodicCompaction,
    /** The event archiver starting; `begin` awaits it, `stop` stops it. */
    private readonly events: Promise<EventArchiver>,
  ) {
    this.failed = new Promise<never>((_, reject) => {
      this.fail = reject
    })
    // A rejection nobody awaits must not crash the process; the CLI awaits it.
    this.failed.catch(() => undefined)
    this.events.then(
      (events) => {
        this.eventArchiver = events
        events.failed.catch((error: unknown) => this.fail(error))
      },
      // Its start failing is begin's error.
      () => undefined,
    )
    this.consumer = this.newConsumer()
  }

  private newConsumer(): Consumer {
    const consumer = new Consumer({
      ...kafkaBaseOptions(this.config, 'vigil-archiver'),
      groupId: consumerGroups(this.config.topicPrefix).archiver,
      // Static membership: a restarted archiver takes its partitions back at once instead of
      // waiting for the killed one's session to expire.
      groupInstanceId: `vigil-archiver-${this.topic}${this.options.instanceId === undefined ? '' : `-${this.options.instanceId}`}`,
      // The lake decides positions; offsets are committed by hand after each rename.
      ...GROUP,
      ...FETCH,
    })
    consumer.on('error', (error: unknown) => this.log.warn(`Kafka consumer error: ${describeError(error)}`))
    return consumer
  }

  async begin(): Promise<void> {
    // Joining can time out while the group rebalances (the broker holds a JoinGroup until every
    // member has rejoined, past the client's 10 s request timeout when one is busy): retried, as
    // a restart's join is. An archiver restarted into a rebalance once exited 1 on it ("Request
    // timed out", the quick scale run, seed 1718734755).
    await Promise.all([this.joinWithRetry(), this.events])
    const tick = Math.max(50, Math.min(1_000, Math.floor(this.options.flushIntervalMs / 4)))
    this.timer = setInterval(() => this.sealAged(), tick)
    this.statusTimer = setInterval(() => this.status(), 10_000)
    this.statusTimer.unref()
    this.compaction.start()
  }

  /** Joins the group and fetches each assigned partition from where the lake ends (a partition the lake has never seen: from the topic's beginning). */
  private async consume(): Promise<void> {
    const fetcher = new TopicFetcher(
      this.consumer,
      this.topic,
      (partitions, generation) => this.takeOver(partitions, generation),
      { ...FETCH, maxWaitTime: GROUP.maxWaitTime },
      (partition, offset, record, batch) => this.take(partition, offset, record, batch),
      (error) => {
        if (this.stopping || this.fetcher !== fetcher) return
        this.log.warn(`Kafka fetch failed (${describeKafkaError(error)}); resuming from the archiver's own positions`)
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

  /**
   * The group assigned `partitions` (a new generation, after a join, a rebalance or a restart of
   * the fetcher): what is buffered is dropped and each partition taken over from the lake, since
   * another archiver may have written it meanwhile (ownership.ts). The flush being written ends
   * first (it renames only if its partition is still this archiver's); the next claims go under a
   * new token, so nothing sealed before is written under it.
   */
  private async takeOver(partitions: readonly number[], generation: number): Promise<Map<number, number> | null> {
    this.buffers.clear()
    this.sealed.length = 0
    await this.writing.catch(() => undefined)
    if (!this.broken && !this.stopping) this.fetcher?.resume()
    this.token = newToken(this.options.instanceId ?? 'archiver', generation)
    // The flush awaited above can take seconds: the group may have moved on, and another member
    // claimed some of these partitions under the next generation (claim refuses those too).
    const claimed = await claimAll(this.lake, this.topic, partitions, this.token, () => this.consumer.generationId === generation)
    if (!claimed.claimed) {
      if (claimed.refused !== undefined) {
        this.log.info(`partition ${claimed.refused} is claimed under a later group generation than ${generation}: waiting for the group's next assignment`)
      }
      return null
    }
    const scan = await scanLake(this.lake, this.topic)
    const removed = await repairLake(scan, new Set(partitions))
    if (removed > 0) this.log.warn(`removed ${removed} leftover file(s) of an interrupted flush; their offsets will be archived again`)
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

  /** Hot path: one record into its partition's buffer. */
  private take(partition: number, offset: number, record: KafkaRecord, batch: RecordsBatch): void {
    const expected = this.next.get(partition) ?? 0
    if (offset < expected) return
    this.next.set(partition, offset + 1)
    this.counters.consumed++
    let buf = this.buffers.get(partition)
    if (buf === undefined) {
      buf = { readings: new ReadingColumns(), rejected: [], first: offset, last: offset, since: Date.now() }
      this.buffers.set(partition, buf)
    }
    buf.last = offset
    const value = record.value ?? Buffer.alloc(0)
    const parsed = parseReading(value)
    if (parsed.ok) {
      buf.readings.push(Math.floor(parsed.reading.ts / DAY_MS), parsed.reading, partition, offset)
    } else {
      const key = record.key === null || record.key.length === 0 ? null : record.key.toString('utf8')
      const kafkaTs = Number(batch.firstTimestamp + record.timestampDelta)
      buf.rejected.push({ partition, offset, kafkaTs, key, value: new Uint8Array(value), reason: parsed.reason, detail: parsed.detail })
    }
    if (buf.readings.length + buf.rejected.length >= this.options.flushRecords) this.seal(partition)
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
        this.log.error(`cannot write to the lake at ${this.lake}: ${describeError(error)}`)
        this.fail(
          new VigilError('STAGE_FAILED', `the archiver cannot write to ${this.lake}: ${describeError(error)}; check the disk and restart \`vigil archive\`.`, {
            cause: error,
          }),
        )
        // Stop taking records: what is not in the lake will be consumed again on restart.
        this.fetcher?.pause()
        throw error
      })
  }

  private sealAged(): void {
    const now = Date.now()
    for (const [partition, buf] of this.buffers) {
      if (now - buf.since >= this.options.flushIntervalMs) this.seal(partition)
    }
  }

  private async writeNext(): Promise<void> {
    const batch = this.sealed.shift()
    if (batch === undefined) return
    await this.writeBatch(batch)
    if (this.sealed.length < MAX_SEALED && !this.stopping && !this.broken) this.fetcher?.resume()
  }

  /** One flush: all parts to temporary files, fsync, rename every part, then commit the offset. */
  private async writeBatch(b: Sealed): Promise<void> {
    const readingDays = b.readings.groups()
    const rejected = groupBy(b.rejected, (r) => Math.floor(r.kafkaTs / DAY_MS))
    const parts = readingDays.length + rejected.size
    const name = fileName({ topic: this.topic, partition: b.partition, first: b.first, last: b.last, parts })
    const moves: { tmp: string; final: string }[] = []
    /** The temporary file of one part: kind and day. */
    const part = async (kind: RawKind, day: number): Promise<string> => {
      const dir = dtDir(this.lake, kind, utcDay(day * DAY_MS))
      await ensureDir(dir)
      const tmp = path.join(dir, tempName(name))
      moves.push({ tmp, final: path.join(dir, name) })
      return tmp
    }
    try {
      const readingFiles: GroupOutput[] = []
      for (const day of readingDays) readingFiles.push({ grp: day, file: await part('readings', day) })
      const rejectedFiles: ParquetOutput<RejectedRow>[] = []
      for (const [day, rows] of rejected) rejectedFiles.push({ rows, file: await part('rejected', day) })
      await this.writer.writeColumns(b.readings, readingFiles)
      await this.writer.writeRejected(rejectedFiles)
      for (const m of moves) await fsyncFile(m.tmp)
      if (await this.leftToNewOwner(b, moves)) return
      for (const m of moves) await rename(m.tmp, m.final)
    } catch (error) {
      // The new owner's repair deletes a former owner's temporary files: a part gone from under
      // this flush (ENOENT) means the partition moved, not that the disk failed.
      if (await this.leftToNewOwner(b, moves)) return
      throw error
    }
    this.counters.flushes++
    this.counters.files += moves.length
    this.counters.readings += b.readings.length
    this.counters.rejected += b.rejected.length
    this.counters.records += b.readings.length + b.rejected.length
    try {
      await this.consumer.commit({ offsets: [{ topic: this.topic, partition: b.partition, offset: BigInt(b.last + 1), leaderEpoch: -1 }] })
    } catch (error) {
      // The group offset only feeds lag monitoring; the lake already holds the records.
      this.log.debug(`could not commit offset ${b.last + 1} of partition ${b.partition}: ${describeError(error)}`)
    }
  }

  /**
   * True when another archiver has claimed the flush's partition since this one took it over
   * (ownership.ts): the flush's temporary files are deleted and its range left to the new owner.
   */
  private async leftToNewOwner(b: Sealed, moves: readonly { tmp: string }[]): Promise<boolean> {
    const current = await owner(this.lake, this.topic, b.partition)
    if (current === this.token) return false
    for (const m of moves) await rm(m.tmp, { force: true })
    if (generationOf(current) < generationOf(this.token)) {
      // Claimed after this archiver under an older generation (a member whose claim lagged behind
      // the group): the partition is still this archiver's, so it takes it over again, from the lake.
      this.log.warn(`partition ${b.partition} was claimed by an archiver of an older group generation: taking it over again`)
      this.fetcher?.takeOverAgain()
      return true
    }
    this.log.info(`partition ${b.partition} moved to another archiver: offsets ${b.first}-${b.last} left to it`)
    return true
  }

  /**
   * The 10-second status line, with the group's committed-offset lag (lib/lag.ts). Logged when
   * records were archived since the last one, or when the group is behind or Kafka did not answer
   * (an archiver that stopped archiving says so). The line of a stop has no lag: the consumer has
   * left the group, and the stop must not wait on the broker.
   */
  private status(): void {
    const c = this.stats()
    const archived = c.records !== this.lastStatus || c.events.records !== this.lastEvents
    const now = Date.now()
    const rate = ((c.records - this.lastStatus) * 1000) / Math.max(1, now - this.lastStatusAt)
    if (archived) {
      this.lastStatus = c.records
      this.lastEvents = c.events.records
      this.lastStatusAt = now
    }
    const e = c.events
    const line = (lag: string) =>
      `${rate.toFixed(0)} records/s, ${lag}archived ${c.records} records (${c.readings} readings, ${c.rejected} rejected) in ${c.files} files, ${e.records} events (${e.rejected} rejected) in ${e.files} files`
    if (this.stopping) {
      if (archived) this.log.info(line(''))
      return
    }
    void (async () => {
      const admin = createAdmin(this.config, 'vigil-archiver-lag')
      let lag: GroupLag | null | undefined
      try {
        const lags = await withTimeout(
          committedLag(admin, { groups: [consumerGroups(this.config.topicPrefix).archiver], topic: this.topic }),
          5_000,
          'Kafka did not answer within 5 s',
        )
        lag = lags?.[0] ?? null
      } catch (error) {
        // The lag is informative only: the line says "lag ?" and the next one asks again.
        this.log.debug(`consumer lag not read: ${describeError(error)}`)
      } finally {
        await admin.close().catch(() => undefined)
      }
      if (this.stopping || !(archived || lag === undefined || (lag !== null && lag.total > 0))) return
      this.log.info(line(`${describeLag(lag)}, `))
    })()
  }

  stats(): ArchiverStats {
    return { ...this.counters, events: this.eventArchiver?.stats() ?? { consumed: 0, records: 0, events: 0, rejected: 0, files: 0 } }
  }

  async stop(): Promise<void> {
    if (this.stopping) return
    this.stopping = true
    clearInterval(this.timer)
    clearInterval(this.statusTimer)
    // Aborted first, waited for beside the last flush: the two share the stop's time.
    const compactionStopped = this.compaction.stop(COMPACTION_STOP_WAIT_MS)
    // The events' stop (its last flush, its consumer) runs beside this one's.
    const eventsStopped = this.events.then(
      (events) => events.stop(),
      () => undefined,
    )
    try {
      this.fetcher?.close()
      // What was consumed is written before leaving, so a clean stop leaves the lake current.
      for (const partition of [...this.buffers.keys()]) this.seal(partition)
      if (!(await settlesWithin(this.writing, STOP_WRITE_MS))) {
        const left = this.sealed.reduce((n, b) => n + b.readings.length + b.rejected.length, 0)
        this.sealed.length = 0
        this.log.warn(`stopping: ${left} consumed records not written within ${STOP_WRITE_MS / 1000} s are left to the next start, which reads them again`)
        await this.writing.catch(() => undefined)
      }
      await compactionStopped
      await eventsStopped.catch((error: unknown) => this.log.warn(`the event archiver did not stop cleanly: ${describeError(error)}`))
      const closed = closeConsumer(this.consumer).catch((error: unknown) => this.log.debug(`consumer close: ${describeError(error)}`))
      if (!(await settlesWithin(closed, CLOSE_MS))) this.log.warn(`the Kafka consumer did not leave the group within ${CLOSE_MS / 1000} s; stopping without it`)
    } finally {
      this.writer.close()
      await this.releaseLock()
      this.status()
    }
  }
}

/** A UTC day in milliseconds: a record's day number is its time divided by this, floored. */
const DAY_MS = 86_400_000

function groupBy<R, K>(rows: readonly R[], key: (r: R) => K): Map<K, R[]> {
  const out = new Map<K, R[]>()
  for (const r of rows) {
    const k = key(r)
    const list = out.get(k)
    if (list === undefined) out.set(k, [r])
    else list.push(r)
  }
  return out
}

/** A failed start as one sentence (a VigilError already is one). */
function startFailure(error: unknown): unknown {
  return error instanceof VigilError
    ? error
    : new VigilError('STAGE_FAILED', `the archiver could not start consuming: ${describeError(error)}.`, { cause: error })
}
