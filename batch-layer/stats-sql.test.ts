import { DuckDBInstance } from '@duckdb/node-api'
import { describe, expect, it } from 'vitest'
import { applyBandSpecs, BAND_PRESETS, DEFAULT_BANDS, parseBandSpec, type BandOverrides } from '../lib/bands.ts'
import { VITALS, type Reading, type Vital } from '../lib/contract/schema.ts'
import { PLAUSIBLE_RANGES } from '../lib/plausibility.ts'
import { checkFields } from '../speed-layer/validate.ts'
import { VITAL_COLUMNS } from './parquet.ts'
import {
  acceptedSql,
  acvpuColumn,
  ASSESSMENT_COUNT_COLUMNS,
  bandColumn,
  bandVariants,
  dailyStatsSql,
  NO_VARIANTS,
  noSignalSql,
  patientBandsSql,
  patientStatusPredicateSql,
  refusedSql,
  STATS_COLUMNS,
  statusPredicateSql,
  withAssessmentsSql,
} from './stats-sql.ts'

const scale2: BandOverrides = applyBandSpecs({}, [parseBandSpec('spo2:news2-scale2')])
const athlete: BandOverrides = applyBandSpecs({}, [parseBandSpec('heartRate:normal=40-90')])

describe('band variants of the patients with overrides', () => {
  it('gives equal override lists one variant, per vital, and leaves the other vitals on the default (0)', () => {
    const v = bandVariants(
      new Map([
        ['p-copd-2', scale2],
        ['p-copd-1', scale2],
        ['p-athlete', athlete],
      ]),
    )
    expect(v.lists.spo2).toEqual([BAND_PRESETS['news2-scale2']?.bands])
    expect(v.lists.heartRate).toEqual([athlete.heartRate])
    expect(v.lists.glucose).toEqual([])
    expect(v.patients.get('p-copd-1')).toEqual({ ...Object.fromEntries(VITALS.map((x) => [x, 0])), spo2: 1 })
    expect(v.patients.get('p-copd-2')?.spo2).toBe(1)
    expect(v.patients.get('p-athlete')).toEqual({ ...Object.fromEntries(VITALS.map((x) => [x, 0])), heartRate: 1 })
  })

  it('numbers distinct lists of one vital 1, 2, ... in patient order', () => {
    const other = applyBandSpecs({}, [parseBandSpec('heartRate:normal=45-100')])
    const v = bandVariants(
      new Map([
        ['p-b', other],
        ['p-a', athlete],
      ]),
    )
    expect(v.lists.heartRate).toEqual([athlete.heartRate, other.heartRate])
    expect(v.patients.get('p-a')?.heartRate).toBe(1)
    expect(v.patients.get('p-b')?.heartRate).toBe(2)
  })

  it('leaves out a patient whose override equals the default bands, and everyone when nobody has one', () => {
    const v = bandVariants(new Map([['p-same', { heartRate: DEFAULT_BANDS.heartRate }]]))
    expect(v.patients.size).toBe(0)
    expect(v.lists.heartRate).toEqual([])
    expect(bandVariants(new Map()).patients.size).toBe(0)
  })
})

describe('the patient_bands table', () => {
  it('creates one variant column per vital and inserts each patient with a quoted id', () => {
    const [create, ...inserts] = patientBandsSql(bandVariants(new Map([["p-o'brien", scale2]])))
    expect(create).toContain(
      'CREATE OR REPLACE TABLE patient_bands (patient_id VARCHAR PRIMARY KEY, bands_heart_rate INTEGER NOT NULL, bands_spo2 INTEGER NOT NULL',
    )
    expect(inserts).toEqual(["INSERT INTO patient_bands VALUES ('p-o''brien', 0, 1, 0, 0, 0, 0, 0)"])
  })

  it('splits thousands of patients into INSERTs of 1,000', () => {
    const many = new Map(Array.from({ length: 2_500 }, (_, i) => [`p-${i}`, scale2] as const))
    const [, ...inserts] = patientBandsSql(bandVariants(many))
    expect(inserts.length).toBe(3)
    expect(inserts.map((s) => s.split('), (').length)).toEqual([1_000, 1_000, 500])
  })

  it('only creates the (empty) table without overrides', () => {
    expect(patientBandsSql(NO_VARIANTS).length).toBe(1)
  })
})

