import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { DuckDBInstance } from '@duckdb/node-api'
import { loadConfig, type Config } from '../lib/config.ts'
import { isVigilError } from '../lib/errors.ts'
import { compileRiskModel, loadRiskModel } from '../lib/risk/model.ts'
import { FEATURE_NAMES, PatientFeatures } from '../lib/risk/features.ts'
import { dtDir, ensureDir, eventsDir, utcDay } from './lake.ts'
import { sqlString } from './parquet.ts'
import { modelTrainOptions } from './risk-config.ts'
import { listEventFiles, listReadingFiles, loadEpisodes, MinuteTable, MinuteWalker, walkBuckets } from './risk-dataset.ts'
import { trainRiskModel } from './risk-train.ts'
import { prng } from './synthetic.ts'

const MIN = 60_000
/** 22:00 UTC, so each patient's 4 hours cross midnight into a second `dt=` folder. */
const START = Date.parse('2026-11-20T22:00:00Z')
const PATIENTS = 24
const HOURS = 4
const STEP_MS = 20_000

let lake: string | undefined

afterEach(async () => {
  if (lake !== undefined) await rm(lake, { recursive: true, force: true })
  lake = undefined
})

async function newLake(): Promise<Config> {
  lake = await mkdtemp(path.join(tmpdir(), 'vigil-risk-'))
  return loadConfig({ datalakeDir: lake, logLevel: 'warn' }, {})
}

const patientId = (i: number) => `p-${String(i).padStart(3, '0')}`

/** Each patient's two episodes (15 minutes long), at times that differ between patients. */
function episodes(i: number): { onset: number; end: number }[] {
  return [60 + ((i * 7) % 40), 170 + ((i * 5) % 30)].map((m) => ({ onset: START + m * MIN, end: START + (m + 15) * MIN }))
}

/**
 * The planted signal: over the 30 minutes before an onset the heart rate climbs from 75 to 110
 * and SpO2 falls from 97 to 91; both stay there through the episode; noise of a few units on top.
 */
function vitalsAt(i: number, t: number, rnd: () => number): { hr: number; spo2: number } {
  let ramp = 0
  for (const e of episodes(i)) {
    if (t >= e.onset && t < e.end) ramp = 1
    else if (t < e.onset && t >= e.onset - 30 * MIN) ramp = Math.max(ramp, 1 - (e.onset - t) / (30 * MIN))
  }
  return { hr: Math.round(75 + 35 * ramp + (rnd() - 0.5) * 8), spo2: Math.round(97 - 6 * ramp + (rnd() - 0.5) * 2) }
}

/** Writes a CSV with DuckDB into Parquet at `file`, with the lake's column types. */
async function csvToParquet(csv: string, columns: string, select: string, file: string): Promise<void> {
  const tmp = `${file}.csv`
  await writeFile(tmp, csv)
  const db = await DuckDBInstance.create(':memory:')
  const conn = await db.connect()
  try {
    await conn.run(
      `COPY (SELECT ${select} FROM read_csv(${sqlString(tmp)}, header = false, nullstr = '', columns = {${columns}})) TO ${sqlString(file)} (FORMAT parquet, COMPRESSION zstd)`,
    )
  } finally {
    conn.closeSync()
    db.closeSync()
    await rm(tmp, { force: true })
  }
}

const READING_COLUMNS = `'patient_id': 'VARCHAR', 'device_id': 'VARCHAR', 'ts_ms': 'BIGINT', 'seq': 'BIGINT', 'heart_rate': 'DOUBLE', 'spo2': 'DOUBLE', 'glucose': 'DOUBLE', 'systolic': 'DOUBLE', 'diastolic': 'DOUBLE', 'resp_rate': 'DOUBLE', 'temperature': 'DOUBLE', 'on_oxygen': 'BOOLEAN', 'consciousness': 'VARCHAR', 'kafka_partition': 'INTEGER', 'kafka_offset': 'BIGINT'`
const READING_SELECT =
  'patient_id, device_id, epoch_ms(ts_ms)::TIMESTAMP_MS AS ts, seq, heart_rate, spo2, glucose, systolic, diastolic, resp_rate, temperature, on_oxygen, consciousness, kafka_partition, row_number() OVER () AS kafka_offset'

