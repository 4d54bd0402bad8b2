import { describe, expect, it } from 'vitest'
import { applyBandSpecs, BAND_PRESETS, DEFAULT_BANDS, parseBandSpec, type BandOverrides } from '../lib/bands.ts'
import { VITALS } from '../lib/contract/schema.ts'
import {
  acvpuColumn,
  ASSESSMENT_COUNT_COLUMNS,
  bandColumn,
  bandVariants,
  dailyStatsSql,
  NO_VARIANTS,
  patientBandsSql,
  patientStatusPredicateSql,
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