describe('the status predicate by the patient’s bands', () => {
  it('is the default predicate when no patient overrides the vital', () => {
    const v = bandVariants(new Map([['p-copd', scale2]]))
    expect(patientStatusPredicateSql('heartRate', 'WARNING', 'heart_rate', v)).toBe(statusPredicateSql('heartRate', 'WARNING', 'heart_rate'))
  })

  it('picks the variant by the joined column, the default bands otherwise', () => {
    const v = bandVariants(new Map([['p-copd', scale2]]))
    const sql = patientStatusPredicateSql('spo2', 'CRITICAL_LOW', 'spo2', v)
    // Scale 2: CRITICAL_LOW is <= 83; the default scale 1: <= 91.
    expect(sql).toBe(`(CASE ${bandColumn('spo2')} WHEN 1 THEN ((spo2 IS NOT NULL AND spo2 <= 83)) ELSE ((spo2 IS NOT NULL AND spo2 <= 91)) END)`)
  })
})

describe('the statistics query', () => {
  it('reads the assessments through an empty typed branch, so a lake without the columns still answers', () => {
    expect(withAssessmentsSql('readings')).toBe(
      '(SELECT * FROM readings UNION ALL BY NAME SELECT NULL::BOOLEAN AS on_oxygen, NULL::VARCHAR AS consciousness WHERE false)',
    )
  })

  it('joins patient_bands only when a patient has overrides', () => {
    expect(dailyStatsSql('readings')).not.toContain('patient_bands')
    expect(dailyStatsSql('readings', 'true', bandVariants(new Map([['p-copd', scale2]])))).toContain('LEFT JOIN patient_bands USING (patient_id)')
  })

  it('ends its columns with the patient-day assessment counts', () => {
    expect(ASSESSMENT_COUNT_COLUMNS).toEqual(['n_on_oxygen', 'n_on_air', 'n_acvpu_a', 'n_acvpu_c', 'n_acvpu_v', 'n_acvpu_p', 'n_acvpu_u'])
    expect(STATS_COLUMNS.slice(-ASSESSMENT_COUNT_COLUMNS.length)).toEqual([...ASSESSMENT_COUNT_COLUMNS])
    expect(acvpuColumn('C')).toBe('n_acvpu_c')
    const sql = dailyStatsSql('readings')
    expect(sql).toContain("count_if(consciousness = 'U')::INTEGER AS n_acvpu_u")
    expect(sql).toContain('count_if(NOT on_oxygen)::INTEGER AS n_on_air')
  })
})

type Vitals = Partial<Record<Vital, number>>

/** The daily statistics of `rows` (one patient, one day) run in an in-memory DuckDB, keyed by vital. */
async function statsOf(rows: readonly Vitals[]): Promise<Map<string, Record<string, unknown>>> {
  const db = await DuckDBInstance.create(':memory:')
  const conn = await db.connect()
  try {
    const cols = VITALS.map((v) => VITAL_COLUMNS[v])
    const values = rows.map(
      (r, i) => `('p-1', TIMESTAMP '2026-11-24 08:00:00' + INTERVAL ${i} SECOND, ${VITALS.map((v) => `${r[v] ?? 'NULL'}::DOUBLE`).join(', ')})`,
    )
    await conn.run(`CREATE TABLE readings AS SELECT * FROM (VALUES ${values.join(', ')}) t(patient_id, ts, ${cols.join(', ')})`)
    const out = (await conn.runAndReadAll(dailyStatsSql('readings'))).getRowObjectsJS()
    return new Map(out.map((o) => [String(o.vital), o]))
  } finally {
    conn.closeSync()
    db.closeSync()
  }
}

