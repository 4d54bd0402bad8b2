/**
 * The speed layer's consumer stream on `vitals.readings`: joins the group from the committed
 * offsets, hands out the buffered records in batches of at most maxBatchReadings, in offset order
 * per partition, and reopens after an error. What a batch means is decode.ts's.
 */
import type { Consumer, Message, MessagesStream } from '@platformatic/kafka'
import { describeError } from '../lib/errors.ts'
import type { Logger } from '../lib/log.ts'
import type { SpeedOptions } from './config.ts'
import type { Retrier } from './outage.ts'
import { groupOptions } from './records.ts'

export type Msg = Message<Buffer, Buffer, Buffer, Buffer>
type KafkaConsumer = Consumer<Buffer, Buffer, Buffer, Buffer>

export interface ReaderOptions {
  topic: string
  groupId: string
  brokers: readonly string[]
  opts: Pick<SpeedOptions, 'maxBatchReadings' | 'sessionTimeoutMs' | 'fetchMaxWaitMs' | 'maxBufferedRecords'>
  retry: Retrier
  log: Logger
  /** Called on every (re)opened stream: the assignment may have changed. */
  onOpen: () => void
}

/** The first batch's bound after the stream (re)opens. */
export const FIRST_BATCH_READINGS = 2_000

/**
 * The bound of the next batch. Large batches drain a backlog fastest (each patient in a batch costs
 * once), but after a restart the first batch is also the one that must land before anything is
 * committed or shown: a layer killed every few seconds made no progress at all with a first batch
 * of 50,000. So a (re)opened stream starts at FIRST_BATCH_READINGS and each full batch doubles the
 * bound, up to maxBatchReadings.
 */
export class BatchBound {
  private current: number

  constructor(private readonly max: number) {
    this.current = Math.min(FIRST_BATCH_READINGS, max)
  }

  get value(): number {
    return this.current
  }

  /** A batch of `size` was taken: a full one doubles the bound. */
  took(size: number): void {
    if (size >= this.current) this.current = Math.min(this.max, this.current * 2)
  }
}

export class BatchReader {
  private stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined
  private bound: BatchBound
  private streamError: unknown
  /** Resolves the wait of `next` (true: records may be readable). */
  private wake: ((ready: boolean) => void) | undefined

  constructor(
    private readonly consumer: KafkaConsumer,
    private readonly o: ReaderOptions,
  ) {
    this.bound = new BatchBound(o.opts.maxBatchReadings)
  }

  /** Joins the group (retrying while Kafka does not answer) and opens the stream from the committed offsets. */
  async open(): Promise<void> {
    this.streamError = undefined
    const what = `joining consumer group ${this.o.groupId} on Kafka at ${this.o.brokers.join(',')}`
    const s = await this.o.retry.run(what, () =>
      this.consumer.consume({ topics: [this.o.topic], mode: 'committed', fallbackMode: 'earliest', ...groupOptions(this.o.opts) }),
    )
    s.on('error', (error: unknown) => {
      this.streamError = error
      this.wake?.(false)
    })
    s.on('close', () => this.wake?.(false))
    // A 'readable' listener that stays for the stream's life: removing the last one would put the
    // stream back in its initial mode, in which @platformatic/kafka stops fetching.
    s.on('readable', () => this.wake?.(true))
    this.stream = s
    this.bound = new BatchBound(this.o.opts.maxBatchReadings)
    this.o.onOpen()
  }

  /** Reopens the stream if it failed (or a batch failed: `fail`), so that reading resumes from the committed offsets. */
  async reopenIfStopped(): Promise<void> {
    if (this.streamError === undefined && this.stream !== undefined) return
    this.o.log.warn(`the Kafka consumer stopped (${describeError(this.streamError)}); reopening it`)
    await this.close()
    await this.open()
  }

  /** A batch failed: the stream is reopened before the next read, which reads the batch again. */
  fail(error: unknown): void {
    this.streamError = error
  }

  async close(): Promise<void> {
    const s = this.stream
    this.stream = undefined
    await s?.close().catch(() => undefined)
  }

  /** Partitions of the topic this instance owns now, ascending. */
  assigned(): number[] {
    return (
      this.consumer.assignments
        ?.find((a) => a.topic === this.o.topic)
        ?.partitions.slice()
        .sort((a, b) => a - b) ?? []
    )
  }

  /** Up to the current bound of buffered records (see BatchBound); waits for the first up to `waitMs` (less on abort or a stream error). */
  async next(waitMs: number, signal: AbortSignal): Promise<Msg[]> {
    const s = this.stream
    if (s === undefined) return []
    const out: Msg[] = []
    for (;;) {
      while (out.length < this.bound.value) {
        const m = s.read() as Msg | null
        if (m === null) break
        out.push(m)
      }
      this.bound.took(out.length)
      if (out.length > 0 || signal.aborted || this.streamError !== undefined || waitMs <= 0) return out
      if (!(await this.readable(waitMs, signal))) return out
      waitMs = 0
    }
  }

  /** Waits until the stream says records may be readable (true), or up to `waitMs`, an abort, a close or an error (false). */
  private readable(waitMs: number, signal: AbortSignal): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const done = (value: boolean) => {
        clearTimeout(timer)
        this.wake = undefined
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      }
      const onAbort = () => done(false)
      const timer = setTimeout(() => done(false), waitMs)
      this.wake = done
      signal.addEventListener('abort', onAbort, { once: true })
    })
  }
}
