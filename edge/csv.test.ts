import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { validateReading } from '../lib/contract/schema.ts'
import { parseColumnsFlag, parseTimestamp, readCsv, resolveColumns, zonedToUtc, type CsvItem } from './csv.ts'

const SEIZURE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/patient_seizure_dataset.csv')

async function all(file: string, options: Parameters<typeof readCsv>[1]): Promise<CsvItem[]> {
  const out: CsvItem[] = []
  for await (const item of readCsv(file, options)) out.push(item)
  return out
}

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'vigil-csv-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('CSV timestamps', () => {
  it('reads a local time without offset in the given time zone, UTC by default', () => {
    expect(parseTimestamp('2025-10-10 20:45:48.182588', 'UTC')).toBe(Date.UTC(2025, 9, 10, 20, 45, 48, 182))
    // Paris is on summer time (UTC+2) in October before the 26th, on winter time (UTC+1) in November.
    expect(parseTimestamp('2025-10-10 20:45:48', 'Europe/Paris')).toBe(Date.UTC(2025, 9, 10, 18, 45, 48))
    expect(parseTimestamp('2025-11-10 20:45:48', 'Europe/Paris')).toBe(Date.UTC(2025, 10, 10, 19, 45, 48))
    expect(parseTimestamp('2025-07-01T08:00:00', 'America/New_York')).toBe(Date.UTC(2025, 6, 1, 12, 0, 0))
  })

  it('honours an explicit offset or Z whatever the time zone, and reads epoch seconds and milliseconds', () => {
    expect(parseTimestamp('2025-10-10T20:45:48+02:00', 'America/New_York')).toBe(Date.UTC(2025, 9, 10, 18, 45, 48))
    expect(parseTimestamp('2025-10-10T20:45:48.5Z', 'Europe/Paris')).toBe(Date.UTC(2025, 9, 10, 20, 45, 48, 500))
    expect(parseTimestamp('1763805600', 'UTC')).toBe(1763805600000)
    expect(parseTimestamp('1763805600123', 'UTC')).toBe(1763805600123)
  })

  it('refuses what is not a timestamp', () => {
    for (const bad of ['yesterday', '2025-13-01 00:00:00', '2025-02-30 10:00:00', '10/10/2025', '']) expect(parseTimestamp(bad, 'UTC'), bad).toBeUndefined()
  })

  it('maps a wall-clock time that does not exist (spring forward) to a real instant', () => {
    const t = zonedToUtc(Date.UTC(2025, 2, 30, 2, 30), 'Europe/Paris')
    expect(Number.isFinite(t)).toBe(true)
    expect(Math.abs(t - Date.UTC(2025, 2, 30, 0, 30))).toBeLessThanOrEqual(3_600_000)
  })
})

describe('CSV columns', () => {
  it("recognises the seizure export's columns and ignores the others", () => {
    const header =
      'time,patient_id,heart_rate_bpm,spo2_percent,body_temperature_c,movement_g,stress_level,blood_glucose_mgdl,sleep_hours,noise_exposure_db,ambient_light_lux,seizure_label,risk_level'.split(
        ',',
      )
    const c = resolveColumns(header)
    expect(Object.fromEntries(Object.entries(c.fields).map(([k, v]) => [k, v.name]))).toEqual({
      ts: 'time',
      patientId: 'patient_id',
      heartRate: 'heart_rate_bpm',
      spo2: 'spo2_percent',
      temperature: 'body_temperature_c',
      glucose: 'blood_glucose_mgdl',
    })
    expect(c.ignored).toEqual(['movement_g', 'stress_level', 'sleep_hours', 'noise_exposure_db', 'ambient_light_lux', 'seizure_label', 'risk_level'])
  })

  it('takes an explicit mapping and names what is missing', () => {
    expect(parseColumnsFlag('patientId=who, ts=when,heartRate=pulse_x')).toEqual({ patientId: 'who', ts: 'when', heartRate: 'pulse_x' })
    expect(() => parseColumnsFlag('pulse=hr')).toThrow(/--columns "pulse=hr" is not valid/)
    const c = resolveColumns(['who', 'when', 'pulse_x'], { patientId: 'who', ts: 'when', heartRate: 'pulse_x' })
    expect(c.fields.heartRate?.index).toBe(2)
    expect(() => resolveColumns(['who', 'when', 'pulse_x'])).toThrow(/lacks a patient id column .* and a timestamp column .* and at least one vital column/)
    expect(() => resolveColumns(['a'], { patientId: 'nope' })).toThrow(/no such column/)
  })
})

