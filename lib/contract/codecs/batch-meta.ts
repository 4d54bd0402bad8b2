/**
 * The codec of the `batch:meta` hash (docs/CONTRACT.md, Redis): the latest batch run's `BatchMeta`,
 * each field as a string; `dates` a JSON array of YYYY-MM-DD.
 */
import type { BatchMeta } from '../views.ts'
import { num } from './fields.ts'

export function encodeBatchMeta(meta: BatchMeta): Record<string, string> {
  return {
    runId: meta.runId,
    cutoffTs: String(meta.cutoffTs),
    startedAt: String(meta.startedAt),
    finishedAt: String(meta.finishedAt),
    dates: JSON.stringify(meta.dates),
    rows: String(meta.rows),
  }
}

/** The meta, or null when no run has written it (no `runId`); an unreadable number reads as 0. */
export function decodeBatchMeta(hash: Readonly<Record<string, string>>): BatchMeta | null {
  const runId = hash.runId
  if (runId === undefined) return null
  return {
    runId,
    cutoffTs: num(hash.cutoffTs) ?? 0,
    startedAt: num(hash.startedAt) ?? 0,
    finishedAt: num(hash.finishedAt) ?? 0,
    dates: decodeDates(hash.dates),
    rows: num(hash.rows) ?? 0,
  }
}

/** A JSON array, or (as an older writer stored it) a comma-separated list. */
function decodeDates(raw: string | undefined): string[] {
  try {
    const parsed: unknown = JSON.parse(raw ?? '[]')
    return Array.isArray(parsed) ? parsed.map(String) : []
  } catch {
    return (raw ?? '').split(',').filter((d) => d.length > 0)
  }
}
