/**
 * The edge stage: simulated devices (or a CSV replay) publishing readings v1 to Kafka, straight
 * or through the gateway. `start` runs until stopped (or until --count / --duration / the end of
 * the file) and returns a Stoppable whose `done` resolves with the run's summary; `run` is the
 * run-to-completion form.
 *
 * Pacing: with --rate R, record i leaves at t0 + i/R (so --count and --duration are exact); with
 * no --rate, a reading leaves when its simulated time comes, simulated time running --speedup
 * times faster than the wall clock; with --rate max, as fast as the sink acknowledges. Event time
 * (`ts`) is the moment a reading leaves by that schedule, never ahead of the wall clock (see
 * `simulate`).
 */
import { randomInt } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Config } from '../lib/config.ts'
import type { Logger } from '../lib/log.ts'
import type { Stoppable } from '../lib/shutdown.ts'
import { VigilError, describeError } from '../lib/errors.ts'
import { Prng } from './prng.ts'
import { Simulator } from './simulator.ts'
import type { Reading } from '../lib/contract/schema.ts'
import { FaultInjector, FAULT_KINDS, SCHEMA_INVALID_FAULTS, type EdgeRecord, type FaultCounts } from './faults.ts'
import { checkTimeZone, parseColumnsFlag, readCsv, type CsvField } from './csv.ts'
import { httpSink, kafkaSink, type Sink } from './sinks.ts'
import { edgeOptions, type EdgeOptions, type EdgeOptionsInput } from './config.ts'

export { edgeOptions, edgeOptionsSchema, type EdgeOptions, type EdgeOptionsInput } from './config.ts'
export { Simulator } from './simulator.ts'
export { FAULT_KINDS, SCHEMA_INVALID_FAULTS, type FaultKind, type FaultCounts, type EdgeRecord } from './faults.ts'
export { PERSONAS, personaOf, patientId } from './personas.ts'

export interface EdgeSummary {
  mode: 'simulate' | 'replay'
  via: 'kafka' | 'http'
  /** The seed used (pass it back with --seed to reproduce the run). */
  seed: number
  /** Event time of the simulation's start, epoch ms (simulation only). */
  startMs?: number
  /** Records handed to the sink (readings and injected faults). */
  sent: number
  /** Records acknowledged: by Kafka, or by the gateway's 202. */
  acked: number
  /** Records the gateway refused with 400 (schema faults sent over HTTP). */
  refusedByGateway: number
  /** Records sent and never acknowledged (stopped while the target was unreachable). */
  unacknowledged: number
  /** Injected faults actually sent, by kind. */
  faults: FaultCounts
  /** Records the speed layer should dead-letter: impossible values and schema faults. */
  expectedRejected: number
  elapsedMs: number
  readingsPerSecond: number
  outages: number
  outageMs: number
  replay?: { file: string; passes: number; rowsRead: number; rowsSent: number; rowsSkipped: number }
  stoppedBy: 'count' | 'duration' | 'end-of-file' | 'stop' | 'error'
}

export interface EdgeDeps {
  log: Logger
  /** A sink to use instead of building one from the config (benchmarks, tests). */
  sink?: Sink
  /** Where the progress line goes; undefined: none. */
  progress?: NodeJS.WriteStream
  /** Bearer token for --via http. @defaultValue the first of config.deviceTokens */
  deviceToken?: string
  /** Wall clock, for tests. */
  now?: () => number
}

export type EdgeConfig = Config & { edge: EdgeOptions }

export interface EdgeRun extends Stoppable {
  /** Resolves when the run ends (count, duration, end of file, stop) with its summary. */
  done: Promise<EdgeSummary>
  /** Records sent so far. */
  readonly sent: number
}

/** Live counters, shared by the loop, the progress line and the summary. */
interface Counters {
  sent: number
  skipped: number
}

const CHUNK = 2_000
const MAX_TICK_MS = 100

function buildSink(config: EdgeConfig, deps: EdgeDeps): Sink {
  if (deps.sink !== undefined) return deps.sink
  const o = config.edge
  if (o.via === 'http') {
    const token = deps.deviceToken ?? config.deviceTokens?.[0]
    if (token === undefined) {
      throw new VigilError('CONFIG_INVALID', '--via http needs a device token: set VIGIL_DEVICE_TOKENS to one the gateway accepts (`vigil ingest` prints the one it generates when none is set).')
    }
    return httpSink({ log: deps.log, url: o.gatewayUrl ?? `http://127.0.0.1:${config.ingestPort}`, token, batch: o.httpBatch, lanes: o.httpLanes })
  }
  return kafkaSink(config, { log: deps.log })
}

