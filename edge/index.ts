/**
 * The edge stage: simulated devices (or a CSV replay) publishing readings v1 to Kafka, straight
 * or through the gateway. `start` runs until stopped (or until --count / --duration / the end of
 * the file) and returns a Stoppable whose `done` resolves with the run's summary; `run` is the
 * run-to-completion form.
 *
 * A run is a record source (simulation.ts or replay.ts) driving one flow (flow.ts) into one sink
 * (sinks.ts), paced by one pacer (pacer.ts): with --rate R, record i leaves at t0 + i/R (so
 * --count and --duration are exact); with no --rate, a reading leaves when its simulated time
 * comes, simulated time running --speedup times faster than the wall clock; with --rate max, as
 * fast as the sink acknowledges. Event time (`ts`) is the moment a reading leaves by that
 * schedule, never ahead of the wall clock (see simulation.ts).
 *
 * Clinical events (docs/CONTRACT.md, Clinical events) go to `vitals.events` through a producer of
 * their own (event-sink.ts): each simulated episode at its onset (unless --no-episodes), or, with
 * --replay and --label, each labelled run of rows at its end. Only with --via kafka: the gateway
 * takes readings, and `POST /api/events` of the serving layer is a clinician's, so with --via http
 * the run says once that its episodes are not published.
 */
import { randomInt } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Config } from '../lib/config.ts'
import type { Logger } from '../lib/log.ts'
import type { Stage, StageConfig } from '../lib/stage.ts'
import { VigilError, describeError } from '../lib/errors.ts'
import { Prng } from './prng.ts'
import { FaultInjector } from './faults.ts'
import { checkTimeZone, parseColumnsFlag, type CsvField } from './csv.ts'
import { httpSink, kafkaSink, type Sink } from './sinks.ts'
import { kafkaEventSink, type EventSink } from './event-sink.ts'
import { edgeOptions, type EdgeOptions, type EdgeOptionsInput } from './config.ts'
import { Pacer } from './pacer.ts'
import { Flow, type EdgeStats } from './flow.ts'
import { SimulationSource, simulationSchedule } from './simulation.ts'
import { ReplaySource, replaySchedule } from './replay.ts'
import { startProgress } from './progress.ts'
import { summarize, type EdgeSummary } from './summary.ts'

export { edgeOptions, edgeOptionsSchema, type EdgeOptions, type EdgeOptionsInput } from './config.ts'
export { Simulator } from './simulator.ts'
export { FAULT_KINDS, SCHEMA_INVALID_FAULTS, type FaultKind, type FaultCounts, type EdgeRecord } from './faults.ts'
export { PERSONAS, personaOf, patientId } from './personas.ts'
export { formatSummary, type EdgeSummary } from './summary.ts'
export type { EdgeStats } from './flow.ts'

export interface EdgeDeps {
  log: Logger
  /** A sink to use instead of building one from the config (benchmarks, tests). */
  sink?: Sink
  /**
   * Where clinical events go instead of `vitals.events` (tests). @defaultValue a Kafka producer
   * with --via kafka, unless `sink` is given (a benchmark's sink: no events then)
   */
  events?: EventSink
  /** Where the progress line goes; undefined: none. */
  progress?: NodeJS.WriteStream
  /** Bearer token for --via http. @defaultValue the first of config.deviceTokens */
  deviceToken?: string
  /** Wall clock, for tests. */
  now?: () => number
}

/** The config the edge starts with: its options under `edge` (lib/stage.ts). */
export type EdgeConfig = StageConfig<'edge', EdgeOptions>

export interface EdgeRun extends Stage<EdgeStats> {
  /** Resolves when the run ends (count, duration, end of file, stop) with its summary. */
  done: Promise<EdgeSummary>
}

/** What a started run is made of. */
interface Parts {
  flow: Flow
  source: SimulationSource | ReplaySource
  /** Where the run's clinical events go; undefined: none are published. */
  events: EventSink | undefined
  seed: number
  startMs: number
}

/** Time a stopped run gives the sink to deliver what it holds, ms. */
const STOP_GRACE_MS = 5_000

function buildSink(config: EdgeConfig, deps: EdgeDeps): Sink {
  if (deps.sink !== undefined) return deps.sink
  const o = config.edge
  if (o.via === 'http') {
    const token = deps.deviceToken ?? config.deviceTokens?.[0]
    if (token === undefined) {
      throw new VigilError(
        'CONFIG_INVALID',
        '--via http needs a device token: set VIGIL_DEVICE_TOKENS to one the gateway accepts (its development mode: one token for every simulated patient).',
      )
    }
    return httpSink({ log: deps.log, url: o.gatewayUrl ?? `http://127.0.0.1:${config.ingestPort}`, token, batch: o.httpBatch, lanes: o.httpLanes })
  }
  return kafkaSink(config, { log: deps.log })
}

