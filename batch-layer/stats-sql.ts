/**
 * The daily-statistics SQL (docs/CONTRACT.md, Daily statistics), generated here so that the clinical
 * bands come from lib/bands.ts (the speed layer's table), never from numbers copied into SQL.
 *
 * Input: a relation with the lake's reading columns (patient_id, ts, the seven vitals, and the
 * assessments on_oxygen and consciousness, which files written before them lack: they are read as
 * null). Output: one row per (date, patient_id, vital) with date, patient_id, vital, count, mean,
 * min, max, stddev (sample), p05, p50, p95 (linear interpolation between closest ranks), n_normal,
 * n_warning, n_critical_low, n_critical_high (by the patient's own bands, see below), for glucose
 * tir_lt54, tir_54_69, tir_70_180, tir_181_250, tir_gt250 (fractions of the day's readings in each
 * consensus glucose range, the same for every patient) and cv (stddev / mean, a fraction; the CGM
 * consensus target is <= 0.36), and the patient-day's assessment counts, the same on each of its
 * rows: n_on_oxygen, n_on_air (readings that said so; a reading that does not say is in neither)
 * and n_acvpu_a .. n_acvpu_u (readings at each ACVPU level). Days are UTC days of event time
 * (`ts`), which is also the lake's `dt` partition.
 *
 * Values are judged as the speed layer judges them (lib/plausibility.ts; docs/CLINICAL.md,
 * Per-patient bands and the batch job): the lake archives every schema-valid reading as sent, so a
 * no-signal value (a heart rate or SpO2 of 0), a value outside PLAUSIBLE_RANGES and a diastolic not
 * below its plausible systolic are left out of every statistic of their vital (count, mean, min,
 * max, stddev, percentiles, status counts, time in range) and counted instead on the vital's row:
 * n_no_signal and n_refused. The reading's other values count as usual. A vital whose every value
 * of the day was left out has no row (there is nothing to describe).
 *
 * Per-patient bands (docs/CLINICAL.md, Per-patient bands and the batch job): the status counts
 * use each patient's band table in force when the job runs. The overrides are deduplicated per
 * vital into variants (bandVariants): a small table `patient_bands` (patient_id, one variant
 * number per vital) is joined to the readings by patient_id, and each status predicate is a
 * `CASE <variant> WHEN 1 THEN <bands 1> ... ELSE <default bands> END`. One pass over the readings
 * whatever the number of patients; the query grows with the number of distinct override lists,
 * not of patients, and is the same as without overrides for a patient who has none.
 */
import { DEFAULT_BANDS, serializeBands, type Band, type BandOverrides, type BandTable, type Status } from '../lib/bands.ts'
import { CONSCIOUSNESS_LEVELS, VITALS, type Consciousness, type Vital } from '../lib/contract/schema.ts'
import { MUST_BE_BELOW, NO_SIGNAL_VALUES, PLAUSIBLE_RANGES } from '../lib/plausibility.ts'
import { ASSESSMENT_COLUMNS, sqlString, VITAL_COLUMNS } from './parquet.ts'

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
  return bandsStatusPredicate(table[vital], status, column)
}

function bandsStatusPredicate(bands: readonly Band[], status: Status, column: string): string {
  const parts = bands.flatMap((b, i) => (b.status === status ? [bandPredicate(bands, i, column)] : []))
  return parts.length === 0 ? 'false' : `(${parts.join(' OR ')})`
}

/** The per-patient band lists in force for a run, deduplicated per vital. */
export interface BandVariants {
  /** Per vital, the distinct override lists; variant i (from 1) is `lists[vital][i - 1]`; variant 0 is DEFAULT_BANDS. */
  lists: Readonly<Record<Vital, readonly (readonly Band[])[]>>
  /** Per patient with an override in force, the variant of each vital (0 where it has none). */
  patients: ReadonlyMap<string, Readonly<Record<Vital, number>>>
}

/** No overrides: every patient on DEFAULT_BANDS. */
export const NO_VARIANTS: BandVariants = { lists: Object.fromEntries(VITALS.map((v) => [v, []])) as unknown as BandVariants['lists'], patients: new Map() }