/** Starts the edge; the returned handle's `done` resolves with the summary when the run ends. */
export async function start(config: EdgeConfig, deps: EdgeDeps): Promise<EdgeRun> {
  const o = config.edge
  if (o.replay !== undefined) checkTimeZone(o.timezone)
  const columns: Partial<Record<CsvField, string>> = o.columns === undefined ? {} : parseColumnsFlag(o.columns)
  const sink = buildSink(config, deps)
  await sink.ready?.()
  const now = deps.now ?? (() => performance.now())
  const seed = o.seed ?? randomInt(0, 2 ** 32 - 1)
  const startMs = o.start ?? Date.now()
  const rng = new Prng(seed)
  const faults = new FaultInjector(o.faults, rng.fork('faults'))
  const counters: Counters = { sent: 0, skipped: 0 }
  const abort = new AbortController()
  const t0 = now()
  const limit = o.count ?? (typeof o.rate === 'number' && o.duration !== undefined ? Math.floor(o.rate * o.duration) : Infinity)
  const deadline = o.duration === undefined ? Infinity : t0 + o.duration * 1000
  let stoppedBy: EdgeSummary['stoppedBy'] = 'stop'
  const limitReason = (): EdgeSummary['stoppedBy'] => (o.count !== undefined ? 'count' : 'duration')
  let fileSeqMaxAll = 0
  const replayInfo = o.replay === undefined ? undefined : { file: o.replay, passes: 0, rowsRead: 0, rowsSent: 0, rowsSkipped: 0 }

  const progress = startProgress(deps.progress, counters, sink, now, deps.log)

  /** Hands records to the sink, never past --count; returns false once the limit is reached. */
  const out: EdgeRecord[] = []
  const emit = (records: EdgeRecord[]): boolean => {
    if (records.length === 0) return counters.sent < limit
    let n = records.length
    if (counters.sent + n > limit) n = limit - counters.sent
    if (n <= 0) return false
    const batch = n === records.length ? records.slice() : records.slice(0, n)
    for (const r of batch) faults.countEmitted(r)
    counters.sent += n
    sink.send(batch)
    return counters.sent < limit
  }

  /** Waits for the sink's capacity and for the next due time; false when the run must end. */
  const pace = async (dueAt: number): Promise<boolean> => {
    const cap = sink.waitForCapacity()
    if (cap !== undefined) await cap
    if (sink.fatal !== undefined) throw sink.fatal
    if (abort.signal.aborted) return false
    const t = now()
    if (t >= deadline) {
      stoppedBy = 'duration'
      return false
    }
    const wait = Math.min(dueAt - t, deadline - t, MAX_TICK_MS)
    if (wait > 0) {
      try {
        await sleep(wait, undefined, { signal: abort.signal })
      } catch {
        return false
      }
    } else {
      // Let the sink's I/O run between chunks.
      await new Promise((resolve) => setImmediate(resolve))
    }
    return !abort.signal.aborted
  }

  /** How many records may have left by now under --rate; Infinity without one. */
  const dueByRate = (): number => {
    if (typeof o.rate !== 'number') return Infinity
    return Math.floor(((now() - t0) / 1000) * o.rate)
  }
  const nextDueAt = (): number => (typeof o.rate === 'number' ? t0 + ((counters.sent + 1) / o.rate) * 1000 : now())

  async function simulate(): Promise<void> {
    const sim = new Simulator(o.patients, seed, startMs)
    const cadence = o.rate === undefined
    // Event time never runs ahead of the wall clock, whatever the pace, so that the speed layer's
    // clock-skew guard, stale-device alerts and "last seen" stay true: with --speedup K the
    // physiology runs K times faster but each reading is stamped with the moment it leaves
    // (start + simulated elapsed / K); with --rate R, reading i is stamped start + i/R s (its
    // schedule); both are deterministic for a seed and --start. With --rate max there is no
    // schedule: readings keep the simulation's own event time, which runs ahead of the wall
    // clock as fast as the sink takes records (a producer benchmark, or a --start in the past).
    const rate = o.rate
    let made = 0
    const stamp =
      typeof rate === 'number'
        ? () => startMs + Math.floor((made * 1000) / rate)
        : rate === 'max'
          ? (simTs: number) => simTs
          : (simTs: number) => startMs + Math.round((simTs - startMs) / o.speedup)
    const nextReading = (): Reading => {
      const r = sim.next()
      const ts = stamp(r.ts)
      made++
      return ts === r.ts ? r : { ...r, ts }
    }
    for (;;) {
      const budget = Math.min(CHUNK, dueByRate() - counters.sent)
      const simNow = cadence ? startMs + (now() - t0) * o.speedup : Infinity
      out.length = 0
      while (out.length < budget && (!cadence || sim.peekTs() <= simNow)) faults.process(nextReading(), out)
      if (!emit(out)) {
        stoppedBy = limitReason()
        return
      }
      const dueAt = cadence ? t0 + (sim.peekTs() - startMs) / o.speedup : nextDueAt()
      if (!(await pace(dueAt))) break
    }
    if (stoppedBy === 'duration' && typeof o.rate === 'number') {
      // The deadline may be noticed a moment before the last records due by it went out:
      // --rate R --duration S sends exactly R x S.
      out.length = 0
      while (counters.sent + out.length < Math.min(limit, dueByRate())) faults.process(nextReading(), out)
      if (!emit(out)) return
    }
    out.length = 0
    faults.drain(out)
    emit(out)
  }

  async function replay(file: string): Promise<void> {
    const info = replayInfo!
    const seqs = new Map<string, number>()
    let shiftMs = 0
    let firstTs: number | undefined
    for (;;) {
      info.passes++
      let minTs = Infinity
      let maxTs = -Infinity
      let step = Infinity
      let prevTs: number | undefined
      let fileSeqMax = 0
      let batch: EdgeRecord[] = []
      let lastPace = now()
      for await (const item of readCsv(file, {
        timeZone: o.timezone,
        columns,
        shiftMs,
        seqOffset: info.passes === 1 ? 0 : fileSeqMaxAll,
        seqs,
        onColumns: (c) => {
          if (info.passes === 1) deps.log.info({ columns: Object.fromEntries(Object.entries(c.fields).map(([k, v]) => [k, v.name])), ignored: c.ignored }, `replaying ${file}`)
        },
      })) {
        if (item.kind === 'skip') {
          info.rowsSkipped++
          counters.skipped++
          if (info.rowsSkipped <= 100) deps.log.warn(`${file}:${item.line}: row skipped: ${item.reason}`)
          else if (info.rowsSkipped === 101) deps.log.warn(`${file}: more rows skipped; the summary has the count`)
          continue
        }
        info.rowsRead++
        const r = item.reading
        const raw = r.ts - shiftMs
        if (raw < minTs) minTs = raw
        if (raw > maxTs) maxTs = raw
        if (prevTs !== undefined && raw > prevTs && raw - prevTs < step) step = raw - prevTs
        prevTs = raw
        if (r.seq > fileSeqMax) fileSeqMax = r.seq
        firstTs ??= r.ts
        // Pacing: at the file's own timing (--realtime), at --rate, or as fast as the sink takes them.
        // Rows already due leave first; then the loop waits until this row is due.
        const dueAt = o.realtime
          ? t0 + (r.ts - firstTs) / o.speedup
          : typeof o.rate === 'number'
            ? t0 + ((counters.sent + batch.length + 1) / o.rate) * 1000
            : now()
        if (dueAt > now() || batch.length >= 500 || now() - lastPace > 50) {
          const before = counters.sent
          const more = emit(batch)
          info.rowsSent += counters.sent - before
          batch = []
          if (!more) {
            stoppedBy = limitReason()
            return
          }
          if (!(await pace(dueAt))) return
          while (dueAt > now() + 1) if (!(await pace(dueAt))) return
          lastPace = now()
        }
        faults.process(r, batch)
      }
      faults.drain(batch)
      const before = counters.sent
      const more = emit(batch)
      info.rowsSent += counters.sent - before
      if (!more && counters.sent >= limit) {
        stoppedBy = limitReason()
        return
      }
      if (!o.loop) {
        stoppedBy = 'end-of-file'
        return
      }
      if (!Number.isFinite(minTs)) throw new VigilError('INPUT_INVALID', `${file} has no valid row to loop over.`)
      // The next pass starts one sampling step after this one ended.
      shiftMs += maxTs - minTs + (Number.isFinite(step) ? step : 1_000)
      fileSeqMaxAll = Math.max(fileSeqMaxAll, fileSeqMax)
      if (abort.signal.aborted) return
    }
  }

  let ended = false
  const done = (async (): Promise<EdgeSummary> => {
    let failure: unknown
    try {
      if (o.replay !== undefined) await replay(o.replay)
      else await simulate()
    } catch (error) {
      failure = error
      stoppedBy = 'error'
    }
    if (stoppedBy === 'stop' && now() >= deadline) stoppedBy = 'duration'
    // Give the sink a bounded time to deliver what it holds when the run is being stopped.
    const drain = sink.flush()
    const graceMs = abort.signal.aborted ? 5_000 : Infinity
    if (Number.isFinite(graceMs)) {
      await Promise.race([drain, sleep(graceMs)])
      await sink.close({ drain: false })
    } else {
      await drain
      await sink.close()
    }
    ended = true
    progress.stop()
    if (failure !== undefined) throw failure
    const elapsedMs = now() - t0
    const stats = sink.stats
    const fc = { ...faults.counts }
    const summary: EdgeSummary = {
      mode: o.replay === undefined ? 'simulate' : 'replay',
      via: o.via,
      seed,
      ...(o.replay === undefined ? { startMs } : {}),
      sent: counters.sent,
      acked: stats.acked,
      refusedByGateway: stats.refused,
      unacknowledged: counters.sent - stats.acked - stats.refused,
      faults: fc,
      expectedRejected: fc.impossibleValue + [...SCHEMA_INVALID_FAULTS].reduce((s, k) => s + fc[k], 0),
      elapsedMs: Math.round(elapsedMs),
      readingsPerSecond: elapsedMs > 0 ? Math.round((counters.sent / elapsedMs) * 1000) : 0,
      outages: stats.outages,
      outageMs: stats.outageMs,
      ...(replayInfo === undefined ? {} : { replay: replayInfo }),
      stoppedBy,
    }
    return summary
  })()
  // The handle's `done` carries failures; this keeps an unobserved rejection from crashing the process.
  done.catch((error: unknown) => deps.log.debug({ err: describeError(error) }, 'edge ended with an error'))

  return {
    done,
    get sent() {
      return counters.sent
    },
    async stop() {
      if (!ended) abort.abort()
      await done.catch(() => undefined)
    },
  }
}

