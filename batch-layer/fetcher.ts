/**
 * The archiver's reader of `vitals.readings`, and of `vitals.events` (event-archiver.ts): it joins
 * the consumer group and fetches the partitions assigned to it straight from their leaders with
 * the client's fetch API, handing every record of a fetched batch to the archiver in offset order.
 *
 * Why not the client's MessagesStream: the stream wraps each record in a message object of its
 * own (a spread copy, a bound commit function, a headers Map, a diagnostics context) and queues it
 * in a Node stream, which cost more than decoding the record. Reading the same pre-filled topic of
 * 1M readings and discarding them, the stream took 4.5-4.7 CPU µs a record, fetching and decoding
 * alone 1.5-1.6 µs; the archiver needs none of what the stream adds, since the lake, not the
 * group, decides where each partition resumes (lake.ts).
 *
 * What the fetcher keeps from the stream: the group membership (static, so a restarted archiver
 * takes its partitions back at once; the archiver commits offsets for lag monitoring), the
 * assignment as the group hands it out (read again before every fetch), control batches of
 * transactions skipped and aborted transactions' records left out (the client's read_committed
 * fetch), and a partition with no position starting at the earliest offset. Whenever the group
 * hands out partitions again (a new generation, or another assignment), nothing more is fetched
 * until `onAssigned` has said where each assigned partition starts: the archiver takes them over
 * from the lake (ownership.ts), since another member may have written them meanwhile. Any error of
 * the client (after its own retries) ends the fetcher and is reported to `onError`; the archiver
 * then starts a new one.
 */
import { IS_CONTROL, ListOffsetTimestamps, type Consumer, type KafkaRecord, type RecordsBatch } from '@platformatic/kafka'
import { describeError } from '../lib/errors.ts'

/** Takes one record: its partition, its offset, the record and the batch it came in (for its timestamp). */
export type TakeRecord = (partition: number, offset: number, record: KafkaRecord, batch: RecordsBatch) => void

/**
 * The group assigned `partitions` (sorted) to this member in `generation`: where each starts
 * (absent: at its earliest offset), or null when the group has moved past that generation
 * meanwhile (the fetcher then asks again for the assignment it has now).
 */
export type OnAssigned = (partitions: readonly number[], generation: number) => Promise<ReadonlyMap<number, number> | null>

export interface FetcherOptions {
  /** Bytes one fetch returns at most, all partitions together. */
  maxBytes: number
  /** Bytes one fetch returns at most for one partition (a first batch larger than this still comes whole). */
  maxBytesPerPartition: number
  /** Longest the broker holds a fetch waiting for records, in milliseconds. */
  maxWaitTime: number
}

/** One partition of a fetch request (the client's FetchRequestPartition, which it does not export). */
interface FetchPartition {
  partition: number
  fetchOffset: bigint
  partitionMaxBytes: number
  currentLeaderEpoch: number
  lastFetchedEpoch: number
}

export class TopicFetcher {
  /** Next offset to fetch per partition: after the last batch fetched, control batches included. */
  private readonly positions = new Map<number, number>()
  /** The assignment the positions are for: the group's generation and partitions (sorted). */
  private held = ''
  /**
   * The generation the consumer's `assignments` came with, from its `group:join` event, which the
   * client emits as it sets them. Not `consumer.generationId`: that moves to the next generation at
   * the JoinGroup answer, while `assignments` still hold the last one's until the SyncGroup answer,
   * and a takeover of that pair claimed partitions the group had already given to another member
   * (the full scale run, seed 3, stalled on one so).
   */
  private assignedGeneration = -1
  private readonly onJoin = (event: { generationId: number }) => {
    this.assignedGeneration = event.generationId
  }
  private closed = false
  private paused = false
  private wake: (() => void) | undefined

  /** @param onAssigned asked, before any fetch of a new assignment, where its partitions start. */
  constructor(
    private readonly consumer: Consumer,
    private readonly topic: string,
    private readonly onAssigned: OnAssigned,
    private readonly options: FetcherOptions,
    private readonly take: TakeRecord,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Joins the group and starts fetching; resolves once the group is joined. */
  async start(): Promise<void> {
    this.consumer.on('consumer:group:join', this.onJoin)
    this.consumer.topics.track(this.topic)
    await this.consumer.joinGroup({})
    void this.run().catch((error: unknown) => {
      if (!this.closed) this.onError(error)
    })
  }

  /** Stops fetching after the fetch in flight (backpressure); records already fetched are still taken. */
  pause(): void {
    this.paused = true
  }

  resume(): void {
    this.paused = false
    this.wakeUp()
  }

  /**
   * Stops: no record is taken once this is called. A fetch in flight is left to end on its own
   * (closing the consumer ends it at once); its answer and errors are ignored.
   */
  close(): void {
    this.closed = true
    this.consumer.off('consumer:group:join', this.onJoin)
    this.wakeUp()
  }

  /** Makes the next round take the current assignment over again (`onAssigned`), as after a rebalance. */
  takeOverAgain(): void {
    this.held = ''
    this.wakeUp()
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      // A closed consumer has no assignment: say so rather than wait for one.
      if (this.consumer.closed) throw new Error('the Kafka consumer was closed')
      const partitions = this.assignedGeneration < 0 ? [] : this.assigned()
      if (this.paused || partitions.length === 0) {
        // Woken by resume() or close(); without an assignment, look again after a fetch wait.
        await this.sleep(this.paused ? undefined : this.options.maxWaitTime)
        continue
      }
      const generation = this.assignedGeneration
      const assignment = `${generation}:${partitions.join(',')}`
      if (assignment !== this.held) {
        this.positions.clear()
        this.held = ''
        const start = await this.onAssigned(partitions, generation)
        if (this.closed) return
        if (start === null) {
          // Looked at again after a fetch wait: by then the group has usually handed out the next assignment.
          await this.sleep(this.options.maxWaitTime)
          continue
        }
        for (const [partition, offset] of start) this.positions.set(partition, offset)
        this.held = assignment
        // Looked at again before fetching: the group may have moved on while the archiver took over.
        continue
      }
      await this.fetchOnce(partitions)
    }
  }

