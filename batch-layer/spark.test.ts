import { describe, expect, it } from 'vitest'
import { applyBandSpecs, parseBandSpec, STATUSES } from '../lib/bands.ts'
import { VITALS } from '../lib/contract/schema.ts'
import { VITAL_COLUMNS } from './parquet.ts'
import { jvmException, sparkConf } from './spark.ts'
import { sparkDailyStatsSql, sparkPatientBandsTable } from './spark-sql.ts'
import {
  acceptedSql,
  bandVariants,
  glucoseBandPredicateSql,
  patientBandsSql,
  patientStatusPredicateSql,
  PERCENTILES,
  STATS_COLUMNS,
  TIR_COLUMNS,
} from './stats-sql.ts'

const variants = bandVariants(
  new Map([
    ['p-copd', applyBandSpecs({}, [parseBandSpec('spo2:news2-scale2')])],
    ['p-athlete', applyBandSpecs({}, [parseBandSpec('heartRate:normal=38-95')])],
  ]),
)

describe('the Spark SQL of the daily statistics', () => {
  it('takes every band, time-in-range and plausibility predicate from the generators the DuckDB query uses', () => {
    const sql = sparkDailyStatsSql(variants)
    for (const v of VITALS) {
      const c = `ok_${VITAL_COLUMNS[v]}`
      for (const st of STATUSES) expect(sql, `${v} ${st}`).toContain(patientStatusPredicateSql(v, st, c, variants))
      expect(sql).toContain(`CASE WHEN ${acceptedSql(v)} THEN ${VITAL_COLUMNS[v]} END AS ${c}`)
    }
    for (const i of TIR_COLUMNS.keys()) expect(sql).toContain(glucoseBandPredicateSql(i, 'ok_glucose'))
    for (const p of PERCENTILES) expect(sql).toContain(`CAST(${p.q} AS DOUBLE)`)
    expect(sql).toContain('LEFT JOIN patient_bands USING (patient_id)')
    expect(sparkDailyStatsSql()).not.toContain('patient_bands')
  })

  it('uses no DuckDB-only syntax and selects the view columns in their order', () => {
    const sql = sparkDailyStatsSql(variants)
    for (const duckdbOnly of ['::', ' REPLACE (', 'quantile_cont', 'UNPIVOT', "{'", 'strftime', 'count_if(']) expect(sql).not.toContain(duckdbOnly)
    const select = sql.slice(sql.lastIndexOf('SELECT date_format'), sql.lastIndexOf('FROM agg'))
    const names = [...select.matchAll(/(?:AS `?(\w+)`?|, (n_\w+))(?=,|\s*$)/g)].map((m) => m[1] ?? m[2])
    expect(['date', 'patient_id', 'vital', ...names.slice(1)]).toEqual([...STATS_COLUMNS])
  })

  it("makes the patients' band variants the same rows DuckDB's patient_bands holds", () => {
    const [table] = sparkPatientBandsTable(variants)
    expect(table?.name).toBe('patient_bands')
    expect(table?.schema).toBe(`patient_id STRING, ${VITALS.map((v) => `bands_${VITAL_COLUMNS[v]} INT`).join(', ')}`)
    const inserted = (patientBandsSql(variants)[1] ?? '').replace(/^INSERT INTO patient_bands VALUES /, '')
    expect(table?.rows.map((r) => `('${r[0]}', ${r.slice(1).join(', ')})`).join(', ')).toBe(inserted)
    expect(sparkPatientBandsTable(bandVariants(new Map()))).toEqual([])
  })
})

describe('the Spark engine runner', () => {
  it('keeps a local master on the loopback address without its web UI, and leaves a cluster master alone', () => {
    expect(sparkConf('local[*]')).toMatchObject({ 'spark.ui.enabled': 'false', 'spark.driver.host': '127.0.0.1', 'spark.sql.session.timeZone': 'UTC' })
    const cluster = sparkConf('spark://head:7077', { 'spark.driver.memory': '4g' })
    expect(cluster['spark.driver.host']).toBeUndefined()
    expect(cluster['spark.ui.enabled']).toBeUndefined()
    expect(cluster).toMatchObject({ 'spark.driver.memory': '4g', 'spark.sql.session.timeZone': 'UTC' })
  })

  it("finds the JVM's reason in Spark's log when the driver only saw the gateway exit", () => {
    const log = [
      'WARNING: Using incubator modules: jdk.incubator.vector',
      'Exception in thread "main" org.apache.spark.SparkException: Master must either be yarn or start with spark, k8s, or local',
      '\tat org.apache.spark.deploy.SparkSubmit.error(SparkSubmit.scala:1065)',
    ]
    expect(jvmException(log)).toBe('Master must either be yarn or start with spark, k8s, or local')
    expect(jvmException(['Caused by: java.net.ConnectException: Connection refused'])).toBe('Connection refused')
    expect(jvmException(['26/11/30 WARN Utils: Set SPARK_LOCAL_IP if you need to bind to another address'])).toBeUndefined()
  })
})