describe('values judged as the speed layer judges them', () => {
  it('generates the no-signal, plausible and pair predicates from lib/plausibility.ts', () => {
    expect(noSignalSql('heartRate')).toBe('coalesce(heart_rate = 0, false)')
    expect(noSignalSql('glucose')).toBe('false')
    expect(acceptedSql('glucose')).toBe(`coalesce(glucose BETWEEN ${PLAUSIBLE_RANGES.glucose.min} AND ${PLAUSIBLE_RANGES.glucose.max}, false)`)
    expect(acceptedSql('spo2')).toBe('(coalesce(spo2 BETWEEN 0 AND 100, false) AND NOT coalesce(spo2 = 0, false))')
    expect(acceptedSql('diastolic')).toBe(
      '(coalesce(diastolic BETWEEN 10 AND 200, false) AND NOT (coalesce(systolic BETWEEN 20 AND 300, false) AND coalesce(diastolic >= systolic, false)))',
    )
    expect(refusedSql('temperature')).toBe('(temperature IS NOT NULL AND NOT false AND NOT coalesce(temperature BETWEEN 10 AND 47, false))')
    expect(STATS_COLUMNS).toContain('n_refused')
    expect(STATS_COLUMNS).toContain('n_no_signal')
  })

  it('counts only 72 of a day with heart rate 0, 400 and 72, and leaves out a diastolic above its systolic while the systolic counts', async () => {
    const stats = await statsOf([{ heartRate: 0 }, { heartRate: 400 }, { heartRate: 72 }, { systolic: 90, diastolic: 95 }, { systolic: 120, diastolic: 80 }])
    expect(stats.get('heartRate')).toMatchObject({
      count: 1,
      mean: 72,
      min: 72,
      max: 72,
      n_normal: 1,
      n_critical_low: 0,
      n_critical_high: 0,
      n_refused: 1,
      n_no_signal: 1,
    })
    expect(stats.get('systolic')).toMatchObject({ count: 2, min: 90, max: 120, n_refused: 0, n_no_signal: 0 })
    expect(stats.get('diastolic')).toMatchObject({ count: 1, mean: 80, n_refused: 1 })
  })

  it('leaves out a °F temperature and a probe-off SpO2, keeping the same reading’s other values', async () => {
    const stats = await statsOf([
      { temperature: 98.6, heartRate: 140, spo2: 82 },
      { spo2: 0, respRate: 18 },
    ])
    expect(stats.get('temperature')).toBeUndefined()
    expect(stats.get('heartRate')).toMatchObject({ count: 1, n_critical_high: 1 })
    expect(stats.get('spo2')).toMatchObject({ count: 1, min: 82, n_critical_low: 1, n_no_signal: 1, n_refused: 0 })
    expect(stats.get('respRate')).toMatchObject({ count: 1, n_refused: 0 })
  })

  it('agrees with the speed layer’s checkFields on every edge of every range and every blood-pressure pair', async () => {
    const rows: Vitals[] = []
    for (const v of VITALS) {
      const { min, max } = PLAUSIBLE_RANGES[v]
      for (const x of [min - 1, min - 0.5, min, min + 0.5, 0, max - 0.5, max, max + 0.5, max + 1]) rows.push({ [v]: x })
    }
    for (const systolic of [15, 20, 90, 120, 300, 301])
      for (const diastolic of [0, 5, 10, 60, 89.5, 90, 90.5, 120, 200, 201]) rows.push({ systolic, diastolic })
    rows.push({ heartRate: 0, spo2: 0, temperature: 9, systolic: 80, diastolic: 80, glucose: 1_501, respRate: 81 })
    const want = new Map<Vital, { count: number; refused: number; noSignal: number; min: number; max: number }>()
    for (const vitals of rows) {
      const judged = checkFields({ v: 1, patientId: 'p-1', deviceId: 'd', ts: 0, seq: 0, vitals } as Reading)
      for (const v of VITALS) {
        if (vitals[v] === undefined) continue
        const w = want.get(v) ?? { count: 0, refused: 0, noSignal: 0, min: Infinity, max: -Infinity }
        const kept = judged.reading.vitals[v]
        if (kept !== undefined) Object.assign(w, { count: w.count + 1, min: Math.min(w.min, kept), max: Math.max(w.max, kept) })
        if (judged.noSignal.includes(v)) w.noSignal++
        if (judged.fieldRejects.some((f) => f.vital === v)) w.refused++
        want.set(v, w)
      }
    }
    const stats = await statsOf(rows)
    for (const v of VITALS) {
      const w = want.get(v)
      const got = stats.get(v)
      expect(got, v).toBeDefined()
      expect([got?.count, got?.n_refused, got?.n_no_signal, got?.min, got?.max], v).toEqual([w?.count, w?.refused, w?.noSignal, w?.min, w?.max])
    }
  })
})