  /** The partitions of the topic the group assigned to this member, ascending. */
  private assigned(): number[] {
    return (this.consumer.assignments ?? [])
      .filter((a) => a.topic === this.topic)
      .flatMap((a) => a.partitions)
      .sort((a, b) => a - b)
  }

  /** One fetch from each leader of `partitions`, every record of the answers taken in offset order. */
  private async fetchOnce(partitions: readonly number[]): Promise<void> {
    await this.positionUnknown(partitions)
    const metadata = await this.consumer.metadata({ topics: [this.topic] })
    const topic = metadata.topics.get(this.topic)
    if (topic === undefined) throw new Error(`no metadata for topic ${this.topic}`)
    const byLeader = new Map<number, FetchPartition[]>()
    for (const partition of partitions) {
      const leader = topic.partitions[partition]?.leader
      if (leader === undefined) throw new Error(`no leader known for partition ${partition} of ${this.topic}`)
      const request: FetchPartition = {
        partition,
        fetchOffset: BigInt(this.positions.get(partition) ?? 0),
        partitionMaxBytes: this.options.maxBytesPerPartition,
        currentLeaderEpoch: -1,
        lastFetchedEpoch: -1,
      }
      const requests = byLeader.get(leader)
      if (requests === undefined) byLeader.set(leader, [request])
      else requests.push(request)
    }
    const answers = await Promise.all(
      [...byLeader].map(([node, requests]) =>
        this.consumer.fetch({
          node,
          topics: [{ topicId: topic.id, partitions: requests }],
          minBytes: 1,
          maxBytes: this.options.maxBytes,
          maxWaitTime: this.options.maxWaitTime,
        }),
      ),
    )
    for (const answer of answers) {
      for (const { partitions: answered } of answer.responses) {
        for (const { partitionIndex, records } of answered) {
          if (this.closed) return
          this.takeBatches(partitionIndex, records ?? [])
        }
      }
    }
  }

  private takeBatches(partition: number, batches: readonly RecordsBatch[]): void {
    const from = this.positions.get(partition) ?? 0
    for (const batch of batches) {
      const first = Number(batch.firstOffset)
      // The next fetch starts after this batch, whatever it holds (a control batch holds no reading).
      this.positions.set(partition, first + batch.lastOffsetDelta + 1)
      if ((batch.attributes & IS_CONTROL) !== 0) continue
      for (const record of batch.records) {
        const offset = first + record.offsetDelta
        // A fetch answers from the start of the batch holding the offset asked for.
        if (offset >= from) this.take(partition, offset, record, batch)
      }
    }
  }

  /** Gives each of `partitions` without a position its earliest offset. */
  private async positionUnknown(partitions: readonly number[]): Promise<void> {
    if (partitions.every((p) => this.positions.has(p))) return
    const earliest = (await this.consumer.listOffsets({ topics: [this.topic], timestamp: ListOffsetTimestamps.EARLIEST })).get(this.topic) ?? []
    for (const p of partitions) if (!this.positions.has(p)) this.positions.set(p, Number(earliest[p] ?? 0n))
  }

  private sleep(ms: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(() => this.wakeUp(), ms)
      this.wake = () => {
        clearTimeout(timer)
        resolve()
      }
    })
  }

  private wakeUp(): void {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }
}

/**
 * describeError plus the broker's error codes, which @platformatic/kafka keeps inside nested
 * AggregateErrors: "fetch failed 4 times." alone does not tell a deleted topic
 * (UNKNOWN_TOPIC_ID) from a timeout.
 */
export function describeKafkaError(error: unknown): string {
  const codes = new Set<string>()
  const visit = (e: unknown, depth: number): void => {
    if (depth > 4 || typeof e !== 'object' || e === null) return
    const apiId = (e as { apiId?: unknown }).apiId
    if (typeof apiId === 'string') codes.add(apiId)
    else if (e instanceof Error && !(e instanceof AggregateError)) codes.add(e.message)
    if (e instanceof AggregateError) for (const inner of e.errors) visit(inner, depth + 1)
  }
  if (error instanceof AggregateError) for (const inner of error.errors) visit(inner, 0)
  const text = describeError(error)
  return codes.size === 0 ? text : `${text} [${[...codes].join(', ')}]`
}

/** Closes a consumer without waiting for in-flight fetches (force). */
export function closeConsumer(consumer: Consumer): Promise<void> {
  return new Promise((resolve, reject) => consumer.close(true, (error) => (error ? reject(error) : resolve())))
}
