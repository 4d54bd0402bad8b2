/**
 * Where the edge's records go: straight to Kafka through ingestion's batching producer, or
 * through the gateway over HTTP (`--via http`). Both keep each patient's records in order, both
 * hold records and retry with capped exponential backoff while their target is unreachable, and
 * both apply backpressure to the generator through `waitForCapacity`.
 */
import type { Logger } from 'pino'
import type { Config } from '../lib/config.ts'
import { backoffDelay } from '../lib/backoff.ts'
import { VigilError, describeError } from '../lib/errors.ts'
import { BatchingProducer, type Compression } from '../lib/producer.ts'
import { TOPIC_PARTITIONS, topicNames } from '../lib/contract/topics.ts'
import { SCHEMA_INVALID_FAULTS, type EdgeRecord } from './faults.ts'

export interface SinkStats {
  /** Records acknowledged by Kafka (directly or by a 202 of the gateway). */
  acked: number
  /** Records the gateway refused with 400 (injected schema faults sent over HTTP). */
  refused: number
  /** Outages of the target seen, and their total length in milliseconds. */
  outages: number
  outageMs: number
}

export interface Sink {
  /** Prepares the target (e.g. creates the topic on a fresh broker); optional. */
  ready?(): Promise<void>
  send(records: EdgeRecord[]): void
  waitForCapacity(): Promise<void> | undefined
  /** Resolves when everything sent so far is acknowledged. */
  flush(): Promise<void>
  /** Flushes (unless `drain: false`) and releases the connection. */
  close(options?: { drain?: boolean }): Promise<void>
  /** Records sent and not yet acknowledged. */
  readonly pending: number
  readonly stats: SinkStats
  /** Set when the sink cannot go on (e.g. the gateway refuses the token). */
  readonly fatal: Error | undefined
}

export interface KafkaSinkOptions {
  log: Logger
  compression?: Compression
  maxBufferedRecords?: number
}

export function kafkaSink(config: Config, options: KafkaSinkOptions): Sink {
  const producer = new BatchingProducer(config, {
    topic: topicNames(config.topicPrefix).readings,
    clientId: 'vigil-edge',
    onFailure: 'retry',
    log: options.log,
    compression: options.compression,
    // Two full produce requests and some slack: enough to keep one in flight and the next
    // filling, small enough that buffered records die young (measured: less GC than 100 000).
    maxBufferedRecords: options.maxBufferedRecords ?? 40_000,
  })
  const stats: SinkStats = { acked: 0, refused: 0, outages: 0, outageMs: 0 }
  let fatal: Error | undefined
  return {
    ready: () => producer.ensureTopic(TOPIC_PARTITIONS.readings),
    send(records) {
      // EdgeRecords are ProducerRecords (key, value) with two extra fields the producer ignores.
      const batch = records
      producer.send(batch).then(
        () => {
          stats.acked += batch.length
        },
        (error: unknown) => {
          // Only a close that gave up on an unreachable broker rejects in 'retry' mode.
          fatal ??= error instanceof Error ? error : new Error(String(error))
        },
      )
    },
    waitForCapacity: () => producer.waitForCapacity(),
    flush: () => producer.flush(),
    close: (o) => producer.close(o),
    get pending() {
      return producer.buffered
    },
    get stats() {
      stats.outages = producer.stats.outages
      stats.outageMs = producer.stats.outageMs
      return stats
    },
    get fatal() {
      return fatal
    },
  }
}

export interface HttpSinkOptions {
  log: Logger
  /** Base URL of the gateway, e.g. http://127.0.0.1:8080. */
  url: string
  token: string
  /** Readings per NDJSON request. */
  batch: number
  /** Requests in flight at once; each lane owns a fixed share of the patients. */
  lanes: number
  /** Records held before the generator waits. @defaultValue 50 000 */
  maxBufferedRecords?: number
}

class Lane {
  readonly queue: EdgeRecord[] = []
  head = 0
  running = false
}

/** FNV-1a of the key: the lane of a patient never changes during a run. */
function laneOf(key: string, lanes: number): number {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
  return (h >>> 0) % lanes
}

export function httpSink(options: HttpSinkOptions): Sink {
  return new HttpSink(options)
}

/** Gateway answers that no retry can fix: the run stops with a sentence naming the fix. */
const FATAL_STATUSES = new Set([401, 403, 413, 415])

/** Records queued per lane, each lane posting its batches one at a time so that per-patient order holds. */
class HttpSink implements Sink {
  readonly stats: SinkStats = { acked: 0, refused: 0, outages: 0, outageMs: 0 }
  readonly #options: HttpSinkOptions
  readonly #lanes: Lane[]
  readonly #laneCache = new Map<string, number>()
  readonly #max: number
  readonly #readingsUrl: string
  readonly #auth: string
  #pending = 0
  #fatal: Error | undefined
  #closed = false
  #downSince: number | undefined
  #capacityWaiters: Array<() => void> = []
  #idleWaiters: Array<() => void> = []

  constructor(options: HttpSinkOptions) {
    this.#options = options
    this.#lanes = Array.from({ length: options.lanes }, () => new Lane())
    this.#max = options.maxBufferedRecords ?? 50_000
    this.#readingsUrl = new URL('/v1/readings', options.url).toString()
    this.#auth = `Bearer ${options.token}`
  }

  get pending(): number {
    return this.#pending
  }

  get fatal(): Error | undefined {
    return this.#fatal
  }

