/**
 * The speed layer (docs/CONTRACT.md): consumes `vitals.readings` as group `vigil-speed`, validates,
 * classifies, raises alerts and keeps the real-time view in Redis.
 *
 * One loop, one batch at a time: take what the consumer has buffered (up to maxBatchReadings),
 * validate and group by patient, read the patients' bands (and, for patients not cached, their
 * state) in one pipeline, apply the readings, produce rejects and alert events to Kafka, write
 * the view in one atomic call of write-batch.lua, and only then commit the batch's offsets. A crash anywhere replays
 * the batch; per-device duplicate detection, persisted in the same script call as the view, makes
 * the replay a no-op (alert events produced before the crash may be produced again, with the
 * same deterministic ids).
 *
 * Patients are keyed by patientId, so a patient lives in one partition, owned by one instance of
 * the group; the in-memory cache of patient state is dropped on every rebalance and reloaded
 * from Redis on first sight. A random epoch stored in Redis reveals a wiped Redis: the layer then
 * rewinds its partitions to the offsets of (now − series window), found with offsets-for-times,
 * and rebuilds the view, without producing again the alert events of readings it had already
 * processed.
 */
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { Consumer, Producer, murmur2, type Message, type MessagesStream } from '@platformatic/kafka'
import type { Config } from '../lib/config.ts'
import { retry, withTimeout } from '../lib/backoff.ts'
import { describeError } from '../lib/errors.ts'
import { createAdmin, ensureTopics, kafkaBaseOptions } from '../lib/kafka.ts'
import { committedLag, describeLag, type GroupLag } from '../lib/lag.ts'
import { redisKeys } from '../lib/contract/keys.ts'
import { createLogger, stageLogger, type Logger } from '../lib/log.ts'
import { connectRedis, type RedisClient } from '../lib/redis.ts'
import type { Stoppable } from '../lib/shutdown.ts'
import type { AlertEvent } from '../lib/contract/views.ts'
import { REJECT_HEADERS, consumerGroups, topicNames, topicSpecs } from '../lib/contract/topics.ts'
import type { Reading } from '../lib/contract/schema.ts'
import { staleRaised, staleThresholdMs } from './alerts.ts'
import type { SpeedOptions } from './config.ts'
import { serializeDevice } from './devices.ts'
import { applyReadings, type PatientRuntime } from './patients.ts'
import { REJECT_REASONS, deadLetterHeaders, deadLetterPayload, produceChunks, validateRecord, type RejectReason } from './validate.ts'
import { epochKey, loadPatients, rebuiltKey, writeBatch, writeDevices, type PatientChange } from './view.ts'

/** A batch given up on purpose, to be read again from the committed offsets (an expected event, not a failure). */
class RereadFromCommit extends Error {}

/** How long a stop waits for the batch in flight before closing the clients under it. */
const STOP_GRACE_MS = 3_000

/** How long the status line waits for the consumer lag before saying "lag ?". */
const STATUS_LAG_TIMEOUT_MS = 5_000

/** Whether `p` settles (either way) within `ms`. */
function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return withTimeout(p.catch(() => undefined), ms, 'not settled').then(
    () => true,
    () => false,
  )
}

export { DEFAULT_SPEED_OPTIONS, speedOptionsSchema, type SpeedOptions } from './config.ts'

export type SpeedConfig = Config & { speed: SpeedOptions }

export interface SpeedDeps {
  log?: Logger
}

export interface SpeedStats {
  /** Records consumed (valid, rejected or duplicate). */
  records: number
  /** Valid readings applied to the view (not duplicates, not late). */
  applied: number
  rejected: Record<RejectReason, number>
  duplicates: number
  late: number
  reordered: number
  alertEvents: number
  batches: number
  rebuilds: number
  /** Milliseconds spent, in total, reading state from Redis / producing to Kafka / writing the view / computing. */
  timeMs: { load: number; produce: number; write: number; compute: number }
  /**
   * The group's committed-offset lag on the readings topic (lib/lag.ts) as of the last status
   * line; null before the topic exists, undefined before the first line or when Kafka did not answer.
   */
  lag?: GroupLag | null
}

