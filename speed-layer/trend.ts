/**
 * The CGM glucose trend (docs/CLINICAL.md, Glucose trend and "urgent low soon"): the rate of change
 * over the last 15 minutes, its arrow, and a 20-minute forecast.
 *
 * Method: the least-squares slope of the glucose values of the last 15 minutes (event time),
 * extrapolated linearly from the newest value. This follows the practice of CGM systems: the
 * Dexcom G6 CGM System User Guide (Dexcom, 2020) shows the trend arrows below and raises its
 * "Urgent Low Soon" alert when the glucose is predicted to be at or below 55 mg/dL within 20
 * minutes; Nightscout's "predicted low" (its AR2 forecast plugin, Nightscout project
 * documentation) likewise extrapolates the recent CGM trend. Vigil's forecast is the linear one,
 * simpler and documented; it is decision support, not a diagnosis.
 */
import type { GlucosePoint } from '../lib/contract/codecs/latest.ts'
import type { GlucoseTrend, TrendArrow } from '../lib/contract/views.ts'

/** One glucose value: event time (ms) and mg/dL (stored in the latest hash's `glucoseRecent`). */
export type { GlucosePoint }

/** The span of the values the trend is computed from (event time). */
export const TREND_WINDOW_MS = 15 * 60_000
/** The trend needs at least this many values ... */
export const TREND_MIN_POINTS = 3
/** ... spanning at least this long (three 5-minute CGM readings). */
export const TREND_MIN_SPAN_MS = 10 * 60_000

/** The urgent-low threshold of the forecast, mg/dL (Dexcom G6 "Urgent Low Soon"; ADA level 2 hypoglycaemia is < 54). */
export const URGENT_LOW_SOON_MG_DL = 55
/** How far ahead the forecast looks, minutes (Dexcom G6 "Urgent Low Soon"). */
export const FORECAST_MINUTES = 20

/**
 * Kept values are at least this far apart: a CGM (every 5 minutes) keeps every value, a faster
 * source (a glucose sent every second) keeps one value per minute and its newest, so the window
 * holds at most 17 values and a reading costs the same whatever the source's rate.
 */
export const TREND_MIN_SPACING_MS = 60_000

/**
 * The points of the trend window ending at `atTs` (ts >= atTs - TREND_WINDOW_MS), sorted by event
 * time, one per event time (the later in `points` wins, so adding a replayed reading again changes
 * nothing), thinned to values TREND_MIN_SPACING_MS apart but for the newest.
 */
export function prunePoints(points: readonly GlucosePoint[], atTs: number): GlucosePoint[] {
  const byTs = new Map<number, GlucosePoint>()
  for (const p of points) if (p[0] >= atTs - TREND_WINDOW_MS) byTs.set(p[0], p)
  const sorted = [...byTs.values()].sort((a, b) => a[0] - b[0])
  const newest = sorted.pop()
  if (newest === undefined) return []
  // Oldest first: a value is kept when it is TREND_MIN_SPACING_MS after the last one kept; the
  // newest is always kept (the gap before it may be shorter, until a newer value replaces it).
  const kept: GlucosePoint[] = []
  for (const p of sorted) {
    const before = kept[kept.length - 1]
    if (before === undefined || p[0] - before[0] >= TREND_MIN_SPACING_MS) kept.push(p)
  }
  kept.push(newest)
  return kept
}

/** Least-squares slope of mg/dL against time, in mg/dL per minute (points distinct in time). */
function slopePerMinute(points: readonly GlucosePoint[]): number {
  const n = points.length
  const t0 = (points[0] as GlucosePoint)[0]
  let sx = 0
  let sy = 0
  for (const [ts, v] of points) {
    sx += (ts - t0) / 60_000
    sy += v
  }
  const mx = sx / n
  const my = sy / n
  let sxy = 0
  let sxx = 0
  for (const [ts, v] of points) {
    const dx = (ts - t0) / 60_000 - mx
    sxy += dx * (v - my)
    sxx += dx * dx
  }
  return sxy / sxx
}

/**
 * Dexcom's trend arrows by rate (mg/dL per minute); each edge belongs to the flatter arrow:
 * |rate| <= 1 → (steady), 1 < rate <= 2 ↗, 2 < rate <= 3 ↑, rate > 3 ↑↑, and the same falling
 * (↘ ↓ ↓↓). Dexcom G6 user guide: "steady: not increasing or decreasing more than 1 mg/dL each
 * minute", "1-2", "2-3", "more than 3 mg/dL each minute".
 */
export function trendArrow(rate: number): TrendArrow {
  if (rate > 3) return '↑↑'
  if (rate > 2) return '↑'
  if (rate > 1) return '↗'
  if (rate >= -1) return '→'
  if (rate >= -2) return '↘'
  if (rate >= -3) return '↓'
  return '↓↓'
}

/**
 * The trend of the values in the window ending at the newest one, or undefined with fewer than
 * TREND_MIN_POINTS values or a span under TREND_MIN_SPAN_MS (too little to call a direction).
 */
export function glucoseTrend(points: readonly GlucosePoint[]): GlucoseTrend | undefined {
  if (points.length === 0) return undefined
  const newestTs = Math.max(...points.map((p) => p[0]))
  const window = prunePoints(points, newestTs)
  if (window.length < TREND_MIN_POINTS) return undefined
  if (newestTs - (window[0] as GlucosePoint)[0] < TREND_MIN_SPAN_MS) return undefined
  const rate = slopePerMinute(window)
  return { rate, arrow: trendArrow(rate), ts: newestTs }
}

/**
 * The glucose predicted FORECAST_MINUTES after the newest value (newest + rate × 20), or undefined
 * without a trend; `trend` is the points' glucoseTrend, passed by a caller that has it already.
 */
export function forecastGlucose(points: readonly GlucosePoint[], trend = glucoseTrend(points)): number | undefined {
  if (trend === undefined) return undefined
  const newest = prunePoints(points, trend.ts).at(-1) as GlucosePoint
  return newest[1] + trend.rate * FORECAST_MINUTES
}

/** Whether the forecast is below URGENT_LOW_SOON_MG_DL ("urgent low soon"); false without a trend. */
export function urgentLowSoon(points: readonly GlucosePoint[]): boolean {
  const forecast = forecastGlucose(points)
  return forecast !== undefined && forecast < URGENT_LOW_SOON_MG_DL
}
