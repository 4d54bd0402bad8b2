/**
 * The daily-statistics SQL (docs/CONTRACT.md, Daily statistics), generated here so that the clinical
 * bands come from lib/bands.ts (the speed layer's table), never from numbers copied into SQL.
 *
 * Input: a relation with the lake's reading columns (patient_id, ts, the seven vitals).
 * Output: one row per (date, patient_id, vital) with date, patient_id, vital, count, mean, min,
 * max, stddev (sample), p05, p50, p95 (linear interpolation between closest ranks), n_normal,
 * n_warning, n_critical_low, n_critical_high, and for glucose tir_lt54, tir_54_69, tir_70_180,
 * tir_181_250, tir_gt250 (fractions of the day's readings in each glucose band) and cv
 * (stddev / mean, a fraction; the CGM consensus target is <= 0.36). Days are UTC days of event
 * time (`ts`), which is also the lake's `dt` partition.
 */
import { DEFAULT_BANDS, type Band, type BandTable, type Status } from '../lib/bands.ts'
import { VITALS, type Vital } from '../lib/contract/schema.ts'
import { VITAL_COLUMNS } from './parquet.ts'

/** The glucose time-in-range columns, in the order of the glucose bands (Battelino 2019). */
export const TIR_COLUMNS = ['tir_lt54', 'tir_54_69', 'tir_70_180', 'tir_181_250', 'tir_gt250'] as const

/**
 * A predicate true when the value in `column` falls in band `i` of `bands`: above the previous
 * band's edge (inclusive or not, as the table says) and up to its own.
 */
function bandPredicate(bands: readonly Band[], i: number, column: string): string {
  const b = bands[i] as Band
  const prev = bands[i - 1]
  const lower = prev === undefined ? `${column} IS NOT NULL` : `${column} ${prev.maxInclusive ? '>' : '>='} ${prev.max}`
  const upper = i === bands.length - 1 ? '' : ` AND ${column} ${b.maxInclusive ? '<=' : '<'} ${b.max}`
  return `(${lower}${upper})`
}

/**
 * A predicate true when the vital's value in `column` has `status` under the band table (false
 * when absent). Range comparisons counted with count_if rather than a CASE to status strings:
 * measured about twice as fast on 1M rows.
 */
export function statusPredicateSql(vital: Vital, status: Status, column: string, table: BandTable = DEFAULT_BANDS): string {
  const bands = table[vital]
  const parts = bands.flatMap((b, i) => (b.status === status ? [bandPredicate(bands, i, column)] : []))
  return parts.length === 0 ? 'false' : `(${parts.join(' OR ')})`
}

/** A predicate true when the glucose value in `column` is in glucose band `i` (see TIR_COLUMNS). */
export function glucoseBandPredicateSql(i: number, column: string, table: BandTable = DEFAULT_BANDS): string {
  if (table.glucose.length !== TIR_COLUMNS.length) {
    throw new Error(`the glucose band table has ${table.glucose.length} bands; the time-in-range columns expect ${TIR_COLUMNS.length}`)
  }
  return bandPredicate(table.glucose, i, column)
}

/**
 * The statistics query over `source` (a FROM item: a table name or a `read_parquet(...)` call),
 * optionally restricted by `where` on the source's columns.
 *
 * Shape: aggregate the wide rows per (day, patient) with one struct of statistics per vital
 * (aggregates skip NULLs, i.e. absent vitals), then UNPIVOT the few aggregated rows into one row
 * per vital. Unpivoting the raw rows first would multiply them by the vitals present.
 */
export function dailyStatsSql(source: string, where = 'true'): string {
  const structs = VITALS.map((v) => {
    const c = VITAL_COLUMNS[v]
    const n = (status: Status) => `count_if(${statusPredicateSql(v, status, c)})::INTEGER`
    const tir = TIR_COLUMNS.map(
      (t, i) => `'${t}': ${v === 'glucose' ? `count_if(${glucoseBandPredicateSql(i, c)}) / nullif(count(${c}), 0)` : 'NULL::DOUBLE'}`,
    ).join(', ')
    const cv = v === 'glucose' ? `stddev_samp(${c}) / nullif(avg(${c}), 0)` : 'NULL::DOUBLE'
    return `{'count': count(${c})::INTEGER, 'mean': avg(${c}), 'min': min(${c}), 'max': max(${c}), 'stddev': stddev_samp(${c}),
      'q': quantile_cont(${c}, [0.05, 0.5, 0.95]),
      'n_normal': ${n('NORMAL')}, 'n_warning': ${n('WARNING')}, 'n_critical_low': ${n('CRITICAL_LOW')}, 'n_critical_high': ${n('CRITICAL_HIGH')},
      ${tir}, 'cv': ${cv}} AS "${v}"`
  }).join(',\n    ')
  const out = STATS_COLUMNS.filter((c) => !['date', 'patient_id', 'vital'].includes(c))
    .map((c) => (c === 'p05' ? 's.q[1] AS p05' : c === 'p50' ? 's.q[2] AS p50' : c === 'p95' ? 's.q[3] AS p95' : `s.${c} AS ${c}`))
    .join(', ')
  return `WITH agg AS (
  SELECT CAST(ts AS DATE) AS day, patient_id,
    ${structs}
  FROM ${source} WHERE ${where}
  GROUP BY day, patient_id
)
SELECT strftime(day, '%Y-%m-%d') AS date, patient_id, vital, ${out}
FROM (UNPIVOT agg ON ${VITALS.map((v) => `"${v}"`).join(', ')} INTO NAME vital VALUE s)
WHERE s.count > 0`
}

/** Output column names, in order (the lake's daily_stats files). */
export const STATS_COLUMNS = [
  'date',
  'patient_id',
  'vital',
  'count',
  'mean',
  'min',
  'max',
  'stddev',
  'p05',
  'p50',
  'p95',
  'n_normal',
  'n_warning',
  'n_critical_low',
  'n_critical_high',
  ...TIR_COLUMNS,
  'cv',
] as const
