/**
 * The Lambda merge (docs/CONTRACT.md, Daily statistics): the batch view is complete for event times
 * before its cutoff; the speed layer's series covers what came after. The daily panel shows
 * both parts, labelled, and their combination. Pure functions, no I/O.
 */
import { VITALS, type Vital } from '../lib/contract/schema.ts'
import type { DailyStatsRow, SeriesEntry } from '../lib/contract/views.ts'

export interface Figures {
  count: number
  mean: number
  min: number
  max: number
}

/** Glucose time in range as fractions (<54, 54-69, 70-180, 181-250, >250 mg/dL). */
export interface TimeInRange {
  lt54: number
  r54_69: number
  r70_180: number
  r181_250: number
  gt250: number
}

export interface MergedVital {
  vital: Vital
  /** From the batch view: readings before the cutoff. */
  batch: Figures | null
  /** From the real-time series: readings at or after the cutoff. */
  live: Figures | null
  /** Both together. */
  merged: Figures | null
  tir: { batch: TimeInRange | null; live: TimeInRange | null; merged: TimeInRange | null } | null
}

export interface MergedDay {
  date: string
  patientId: string
  /** Event time up to which the batch view counts (exclusive); null when no batch has run. */
  cutoffTs: number | null
  /** The interval the real-time figures cover: [from, to). */
  live: { from: number; to: number; partial: boolean }
  vitals: MergedVital[]
}

/** Start and end (exclusive) of a UTC day, ms. */
export function dayBounds(date: string): { start: number; end: number } {
  const start = Date.parse(`${date}T00:00:00.000Z`)
  return { start, end: start + 86_400_000 }
}

export function utcDate(ts: number): string {
  return new Date(ts).toISOString().slice(0, 10)
}

function figuresOf(values: number[]): Figures | null {
  if (values.length === 0) return null
  let sum = 0
  let min = Infinity
  let max = -Infinity
  for (const v of values) {
    sum += v
    if (v < min) min = v
    if (v > max) max = v
  }
  return { count: values.length, mean: sum / values.length, min, max }
}

function combine(a: Figures | null, b: Figures | null): Figures | null {
  if (a === null) return b
  if (b === null) return a
  const count = a.count + b.count
  return { count, mean: (a.mean * a.count + b.mean * b.count) / count, min: Math.min(a.min, b.min), max: Math.max(a.max, b.max) }
}

/** Glucose bands of the CGM consensus (Battelino 2019), as in lib/bands.ts. */
function tirOf(values: number[]): TimeInRange | null {
  if (values.length === 0) return null
  const n = values.length
  const c = { lt54: 0, r54_69: 0, r70_180: 0, r181_250: 0, gt250: 0 }
  for (const v of values) {
    if (v < 54) c.lt54++
    else if (v < 70) c.r54_69++
    else if (v <= 180) c.r70_180++
    else if (v <= 250) c.r181_250++
    else c.gt250++
  }
  return { lt54: c.lt54 / n, r54_69: c.r54_69 / n, r70_180: c.r70_180 / n, r181_250: c.r181_250 / n, gt250: c.gt250 / n }
}

function tirOfRow(row: DailyStatsRow): TimeInRange | null {
  if (row.tirLt54 === null || row.tir54_69 === null || row.tir70_180 === null || row.tir181_250 === null || row.tirGt250 === null) return null
  return { lt54: row.tirLt54, r54_69: row.tir54_69, r70_180: row.tir70_180, r181_250: row.tir181_250, gt250: row.tirGt250 }
}

function combineTir(a: TimeInRange | null, na: number, b: TimeInRange | null, nb: number): TimeInRange | null {
  if (a === null || na === 0) return b
  if (b === null || nb === 0) return a
  const n = na + nb
  const mix = (x: number, y: number) => (x * na + y * nb) / n
  return {
    lt54: mix(a.lt54, b.lt54),
    r54_69: mix(a.r54_69, b.r54_69),
    r70_180: mix(a.r70_180, b.r70_180),
    r181_250: mix(a.r181_250, b.r181_250),
    gt250: mix(a.gt250, b.gt250),
  }
}

/**
 * Merges one patient's day. `rows` are the batch view's rows for that day; `entries` the
 * series entries (any time: only those in the day and at or after the cutoff count);
 * `seriesEarliest` the oldest entry the series still holds, to say when the real-time part is
 * partial (the series keeps minutes, not days).
 */
export function mergeDay(input: {
  date: string
  patientId: string
  rows: readonly DailyStatsRow[]
  cutoffTs: number | null
  entries: readonly SeriesEntry[]
  seriesEarliest: number | null
}): MergedDay {
  const { start, end } = dayBounds(input.date)
  const from = Math.max(start, input.cutoffTs ?? start)
  const to = end
  const values = new Map<Vital, number[]>()
  for (const e of input.entries) {
    if (e.ts < from || e.ts >= to) continue
    for (const v of VITALS) {
      const x = e.vitals[v]
      if (x === undefined) continue
      let list = values.get(v)
      if (list === undefined) {
        list = []
        values.set(v, list)
      }
      list.push(x)
    }
  }
  const byVital = new Map(input.rows.filter((r) => r.patientId === input.patientId && r.date === input.date).map((r) => [r.vital, r]))
  const vitals: MergedVital[] = []
  for (const v of VITALS) {
    const row = byVital.get(v)
    const batch: Figures | null = row === undefined || row.count === 0 ? null : { count: row.count, mean: row.mean, min: row.min, max: row.max }
    const live = figuresOf(values.get(v) ?? [])
    if (batch === null && live === null) continue
    let tir: MergedVital['tir'] = null
    if (v === 'glucose') {
      const b = row === undefined ? null : tirOfRow(row)
      const l = tirOf(values.get(v) ?? [])
      tir = { batch: b, live: l, merged: combineTir(b, batch?.count ?? 0, l, live?.count ?? 0) }
    }
    vitals.push({ vital: v, batch, live, merged: combine(batch, live), tir })
  }
  // The real-time part misses readings when the series no longer reaches back to the cutoff.
  const partial = input.seriesEarliest !== null && input.seriesEarliest > from && from < end
  return { date: input.date, patientId: input.patientId, cutoffTs: input.cutoffTs, live: { from, to, partial }, vitals }
}