export interface SpeedLayer extends Stoppable {
  stats(): Readonly<SpeedStats>
  /** Partitions of `vitals.readings` this instance owns now. */
  partitions(): number[]
}

type Msg = Message<Buffer, Buffer, Buffer, Buffer>

interface Group {
  partition: number
  fresh: Reading[]
  /** Readings the view had already seen before a Redis wipe: their alert events are not produced again. */
  replayed: Reading[]
}

export async function start(config: SpeedConfig, deps: SpeedDeps = {}): Promise<SpeedLayer> {
  const log = stageLogger(deps.log ?? createLogger({ level: config.logLevel }), 'speed')
  const opts = config.speed
  const keys = redisKeys(config.redisPrefix)
  const topics = topicNames(config.topicPrefix)
  const groupId = consumerGroups(config.topicPrefix).speed
  const abort = new AbortController()
  const signal = abort.signal

  const stats: SpeedStats = {
    records: 0,
    applied: 0,
    rejected: Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>,
    duplicates: 0,
    late: 0,
    reordered: 0,
    alertEvents: 0,
    batches: 0,
    rebuilds: 0,
    timeMs: { load: 0, produce: 0, write: 0, compute: 0 },
  }

  /** Logs an outage once, with the fix, until the operation succeeds again. */
  const outage = (what: string) => {
    let reported = false
    return {
      onRetry: (attempt: number, error: unknown, delayMs: number) => {
        if (!reported) log.warn(`${what} failed (${describeError(error)}); retrying with backoff (next in ${delayMs} ms, at most 10 s apart)`)
        reported = true
      },
      done: () => {
        if (reported) log.info(`${what} works again; catching up`)
        reported = false
      },
    }
  }
  async function withRetry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const o = outage(what)
    const result = await retry(fn, { signal, onRetry: o.onRetry })
    o.done()
    return result
  }

  const redisOutage = outage(`connecting to Redis at ${config.redisUrl}`)
  const redis: RedisClient = await retry(() => connectRedis(config, { log, name: 'vigil-speed' }), { signal, onRetry: redisOutage.onRetry })
  redisOutage.done()

  // The speed layer writes to vitals.rejected and vitals.alerts: make sure they exist (any start order works).
  await withRetry(`creating topics on Kafka at ${config.kafkaBrokers.join(',')}`, async () => {
    const admin = createAdmin(config, 'vigil-speed-admin')
    try {
      await ensureTopics(admin, topicSpecs(config.topicPrefix))
    } finally {
      await admin.close()
    }
  })

  const producer = new Producer({ ...kafkaBaseOptions(config, 'vigil-speed'), idempotent: true, acks: -1 })
  const consumer = new Consumer({
    ...kafkaBaseOptions(config, 'vigil-speed'),
    groupId,
    ...(opts.instanceId === undefined ? {} : { groupInstanceId: opts.instanceId }),
    autocommit: false,
    sessionTimeout: opts.sessionTimeoutMs,
    rebalanceTimeout: opts.sessionTimeoutMs,
    heartbeatInterval: Math.max(100, Math.floor(opts.sessionTimeoutMs / 10)),
    maxWaitTime: opts.fetchMaxWaitMs,
    highWaterMark: opts.maxBufferedRecords,
  })
  for (const client of [producer, consumer] as const) {
    // Every EventEmitter gets an 'error' listener; failures surface through the awaited calls.
    client.on('error', (error: unknown) => log.debug({ err: describeError(error) }, 'kafka client error'))
  }

  /** Patient state of owned partitions; dropped on rebalance and on a detected wipe. */
  const cache = new Map<string, PatientRuntime>()
  let invalidate = false
  /** After an assignment: load the recently active patients of the owned partitions, so that a device that fell silent is noticed. */
  let warmUp = false
  consumer.on('consumer:group:join', () => {
    invalidate = true
    warmUp = true
  })
  /** The view's epoch this instance works against (null until the first batch adopts or creates one). */
  let knownEpoch: string | null = null
  /** Per partition: the offset up to which (exclusive) records are replays of a rebuild. */
  const rebuildUntil = new Map<number, bigint>()
  /** Per partition: the next offset to process (last processed + 1). */
  const positions = new Map<number, bigint>()

  let stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined
  let streamError: unknown
  /** Resolves the wait of `nextBatch` (true: records may be readable). */
  let wake: ((ready: boolean) => void) | undefined

  async function openStream(): Promise<void> {
    streamError = undefined
    const s = await withRetry(`joining consumer group ${groupId} on Kafka at ${config.kafkaBrokers.join(',')}`, () =>
      consumer.consume({
        topics: [topics.readings],
        mode: 'committed',
        fallbackMode: 'earliest',
        autocommit: false,
        maxWaitTime: opts.fetchMaxWaitMs,
        highWaterMark: opts.maxBufferedRecords,
        sessionTimeout: opts.sessionTimeoutMs,
        rebalanceTimeout: opts.sessionTimeoutMs,
        heartbeatInterval: Math.max(100, Math.floor(opts.sessionTimeoutMs / 10)),
      }),
    )
    s.on('error', (error: unknown) => {
      streamError = error
      wake?.(false)
    })
    s.on('close', () => wake?.(false))
    // A 'readable' listener that stays for the stream's life: removing the last one would put the
    // stream back in its initial mode, in which @platformatic/kafka stops fetching.
    s.on('readable', () => wake?.(true))
    stream = s
    invalidate = true
  }

  function assigned(): number[] {
    return consumer.assignments?.find((a) => a.topic === topics.readings)?.partitions.slice().sort((a, b) => a - b) ?? []
  }

  /** Up to maxBatchReadings buffered records; waits for the first up to `waitMs`. */
  async function nextBatch(waitMs: number): Promise<Msg[]> {
    const s = stream
    if (s === undefined) return []
    const out: Msg[] = []
    for (;;) {
      while (out.length < opts.maxBatchReadings) {
        const m = s.read() as Msg | null
        if (m === null) break
        out.push(m)
      }
      if (out.length > 0 || signal.aborted || streamError !== undefined || waitMs <= 0) return out
      const ready = await new Promise<boolean>((resolve) => {
        const done = (value: boolean) => {
          clearTimeout(timer)
          wake = undefined
          signal.removeEventListener('abort', onAbort)
          resolve(value)
        }
        const onAbort = () => done(false)
        const timer = setTimeout(() => done(false), waitMs)
        wake = done
        signal.addEventListener('abort', onAbort, { once: true })
      })
      if (!ready) return out
      waitMs = 0
    }
  }

  /**
   * Detected a wiped (or new) Redis, or owned partitions not rebuilt under the view's epoch: adopt
   * the epoch (creating one if none) and rewind the owned partitions that no instance rebuilt for
   * it to now − series window; then mark them rebuilt.
   */
  async function rebuild(): Promise<boolean> {
    stats.rebuilds++
    const before = knownEpoch
    const wasRunning = before !== null
    cache.clear()
    // A commit still in flight would otherwise land after the rewind and undo it.
    await committing
    const created = (await redis.set(epochKey(keys), randomUUID(), { condition: 'NX' })) !== null
    knownEpoch = await redis.get(epochKey(keys))
    const owned = assigned()
    if (owned.length === 0) return false
    const marks = await redis.hmGet(rebuiltKey(keys), owned.map(String))
    const parts = owned.filter((_, k) => marks[k] !== knownEpoch)
    if (parts.length === 0) return false
    const committed = await consumer.listCommittedOffsets({ topics: [{ topic: topics.readings, partitions: parts }] })
    const since = BigInt(Date.now() - opts.seriesWindowMs)
    const byTime = await consumer.listOffsetsWithTimestamps({ topics: [topics.readings], partitions: { [topics.readings]: parts }, timestamp: since })
    const rewinds: { topic: string; partition: number; offset: bigint; leaderEpoch: number }[] = []
    for (const p of parts) {
      const c = committed.get(topics.readings)?.[p] ?? -1n
      const position = positions.get(p) ?? c
      const target = byTime.get(topics.readings)?.get(p)?.offset ?? -1n
      if (position > 0n && target >= 0n && target < position) {
        rewinds.push({ topic: topics.readings, partition: p, offset: target, leaderEpoch: -1 })
        rebuildUntil.set(p, position)
      }
    }
    if (rewinds.length > 0 || wasRunning) {
      const why = created || (before !== null && before !== knownEpoch)
        ? 'the Redis view is empty (Redis wiped or restarted)'
        : `partitions ${parts.join(', ')} were not rebuilt under the view's epoch (an instance stopped during a rebuild, or the view predates per-partition rebuild marks)`
      log.warn(
        `${why}: rebuilding from Kafka since ${new Date(Number(since)).toISOString()}` +
          (rewinds.length > 0 ? ` (${rewinds.length} partitions rewound)` : ' (nothing to replay)'),
      )
    }
    const markDone = async () => {
      if (knownEpoch !== null) await redis.hSet(rebuiltKey(keys), Object.fromEntries(parts.map((p) => [String(p), knownEpoch as string])))
    }
    if (rewinds.length === 0) {
      await markDone()
      return false
    }
    await consumer.commit({ offsets: rewinds })
    await markDone()
    await stream?.close()
    stream = undefined
    positions.clear()
    await openStream()
    return true
  }

  function rejectMessage(m: Msg, reason: RejectReason, detail: string, patientId: string | undefined) {
    const headers = deadLetterHeaders(m.headers)
    headers.set(Buffer.from(REJECT_HEADERS.reason), Buffer.from(reason))
    headers.set(Buffer.from(REJECT_HEADERS.detail), Buffer.from(detail))
    headers.set(Buffer.from(REJECT_HEADERS.sourceTopic), Buffer.from(m.topic))
    headers.set(Buffer.from(REJECT_HEADERS.sourcePartition), Buffer.from(String(m.partition)))
    headers.set(Buffer.from(REJECT_HEADERS.sourceOffset), Buffer.from(String(m.offset)))
    const payload = deadLetterPayload(patientId !== undefined ? Buffer.from(patientId) : m.key, m.value)
    if (payload.originalBytes !== undefined) headers.set(Buffer.from(REJECT_HEADERS.originalBytes), Buffer.from(String(payload.originalBytes)))
    return { topic: topics.rejected, key: payload.key, value: payload.value, headers }
  }

  /** `again`: the batch is being processed a second time, after a rebuild. */
  async function processBatch(batch: Msg[], again = false): Promise<void> {
    const started = performance.now()
    if (invalidate) {
      cache.clear()
      invalidate = false
    }
    const groups = new Map<string, Group>()
    const dlq: ReturnType<typeof rejectMessage>[] = []
    const rejects: RejectReason[] = []
    const last = new Map<number, Msg>()
    for (const m of batch) {
      last.set(m.partition, m)
      const v = validateRecord(m.value ?? undefined, { key: m.key?.toString('utf8'), brokerTs: Number(m.timestamp) }, opts.maxClockSkewMs)
      if (!v.ok) {
        if ((rebuildUntil.get(m.partition) ?? -1n) <= m.offset) {
          rejects.push(v.reason)
          dlq.push(rejectMessage(m, v.reason, v.detail, v.patientId))
        }
        continue
      }
      let g = groups.get(v.reading.patientId)
      if (g === undefined) {
        g = { partition: m.partition, fresh: [], replayed: [] }
        groups.set(v.reading.patientId, g)
      }
      if ((rebuildUntil.get(m.partition) ?? -1n) > m.offset) g.replayed.push(v.reading)
      else g.fresh.push(v.reading)
    }

    const ids = [...groups.keys()]
    const uncached = new Set(ids.filter((id) => !cache.has(id)))
    let t = performance.now()
    stats.timeMs.compute += t - started
    const partitions = [...last.keys()]
    const loaded = await withRetry('reading patient state from Redis', () => loadPatients(redis, keys, ids, uncached, partitions))
    stats.timeMs.load += performance.now() - t
    t = performance.now()
    if (loaded.epoch === null || (knownEpoch !== null && loaded.epoch !== knownEpoch) || loaded.rebuilt.some((e) => e !== loaded.epoch)) {
      // Twice in a row (a partition of the batch no longer owned, or another wipe meanwhile): the
      // loop's error path re-reads from the committed offsets with a fresh assignment.
      if (again) throw new RereadFromCommit('the view was wiped again, or a partition was reassigned, while rebuilding')
      if ((await withRetry('rebuilding the Redis view', rebuild)) || signal.aborted) return
      return processBatch(batch, true)
    }
    knownEpoch = loaded.epoch

    const changes: PatientChange[] = []
    const events: AlertEvent[] = []
    const toProduce: AlertEvent[] = []
    for (const [id, g] of groups) {
      let p = cache.get(id)
      if (p === undefined) {
        p = loaded.loaded.get(id) as PatientRuntime
        cache.set(id, p)
      }
      p.table = loaded.tables.get(id) ?? p.table
      for (const [readings, produce] of [[g.replayed, false], [g.fresh, true]] as const) {
        if (readings.length === 0) continue
        const outcome = applyReadings(p, readings, opts)
        stats.duplicates += outcome.duplicates
        stats.late += outcome.late
        stats.reordered += outcome.reordered
        stats.applied += outcome.entries.length
        changes.push({ runtime: p, outcome })
        events.push(...outcome.events)
        if (produce) toProduce.push(...outcome.events)
      }
    }

    const messages = [
      ...dlq,
      ...toProduce.map((e) => ({ topic: topics.alerts, key: Buffer.from(e.patientId), value: Buffer.from(JSON.stringify(e)) })),
    ]
    stats.timeMs.compute += performance.now() - t
    t = performance.now()
    // In requests under the broker's message limit: one request over it would be refused, and retried, for ever.
    for (const chunk of produceChunks(messages)) await withRetry('producing rejects and alerts to Kafka', () => producer.send({ messages: chunk }))
    stats.timeMs.produce += performance.now() - t
    t = performance.now()
    const epoch = knownEpoch
    const written = await withRetry('writing the view to Redis', () => writeBatch(redis, keys, changes, events, opts, epoch))
    stats.timeMs.write += performance.now() - t
    if (!written) {
      // Redis was wiped between this batch's read and its write: nothing was written; rebuild
      // the view and process the batch again (its alert events keep their ids).
      if ((await withRetry('rebuilding the Redis view', rebuild)) || signal.aborted) return
      return processBatch(batch, again)
    }
    stats.alertEvents += toProduce.length
    scheduleCommit(last)
    for (const r of rejects) stats.rejected[r]++
    stats.records += batch.length
    stats.batches++
  }

  /**
   * Offsets whose batch is written, waiting for the commit in flight to finish. One commit request
   * at a time, for every partition at once, overlapping the next batch's work: a commit is
   * never on the batch's critical path, and it always follows the batch's writes.
   */
  const pendingCommit = new Map<number, bigint>()
  let committing: Promise<void> | undefined

  function scheduleCommit(last: Map<number, Msg>): void {
    for (const m of last.values()) {
      const next = m.offset + 1n
      pendingCommit.set(m.partition, next)
      positions.set(m.partition, next)
      const until = rebuildUntil.get(m.partition)
      if (until !== undefined && next >= until) rebuildUntil.delete(m.partition)
    }
    committing ??= flushCommits()
  }

  async function flushCommits(): Promise<void> {
    while (pendingCommit.size > 0) {
      const offsets = [...pendingCommit].map(([partition, offset]) => ({ topic: topics.readings, partition, offset, leaderEpoch: -1 }))
      pendingCommit.clear()
      try {
        await consumer.commit({ offsets })
      } catch (error) {
        // A rebalance took a partition away: its new owner replays from the last commit, and the
        // duplicate detection written with the batch makes that replay a no-op.
        log.debug({ err: describeError(error) }, 'commit refused')
      }
    }
    committing = undefined
  }

  /**
   * Loads into the cache the patients of the owned partitions that sent readings within the series
   * window (from the patients index), so that a device silent since before a restart or a
   * rebalance still gets its stale-data alert. The partition of a patient is the default
   * partitioner's: murmur2 of the key modulo the partition count.
   */
  async function warmUpCache(): Promise<void> {
    if (invalidate) {
      cache.clear()
      invalidate = false
    }
    const owned = new Set(assigned())
    if (owned.size === 0) return
    const metadata = await consumer.metadata({ topics: [topics.readings] })
    const count = metadata.topics.get(topics.readings)?.partitionsCount ?? 0
    if (count === 0) return
    const recent = await redis.zRangeByScore(keys.patients, Date.now() - opts.seriesWindowMs, '+inf')
    const mine = recent.filter((id) => !cache.has(id) && owned.has((murmur2(Buffer.from(id)) >>> 0) % count))
    for (let i = 0; i < mine.length; i += 1_000) {
      const ids = mine.slice(i, i + 1_000)
      const loaded = await loadPatients(redis, keys, ids, new Set(ids))
      for (const [id, p] of loaded.loaded) {
        p.table = loaded.tables.get(id) ?? p.table
        if (!cache.has(id)) cache.set(id, p)
      }
    }
  }

  /** Stale-device check over the cached patients, in wall-clock time (a silent device sends no event time). */
  async function checkStale(): Promise<void> {
    const now = Date.now()
    const changes: { patientId: string; deviceId: string; text: string }[] = []
    const events: AlertEvent[] = []
    for (const p of cache.values()) {
      for (const [deviceId, d] of p.devices) {
        if (d.staleTs !== null) continue
        const threshold = staleThresholdMs(d.cadenceMs, opts.staleCadences, opts.staleMinMs)
        if (now - d.ts <= threshold) continue
        const e = staleRaised(p.patientId, deviceId, d.ts, threshold)
        d.staleTs = e.ts
        changes.push({ patientId: p.patientId, deviceId, text: serializeDevice(d) })
        events.push(e)
      }
    }
    if (events.length === 0) return
    await withRetry('producing stale-data alerts to Kafka', () =>
      producer.send({ messages: events.map((e) => ({ topic: topics.alerts, key: Buffer.from(e.patientId), value: Buffer.from(JSON.stringify(e)) })) }),
    )
    // A wiped Redis gets no half-view: the next batch or housekeeping pass rebuilds it first. An
    // instance that has processed no batch yet adopts the view's epoch as it finds it.
    const current = await withRetry('reading the view epoch', () => redis.get(epochKey(keys)))
    if (current === null || (knownEpoch !== null && current !== knownEpoch)) return
    knownEpoch = current
    await withRetry('writing stale-data alerts to Redis', () => writeDevices(redis, keys, changes, events, opts.alertStreamMaxLen))
    stats.alertEvents += events.length
  }

  let lastStatus = { at: Date.now(), records: 0 }
  /** The status line waiting for the lag (one at a time: a slow broker must not pile them up). */
  let statusInFlight: Promise<void> | undefined
  /**
   * Logs the status line once the group's committed-offset lag (lib/lag.ts) is read, off the
   * batch loop: a slow or absent broker delays the line, never a batch.
   */
  function statusLine(): void {
    if (statusInFlight !== undefined) return
    const now = Date.now()
    const rate = ((stats.records - lastStatus.records) * 1000) / Math.max(1, now - lastStatus.at)
    lastStatus = { at: now, records: stats.records }
    statusInFlight = (async () => {
      const admin = createAdmin(config, 'vigil-speed-lag')
      try {
        const lags = await withTimeout(committedLag(admin, { groups: [groupId], topic: topics.readings }), STATUS_LAG_TIMEOUT_MS, `Kafka did not answer within ${STATUS_LAG_TIMEOUT_MS} ms`)
        stats.lag = lags?.[0] ?? null
      } catch (error) {
        // The lag is informative only: the line says "lag ?" and the next one asks again.
        log.debug({ err: describeError(error) }, 'consumer lag not read')
        stats.lag = undefined
      } finally {
        await admin.close().catch(() => undefined)
      }
      const rejected = Object.values(stats.rejected).reduce((a, b) => a + b, 0)
      const lag = stats.lag
      log.info(
        { ...stats, lag: lag?.total ?? null, partitions: assigned() },
        `${rate.toFixed(0)} readings/s, ${describeLag(lag)}, rejected ${rejected}, duplicates ${stats.duplicates}, late ${stats.late}, alerts ${stats.alertEvents}, batches ${stats.batches}`,
      )
    })().finally(() => {
      statusInFlight = undefined
    })
  }

  await openStream()

  let lastHousekeeping = Date.now()
  let lastStatusAt = Date.now()
  /** Draining a backlog: stale checks wait, or every device would look silent. */
  let behind = false
  const loop = (async () => {
    while (!signal.aborted) {
      try {
        if (streamError !== undefined || stream === undefined) {
          log.warn(`the Kafka consumer stopped (${describeError(streamError)}); reopening it`)
          await stream?.close().catch(() => undefined)
          stream = undefined
          await openStream()
        }
        const batch = await nextBatch(opts.housekeepingIntervalMs)
        if (batch.length > 0) {
          await processBatch(batch)
          behind = Date.now() - Number(batch[batch.length - 1]?.timestamp ?? 0) > 5_000
        } else {
          behind = false
        }
        const now = Date.now()
        if (now - lastHousekeeping >= opts.housekeepingIntervalMs) {
          lastHousekeeping = now
          const epoch = await redis.get(epochKey(keys))
          const owned = assigned()
          const marks = epoch === null || owned.length === 0 ? [] : await redis.hmGet(rebuiltKey(keys), owned.map(String))
          if ((knownEpoch !== null && epoch !== knownEpoch) || marks.some((m) => m !== epoch)) await rebuild()
          else if (!behind) {
            if (warmUp) {
              warmUp = false
              await warmUpCache()
            }
            await checkStale()
          }
        }
        if (now - lastStatusAt >= opts.statusIntervalMs) {
          lastStatusAt = now
          statusLine()
        }
      } catch (error) {
        if (signal.aborted) break
        const line = `speed layer batch failed (${describeError(error)}); re-reading from the last committed offsets`
        if (error instanceof RereadFromCommit) log.warn(line)
        else log.error(line)
        // The batch was not committed: reopening the stream reads it again, and the cache is
        // reloaded from Redis, which holds exactly what earlier batches wrote.
        cache.clear()
        streamError = error
        await sleep(1_000, undefined, { signal }).catch(() => undefined)
      }
    }
  })()

  return {
    stats: () => stats,
    partitions: assigned,
    async stop() {
      abort.abort()
      // A batch waiting on a Redis reconnect, or a group join waiting out a crashed member's
      // session, must not hold the shutdown: past the grace period the clients are closed under
      // it. Nothing is lost: an uncommitted batch is replayed at the next start.
      if (!(await settlesWithin(loop, STOP_GRACE_MS))) {
        log.warn(`the batch in flight did not finish within ${STOP_GRACE_MS / 1000} s of the stop: abandoning it (the next start replays it from the last commit)`)
        redis.destroy()
        await settlesWithin(new Promise<void>((resolve) => consumer.close(true, () => resolve())), STOP_GRACE_MS)
        await settlesWithin(loop, STOP_GRACE_MS)
      }
      await settlesWithin(committing ?? Promise.resolve(), STOP_GRACE_MS)
      await stream?.close().catch(() => undefined)
      await consumer.close().catch(() => undefined)
      await producer.close().catch(() => undefined)
      redis.destroy()
    },
  }
}