/**
 * Pure: the variants of a set of patients' overrides. Equal lists (compared as stored,
 * serializeBands) share a variant; a list equal to the default is variant 0, and a patient
 * whose every vital is on variant 0 is left out.
 */
export function bandVariants(overrides: ReadonlyMap<string, BandOverrides>, base: BandTable = DEFAULT_BANDS): BandVariants {
  const lists = Object.fromEntries(VITALS.map((v) => [v, [] as (readonly Band[])[]])) as Record<Vital, (readonly Band[])[]>
  const ids = Object.fromEntries(VITALS.map((v) => [v, new Map([[serializeBands(base[v]), 0]])])) as Record<Vital, Map<string, number>>
  const patients = new Map<string, Record<Vital, number>>()
  for (const [patientId, o] of [...overrides].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const row = Object.fromEntries(VITALS.map((v) => [v, 0])) as Record<Vital, number>
    for (const v of VITALS) {
      const bands = o[v]
      if (bands === undefined) continue
      const key = serializeBands(bands)
      let id = ids[v].get(key)
      if (id === undefined) {
        lists[v].push(bands)
        id = lists[v].length
        ids[v].set(key, id)
      }
      row[v] = id
    }
    if (VITALS.some((v) => row[v] !== 0)) patients.set(patientId, row)
  }
  return { lists, patients }
}

/** The table of patients' variants that the statistics query joins. */
export const PATIENT_BANDS_TABLE = 'patient_bands'

/** The column of `patient_bands` holding a vital's variant. */
export function bandColumn(vital: Vital): string {
  return `bands_${VITAL_COLUMNS[vital]}`
}

/** Patients per INSERT statement of patientBandsSql. */
const PATIENTS_PER_INSERT = 1_000

/** Pure: the statements that create and fill `patient_bands` (run before dailyStatsSql). */
export function patientBandsSql(variants: BandVariants): string[] {
  const create = `CREATE OR REPLACE TABLE ${PATIENT_BANDS_TABLE} (patient_id VARCHAR PRIMARY KEY, ${VITALS.map((v) => `${bandColumn(v)} INTEGER NOT NULL`).join(', ')})`
  const rows = [...variants.patients].map(([p, ids]) => `(${sqlString(p)}, ${VITALS.map((v) => ids[v]).join(', ')})`)
  const inserts: string[] = []
  for (let i = 0; i < rows.length; i += PATIENTS_PER_INSERT) {
    inserts.push(`INSERT INTO ${PATIENT_BANDS_TABLE} VALUES ${rows.slice(i, i + PATIENTS_PER_INSERT).join(', ')}`)
  }
  return [create, ...inserts]
}

/**
 * A predicate true when the vital's value in `column` has `status` under the reading's patient's
 * bands: the variant in the joined `patient_bands` column picks the list; none (a patient
 * without overrides, a null from the left join) is the default table.
 */
export function patientStatusPredicateSql(vital: Vital, status: Status, column: string, variants: BandVariants): string {
  const fallback = statusPredicateSql(vital, status, column)
  const lists = variants.lists[vital]
  if (lists.length === 0) return fallback
  const whens = lists.map((bands, i) => `WHEN ${i + 1} THEN ${bandsStatusPredicate(bands, status, column)}`).join(' ')
  return `(CASE ${bandColumn(vital)} ${whens} ELSE ${fallback} END)`
}

/** A predicate true when the glucose value in `column` is in glucose band `i` (see TIR_COLUMNS). */
export function glucoseBandPredicateSql(i: number, column: string, table: BandTable = DEFAULT_BANDS): string {
  if (table.glucose.length !== TIR_COLUMNS.length) {
    throw new Error(`the glucose band table has ${table.glucose.length} bands; the time-in-range columns expect ${TIR_COLUMNS.length}`)
  }
  return bandPredicate(table.glucose, i, column)
}

/** The column of a vital's flag in judgedReadingsSql: `no_signal_heart_rate`, `refused_heart_rate`. */
export function flagColumn(flag: 'no_signal' | 'refused', vital: Vital): string {
  return `${flag}_${VITAL_COLUMNS[vital]}`
}