/** Runs the edge to completion (--count, --duration or the end of the replayed file). */
export async function run(config: Config, options: EdgeOptionsInput | EdgeOptions, deps: EdgeDeps): Promise<EdgeSummary> {
  const edge = await start({ ...config, edge: edgeOptions(options as EdgeOptionsInput) }, deps)
  return edge.done
}

/** Summary lines for a person. */
export function formatSummary(s: EdgeSummary): string {
  const lines = [
    `${s.mode === 'replay' ? 'replayed' : 'simulated'} via ${s.via}: ${s.sent} records sent, ${s.acked} acknowledged in ${(s.elapsedMs / 1000).toFixed(1)} s (${s.readingsPerSecond} readings/s), stopped by ${s.stoppedBy}`,
    `seed ${s.seed}${s.startMs === undefined ? '' : `, start ${new Date(s.startMs).toISOString()}`}`,
  ]
  const injected = FAULT_KINDS.filter((k) => s.faults[k] > 0)
  if (injected.length > 0) {
    lines.push(`faults injected: ${injected.map((k) => `${k} ${s.faults[k]}`).join(', ')} (expected dead letters: ${s.expectedRejected})`)
  }
  if (s.refusedByGateway > 0) lines.push(`refused by the gateway (400): ${s.refusedByGateway}`)
  if (s.replay !== undefined) {
    lines.push(`rows: ${s.replay.rowsRead + s.replay.rowsSkipped} read, ${s.replay.rowsSent} sent, ${s.replay.rowsSkipped} skipped (${s.replay.passes} pass${s.replay.passes === 1 ? '' : 'es'} over ${s.replay.file})`)
  }
  if (s.outages > 0) lines.push(`outages: ${s.outages}, ${(s.outageMs / 1000).toFixed(1)} s in total; nothing lost`)
  if (s.unacknowledged > 0) lines.push(`WARNING: ${s.unacknowledged} records were not acknowledged before the edge stopped`)
  return lines.join('\n') + '\n'
}

/** The progress line redrawn every second on a TTY; elsewhere, one status line in the log every 10 s. */
function startProgress(stream: NodeJS.WriteStream | undefined, counters: Counters, sink: Sink, now: () => number, log: Logger): { stop(): void } {
  let lastSent = 0
  let lastT = now()
  const timer = setInterval(() => {
    const t = now()
    const rate = ((counters.sent - lastSent) / (t - lastT)) * 1000
    lastSent = counters.sent
    lastT = t
    const errors = sink.stats.refused + counters.skipped
    const line = `${Math.round(rate)} readings/s · total ${counters.sent} · acked ${sink.stats.acked} · errors ${errors}${sink.stats.outages > 0 ? ` · outages ${sink.stats.outages}` : ''}`
    if (stream === undefined) log.info(line.replaceAll(' · ', ', '))
    else stream.write(`\redge: ${line}   `)
  }, stream === undefined ? 10_000 : 1_000)
  timer.unref()
  return {
    stop() {
      clearInterval(timer)
      stream?.write('\n')
    },
  }
}