/** The readings of every patient, one file per UTC day named like the archiver's. */
async function writeReadings(config: Config): Promise<void> {
  const rnd = prng(11)
  const byDay = new Map<string, string[]>()
  for (let i = 0; i < PATIENTS; i++) {
    for (let t = START; t < START + HOURS * 60 * MIN; t += STEP_MS) {
      const { hr, spo2 } = vitalsAt(i, t, rnd)
      const row = [patientId(i), `mon-${i}`, t, (t - START) / STEP_MS, hr, spo2, '', 120, 75, 16, 36.8, 'false', 'A', 0, 0].join(',')
      const day = utcDay(t)
      byDay.set(day, [...(byDay.get(day) ?? []), row])
    }
  }
  let first = 0
  for (const [day, rows] of byDay) {
    const dir = dtDir(config.datalakeDir, 'readings', day)
    await ensureDir(dir)
    await csvToParquet(rows.join('\n'), READING_COLUMNS, READING_SELECT, path.join(dir, `vitals.readings-p0-${first}-${first + rows.length - 1}-of1.parquet`))
    first += rows.length
  }
}

/**
 * Readings the speed layer never feeds to the features, in a file of partition 1: a repeat of a
 * reading (same device and seq, later offset) with other values, and readings of a heart rate and
 * SpO2 of 0 (no signal) or 400 bpm (refused) at new seqs, 1 ms after a real one.
 */
async function writeIgnoredReadings(config: Config): Promise<void> {
  const rows: string[] = []
  for (let i = 0; i < 6; i++) {
    for (let k = 0; k < 20; k++) {
      const t = START + (k * 9 + i) * STEP_MS
      rows.push([patientId(i), `mon-${i}`, t, (t - START) / STEP_MS, 250, 70, 40, 200, 75, 30, 39, 'true', 'U', 1, rows.length].join(','))
      rows.push([patientId(i), `mon-${i}`, t + 1, 100_000 + k, k % 2 === 0 ? 0 : 400, 0, '', '', '', '', '', '', '', 1, rows.length].join(','))
    }
  }
  const dir = dtDir(config.datalakeDir, 'readings', utcDay(START))
  await csvToParquet(
    rows.join('\n'),
    READING_COLUMNS,
    READING_SELECT.replace('row_number() OVER ()', 'kafka_offset'),
    path.join(dir, `vitals.readings-p1-0-${rows.length - 1}-of1.parquet`),
  )
}

/** The events file: every patient's episodes (patient ids starting with `prefix` instead of `p`), one sent twice, and one record that failed the schema. */
async function writeEvents(config: Config, kind = 'deterioration', prefix = 'p'): Promise<void> {
  const rows: string[] = []
  let offset = 0
  const event = (id: string, p: string, k: string, onset: number, end: number) =>
    [id, p, k, onset, end, 0.5, 'simulator', onset, 0, offset++, onset, ''].join(',')
  const who = (i: number) => patientId(i).replace(/^p/, prefix)
  for (let i = 0; i < PATIENTS; i++) for (const e of episodes(i)) rows.push(event(`sim:${who(i)}:${kind}:${e.onset}`, who(i), kind, e.onset, e.end))
  const again = episodes(0)[0]!
  rows.push(event(`sim:${who(0)}:${kind}:${again.onset}`, who(0), kind, again.onset, again.end))
  rows.push([',,,,,,,,0', offset++, START, 'SCHEMA'].join(','))
  const dir = eventsDir(config.datalakeDir)
  await ensureDir(dir)
  const columns = `'event_id': 'VARCHAR', 'patient_id': 'VARCHAR', 'kind': 'VARCHAR', 'onset_ms': 'BIGINT', 'end_ms': 'BIGINT', 'severity': 'DOUBLE', 'source': 'VARCHAR', 'recorded_ms': 'BIGINT', 'kafka_partition': 'INTEGER', 'kafka_offset': 'BIGINT', 'kafka_ms': 'BIGINT', 'reject_reason': 'VARCHAR'`
  const ts = (c: string) => `epoch_ms(${c})::TIMESTAMP_MS`
  const select = `event_id, patient_id, kind, ${ts('onset_ms')} AS onset, NULL::TIMESTAMP_MS AS plateau, NULL::TIMESTAMP_MS AS recovery, ${ts('end_ms')} AS "end", severity, source, NULL::VARCHAR AS recorded_by, ${ts('recorded_ms')} AS recorded_at, NULL::VARCHAR AS note, kafka_partition, kafka_offset, ${ts('kafka_ms')} AS kafka_ts, reject_reason, ''::BLOB AS raw`
  await csvToParquet(rows.join('\n'), columns, select, path.join(dir, `vitals.events-p0-0-${offset - 1}-of1.parquet`))
}

