/**
 * Local wall-clock time to UTC instants, by the IANA rules of a time zone at that instant, read from
 * the runtime's Intl data (Node 20 ships full ICU with its tzdata: `process.versions.tz`).
 *
 * A wall time is passed as "wall ms": the epoch milliseconds it would have if the zone were UTC
 * (`Date.UTC(y, m - 1, d, h, mi, s, ms)`). A wall time has one instant, except around an offset
 * change: in a spring-forward gap it has none, in a fall-back overlap two, the earlier one on the
 * offset before the change. `localToUtc` returns both ends and the kind; the one-instant rule
 * (`zonedToUtc`) is RFC 9557's and Temporal's `disambiguation: "compatible"`: a gap time moves
 * forward by the gap's length (02:30 in Berlin on a spring-forward day is 03:30 CEST), an
 * overlap takes the earlier instant.
 *
 * How: the offsets one day before and one day after the wall time (as if it were UTC) are the
 * offsets on either side of any change that can concern it, since every instant whose local time
 * it is lies within 16 h of it (no zone's offset reaches 16 h) and no zone changes its offset twice
 * within 48 h (the Temporal polyfill's assumption; measured over the runtime's zones, 1970-2040:
 * see docs/ARCHITECTURE.md, CSV replay). A candidate instant is kept only when the zone's offset
 * at that instant gives back the wall time, so an instant returned as `unique` or `overlap`
 * always reads as the wall time in that zone.
 */

const HOUR_MS = 3_600_000
const DAY_MS = 24 * HOUR_MS
/** Wall times this close to one whose surrounding ±1 day had one offset reuse it (16 h + 8 h = 1 day). */
const REUSE_WITHIN_MS = 8 * HOUR_MS

const formatters = new Map<string, Intl.DateTimeFormat>()

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone)
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    })
    formatters.set(timeZone, f)
  }
  return f
}

/** True when the runtime knows `timeZone` (an IANA name such as Europe/Berlin, or UTC). */
export function isTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone)
    return true
  } catch {
    // RangeError: the runtime has no such zone; the caller names the fix.
    return false
  }
}

/** Offset of `timeZone` from UTC at instant `utcMs` (local minus UTC), in milliseconds; whole seconds (LMT offsets have seconds). */
export function offsetMs(utcMs: number, timeZone: string): number {
  if (timeZone === 'UTC' || timeZone === 'Etc/UTC') return 0
  const parts: Record<string, number> = {}
  for (const p of formatter(timeZone).formatToParts(new Date(utcMs))) if (p.type !== 'literal') parts[p.type] = Number(p.value)
  const localAsUtc = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!)
  return localAsUtc - Math.floor(utcMs / 1000) * 1000
}

export interface LocalInstants {
  /** `unique`: the wall time happens once; `overlap`: twice (fall-back); `gap`: never (spring-forward). */
  kind: 'unique' | 'overlap' | 'gap'
  /** The instant; in an overlap the first occurrence; in a gap the wall time moved forward by the gap's length. */
  earlier: number
  /** Equal to `earlier` except in an overlap, where it is the second occurrence. */
  later: number
}

/** Per zone, the last wall time whose ±1 day had one offset: wall times within 8 h of it have that offset and one instant. */
const steady = new Map<string, { wallMs: number; offsetMs: number }>()

/** The instants whose local time in `timeZone` is `wallMs` (wall ms, see the header). */
export function localToUtc(wallMs: number, timeZone: string): LocalInstants {
  const known = steady.get(timeZone)
  if (known !== undefined && Math.abs(wallMs - known.wallMs) <= REUSE_WITHIN_MS) return unique(wallMs - known.offsetMs)
  const before = offsetMs(wallMs - DAY_MS, timeZone)
  const after = offsetMs(wallMs + DAY_MS, timeZone)
  const fits = (offset: number) => offsetMs(wallMs - offset, timeZone) === offset
  const first = fits(before)
  if (before === after && first) {
    steady.set(timeZone, { wallMs, offsetMs: before })
    return unique(wallMs - before)
  }
  const second = before !== after && fits(after)
  // Before a fall-back the offset is larger, so the instant on the earlier offset comes first.
  if (first && second) return { kind: 'overlap', earlier: wallMs - before, later: wallMs - after }
  if (first) return unique(wallMs - before)
  if (second) return unique(wallMs - after)
  // In the gap: read with the offset before the change, which lands after it, forward by the gap.
  return { kind: 'gap', earlier: wallMs - before, later: wallMs - before }
}

function unique(instant: number): LocalInstants {
  return { kind: 'unique', earlier: instant, later: instant }
}

/** Epoch ms of wall time `wallMs` in `timeZone`, "compatible": a gap time forward by the gap's length, an overlap's earlier instant. */
export function zonedToUtc(wallMs: number, timeZone: string): number {
  return localToUtc(wallMs, timeZone).earlier
}