/** True when the vital's raw value is its no-signal value (NO_SIGNAL_VALUES); false when absent or without one. */
export function noSignalSql(vital: Vital): string {
  const value = NO_SIGNAL_VALUES[vital]
  return value === undefined ? 'false' : `coalesce(${VITAL_COLUMNS[vital]} = ${value}, false)`
}

/** True when the vital's raw value is inside PLAUSIBLE_RANGES (inclusive) and not its no-signal value; false when absent. */
export function plausibleSql(vital: Vital): string {
  const { min, max } = PLAUSIBLE_RANGES[vital]
  const inRange = `coalesce(${VITAL_COLUMNS[vital]} BETWEEN ${min} AND ${max}, false)`
  return NO_SIGNAL_VALUES[vital] === undefined ? inRange : `(${inRange} AND NOT ${noSignalSql(vital)})`
}

/**
 * True when the speed layer keeps the vital's raw value: plausible, and not the lower of a
 * MUST_BE_BELOW pair whose upper value is plausible and not above it (a diastolic not below its
 * systolic is refused, the systolic kept).
 */
export function acceptedSql(vital: Vital): string {
  const c = VITAL_COLUMNS[vital]
  const inconsistent = MUST_BE_BELOW.filter((p) => p.refused === vital).map(
    (p) => ` AND NOT (${plausibleSql(p.below)} AND coalesce(${c} >= ${VITAL_COLUMNS[p.below]}, false))`,
  )
  return inconsistent.length === 0 ? plausibleSql(vital) : `(${plausibleSql(vital)}${inconsistent.join('')})`
}

/** True when the vital has a raw value the speed layer refuses (OUT_OF_RANGE or INCONSISTENT): present, not no-signal, not accepted. */
export function refusedSql(vital: Vital): string {
  return `(${VITAL_COLUMNS[vital]} IS NOT NULL AND NOT ${noSignalSql(vital)} AND NOT ${acceptedSql(vital)})`
}

/**
 * `source` (already with the assessment columns) judged as the speed layer judges each field:
 * every vital column holds only its accepted value (NULL where the value is no-signal, refused or
 * absent), and two flag columns per vital say why a value was left out. The flags and the
 * replacement read the raw columns of the same row, so the pair check sees the raw systolic.
 */
export function judgedReadingsSql(source: string, where = 'true'): string {
  const replaced = VITALS.map((v) => `CASE WHEN ${acceptedSql(v)} THEN ${VITAL_COLUMNS[v]} END AS ${VITAL_COLUMNS[v]}`)
  const flags = VITALS.flatMap((v) => [`${noSignalSql(v)} AS ${flagColumn('no_signal', v)}`, `${refusedSql(v)} AS ${flagColumn('refused', v)}`])
  return `(SELECT * REPLACE (${replaced.join(', ')}), ${flags.join(', ')} FROM ${source} WHERE ${where})`
}

/** The patient-day assessment columns: readings on oxygen, on air, and at each ACVPU level. */
export const ASSESSMENT_COUNT_COLUMNS = ['n_on_oxygen', 'n_on_air', ...CONSCIOUSNESS_LEVELS.map((l) => acvpuColumn(l))] as const

/** The count column of one ACVPU level: n_acvpu_a .. n_acvpu_u. */
export function acvpuColumn(level: Consciousness): `n_acvpu_${Lowercase<Consciousness>}` {
  return `n_acvpu_${level.toLowerCase() as Lowercase<Consciousness>}`
}

/**
 * `source` with the assessment columns guaranteed: a lake whose files all predate them has
 * neither, and `read_parquet(..., union_by_name = true)` only fills a column some file has. The
 * empty branch adds them as typed nulls; DuckDB still reads only the columns the query uses.
 */
export function withAssessmentsSql(source: string): string {
  const o = ASSESSMENT_COLUMNS.onOxygen
  const c = ASSESSMENT_COLUMNS.consciousness
  return `(SELECT * FROM ${source} UNION ALL BY NAME SELECT NULL::BOOLEAN AS ${o}, NULL::VARCHAR AS ${c} WHERE false)`
}

