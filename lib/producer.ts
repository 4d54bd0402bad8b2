/**
 * The batching producer that every writer of `vitals.readings` uses (the simulator and the
 * gateway): idempotent, acks=all, compressed, keyed by patientId.
 *
 * Batching: callers enqueue records and get one promise per call that settles when Kafka has
 * acknowledged every record of the call. One produce request is in flight at a time; whatever is
 * enqueued meanwhile goes into the next one. That keeps per-partition order (records of one
 * patient land in the order they were enqueued) and is required by the idempotent producer, whose
 * sequence numbers advance only when a request is acknowledged. Under load the batches grow by
 * themselves, so concurrent HTTP requests share produce requests.
 *
 * Failure policy, chosen by the caller:
 *  - 'retry' (the simulator): a failed batch is retried as it was, same producer id and sequence
 *    numbers (so the broker discards a copy it already has), with capped exponential backoff,
 *    until it is acknowledged or the producer is closed. Nothing is lost; the outage is reported.
 *    On a cluster a batch spans several leaders and may fail on some only: the partitions already
 *    acknowledged are left out of the retry, whose sequence numbers they have spent (resent, they
 *    were written twice: 587 copies of 1,000 records when a leader was killed mid-batch).
 *  - 'fail' (the gateway): the callers of a failed batch get KAFKA_UNREACHABLE (the gateway
 *    answers 503 and the device retries); the producer is replaced so that no later batch reuses
 *    the failed batch's sequence numbers, and new calls fail at once until a probe with backoff
 *    finds the broker again.
 */
import { Producer, murmur2 } from '@platformatic/kafka'
import type { Logger } from 'pino'
import type { Config } from './config.ts'
import { backoffDelay } from './backoff.ts'
import { VigilError, describeError } from './errors.ts'
import { createAdmin, ensureTopics, kafkaBaseOptions, kafkaUnreachable } from './kafka.ts'

export type Compression = 'none' | 'gzip' | 'snappy' | 'lz4'

export interface ProducerRecord {
  /** The patient id: the partition key, so one patient's readings stay in order. */
  key: string
  /** The record's bytes (a reading v1 as JSON, or, for injected faults, whatever a device sent). */
  value: Buffer | string
}

export interface BatchingProducerOptions {
  topic: string
  clientId?: string
  /** 'retry': never give up (simulator); 'fail': reject the callers and fail fast while down (gateway). */
  onFailure: 'retry' | 'fail'
  /** Largest number of records in one produce request. @defaultValue 10 000: about 1.5 MB before compression */
  maxBatchRecords?: number
  /**
   * How long the first record of an idle producer waits for company, in milliseconds.
   * @defaultValue 0: the next turn of the event loop; batches still grow while a request is in flight
   */
  lingerMs?: number
  /** Records held before `waitForCapacity` makes writers wait. @defaultValue 100 000 */
  maxBufferedRecords?: number
  /**
   * @defaultValue 'snappy': the cheapest codec in CPU per record measured on this workload
   * (about 1 µs per reading less than lz4 or gzip; compare with
   * `npx tsx bench/edge.ts --direct-only --compression lz4`)
   */
  compression?: Compression
  /** First and largest delay between attempts while the broker is unreachable, in milliseconds. */
  initialRetryDelayMs?: number
  maxRetryDelayMs?: number
  log?: Logger
  /** Called once when an outage starts and once when it ends (with its length in milliseconds). */
  onOutage?: (error: unknown) => void
  onRecovered?: (outageMs: number) => void
}

/** A record as handed to the client: its partition is the key's murmur2 hash, taken modulo the partition count by the client. */
type OutgoingRecord = { topic: string; key: Buffer; partition: number; value: Buffer | string }

interface Pending {
  records: ProducerRecord[]
  resolve: () => void
  reject: (error: unknown) => void
}

export interface ProducerStats {
  /** Records acknowledged by Kafka. */
  acked: number
  /** Produce requests acknowledged. */
  requests: number
  /** Produce requests that failed (each retried in 'retry' mode). */
  failures: number
  /** Outages seen (a failure after a success, or at start). */
  outages: number
  /** Total milliseconds spent in outages that have ended. */
  outageMs: number
}

const DEFAULTS = {
  maxBatchRecords: 10_000,
  lingerMs: 0,
  maxBufferedRecords: 100_000,
  compression: 'snappy' as Compression,
  initialRetryDelayMs: 200,
  maxRetryDelayMs: 5_000,
}