describe('vigil model train', () => {
  it('trains on a planted signal, beats chance on the held-out patients, and writes a model file the speed layer can serve, the same bytes twice', async () => {
    const config = await newLake()
    await writeReadings(config)
    await writeEvents(config)
    const options = modelTrainOptions({ seed: 1 })
    const a = await trainRiskModel(config, options)
    const model = compileRiskModel(JSON.parse(await readFile(a.path, 'utf8')), a.path)
    expect(model.version).toMatch(/^lr-[0-9a-f]{12}$/)
    expect(a.path).toBe(path.join(config.datalakeDir, 'models', `risk-${model.version}.json`))
    // The planted signal tells when, not only who: the model passes the promotion check and is served.
    expect(a.promotion.promoted).toBe(true)
    expect(a.file.metrics.test[0]!.withinPatientAuroc).toBeGreaterThanOrEqual(0.7)
    const latest = a.latest as string
    expect(latest).toBe(path.join(config.datalakeDir, 'models', 'latest.json'))
    expect((await loadRiskModel(latest)).version).toBe(model.version)
    expect(await readFile(latest, 'utf8')).toBe(await readFile(a.path, 'utf8'))

    // The split: every patient on exactly one side.
    expect(a.split.train.filter((p) => a.split.test.includes(p))).toEqual([])
    expect([...a.split.train, ...a.split.test].sort()).toEqual(Array.from({ length: PATIENTS }, (_, i) => patientId(i)))
    expect(a.file.training.trainPatients).toBe(a.split.train.length)
    expect(a.file.training.testPatients).toBe(a.split.test.length)
    expect(a.split.test.length).toBeGreaterThan(0)
    expect(a.file.training.eventKinds).toEqual(['deterioration'])
    // Per patient 240 minutes, 2 x 25 of them inside an episode (15 min and 10 after), 2 x 30 positive.
    expect(a.file.training.trainMinutes + a.file.training.testMinutes).toBe(PATIENTS * (240 - 50))
    expect(a.file.training.positives).toBe(PATIENTS * 60)

    const [risk, news2, warning] = a.file.metrics.test
    expect(risk!.name).toBe('risk model')
    expect(news2!.name).toBe('NEWS2 >= 5')
    expect(warning!.name).toBe('any per-vital WARNING')
    expect(risk!.auroc).toBeGreaterThan(0.8)
    expect(risk!.sensitivity).toBeGreaterThanOrEqual(0.8)
    expect(a.file.threshold.raise).toBe(risk!.thresholdAt80)
    expect(a.file.threshold.clear).toBeCloseTo(a.file.threshold.raise * 0.8, 12)
    expect(a.file.metrics.reliability.reduce((s, r) => s + r.minutes, 0)).toBe(a.file.training.testMinutes)
    expect(a.table).toContain('NEWS2 >= 5')
    // The heart rate climbs before an episode: its weight is positive.
    expect(a.file.features.find((f) => f.name === 'heartRate.mean5')!.weight).toBeGreaterThan(0)

    const b = await trainRiskModel(config, options)
    expect(b.file.version).toBe(a.file.version)
    expect(await readFile(b.path, 'utf8')).toBe(await readFile(a.path, 'utf8'))
    const other = await trainRiskModel(config, modelTrainOptions({ seed: 2 }))
    expect(other.file.version).not.toBe(a.file.version)
  }, 120_000)

  it('gives each minute the features the speed layer computes reading by reading (no train/serve skew), read in one query or a few patients per query', async () => {
    const config = await newLake()
    await writeReadings(config)
    await writeEvents(config)
    const db = await DuckDBInstance.create(':memory:')
    const conn = await db.connect()
    try {
      const files = await listReadingFiles(config.datalakeDir)
      const episodes = await loadEpisodes(conn, await listEventFiles(config.datalakeDir), undefined)
      const table = new MinuteTable()
      await walkBuckets(conn, files, new MinuteWalker(table, episodes.byPatient, 30 * MIN))
      // Patient 3's readings in time order, fed one by one as the speed layer does (speed-layer/risk.ts feedVitals).
      const readings = (
        await conn.runAndReadAll(
          `SELECT epoch_ms(ts)::DOUBLE AS ts, heart_rate, spo2, resp_rate, systolic, temperature, on_oxygen, consciousness FROM read_parquet([${files.map(sqlString).join(', ')}]) WHERE patient_id = 'p-003' ORDER BY ts`,
        )
      ).getRowObjectsJS()
      const served = new PatientFeatures()
      const rows = new Map<number, number>()
      for (let i = 0; i < table.n; i++) if (table.patients[table.group[i]!] === 'p-003') rows.set(table.minute[i]!, i)
      const trained = new Float64Array(FEATURE_NAMES.length)
      let compared = 0
      for (const [k, r] of readings.entries()) {
        const ts = Number(r.ts)
        served.vitals.heartRate.add(Number(r.heart_rate), ts)
        served.vitals.spo2.add(Number(r.spo2), ts)
        served.vitals.respRate.add(Number(r.resp_rate), ts)
        served.vitals.systolic.add(Number(r.systolic), ts)
        served.vitals.temperature.add(Number(r.temperature), ts)
        served.observations = { onOxygen: r.on_oxygen as boolean, consciousness: 'A' }
        const minute = Math.floor(ts / MIN)
        const next = readings[k + 1]
        if (next !== undefined && Math.floor(Number(next.ts) / MIN) === minute) continue
        const i = rows.get(minute)
        if (i === undefined) continue
        const expected = served.vector(minute * MIN + MIN - 1)
        table.row(i, trained)
        for (const [j, name] of FEATURE_NAMES.entries()) {
          if (Number.isNaN(expected[j]!)) expect(trained[j], name).toBeNaN()
          else expect(trained[j], name).toBeCloseTo(expected[j]!, 9)
        }
        compared++
      }
      // 240 minutes, 50 of them inside an episode.
      expect(compared).toBe(190)
      // Read a few patients per query (at most 3 000 readings: 4 patients of 720), the same minutes in the same order.
      const grouped = new MinuteTable()
      await walkBuckets(conn, files, new MinuteWalker(grouped, episodes.byPatient, 30 * MIN), undefined, 3_000)
      expect(grouped.patients).toEqual(table.patients)
      expect(grouped.n).toBe(table.n)
      expect(
        Buffer.from(grouped.x.buffer, 0, grouped.n * FEATURE_NAMES.length * 8).equals(Buffer.from(table.x.buffer, 0, table.n * FEATURE_NAMES.length * 8)),
      ).toBe(true)
      expect(Buffer.from(grouped.label.subarray(0, grouped.n)).equals(Buffer.from(table.label.subarray(0, table.n)))).toBe(true)
    } finally {
      conn.closeSync()
      db.closeSync()
    }
  })

  it('leaves out what the speed layer leaves out: a reading sent twice, a no-signal value and a value it refuses (the same model)', async () => {
    const clean = await newLake()
    await writeReadings(clean)
    await writeEvents(clean)
    const a = await trainRiskModel(clean, modelTrainOptions())
    await writeIgnoredReadings(clean)
    expect(await listReadingFiles(clean.datalakeDir)).toHaveLength(3)
    const b = await trainRiskModel(clean, modelTrainOptions())
    expect(b.file.version).toBe(a.file.version)
  }, 60_000)

  it('says what to do when the lake has no readings, no events, none of the chosen kinds, or no positive minute', async () => {
    const config = await newLake()
    const failure = async (o = modelTrainOptions()) => {
      const error = await trainRiskModel(config, o).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(isVigilError(error)).toBe(true)
      return (error as Error).message
    }
    expect(await failure()).toMatch(/^no readings in .*: run the simulator with --start in the past/)
    await writeReadings(config)
    expect(await failure()).toMatch(/^no clinical events in .*raw\/events: .*vigil archive/)
    await writeEvents(config, 'hypotension', 'q')
    expect(await failure(modelTrainOptions({ kinds: 'hypotension,seizure' }))).toMatch(
      /no valid clinical event of kind seizure .* \(kinds there: hypotension\); choose --kinds/,
    )
    // Episodes of patients the readings do not have: no minute is positive.
    expect(await failure()).toMatch(/^none of the 5760 minutes of 24 patients is within 30 min before the onset of one of the 48 episodes/)
  })

  it('lists the readings as the batch job does: without the files a compacted file supersedes', async () => {
    const config = await newLake()
    const dir = dtDir(config.datalakeDir, 'readings', '2026-11-20')
    await ensureDir(dir)
    for (const name of ['t-p0-0-9-of1.parquet', 't-p0-10-19-of1.parquet', 't-p0-0-19-compacted.parquet', 't-p1-0-4-of1.parquet', '.t-p1-5-9-of1.parquet.7.tmp'])
      await writeFile(path.join(dir, name), '')
    expect((await listReadingFiles(config.datalakeDir)).map((f) => path.basename(f))).toEqual(['t-p0-0-19-compacted.parquet', 't-p1-0-4-of1.parquet'])
  })
})
