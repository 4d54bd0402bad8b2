import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { glucoseMmolToMgDl } from '../lib/contract/units.ts'
import { observationToReading } from '../ingestion/fhir.ts'
import { classifyVital } from '../lib/bands.ts'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { SEIZURE, SEIZURE_FIRST_READING } from './fixtures/seizure.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { validateReading } from '../lib/contract/schema.ts'
import { parseColumnsFlag, parseTimestamp, readCsv, resolveColumns, type CsvItem } from './csv.ts'
import { parseConsciousness, parseOnOxygen } from './csv-assessments.ts'

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
})

/**
 * Local times around both offset changes of several years, with the instant they must become,
 * written out: [zone, local time, instant, then 'gap' for a spring-forward time that does not exist
 * or the second instant of a fall-back time that happens twice]. A gap time moves forward by the
 * gap's length; an overlap time takes the earlier instant unless the row follows, for its device,
 * a row already past it (docs/ARCHITECTURE.md, CSV replay). Every instant was checked against GNU
 * date with the system's tzdata (a non-gap instant reads back as the local time).
 */
const DST_CASES: ReadonlyArray<readonly [string, string, string, string?]> = [
  ['Europe/Berlin', '2023-03-26 01:59:59', '2023-03-26T00:59:59Z'],
  ['Europe/Berlin', '2023-03-26 02:30:00', '2023-03-26T01:30:00Z', 'gap'],
  ['Europe/Berlin', '2023-03-26 03:00:00', '2023-03-26T01:00:00Z'],
  ['Europe/Berlin', '2023-10-29 01:59:59', '2023-10-28T23:59:59Z'],
  ['Europe/Berlin', '2023-10-29 02:30:00', '2023-10-29T00:30:00Z', '2023-10-29T01:30:00Z'],
  ['Europe/Berlin', '2023-10-29 03:00:00', '2023-10-29T02:00:00Z'],
  ['Europe/Berlin', '2024-03-31 01:30:00', '2024-03-31T00:30:00Z'],
  ['Europe/Berlin', '2024-03-31 02:00:00', '2024-03-31T01:00:00Z', 'gap'],
  ['Europe/Berlin', '2024-03-31 02:59:59', '2024-03-31T01:59:59Z', 'gap'],
  ['Europe/Berlin', '2024-03-31 03:00:00', '2024-03-31T01:00:00Z'],
  ['Europe/Berlin', '2024-10-27 01:59:59', '2024-10-26T23:59:59Z'],
  ['Europe/Berlin', '2024-10-27 02:00:00', '2024-10-27T00:00:00Z', '2024-10-27T01:00:00Z'],
  ['Europe/Berlin', '2024-10-27 02:59:59', '2024-10-27T00:59:59Z', '2024-10-27T01:59:59Z'],
  ['Europe/Berlin', '2024-10-27 03:00:00', '2024-10-27T02:00:00Z'],
  ['Europe/Berlin', '2026-03-29 01:59:59', '2026-03-29T00:59:59Z'],
  ['Europe/Berlin', '2026-03-29 02:30:00', '2026-03-29T01:30:00Z', 'gap'],
  ['Europe/Berlin', '2026-10-25 02:30:00', '2026-10-25T00:30:00Z', '2026-10-25T01:30:00Z'],
  ['Europe/Berlin', '2026-10-25 03:00:00', '2026-10-25T02:00:00Z'],
  ['Europe/London', '2023-03-26 00:59:59', '2023-03-26T00:59:59Z'],
  ['Europe/London', '2023-03-26 01:30:00', '2023-03-26T01:30:00Z', 'gap'],
  ['Europe/London', '2023-10-29 01:30:00', '2023-10-29T00:30:00Z', '2023-10-29T01:30:00Z'],
  ['Europe/London', '2024-03-31 00:59:59', '2024-03-31T00:59:59Z'],
  ['Europe/London', '2024-03-31 01:30:00', '2024-03-31T01:30:00Z', 'gap'],
  ['Europe/London', '2024-03-31 02:00:00', '2024-03-31T01:00:00Z'],
  ['Europe/London', '2024-10-27 00:59:59', '2024-10-26T23:59:59Z'],
  ['Europe/London', '2024-10-27 01:30:00', '2024-10-27T00:30:00Z', '2024-10-27T01:30:00Z'],
  ['Europe/London', '2024-10-27 02:00:00', '2024-10-27T02:00:00Z'],
  ['Europe/London', '2026-03-29 01:30:00', '2026-03-29T01:30:00Z', 'gap'],
  ['Europe/London', '2026-10-25 01:30:00', '2026-10-25T00:30:00Z', '2026-10-25T01:30:00Z'],
  ['America/New_York', '2023-03-12 02:30:00', '2023-03-12T07:30:00Z', 'gap'],
  ['America/New_York', '2023-11-05 01:30:00', '2023-11-05T05:30:00Z', '2023-11-05T06:30:00Z'],
  ['America/New_York', '2024-03-10 01:59:59', '2024-03-10T06:59:59Z'],
  ['America/New_York', '2024-03-10 02:30:00', '2024-03-10T07:30:00Z', 'gap'],
  ['America/New_York', '2024-03-10 03:00:00', '2024-03-10T07:00:00Z'],
  ['America/New_York', '2024-11-03 00:59:59', '2024-11-03T04:59:59Z'],
  ['America/New_York', '2024-11-03 01:30:00', '2024-11-03T05:30:00Z', '2024-11-03T06:30:00Z'],
  ['America/New_York', '2024-11-03 02:00:00', '2024-11-03T07:00:00Z'],
  ['America/New_York', '2026-03-08 02:30:00', '2026-03-08T07:30:00Z', 'gap'],
  ['America/New_York', '2026-11-01 01:30:00', '2026-11-01T05:30:00Z', '2026-11-01T06:30:00Z'],
  ['Australia/Sydney', '2023-04-02 02:30:00', '2023-04-01T15:30:00Z', '2023-04-01T16:30:00Z'],
  ['Australia/Sydney', '2023-10-01 02:30:00', '2023-09-30T16:30:00Z', 'gap'],
  ['Australia/Sydney', '2024-04-07 01:59:59', '2024-04-06T14:59:59Z'],
  ['Australia/Sydney', '2024-04-07 02:30:00', '2024-04-06T15:30:00Z', '2024-04-06T16:30:00Z'],
  ['Australia/Sydney', '2024-04-07 03:00:00', '2024-04-06T17:00:00Z'],
  ['Australia/Sydney', '2024-10-06 01:59:59', '2024-10-05T15:59:59Z'],
  ['Australia/Sydney', '2024-10-06 02:30:00', '2024-10-05T16:30:00Z', 'gap'],
  ['Australia/Sydney', '2024-10-06 03:00:00', '2024-10-05T16:00:00Z'],
  ['Australia/Sydney', '2026-04-05 02:30:00', '2026-04-04T15:30:00Z', '2026-04-04T16:30:00Z'],
  ['Australia/Sydney', '2026-10-04 02:30:00', '2026-10-03T16:30:00Z', 'gap'],
  ['Asia/Kolkata', '2024-02-29 23:59:59', '2024-02-29T18:29:59Z'],
  ['Asia/Kolkata', '2024-03-31 02:30:00', '2024-03-30T21:00:00Z'],
  ['Asia/Kolkata', '2024-10-27 02:30:00', '2024-10-26T21:00:00Z'],
  ['Asia/Kolkata', '2026-11-01 01:30:00', '2026-10-31T20:00:00Z'],
  ['Pacific/Chatham', '2024-04-07 02:44:59', '2024-04-06T12:59:59Z'],
  ['Pacific/Chatham', '2024-04-07 03:00:00', '2024-04-06T13:15:00Z', '2024-04-06T14:15:00Z'],
  ['Pacific/Chatham', '2024-04-07 03:45:00', '2024-04-06T15:00:00Z'],
  ['Pacific/Chatham', '2024-09-29 02:44:59', '2024-09-28T13:59:59Z'],
  ['Pacific/Chatham', '2024-09-29 03:00:00', '2024-09-28T14:15:00Z', 'gap'],
  ['Pacific/Chatham', '2024-09-29 03:45:00', '2024-09-28T14:00:00Z'],
  ['Pacific/Chatham', '2026-04-05 03:00:00', '2026-04-04T13:15:00Z', '2026-04-04T14:15:00Z'],
  ['Pacific/Chatham', '2026-09-27 03:00:00', '2026-09-26T14:15:00Z', 'gap'],
  ['America/St_Johns', '2024-03-10 01:59:59', '2024-03-10T05:29:59Z'],
  ['America/St_Johns', '2024-03-10 02:30:00', '2024-03-10T06:00:00Z', 'gap'],
  ['America/St_Johns', '2024-03-10 03:00:00', '2024-03-10T05:30:00Z'],
  ['America/St_Johns', '2024-11-03 00:59:59', '2024-11-03T03:29:59Z'],
  ['America/St_Johns', '2024-11-03 01:30:00', '2024-11-03T04:00:00Z', '2024-11-03T05:00:00Z'],
  ['America/St_Johns', '2024-11-03 02:00:00', '2024-11-03T05:30:00Z'],
  ['Australia/Lord_Howe', '2024-04-07 01:45:00', '2024-04-06T14:45:00Z', '2024-04-06T15:15:00Z'],
  ['Australia/Lord_Howe', '2024-10-06 02:15:00', '2024-10-05T15:45:00Z', 'gap'],
]

