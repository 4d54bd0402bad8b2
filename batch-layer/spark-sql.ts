/**
 * The daily-statistics query in Spark SQL (`vigil batch --engine spark`): the same statistics as
 * the DuckDB query of stats-sql.ts (docs/CONTRACT.md, Daily statistics), built from the same
 * generators, so the bands still come from lib/bands.ts and the plausibility rules from
 * lib/plausibility.ts and never from numbers copied into Python or SQL. The band, plausibility,
 * no-signal and refusal predicates are plain SQL (comparisons, BETWEEN, CASE, coalesce) that both
 * engines read alike, and are taken as stats-sql.ts writes them; only the query's frame differs.
 *
 * Input: a view `vigil_readings` of the lake's reading columns (the runner, spark-job.py, reads
 * the day's files with mergeSchema and adds SPARK_MISSING_COLUMNS as typed nulls when no file has
 * them) and, when some patient has overrides, a view `patient_bands` made from
 * sparkPatientBandsTable's rows. Output: the columns of STATS_COLUMNS in that order, with the
 * types the DuckDB query gives them (STRING, INT, DOUBLE), so the lake's view file is the same.
 *
 * Dialect differences met (DuckDB -> Spark SQL 4.1):
 *  - `SELECT * REPLACE (...)`: none in Spark; the accepted values get names of their own
 *    (`ok_heart_rate`), next to the raw columns the flags read;
 *  - struct literal `{'count': ...}` -> `named_struct('count', ...)`;
 *  - `quantile_cont(c, [0.05, 0.5, 0.95])` -> `percentile(c, array(...))`: both exact, linear
 *    interpolation between closest ranks at rank (n - 1) * q; DuckDB lists are 1-based, Spark
 *    arrays 0-based;
 *  - `UNPIVOT agg ON ... INTO NAME vital VALUE s` -> `LATERAL VIEW stack(7, 'heartRate', ...)`;
 *  - `strftime(day, '%Y-%m-%d')` -> `date_format(day, 'yyyy-MM-dd')`;
 *  - `x::INTEGER`, `NULL::DOUBLE` -> `CAST(x AS INT)`, `CAST(NULL AS DOUBLE)`;
 *  - `count_if(p)` -> `sum(CAST(p AS INT))` (countIf): DuckDB's count_if is NULL for a group
 *    where `p` is NULL on every row, Spark's is 0; found by the engines' comparison test on the
 *    assessment counts of a patient-day whose readings never state them;
 *  - `read_parquet([...], union_by_name = true)` -> the runner's mergeSchema read;
 *  - `patient_bands` is a DataFrame of rows, not INSERT statements (a statement per 1,000 rows
 *    would be parsed by Spark's driver one by one).
 * Both engines: `/` of two integers is a DOUBLE; `stddev_samp` of one value is NULL (Spark 3+
 * without the legacy flag); `avg` and `stddev_samp` sum in another order, so floating results
 * agree to ~1e-15 relative, not bit for bit.
 */
import type { Status } from '../lib/bands.ts'
import { VITALS, type Vital } from '../lib/contract/schema.ts'
import { ASSESSMENT_COLUMNS, VITAL_COLUMNS } from './parquet.ts'
import {
  acceptedSql,
  acvpuColumn,
  ASSESSMENT_COUNT_COLUMNS,
  bandColumn,
  type BandVariants,
  flagColumn,
  glucoseBandPredicateSql,
  NO_VARIANTS,
  noSignalSql,
  PATIENT_BANDS_TABLE,
  patientStatusPredicateSql,
  PERCENTILES,
  refusedSql,
  STATS_COLUMNS,
  TIR_COLUMNS,
} from './stats-sql.ts'
import { CONSCIOUSNESS_LEVELS } from '../lib/contract/schema.ts'

/** The view of the raw readings the query reads. */
export const SPARK_READINGS_VIEW = 'vigil_readings'

/**
 * Columns a day's files may all lack (written before the assessments existed), with their Spark
 * types: the runner adds them as typed nulls, as `withAssessmentsSql` does for DuckDB.
 */
export const SPARK_MISSING_COLUMNS: readonly { name: string; type: string }[] = [
  { name: ASSESSMENT_COLUMNS.onOxygen, type: 'BOOLEAN' },
  { name: ASSESSMENT_COLUMNS.consciousness, type: 'STRING' },
]

/** A small table the runner makes into a view: its DDL schema and rows. */
export interface SparkTable {
  name: string
  /** Spark DDL, e.g. `patient_id STRING, bands_heart_rate INT`. */
  schema: string
  rows: (string | number)[][]
}

/** Pure: the `patient_bands` table of the variants (the same rows patientBandsSql inserts into DuckDB); none without overrides. */
export function sparkPatientBandsTable(variants: BandVariants): SparkTable[] {
  if (variants.patients.size === 0) return []
  return [
    {
      name: PATIENT_BANDS_TABLE,
      schema: `patient_id STRING, ${VITALS.map((v) => `${bandColumn(v)} INT`).join(', ')}`,
      rows: [...variants.patients].map(([p, ids]) => [p, ...VITALS.map((v) => ids[v])]),
    },
  ]
}

/** The column holding a vital's accepted value in the judged rows: `ok_heart_rate`. */
function okColumn(vital: Vital): string {
  return `ok_${VITAL_COLUMNS[vital]}`
}

/** A Spark SQL identifier in backticks (`count`, `date` and the vitals' camelCase names). */
function q(name: string): string {
  return `\`${name}\``
}