  send(records: EdgeRecord[]): void {
    for (const r of records) {
      let i = this.#laneCache.get(r.key)
      if (i === undefined) {
        i = laneOf(r.key, this.#lanes.length)
        this.#laneCache.set(r.key, i)
      }
      this.#lanes[i]!.queue.push(r)
    }
    this.#pending += records.length
    for (const lane of this.#lanes) if (!lane.running && lane.head < lane.queue.length) void this.#runLane(lane)
  }

  waitForCapacity(): Promise<void> | undefined {
    if (this.#pending < this.#max || this.#fatal !== undefined) return undefined
    return new Promise((resolve) => this.#capacityWaiters.push(resolve))
  }

  flush(): Promise<void> {
    if (this.#pending === 0 || this.#fatal !== undefined) return Promise.resolve()
    return new Promise((resolve) => this.#idleWaiters.push(resolve))
  }

  async close(o?: { drain?: boolean }): Promise<void> {
    if (o?.drain !== false) await this.flush()
    this.#closed = true
    this.#release()
  }

  #release(): void {
    if (this.#pending < this.#max || this.#fatal !== undefined || this.#closed) {
      const w = this.#capacityWaiters
      this.#capacityWaiters = []
      for (const f of w) f()
    }
    if (this.#pending === 0 || this.#fatal !== undefined) {
      const w = this.#idleWaiters
      this.#idleWaiters = []
      for (const f of w) f()
    }
  }

  #down(why: string): void {
    if (this.#downSince !== undefined) return
    this.#downSince = Date.now()
    this.stats.outages++
    this.#options.log.warn(`gateway at ${this.#options.url} unavailable (${why}): holding readings and retrying with backoff`)
  }

  #up(): void {
    if (this.#downSince === undefined) return
    const ms = Date.now() - this.#downSince
    this.stats.outageMs += ms
    this.#downSince = undefined
    this.#options.log.info(`gateway reachable again after ${(ms / 1000).toFixed(1)} s`)
  }

  /** Posts one body until the gateway answers something other than 5xx/429 or a network error. */
  async #post(body: string, contentType: string, n: number): Promise<'accepted' | 'refused'> {
    for (let attempt = 1; ; attempt++) {
      let retryAfterMs = 0
      try {
        const res = await fetch(this.#readingsUrl, { method: 'POST', headers: { 'content-type': contentType, authorization: this.#auth }, body })
        const text = await res.text()
        if (res.status === 202 || res.status === 400) {
          this.#up()
          return res.status === 202 ? 'accepted' : 'refused'
        }
        if (FATAL_STATUSES.has(res.status)) throw this.#fatalAnswer(res.status, text, n)
        retryAfterMs = Number(res.headers.get('retry-after') ?? '0') * 1000
        this.#down(`HTTP ${res.status}`)
      } catch (error) {
        if (error instanceof VigilError) throw error
        this.#down(describeError(error))
      }
      if (this.#closed) throw new VigilError('STAGE_FAILED', 'The edge stopped before the gateway accepted these readings.')
      const delay = Math.max(backoffDelay(attempt, 200, 5_000), Math.min(retryAfterMs, 5_000))
      await new Promise((resolve) => setTimeout(resolve, delay))
    }
  }

  #fatalAnswer(status: number, text: string, n: number): VigilError {
    const fix = status === 401 || status === 403 ? 'set VIGIL_DEVICE_TOKENS to a token the gateway accepts' : 'lower --http-batch'
    return new VigilError('STAGE_FAILED', `The gateway at ${this.#options.url} answered ${status} to a batch of ${n} readings (${text.slice(0, 200)}): ${fix}.`)
  }

  async #runLane(lane: Lane): Promise<void> {
    lane.running = true
    try {
      while (lane.head < lane.queue.length && this.#fatal === undefined) {
        const first = lane.queue[lane.head]!
        if (first.fault !== undefined && SCHEMA_INVALID_FAULTS.has(first.fault)) await this.#postAlone(lane)
        else await this.#postBatch(lane)
        if (lane.head > 10_000) {
          lane.queue.splice(0, lane.head)
          lane.head = 0
        }
        this.#release()
      }
    } catch (error) {
      this.#fatal = error instanceof Error ? error : new Error(String(error))
    } finally {
      lane.running = false
      this.#release()
    }
  }

  /** A schema fault is sent alone: the gateway refuses a whole request when one of its readings is invalid. */
  async #postAlone(lane: Lane): Promise<void> {
    const record = lane.queue[lane.head++]!
    const outcome = await this.#post(record.value, 'application/json', 1)
    if (outcome === 'refused') this.stats.refused++
    else this.stats.acked++
    this.#pending--
  }

  /** Up to `batch` valid records of the lane as one NDJSON request. */
  async #postBatch(lane: Lane): Promise<void> {
    const lines: string[] = []
    while (lane.head < lane.queue.length && lines.length < this.#options.batch) {
      const r = lane.queue[lane.head]!
      if (r.fault !== undefined && SCHEMA_INVALID_FAULTS.has(r.fault)) break
      lines.push(r.value)
      lane.head++
    }
    const outcome = await this.#post(`${lines.join('\n')}\n`, 'application/x-ndjson', lines.length)
    if (outcome === 'accepted') this.stats.acked += lines.length
    else {
      this.stats.refused += lines.length
      this.#options.log.error(`the gateway refused a batch of ${lines.length} valid readings with 400`)
    }
    this.#pending -= lines.length
  }
}
