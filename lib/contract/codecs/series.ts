/**
 * The codec of the `{p}:series` sorted set (docs/CONTRACT.md, Redis): score the entry's event time
 * (ms), member the `SeriesEntry` as JSON. The member is a pure function of the reading, so writing
 * it again is a no-op: this is what makes a replayed batch idempotent.
 */
import type { SeriesEntry } from '../views.ts'

export function encodeSeriesEntry(entry: SeriesEntry): string {
  return JSON.stringify(entry)
}

/** The sorted-set member of an entry, as node-redis's zAdd takes it. */
export function seriesMember(entry: SeriesEntry): { score: number; value: string } {
  return { score: entry.ts, value: encodeSeriesEntry(entry) }
}

/** The entries of `members`, in their order, skipping a member that is not JSON rather than failing a whole chart. */
export function decodeSeriesEntries(members: readonly string[]): SeriesEntry[] {
  const out: SeriesEntry[] = []
  for (const m of members) {
    try {
      out.push(JSON.parse(m) as SeriesEntry)
    } catch {
      // Only the speed layer writes members; an unreadable one is its bug, and the rest still shows.
    }
  }
  return out
}