/** The sink of the run's clinical events, or undefined when it publishes none (see the header). */
function buildEventSink(config: EdgeConfig, deps: EdgeDeps): EventSink | undefined {
  const o = config.edge
  const wanted = o.replay === undefined ? o.episodes !== false : o.label !== undefined
  if (!wanted) return undefined
  if (o.via === 'http') {
    const what = o.replay === undefined ? 'simulated episodes' : `the episodes of --label ${o.label}`
    deps.log.info(`${what} are not published with --via http (the gateway takes readings only): run with --via kafka to publish them to vitals.events`)
    return undefined
  }
  if (deps.events !== undefined) return deps.events
  if (deps.sink !== undefined) return undefined
  return kafkaEventSink(config, { log: deps.log })
}

/** The source, flow and pacer of a run whose sinks are ready; the run's clock starts here. */
function assemble(
  o: EdgeOptions,
  sinks: { sink: Sink; events: EventSink | undefined },
  columns: Partial<Record<CsvField, string>>,
  log: Logger,
  now: () => number,
): Parts {
  const { sink, events } = sinks
  const seed = o.seed ?? randomInt(0, 2 ** 32 - 1)
  const startMs = o.start ?? Date.now()
  const faults = new FaultInjector(o.faults, new Prng(seed).fork('faults'))
  const schedule = o.replay === undefined ? simulationSchedule(o.rate, o.speedup, startMs) : replaySchedule(o.realtime, o.rate, o.speedup)
  const flow = new Flow(sink, faults, new Pacer(schedule, now), { count: o.count, durationS: o.duration, rate: o.rate })
  const source =
    o.replay === undefined
      ? new SimulationSource(flow, o.patients, seed, startMs, events)
      : new ReplaySource(flow, { file: o.replay, timeZone: o.timezone, columns, loop: o.loop, log, events, label: labelOf(o) })
  return { flow, source, events, seed, startMs }
}

/** --label and --label-kind, for the replay. */
function labelOf(o: EdgeOptions): { column: string; kind: string } | undefined {
  return o.label === undefined ? undefined : { column: o.label, kind: o.labelKind }
}

/** Gives the sink a bounded time to deliver what it holds when the run is being stopped, all the time it needs otherwise. */
async function closeSink(sink: Pick<Sink, 'flush' | 'close'>, stopped: boolean): Promise<void> {
  const drain = sink.flush()
  if (stopped) {
    await Promise.race([drain, sleep(STOP_GRACE_MS)])
    await sink.close({ drain: false })
  } else {
    await drain
    await sink.close()
  }
}

/** Runs the source to its end, closes the sink and returns the summary (or throws the run's failure). */
async function runToEnd(parts: Parts, o: EdgeOptions, onEnded: () => void): Promise<EdgeSummary> {
  const { flow, source } = parts
  let failure: unknown
  try {
    await source.run()
  } catch (error) {
    failure = error
    flow.stoppedBy = 'error'
  }
  if (flow.stoppedBy === 'stop' && flow.pacer.now() >= flow.deadline) flow.stoppedBy = 'duration'
  // Both at once: a stopped run's grace is the slower of the two, not their sum.
  await Promise.all([closeSink(flow.sink, flow.stopping), parts.events === undefined ? undefined : closeSink(parts.events, flow.stopping)])
  onEnded()
  if (failure !== undefined) throw failure
  return summarize({
    via: o.via,
    seed: parts.seed,
    startMs: parts.startMs,
    replay: source instanceof ReplaySource ? source.info : undefined,
    sent: flow.sent,
    stats: flow.sink.stats,
    faults: flow.faults.counts,
    elapsedMs: flow.pacer.now() - flow.pacer.t0,
    stoppedBy: flow.stoppedBy,
    episodes: parts.events?.stats,
  })
}

/** Starts the edge; the returned handle's `done` resolves with the summary when the run ends. */
export async function start(config: EdgeConfig, deps: EdgeDeps): Promise<EdgeRun> {
  const o = config.edge
  if (o.replay !== undefined) checkTimeZone(o.timezone)
  if (o.label !== undefined && o.replay === undefined)
    throw new VigilError('CONFIG_INVALID', '--label reads a column of the replayed file: use it with --replay FILE.csv.')
  const columns: Partial<Record<CsvField, string>> = o.columns === undefined ? {} : parseColumnsFlag(o.columns)
  const sink = buildSink(config, deps)
  const events = buildEventSink(config, deps)
  await Promise.all([sink.ready?.(), events?.ready?.()])
  const now = deps.now ?? (() => performance.now())
  const parts = assemble(o, { sink, events }, columns, deps.log, now)
  const { flow } = parts
  const progress = startProgress(deps.progress, flow, sink, now, deps.log)
  let ended = false
  const done = runToEnd(parts, o, () => {
    ended = true
    progress.stop()
  })
  // The handle's `done` carries failures; this keeps an unobserved rejection from crashing the process.
  done.catch((error: unknown) => deps.log.debug({ err: describeError(error) }, 'edge ended with an error'))
  return {
    done,
    stats: () => flow.stats(),
    async stop() {
      if (!ended) flow.stop()
      await done.catch(() => undefined)
    },
  }
}

/** Runs the edge to completion (--count, --duration or the end of the replayed file). */
export async function run(config: Config, options: EdgeOptionsInput | EdgeOptions, deps: EdgeDeps): Promise<EdgeSummary> {
  const edge = await start({ ...config, edge: edgeOptions(options as EdgeOptionsInput) }, deps)
  return edge.done
}
