/**
 * What a run of the edge reports when it ends: the summary (`--json` prints it as it is) and its
 * lines for a person.
 */
import { FAULT_KINDS, SCHEMA_INVALID_FAULTS, type FaultCounts } from './faults.ts'
import type { EventSinkStats } from './event-sink.ts'
import type { SinkStats } from './sinks.ts'

export type StoppedBy = 'count' | 'duration' | 'end-of-file' | 'stop' | 'error'

/** Rows of a replayed file, over every pass (--loop). */
export interface ReplayInfo {
  file: string
  passes: number
  rowsRead: number
  rowsSent: number
  rowsSkipped: number
  /**
   * Cells left out of their row's reading (a vital not a number, an assessment spelled otherwise)
   * while the row's other fields went out, in all and per column of the file.
   */
  cellsLeftOut: number
  cellsLeftOutByColumn: Record<string, number>
}

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
  replay?: ReplayInfo
  /**
   * Clinical events published to `vitals.events` (simulated episodes, or labelled runs of a replay
   * with --label) and acknowledged by Kafka; absent when none were being published (--via http,
   * --no-episodes, a replay without --label).
   */
  episodesPublished?: number
  /** Episodes sent and never acknowledged (stopped while Kafka was unreachable); with episodesPublished. */
  episodesUnacknowledged?: number
  stoppedBy: StoppedBy
}

/** What the summary is made of, gathered when the run has ended. */
export interface RunOutcome {
  via: EdgeSummary['via']
  seed: number
  /** The simulation's start, epoch ms; undefined for a replay. */
  startMs: number | undefined
  replay: ReplayInfo | undefined
  sent: number
  stats: SinkStats
  faults: FaultCounts
  elapsedMs: number
  stoppedBy: StoppedBy
  /** The event sink's counters; undefined when no events were being published. */
  episodes?: EventSinkStats
}

export function summarize(r: RunOutcome): EdgeSummary {
  const fc = { ...r.faults }
  return {
    mode: r.replay === undefined ? 'simulate' : 'replay',
    via: r.via,
    seed: r.seed,
    ...(r.replay === undefined ? { startMs: r.startMs } : {}),
    sent: r.sent,
    acked: r.stats.acked,
    refusedByGateway: r.stats.refused,
    unacknowledged: r.sent - r.stats.acked - r.stats.refused,
    faults: fc,
    expectedRejected: fc.impossibleValue + [...SCHEMA_INVALID_FAULTS].reduce((s, k) => s + fc[k], 0),
    elapsedMs: Math.round(r.elapsedMs),
    readingsPerSecond: r.elapsedMs > 0 ? Math.round((r.sent / r.elapsedMs) * 1000) : 0,
    outages: r.stats.outages,
    outageMs: r.stats.outageMs,
    ...(r.replay === undefined ? {} : { replay: r.replay }),
    ...(r.episodes === undefined ? {} : { episodesPublished: r.episodes.acked, episodesUnacknowledged: r.episodes.sent - r.episodes.acked }),
    stoppedBy: r.stoppedBy,
  }
}

/** Summary lines for a person. */
export function formatSummary(s: EdgeSummary): string {
  const verb = s.mode === 'replay' ? 'replayed' : 'simulated'
  const lines = [
    `${verb} via ${s.via}: ${s.sent} records sent, ${s.acked} acknowledged in ${(s.elapsedMs / 1000).toFixed(1)} s ` +
      `(${s.readingsPerSecond} readings/s), stopped by ${s.stoppedBy}`,
    `seed ${s.seed}${s.startMs === undefined ? '' : `, start ${new Date(s.startMs).toISOString()}`}`,
  ]
  const injected = FAULT_KINDS.filter((k) => s.faults[k] > 0)
  if (injected.length > 0) {
    lines.push(`faults injected: ${injected.map((k) => `${k} ${s.faults[k]}`).join(', ')} (expected dead letters: ${s.expectedRejected})`)
  }
  if (s.refusedByGateway > 0) lines.push(`refused by the gateway (400): ${s.refusedByGateway}`)
  const r = s.replay
  if (r !== undefined) {
    const passes = `${r.passes} pass${r.passes === 1 ? '' : 'es'}`
    lines.push(`rows: ${r.rowsRead + r.rowsSkipped} read, ${r.rowsSent} sent, ${r.rowsSkipped} skipped (${passes} over ${r.file})`)
    if (r.cellsLeftOut > 0) lines.push(`cells left out of their rows' readings, the rest sent: ${r.cellsLeftOut} (${formatByColumn(r.cellsLeftOutByColumn)})`)
  }
  if (s.episodesPublished !== undefined) lines.push(`episodes published to vitals.events: ${s.episodesPublished}`)
  if (s.outages > 0) lines.push(`outages: ${s.outages}, ${(s.outageMs / 1000).toFixed(1)} s in total; nothing lost`)
  if (s.unacknowledged > 0) lines.push(`WARNING: ${s.unacknowledged} records were not acknowledged before the edge stopped`)
  if ((s.episodesUnacknowledged ?? 0) > 0) lines.push(`WARNING: ${s.episodesUnacknowledged} episodes were not acknowledged before the edge stopped`)
  return `${lines.join('\n')}\n`
}

/** `acvpu 2, heart_rate_bpm 1`: counts per column, most first. */
function formatByColumn(byColumn: Readonly<Record<string, number>>): string {
  return Object.entries(byColumn)
    .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0))
    .map(([column, n]) => `${column} ${n}`)
    .join(', ')
}