/**
 * DuckDB's `count_if(p)`: the number of rows where `p` is true, NULL when `p` is NULL on every
 * row of the group (DuckDB sums it like any aggregate of values: a patient-day whose readings
 * never state the oxygen has n_on_oxygen NULL in the lake). Spark's `count_if` gives 0 there; the
 * sum of `p` as an integer gives DuckDB's answer, and the same count everywhere else.
 */
function countIf(predicate: string): string {
  return `sum(CAST(${predicate} AS INT))`
}

/**
 * The readings judged as the speed layer judges each field (judgedReadingsSql's Spark form): the
 * accepted value of each vital (NULL where no-signal, refused or absent) under `ok_<column>`, and
 * the two flags, all read from the raw columns of the same row.
 */
function judgedSql(source: string): string {
  const accepted = VITALS.map((v) => `CASE WHEN ${acceptedSql(v)} THEN ${VITAL_COLUMNS[v]} END AS ${okColumn(v)}`)
  const flags = VITALS.flatMap((v) => [`${noSignalSql(v)} AS ${flagColumn('no_signal', v)}`, `${refusedSql(v)} AS ${flagColumn('refused', v)}`])
  const o = ASSESSMENT_COLUMNS.onOxygen
  const c = ASSESSMENT_COLUMNS.consciousness
  return `SELECT patient_id, CAST(ts AS DATE) AS day, ${o}, ${c},
    ${[...accepted, ...flags].join(',\n    ')}
  FROM ${source}`
}

/** The struct of one vital's statistics over its accepted values. */
function vitalStructSql(v: Vital, variants: BandVariants): string {
  const c = okColumn(v)
  const n = (status: Status) => `CAST(${countIf(patientStatusPredicateSql(v, status, c, variants))} AS INT)`
  const tir = TIR_COLUMNS.map(
    (t, i) => `'${t}', ${v === 'glucose' ? `${countIf(glucoseBandPredicateSql(i, c))} / nullif(count(${c}), 0)` : 'CAST(NULL AS DOUBLE)'}`,
  ).join(', ')
  const cv = v === 'glucose' ? `stddev_samp(${c}) / nullif(avg(${c}), 0)` : 'CAST(NULL AS DOUBLE)'
  const fractions = PERCENTILES.map((p) => `CAST(${p.q} AS DOUBLE)`).join(', ')
  return `named_struct('count', CAST(count(${c}) AS INT), 'mean', avg(${c}), 'min', min(${c}), 'max', max(${c}), 'stddev', stddev_samp(${c}),
      'q', percentile(${c}, array(${fractions})),
      'n_normal', ${n('NORMAL')}, 'n_warning', ${n('WARNING')}, 'n_critical_low', ${n('CRITICAL_LOW')}, 'n_critical_high', ${n('CRITICAL_HIGH')},
      ${tir}, 'cv', ${cv},
      'n_refused', CAST(${countIf(flagColumn('refused', v))} AS INT), 'n_no_signal', CAST(${countIf(flagColumn('no_signal', v))} AS INT)) AS ${q(v)}`
}

function assessmentCountsSql(): string {
  const o = ASSESSMENT_COLUMNS.onOxygen
  const c = ASSESSMENT_COLUMNS.consciousness
  const acvpu = CONSCIOUSNESS_LEVELS.map((l) => `CAST(${countIf(`${c} = '${l}'`)} AS INT) AS ${acvpuColumn(l)}`)
  return [`CAST(${countIf(o)} AS INT) AS n_on_oxygen`, `CAST(${countIf(`NOT ${o}`)} AS INT) AS n_on_air`, ...acvpu].join(', ')
}

/**
 * The statistics query in Spark SQL over the view `source`, with the status counts by each
 * patient's `variants` (the view `patient_bands` must exist when there are any). The same shape
 * as dailyStatsSql: aggregate per (day, patient) into one struct per vital, then turn the few
 * aggregated rows into one row per vital.
 */
export function sparkDailyStatsSql(variants: BandVariants = NO_VARIANTS, source: string = SPARK_READINGS_VIEW): string {
  const joined = variants.patients.size === 0 ? '' : ` LEFT JOIN ${PATIENT_BANDS_TABLE} USING (patient_id)`
  const perVital = STATS_COLUMNS.filter((c) => !['date', 'patient_id', 'vital', ...ASSESSMENT_COUNT_COLUMNS].includes(c)).map((c) => {
    // Spark arrays are 0-based.
    const i = PERCENTILES.findIndex((p) => p.column === c)
    return i < 0 ? `s.${q(c)} AS ${q(c)}` : `s.q[${i}] AS ${q(c)}`
  })
  return `WITH judged AS (
  ${judgedSql(source)}
), agg AS (
  SELECT day, patient_id,
    ${VITALS.map((v) => vitalStructSql(v, variants)).join(',\n    ')},
    ${assessmentCountsSql()}
  FROM judged${joined}
  GROUP BY day, patient_id
)
SELECT date_format(day, 'yyyy-MM-dd') AS ${q('date')}, patient_id, vital, ${perVital.join(', ')}, ${ASSESSMENT_COUNT_COLUMNS.join(', ')}
FROM agg LATERAL VIEW stack(${VITALS.length}, ${VITALS.map((v) => `'${v}', ${q(v)}`).join(', ')}) u AS vital, s
WHERE s.${q('count')} > 0`
}
