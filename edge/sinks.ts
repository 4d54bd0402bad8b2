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
  const lanes = Array.from({ length: options.lanes }, () => new Lane())
  const laneCache = new Map<string, number>()
  const stats: SinkStats = { acked: 0, refused: 0, outages: 0, outageMs: 0 }
  const max = options.maxBufferedRecords ?? 50_000
  let pending = 0
  let fatal: Error | undefined
  let closed = false
  let downSince: number | undefined
  let capacityWaiters: Array<() => void> = []
  let idleWaiters: Array<() => void> = []
  const readingsUrl = new URL('/v1/readings', options.url).toString()
  const auth = `Bearer ${options.token}`

  const release = () => {
    if (pending < max || fatal !== undefined || closed) {
      const w = capacityWaiters
      capacityWaiters = []
      for (const f of w) f()
    }
    if (pending === 0 || fatal !== undefined) {
      const w = idleWaiters
      idleWaiters = []
      for (const f of w) f()
    }
  }

  const down = (why: string) => {
    if (downSince !== undefined) return
    downSince = Date.now()
    stats.outages++
    options.log.warn(`gateway at ${options.url} unavailable (${why}): holding readings and retrying with backoff`)
  }
  const up = () => {
    if (downSince === undefined) return
    const ms = Date.now() - downSince
    stats.outageMs += ms
    downSince = undefined
    options.log.info(`gateway reachable again after ${(ms / 1000).toFixed(1)} s`)
  }

  /** Posts one body until the gateway answers something other than 5xx/429 or a network error. */
  async function post(body: string, contentType: string, n: number): Promise<'accepted' | 'refused'> {
    for (let attempt = 1; ; attempt++) {
      let retryAfterMs = 0
      try {
        const res = await fetch(readingsUrl, { method: 'POST', headers: { 'content-type': contentType, authorization: auth }, body })
        const text = await res.text()
        if (res.status === 202) {
          up()
          return 'accepted'
        }
        if (res.status === 400) {
          up()
          return 'refused'
        }
        if (res.status === 401 || res.status === 403 || res.status === 413 || res.status === 415) {
          throw new VigilError('STAGE_FAILED', `The gateway at ${options.url} answered ${res.status} to a batch of ${n} readings (${text.slice(0, 200)}): ${res.status === 401 || res.status === 403 ? 'set VIGIL_DEVICE_TOKENS to a token the gateway accepts' : 'lower --http-batch'}.`)
        }
        retryAfterMs = Number(res.headers.get('retry-after') ?? '0') * 1000
        down(`HTTP ${res.status}`)
      } catch (error) {
        if (error instanceof VigilError) throw error
        down(describeError(error))
      }
      if (closed) throw new VigilError('STAGE_FAILED', 'The edge stopped before the gateway accepted these readings.')
      const delay = Math.max(backoffDelay(attempt, 200, 5_000), Math.min(retryAfterMs, 5_000))
      await new Promise((resolve) => setTimeout(resolve, delay))
    }
  }

  async function runLane(lane: Lane): Promise<void> {
    lane.running = true
    try {
      while (lane.head < lane.queue.length && fatal === undefined) {
        const first = lane.queue[lane.head]!
        if (first.fault !== undefined && SCHEMA_INVALID_FAULTS.has(first.fault)) {
          // Sent alone: the gateway refuses a whole request when one of its readings is invalid.
          lane.head++
          const outcome = await post(first.value, 'application/json', 1)
          if (outcome === 'refused') stats.refused++
          else stats.acked++
          pending--
        } else {
          const lines: string[] = []
          while (lane.head < lane.queue.length && lines.length < options.batch) {
            const r = lane.queue[lane.head]!
            if (r.fault !== undefined && SCHEMA_INVALID_FAULTS.has(r.fault)) break
            lines.push(r.value)
            lane.head++
          }
          const outcome = await post(lines.join('\n') + '\n', 'application/x-ndjson', lines.length)
          if (outcome === 'accepted') stats.acked += lines.length
          else {
            stats.refused += lines.length
            options.log.error(`the gateway refused a batch of ${lines.length} valid readings with 400`)
          }
          pending -= lines.length
        }
        if (lane.head > 10_000) {
          lane.queue.splice(0, lane.head)
          lane.head = 0
        }
        release()
      }
    } catch (error) {
      fatal = error instanceof Error ? error : new Error(String(error))
    } finally {
      lane.running = false
      release()
    }
  }

  return {
    send(records) {
      for (const r of records) {
        let i = laneCache.get(r.key)
        if (i === undefined) {
          i = laneOf(r.key, lanes.length)
          laneCache.set(r.key, i)
        }
        lanes[i]!.queue.push(r)
      }
      pending += records.length
      for (const lane of lanes) if (!lane.running && lane.head < lane.queue.length) void runLane(lane)
    },
    waitForCapacity() {
      if (pending < max || fatal !== undefined) return undefined
      return new Promise((resolve) => capacityWaiters.push(resolve))
    },
    flush() {
      if (pending === 0 || fatal !== undefined) return Promise.resolve()
      return new Promise((resolve) => idleWaiters.push(resolve))
    },
    async close(o) {
      if (o?.drain !== false) await this.flush()
      closed = true
      release()
    },
    get pending() {
      return pending
    },
    stats,
    get fatal() {
      return fatal
    },
  }
}