export class BatchingProducer {
  readonly #config: Pick<Config, 'kafkaBrokers'>
  readonly #options: Required<
    Pick<BatchingProducerOptions, 'maxBatchRecords' | 'lingerMs' | 'maxBufferedRecords' | 'compression' | 'initialRetryDelayMs' | 'maxRetryDelayMs'>
  > &
    BatchingProducerOptions
  #producer: Producer<Buffer, Buffer | string, string, string>
  #queue: Pending[] = []
  #buffered = 0
  #inFlight = false
  #scheduled = false
  #closed = false
  #down: { since: number; error: unknown } | undefined
  #probe: NodeJS.Timeout | undefined
  #retryTimer: { timer: NodeJS.Timeout; wake: () => void } | undefined
  #capacityWaiters: Array<() => void> = []
  readonly #keys = new Map<string, { bytes: Buffer; partition: number }>()
  #idleWaiters: Array<() => void> = []
  readonly stats: ProducerStats = { acked: 0, requests: 0, failures: 0, outages: 0, outageMs: 0 }

  constructor(config: Pick<Config, 'kafkaBrokers'>, options: BatchingProducerOptions) {
    this.#config = config
    this.#options = { ...DEFAULTS, ...stripUndefined(options) }
    this.#producer = this.#newProducer()
  }