describe('CSV replay', () => {
  it('turns every row of the seizure export into a valid reading, in file order, per patient in time order', async () => {
    const items = await all(SEIZURE, { timeZone: 'UTC' })
    const readings = items.flatMap((i) => (i.kind === 'reading' ? [i.reading] : []))
    expect(items.filter((i) => i.kind === 'skip')).toEqual([])
    expect(readings).toHaveLength(12_000)
    expect(new Set(readings.map((r) => r.patientId))).toEqual(new Set(['patient_1', 'patient_2', 'patient_3', 'patient_4', 'patient_5']))
    expect(readings[0]).toEqual({
      v: 1,
      patientId: 'patient_3',
      deviceId: 'csv-patient_3',
      ts: Date.UTC(2025, 9, 10, 20, 45, 48, 182),
      seq: 1,
      vitals: { heartRate: 84, spo2: 95.8, glucose: 96, temperature: 36.98 },
    })
    for (const r of readings) expect(validateReading(r).ok).toBe(true)
    const last = new Map<string, { ts: number; seq: number }>()
    for (const r of readings) {
      const prev = last.get(r.patientId)
      if (prev !== undefined) {
        expect(r.ts).toBeGreaterThan(prev.ts)
        expect(r.seq).toBe(prev.seq + 1)
      }
      last.set(r.patientId, { ts: r.ts, seq: r.seq })
    }
  })

  it('reports a malformed row with its line number, skips it and goes on', async () => {
    const file = path.join(dir, 'bad.csv')
    await writeFile(
      file,
      `${[
        'time,patient_id,heart_rate_bpm,spo2_percent,notes',
        '2025-10-10 20:45:48,patient_1,84,95.8,ok',
        '2025-10-10 20:46:18,patient_1,abc,96,bad number',
        'not-a-time,patient_1,80,96,bad time',
        '2025-10-10 20:47:18,patient_1',
        '2025-10-10 20:47:48,,80,96,no patient',
        '2025-10-10 20:48:18,patient_1,,,no vital',
        '2025-10-10 20:48:48,patient_2,70,,partial row is fine',
      ].join('\n')}\n`,
    )
    const items = await all(file, { timeZone: 'UTC' })
    expect(items.map((i) => (i.kind === 'skip' ? `skip ${i.line}` : `ok ${i.line}`))).toEqual([
      'ok 2',
      'skip 3',
      'skip 4',
      'skip 5',
      'skip 6',
      'skip 7',
      'ok 8',
    ])
    const skips = items.filter((i) => i.kind === 'skip') as Array<{ reason: string }>
    expect(skips[0]!.reason).toMatch(/heart_rate_bpm "abc" is not a number/)
    expect(skips[1]!.reason).toMatch(/time "not-a-time" is not a timestamp/)
    expect(skips[4]!.reason).toMatch(/no vital/)
    const last = items[items.length - 1]!
    expect(last.kind === 'reading' && last.reading.vitals).toEqual({ heartRate: 70 })
  })

  it('skips a row whose patient or device id breaks the id policy, naming the column and the character', async () => {
    const file = path.join(dir, 'ids.csv')
    await writeFile(
      file,
      'time,patient_id,device_id,heart_rate_bpm\n2025-10-10 20:45:48,Jos\u00e9,w-1,80\n2025-10-10 20:45:49,bed 4,w-1,80\n2025-10-10 20:45:50,p-1,w/1,80\n2025-10-10 20:45:51,p-1,w-1,80\n',
    )
    const items = await all(file, { timeZone: 'UTC' })
    expect(items.map((i) => (i.kind === 'skip' ? i.reason : 'ok'))).toEqual([
      expect.stringMatching(/^patient_id must be .*; got a non-ASCII character U\+00E9 at position 4$/),
      expect.stringMatching(/^patient_id must be .*; got " " at position 4$/),
      expect.stringMatching(/^device_id must be .*; got "\/" at position 2$/),
      'ok',
    ])
  })

  it('converts units named in the header: glucose in mmol/L and temperature in °F', async () => {
    const file = path.join(dir, 'units.csv')
    await writeFile(file, 'timestamp,patient,glucose_mmol_l,temp_f\n2025-01-01T00:00:00Z,a,5.5,98.6\n')
    const [item] = await all(file, { timeZone: 'UTC' })
    expect(item).toMatchObject({ kind: 'reading', reading: { patientId: 'a', ts: Date.UTC(2025, 0, 1), vitals: { glucose: 99, temperature: 37 } } })
  })

  it('shifts time and continues sequences on a loop pass', async () => {
    const file = path.join(dir, 'loop.csv')
    await writeFile(file, 'ts,patient_id,hr\n1000,a,60\n1001,a,61\n')
    const seqs = new Map<string, number>()
    const first = await all(file, { timeZone: 'UTC', seqs })
    const second = await all(file, { timeZone: 'UTC', seqs, shiftMs: 2_000 })
    const ts = [...first, ...second].map((i) => (i.kind === 'reading' ? [i.reading.ts, i.reading.seq] : []))
    expect(ts).toEqual([
      [1_000_000, 1],
      [1_001_000, 2],
      [1_002_000, 3],
      [1_003_000, 4],
    ])
  })
})