function assessmentCountsSql(): string {
  const o = ASSESSMENT_COLUMNS.onOxygen
  const c = ASSESSMENT_COLUMNS.consciousness
  const acvpu = CONSCIOUSNESS_LEVELS.map((l) => `count_if(${c} = '${l}')::INTEGER AS ${acvpuColumn(l)}`)
  return [`count_if(${o})::INTEGER AS n_on_oxygen`, `count_if(NOT ${o})::INTEGER AS n_on_air`, ...acvpu].join(', ')
}

/**
 * The percentile columns and their fractions, in the order of the query's list of fractions
 * (linear interpolation between closest ranks: rank (n - 1) * q). The Spark dialect (spark-sql.ts)
 * takes them from here too.
 */
export const PERCENTILES = [
  { column: 'p05', q: 0.05 },
  { column: 'p50', q: 0.5 },
  { column: 'p95', q: 0.95 },
] as const

/**
 * The statistics query over `source` (a FROM item: a table name or a `read_parquet(...)` call),
 * optionally restricted by `where` on the source's raw columns, with the status counts by each
 * patient's `variants` (the `patient_bands` table must exist when there are any), over the values
 * the speed layer accepts (judgedReadingsSql).
 *
 * Shape: aggregate the wide rows per (day, patient) with one struct of statistics per vital
 * (aggregates skip NULLs, i.e. absent vitals) and the patient-day's assessment counts, then
 * UNPIVOT the few aggregated rows into one row per vital. Unpivoting the raw rows first would
 * multiply them by the vitals present.
 */
export function dailyStatsSql(source: string, where = 'true', variants: BandVariants = NO_VARIANTS): string {
  const structs = VITALS.map((v) => {
    const c = VITAL_COLUMNS[v]
    const n = (status: Status) => `count_if(${patientStatusPredicateSql(v, status, c, variants)})::INTEGER`
    const tir = TIR_COLUMNS.map(
      (t, i) => `'${t}': ${v === 'glucose' ? `count_if(${glucoseBandPredicateSql(i, c)}) / nullif(count(${c}), 0)` : 'NULL::DOUBLE'}`,
    ).join(', ')
    const cv = v === 'glucose' ? `stddev_samp(${c}) / nullif(avg(${c}), 0)` : 'NULL::DOUBLE'
    return `{'count': count(${c})::INTEGER, 'mean': avg(${c}), 'min': min(${c}), 'max': max(${c}), 'stddev': stddev_samp(${c}),
      'q': quantile_cont(${c}, [${PERCENTILES.map((p) => p.q).join(', ')}]),
      'n_normal': ${n('NORMAL')}, 'n_warning': ${n('WARNING')}, 'n_critical_low': ${n('CRITICAL_LOW')}, 'n_critical_high': ${n('CRITICAL_HIGH')},
      ${tir}, 'cv': ${cv},
      'n_refused': count_if(${flagColumn('refused', v)})::INTEGER, 'n_no_signal': count_if(${flagColumn('no_signal', v)})::INTEGER} AS "${v}"`
  }).join(',\n    ')
  const perVital = STATS_COLUMNS.filter((c) => !['date', 'patient_id', 'vital', ...ASSESSMENT_COUNT_COLUMNS].includes(c))
    .map((c) => {
      // DuckDB lists are 1-based.
      const i = PERCENTILES.findIndex((p) => p.column === c)
      return i < 0 ? `s.${c} AS ${c}` : `s.q[${i + 1}] AS ${c}`
    })
    .join(', ')
  const joined = variants.patients.size === 0 ? '' : ` LEFT JOIN ${PATIENT_BANDS_TABLE} USING (patient_id)`
  return `WITH agg AS (
  SELECT CAST(ts AS DATE) AS day, patient_id,
    ${structs},
    ${assessmentCountsSql()}
  FROM ${judgedReadingsSql(withAssessmentsSql(source), where)}${joined}
  GROUP BY day, patient_id
)
SELECT strftime(day, '%Y-%m-%d') AS date, patient_id, vital, ${perVital}, ${ASSESSMENT_COUNT_COLUMNS.join(', ')}
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
  'n_refused',
  'n_no_signal',
  ...ASSESSMENT_COUNT_COLUMNS,
] as const