  #newProducer(): Producer<Buffer, Buffer | string, string, string> {
    const producer = new Producer<Buffer, Buffer | string, string, string>({
      ...kafkaBaseOptions(this.#config, this.#options.clientId ?? 'vigil-producer'),
      idempotent: true,
      acks: -1,
      compression: this.#options.compression,
      serializers: {
        key: (k?: Buffer) => k,
        value: (v?: Buffer | string) => (v === undefined ? undefined : typeof v === 'string' ? Buffer.from(v) : v),
        headerKey: (k?: string) => (k === undefined ? undefined : Buffer.from(k)),
        headerValue: (v?: string) => (v === undefined ? undefined : Buffer.from(v)),
      },
    })
    producer.on('error', (error: unknown) => this.#options.log?.debug({ err: describeError(error) }, 'kafka producer error'))
    return producer
  }

  /** True while the broker is known to be unreachable. */
  get unreachable(): boolean {
    return this.#down !== undefined
  }

  /** Milliseconds until the next attempt to reach the broker, for a Retry-After header. */
  get retryAfterMs(): number {
    return this.#down === undefined ? 0 : Math.max(1_000, this.#options.maxRetryDelayMs)
  }

  /** Records enqueued and not yet acknowledged. */
  get buffered(): number {
    return this.#buffered
  }

  /**
   * Enqueues records; resolves when Kafka has acknowledged all of them. In 'fail' mode rejects
   * with KAFKA_UNREACHABLE when the broker is down (at once if it is known to be down).
   */
  send(records: ProducerRecord[]): Promise<void> {
    if (this.#closed) return Promise.reject(new VigilError('STAGE_FAILED', 'The producer is closed: start the stage again.'))
    if (records.length === 0) return Promise.resolve()
    if (this.#options.onFailure === 'fail' && this.#down !== undefined) return Promise.reject(kafkaUnreachable(this.#config, this.#down.error))
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ records, resolve, reject })
      this.#buffered += records.length
      this.#schedule()
    })
  }

  /**
   * Creates the topic when the broker answers and it does not exist yet (a fresh broker before
   * `vigil init`); an unreachable broker is left to the send path, which retries or fails fast.
   */
  async ensureTopic(partitions: number): Promise<void> {
    const admin = createAdmin(this.#config, `${this.#options.clientId ?? 'vigil-producer'}-admin`)
    try {
      await ensureTopics(admin, [{ name: this.#options.topic, partitions }])
    } catch (error) {
      this.#options.log?.debug({ err: describeError(error) }, 'could not check the topic')
    } finally {
      await admin.close().catch(() => undefined)
    }
  }

  /**
   * Asks the broker for the topic's metadata. On failure marks the broker down (and, in 'fail'
   * mode, probes with backoff until it answers). Resolves to whether it answered.
   */
  async checkBroker(): Promise<boolean> {
    try {
      await this.#producer.metadata({ topics: [this.#options.topic] })
      this.#up()
      return true
    } catch (error) {
      this.#markDown(error)
      if (this.#options.onFailure === 'fail') this.#startProbe(1)
      return false
    }
  }

  /** Resolves when fewer than `maxBufferedRecords` records wait: the writers' backpressure. */
  waitForCapacity(): Promise<void> | undefined {
    if (this.#buffered < this.#options.maxBufferedRecords || this.#closed) return undefined
    return new Promise((resolve) => this.#capacityWaiters.push(resolve))
  }

  /** Resolves when every record enqueued so far is acknowledged (or, in 'fail' mode, failed). */
  flush(): Promise<void> {
    if (this.#queue.length === 0 && !this.#inFlight) return Promise.resolve()
    return new Promise((resolve) => this.#idleWaiters.push(resolve))
  }

  /**
   * Stops. With `drain` (the default) waits for what is enqueued first; a 'retry' producer whose
   * broker stays down would wait forever, so `drain: false` gives up and rejects what is left.
   */
  async close(options: { drain?: boolean } = {}): Promise<void> {
    if (options.drain !== false) await this.flush()
    this.#closed = true
    if (this.#probe !== undefined) clearTimeout(this.#probe)
    this.#retryTimer?.wake()
    const left = this.#queue.splice(0)
    for (const p of left) {
      this.#buffered -= p.records.length
      p.reject(new VigilError('STAGE_FAILED', 'The producer was closed before Kafka acknowledged these records: send them again.'))
    }
    this.#release()
    await this.#producer.close().catch(() => undefined)
  }

  #schedule(): void {
    if (this.#inFlight || this.#scheduled || this.#closed) return
    this.#scheduled = true
    const go = () => {
      this.#scheduled = false
      void this.#pump()
    }
    if (this.#options.lingerMs > 0) setTimeout(go, this.#options.lingerMs)
    else setImmediate(go)
  }

  /** Takes up to maxBatchRecords records off the queue, whole calls only (a call is never split). */
  #take(): Pending[] {
    const batch: Pending[] = []
    let n = 0
    while (this.#queue.length > 0) {
      const next = this.#queue[0]!
      if (batch.length > 0 && n + next.records.length > this.#options.maxBatchRecords) break
      batch.push(this.#queue.shift()!)
      n += next.records.length
    }
    return batch
  }

  async #pump(): Promise<void> {
    if (this.#inFlight || this.#closed) return
    this.#inFlight = true
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        const batch = this.#take()
        const messages = []
        const topic = this.#options.topic
        for (const p of batch) {
          for (const r of p.records) {
            const k = this.#key(r.key)
            messages.push({ topic, key: k.bytes, partition: k.partition, value: r.value })
          }
        }
        const ok = await this.#produce(messages)
        if (ok) {
          this.stats.acked += messages.length
          this.#buffered -= messages.length
          for (const p of batch) p.resolve()
        } else {
          // 'fail' mode (or closed while retrying): the callers decide what to do with their records.
          this.#buffered -= messages.length
          const error = this.#closed
            ? new VigilError('STAGE_FAILED', 'The producer was closed before Kafka acknowledged these records: send them again.')
            : kafkaUnreachable(this.#config, this.#down?.error)
          for (const p of batch) p.reject(error)
          if (this.#options.onFailure === 'fail') {
            for (const p of this.#queue.splice(0)) {
              this.#buffered -= p.records.length
              p.reject(error)
            }
          }
        }
        this.#release()
      }
    } finally {
      this.#inFlight = false
      this.#release()
      if (this.#queue.length === 0) for (const w of this.#idleWaiters.splice(0)) w()
      else this.#schedule()
    }
  }

  /** One batch until acknowledged ('retry') or its first failure ('fail'). True when acknowledged. */
  async #produce(messages: OutgoingRecord[]): Promise<boolean> {
    let pending = messages
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#producer.send({ messages: pending })
        this.stats.requests++
        this.#up()
        return true
      } catch (error) {
        this.stats.failures++
        this.#markDown(error)
        if (this.#closed) return false
        if (this.#options.onFailure === 'fail') {
          // A new producer id: the failed batch may have been written, and its sequence numbers must not be reused for other records.
          const old = this.#producer
          this.#producer = this.#newProducer()
          void old.close().catch(() => undefined)
          this.#startProbe(1)
          return false
        }
        // On a cluster a batch goes to several leaders: the partitions whose leader acknowledged are
        // in, their sequence numbers spent. Resent, they would go under new numbers and land twice.
        pending = await this.#unacknowledged(pending, error)
        if (lostProducerState(error)) {
          // The broker no longer knows this producer's sequence (e.g. it restarted and expired its
          // state): resending under the old id can never succeed. A new id makes the batch
          // deliverable; at worst a copy of it lands twice, which (deviceId, seq) deduplicates.
          this.#options.log?.warn({ err: describeError(error) }, 'Kafka lost the producer state: resending the batch under a new producer id')
          const old = this.#producer
          this.#producer = this.#newProducer()
          void old.close().catch(() => undefined)
        }
        const delay = backoffDelay(attempt, this.#options.initialRetryDelayMs, this.#options.maxRetryDelayMs)
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            this.#retryTimer = undefined
            resolve()
          }, delay)
          this.#retryTimer = {
            timer,
            wake: () => {
              clearTimeout(timer)
              this.#retryTimer = undefined
              resolve()
            },
          }
        })
        if (this.#closed) return false
      }
    }
  }

  /** The records of `messages` whose partition the failed send did not get acknowledged (all of them when none was). */
  async #unacknowledged(messages: OutgoingRecord[], error: unknown): Promise<OutgoingRecord[]> {
    const offsets = (error as { produced?: { offsets?: Array<{ partition: number }> } } | undefined)?.produced?.offsets ?? []
    if (offsets.length === 0) return messages
    const done = new Set(offsets.map((o) => o.partition))
    // The records carry the key's hash as their partition; the client takes it modulo the partition count.
    const count = await this.#producer
      .metadata({ topics: [this.#options.topic] })
      .then((m) => m.topics.get(this.#options.topic)?.partitionsCount)
      .catch(() => undefined)
    if (count === undefined) return messages
    return messages.filter((m) => !done.has(m.partition % count))
  }

  /**
   * The key's bytes and its partition, computed once per patient: the same murmur2 hash as the
   * default partitioner (the client takes it modulo the partition count), so every producer of
   * the topic places a patient on the same partition.
   */
  #key(key: string): { bytes: Buffer; partition: number } {
    let k = this.#keys.get(key)
    if (k === undefined) {
      const bytes = Buffer.from(key)
      k = { bytes, partition: murmur2(bytes) >>> 0 }
      if (this.#keys.size >= 100_000) this.#keys.clear()
      this.#keys.set(key, k)
    }
    return k
  }

  #markDown(error: unknown): void {
    if (this.#down !== undefined) return
    this.#down = { since: Date.now(), error }
    this.stats.outages++
    this.#options.log?.warn(
      { err: describeError(error) },
      `Kafka unreachable at ${this.#config.kafkaBrokers.join(',')}: ${this.#options.onFailure === 'retry' ? 'holding readings and retrying with backoff' : 'answering 503 until it is back'}`,
    )
    this.#options.onOutage?.(error)
  }

  #up(): void {
    if (this.#down === undefined) return
    const ms = Date.now() - this.#down.since
    this.#down = undefined
    this.stats.outageMs += ms
    if (this.#probe !== undefined) clearTimeout(this.#probe)
    this.#probe = undefined
    this.#options.log?.info(`Kafka reachable again after ${(ms / 1000).toFixed(1)} s`)
    this.#options.onRecovered?.(ms)
  }

  /** 'fail' mode: asks the broker for the topic's metadata with backoff until it answers. */
  #startProbe(attempt: number): void {
    if (this.#probe !== undefined || this.#closed) return
    const delay = backoffDelay(attempt, this.#options.initialRetryDelayMs, this.#options.maxRetryDelayMs)
    this.#probe = setTimeout(() => {
      this.#probe = undefined
      this.#producer.metadata({ topics: [this.#options.topic] }).then(
        () => this.#up(),
        () => this.#startProbe(attempt + 1),
      )
    }, delay)
    this.#probe.unref()
  }

  #release(): void {
    if (this.#buffered < this.#options.maxBufferedRecords || this.#closed) for (const w of this.#capacityWaiters.splice(0)) w()
  }
}

/** Broker answers that mean the idempotent producer's id or sequence is gone for good. */
const LOST_STATE = ['OUT_OF_ORDER_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID', 'INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED']

function lostProducerState(error: unknown): boolean {
  const e = error as { findBy?: (property: string, value: unknown) => unknown }
  return typeof e?.findBy === 'function' && LOST_STATE.some((id) => e.findBy!('apiId', id) != null)
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T
}
