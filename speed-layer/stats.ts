/**
 * The speed layer's counters (`stats()` of its public API) and the text of its 10-second status
 * line. Pure: the line's timing and the lag read live in status-line.ts.
 */
import { describeLag, type GroupLag } from '../lib/lag.ts'
import type { BatchOutcome } from './patients.ts'
import { REJECT_REASONS, type RejectReason } from './validate.ts'

export interface SpeedStats {
  /** Records consumed (valid, rejected or duplicate). */
  records: number
  /** Valid readings applied to the view (not duplicates, not late). */
  applied: number
  /** Dead letters by reason: records rejected whole, and records with refused fields (counted under their first field's reason). */
  rejected: Record<RejectReason, number>
  /** Of those, the records whose other fields were accepted and classified. */
  partialRejects: number
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

export function emptyStats(): SpeedStats {
  return {
    records: 0,
    applied: 0,
    rejected: Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>,
    partialRejects: 0,
    duplicates: 0,
    late: 0,
    reordered: 0,
    alertEvents: 0,
    batches: 0,
    rebuilds: 0,
    timeMs: { load: 0, produce: 0, write: 0, compute: 0 },
  }
}

/** Adds what applying one patient's readings did to the counters. */
export function countOutcome(stats: SpeedStats, outcome: BatchOutcome): void {
  stats.duplicates += outcome.duplicates
  stats.late += outcome.late
  stats.reordered += outcome.reordered
  stats.applied += outcome.entries.length
}

/** Records per second between two readings of the `records` counter, `elapsedMs` apart (at least 1 ms). */
export function recordsPerSecond(records: number, previous: number, elapsedMs: number): number {
  return ((records - previous) * 1000) / Math.max(1, elapsedMs)
}

/** The status line's message (docs/CONTRACT.md, Commands: one line every 10 s). */
export function statusMessage(stats: Readonly<SpeedStats>, ratePerS: number): string {
  const rejected = Object.values(stats.rejected).reduce((a, b) => a + b, 0)
  return (
    `${ratePerS.toFixed(0)} readings/s, ${describeLag(stats.lag)}, rejected ${rejected} (${stats.partialRejects} in part), duplicates ${stats.duplicates}, ` +
    `late ${stats.late}, alerts ${stats.alertEvents}, batches ${stats.batches}`
  )
}