const iso = (ms: number | undefined) => (ms === undefined ? 'undefined' : new Date(ms).toISOString().replace('.000Z', 'Z'))

describe('CSV local times around daylight-saving changes', () => {
  it.each(DST_CASES.map(([zone, local, instant]) => [zone, local, instant] as const))('%s %s is %s', (zone, local, instant) => {
    expect(iso(parseTimestamp(local, zone))).toBe(instant)
  })

  it.each(DST_CASES.flatMap(([zone, local, first, second]) => (second === undefined || second === 'gap' ? [] : [[zone, local, first, second] as const])))(
    "%s %s (first %s), twice in the night, is %s when its device's previous row is past the first",
    (zone, local, first, second) => {
      const firstMs = Date.parse(first)
      // The device's previous row at or after the first occurrence: the clock has gone back since.
      expect(iso(parseTimestamp(local, zone, firstMs + 1_000))).toBe(second)
      expect(iso(parseTimestamp(local, zone, firstMs))).toBe(second)
      // The previous row before it: the first occurrence.
      expect(iso(parseTimestamp(local, zone, firstMs - 1_000))).toBe(first)
    },
  )

  it('moves a gap time forward whatever the previous row, and ignores the previous row outside an overlap', () => {
    expect(iso(parseTimestamp('2024-03-31 02:30:00', 'Europe/Berlin', Date.parse('2024-03-31T05:00:00Z')))).toBe('2024-03-31T01:30:00Z')
    expect(iso(parseTimestamp('2024-10-27 03:30:00', 'Europe/Berlin', Date.parse('2024-10-27T05:00:00Z')))).toBe('2024-10-27T02:30:00Z')
    expect(iso(parseTimestamp('2024-10-27T02:30:00+01:00', 'Europe/Berlin', Date.parse('2024-10-27T05:00:00Z')))).toBe('2024-10-27T01:30:00Z')
  })

  it('replays a Berlin fall-back night exported in local time, a row a minute, as strictly increasing instants one minute apart', async () => {
    // 01:00 CEST to 03:59 CET: local times 02:00-02:59 appear twice.
    const lines = ['time,patient_id,heart_rate_bpm']
    const start = Date.parse('2024-10-26T23:00:00Z')
    const local = (ms: number) => {
      const offsetH = ms < Date.parse('2024-10-27T01:00:00Z') ? 2 : 1
      return new Date(ms + offsetH * 3_600_000).toISOString().slice(0, 19).replace('T', ' ')
    }
    for (let i = 0; i < 240; i++) lines.push(`${local(start + i * 60_000)},p-1,${60 + (i % 30)}`)
    expect(lines.filter((l) => l.startsWith('2024-10-27 02:30:00'))).toHaveLength(2)
    const file = path.join(dir, 'fall-back.csv')
    await writeFile(file, `${lines.join('\n')}\n`)
    const items = await all(file, { timeZone: 'Europe/Berlin' })
    expect(items.map((i) => (i.kind === 'reading' ? i.reading.ts : i.reason))).toEqual(Array.from({ length: 240 }, (_, i) => start + i * 60_000))
  })

  it('decides the repeated hour per device: interleaved patients each follow their own previous row, a first row takes the first occurrence', async () => {
    const file = path.join(dir, 'fall-back-mixed.csv')
    await writeFile(
      file,
      'time,patient_id,hr\n2024-10-27 02:59:00,a,60\n2024-10-27 02:10:00,b,61\n2024-10-27 02:00:00,a,62\n2024-10-27 02:11:00,b,63\n2024-10-27 02:01:00,a,64\n',
    )
    const items = await all(file, { timeZone: 'Europe/Berlin' })
    expect(items.map((i) => (i.kind === 'reading' ? `${i.reading.patientId} ${iso(i.reading.ts)}` : i.reason))).toEqual([
      'a 2024-10-27T00:59:00Z',
      'b 2024-10-27T00:10:00Z',
      'a 2024-10-27T01:00:00Z',
      'b 2024-10-27T00:11:00Z',
      'a 2024-10-27T01:01:00Z',
    ])
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

describe('CSV oxygen and consciousness columns', () => {
  it.each<[string, boolean]>([
    ['true', true],
    ['Yes', true],
    ['y', true],
    ['1', true],
    ['O2', true],
    ['oxygen', true],
    ['false', false],
    ['NO', false],
    ['n', false],
    ['0', false],
    ['Air', false],
    ['room air', false],
    ['RA', false],
  ])('reads the on_oxygen cell %s', (text, value) => {
    expect(parseOnOxygen(text, 'on_oxygen')).toEqual({ ok: true, value })
  })

  it.each<[string, string]>([
    ['A', 'A'],
    ['c', 'C'],
    ['V', 'V'],
    ['P', 'P'],
    ['u', 'U'],
    ['Alert', 'A'],
    ['Confusion', 'C'],
    ['confused', 'C'],
    ['New confusion', 'C'],
    ['Voice', 'V'],
    ['verbal', 'V'],
    ['Pain', 'P'],
    ['painful', 'P'],
    ['UNRESPONSIVE', 'U'],
  ])('reads the consciousness cell %s as %s', (text, level) => {
    expect(parseConsciousness(text, 'acvpu')).toEqual({ ok: true, value: level })
  })

  it('reads a blank cell as not recorded and refuses any other spelling, naming the column and the accepted ones', () => {
    for (const blank of ['', ' ', 'NA', 'null', '-']) {
      expect(parseOnOxygen(blank, 'o2')).toEqual({ ok: true, value: undefined })
      expect(parseConsciousness(blank, 'avpu')).toEqual({ ok: true, value: undefined })
    }
    expect(parseOnOxygen('2 L/min', 'o2')).toEqual({ ok: false, reason: 'o2 "2 L/min" is not one of true/false, yes/no, 1/0, O2/air' })
    expect(parseConsciousness('drowsy', 'avpu')).toEqual({
      ok: false,
      reason: 'avpu "drowsy" is not an ACVPU level: A, C, V, P, U or Alert, Confusion, Voice, Pain, Unresponsive',
    })
    expect(parseConsciousness('GCS 14', 'avpu').ok).toBe(false)
  })

  it.each([
    ['on_oxygen', 'consciousness'],
    ['O2', 'ACVPU'],
    ['Supplemental Oxygen', 'AVPU'],
    ['oxygen-therapy', 'level_of_consciousness'],
  ])('recognises the columns %s and %s, and a header with no vital column but them', (o2, loc) => {
    const c = resolveColumns(['time', 'patient_id', o2, loc])
    expect(c.fields.onOxygen?.name).toBe(o2)
    expect(c.fields.consciousness?.name).toBe(loc)
    expect(resolveColumns(['time', 'patient_id', loc]).fields.consciousness?.index).toBe(2)
  })

  it('still asks for an observation column when there is none, and maps them by --columns', () => {
    expect(() => resolveColumns(['time', 'patient_id', 'notes'])).toThrow(/at least one vital column .* or an on_oxygen or consciousness column/)
    expect(parseColumnsFlag('onOxygen=Device, consciousness=Neuro')).toEqual({ onOxygen: 'Device', consciousness: 'Neuro' })
    expect(resolveColumns(['t', 'p', 'Device', 'Neuro'], { ts: 't', patientId: 'p', onOxygen: 'Device', consciousness: 'Neuro' }).fields.onOxygen?.index).toBe(
      2,
    )
  })

  it('replays nurse observations: a row with only those columns is a reading, beside vitals they ride along, a bad spelling is left out alone', async () => {
    const file = path.join(dir, 'obs.csv')
    await writeFile(
      file,
      `${[
        'time,patient_id,device_id,heart_rate_bpm,spo2_percent,on_oxygen,acvpu',
        '2025-10-10 08:00:00,p-1,obs-1,,,air,A',
        '2025-10-10 09:00:00,p-1,obs-1,,,yes,',
        '2025-10-10 10:00:00,p-1,obs-1,,,,Confused',
        '2025-10-10 10:00:05,p-1,wrist-1,92,89,O2,',
        '2025-10-10 11:00:00,p-1,obs-1,,,maybe,A',
        '2025-10-10 11:00:01,p-1,obs-1,,,,drowsy',
        '2025-10-10 12:00:00,p-1,obs-1,,,NA,',
        '2025-10-10 12:00:05,p-1,wrist-1,140,82,O2,drowsy',
      ].join('\n')}\n`,
    )
    const items = await all(file, { timeZone: 'UTC' })
    const shown = items.map((i) =>
      i.kind === 'skip' ? `skip ${i.line}: ${i.reason}` : { vitals: i.reading.vitals, onOxygen: i.reading.onOxygen, consciousness: i.reading.consciousness },
    )
    expect(shown).toEqual([
      { vitals: {}, onOxygen: false, consciousness: 'A' },
      { vitals: {}, onOxygen: true, consciousness: undefined },
      { vitals: {}, onOxygen: undefined, consciousness: 'C' },
      { vitals: { heartRate: 92, spo2: 89 }, onOxygen: true, consciousness: undefined },
      // An unknown spelling is left out of the reading; the row's other fields go out.
      { vitals: {}, onOxygen: undefined, consciousness: 'A' },
      // Nothing else in the row: skipped whole, saying why.
      expect.stringMatching(/^skip 7: nothing usable in the row: acvpu "drowsy" is not an ACVPU level/),
      'skip 8: no vital, oxygen or consciousness value in the row',
      // The found case: one unknown ACVPU spelling never hides a critical heart rate and SpO2 beside it.
      { vitals: { heartRate: 140, spo2: 82 }, onOxygen: true, consciousness: undefined },
    ])
    const dropped = items.flatMap((i) => (i.kind === 'reading' ? i.dropped.map((d) => `${i.line} ${d.field} ${d.column}: ${d.reason}`) : []))
    expect(dropped).toEqual([
      expect.stringMatching(/^6 onOxygen on_oxygen: on_oxygen "maybe" is not one of true\/false/),
      expect.stringMatching(/^9 consciousness acvpu: acvpu "drowsy" is not an ACVPU level/),
    ])
    for (const i of items) if (i.kind === 'reading') expect(validateReading(i.reading)).toEqual({ ok: true, reading: i.reading })
    const nurse = items[1]!
    expect(nurse.kind === 'reading' && Object.keys(nurse.reading)).toEqual(['v', 'patientId', 'deviceId', 'ts', 'seq', 'vitals', 'onOxygen'])
  })
})

describe('CSV replay', () => {
  it('turns every row of the seizure export into a valid reading, in file order, per patient in time order', async () => {
    const items = await all(SEIZURE, { timeZone: 'UTC' })
    const readings = items.flatMap((i) => (i.kind === 'reading' ? [i.reading] : []))
    expect(items.filter((i) => i.kind === 'skip')).toEqual([])
    expect(readings).toHaveLength(12_000)
    expect(new Set(readings.map((r) => r.patientId))).toEqual(new Set(['patient_1', 'patient_2', 'patient_3', 'patient_4', 'patient_5']))
    expect(readings[0]).toEqual(SEIZURE_FIRST_READING)
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
        '2025-10-10 20:49:18,patient_2,abc,,only a bad number',
      ].join('\n')}\n`,
    )
    const items = await all(file, { timeZone: 'UTC' })
    expect(items.map((i) => (i.kind === 'skip' ? `skip ${i.line}` : `ok ${i.line}`))).toEqual([
      'ok 2',
      'ok 3',
      'skip 4',
      'skip 5',
      'skip 6',
      'skip 7',
      'ok 8',
      'skip 9',
    ])
    // A vital that is not a number is left out; the row's SpO2 goes out.
    const third = items[1]!
    expect(third.kind === 'reading' && third.reading.vitals).toEqual({ spo2: 96 })
    expect(third.kind === 'reading' && third.dropped).toEqual([
      { field: 'heartRate', column: 'heart_rate_bpm', reason: 'heart_rate_bpm "abc" is not a number' },
    ])
    const skips = items.filter((i) => i.kind === 'skip') as Array<{ reason: string }>
    expect(skips[0]!.reason).toMatch(/time "not-a-time" is not a timestamp/)
    expect(skips[1]!.reason).toMatch(/expected at least 4 cells, found 2/)
    expect(skips[2]!.reason).toMatch(/empty patient_id/)
    expect(skips[3]!.reason).toMatch(/no vital/)
    expect(skips[4]!.reason).toBe('nothing usable in the row: heart_rate_bpm "abc" is not a number')
    const ok = items[6]!
    expect(ok.kind === 'reading' && ok.reading.vitals).toEqual({ heartRate: 70 })
    expect(ok.kind === 'reading' && ok.dropped).toEqual([])
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
    expect(item).toMatchObject({
      kind: 'reading',
      reading: { patientId: 'a', ts: Date.UTC(2025, 0, 1), vitals: { glucose: glucoseMmolToMgDl(5.5), temperature: 37 } },
    })
  })

  it('gives the same number and status as the FHIR gateway for the same physical value (CGM consensus edges, a fever in °F)', async () => {
    const file = path.join(dir, 'same-as-fhir.csv')
    const rows = [
      [10.0, 100.4],
      [13.9, 101.3],
      [3.9, 96.8],
      [3.0, 95.9],
    ]
    await writeFile(file, `timestamp,patient,glucose_mmol_l,temp_f\n${rows.map(([g, t], i) => `2025-01-01T00:0${i}:00Z,a,${g},${t}`).join('\n')}\n`)
    const got = (await all(file, { timeZone: 'UTC' })).map((item) => (item.kind === 'reading' ? item.reading.vitals : undefined))
    const viaFhir = rows.map(([g, t]) => {
      const obs = (code: string, value: number, unit: string) => ({
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code }] },
        subject: { reference: 'Patient/a' },
        effectiveDateTime: '2025-01-01T00:00:00Z',
        valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit },
      })
      const glucose = observationToReading(obs('105272-9', g!, 'mmol/L'))
      const temperature = observationToReading(obs('8310-5', t!, '[degF]'))
      return {
        glucose: glucose.ok ? glucose.reading.vitals.glucose : undefined,
        temperature: temperature.ok ? temperature.reading.vitals.temperature : undefined,
      }
    })
    expect(got).toEqual(viaFhir)
    expect(got.map((v) => v?.glucose)).toEqual([180, 250, 70, 54])
    expect(got.map((v) => classifyVital('glucose', v!.glucose!))).toEqual(['NORMAL', 'WARNING', 'NORMAL', 'WARNING'])
    expect(got.map((v) => v?.temperature)).toEqual([38, 38.5, 36, 35.5])
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
