import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { clinicalEventSchema } from '../lib/contract/events.ts'
import { loadConfig } from '../lib/config.ts'
import { createLogger } from '../lib/log.ts'
import { parseLabel, readCsv, type CsvItem } from './csv.ts'
import { replayEpisodeEvent } from './episode-events.ts'
import { memoryEvents, memorySink } from './fixtures/memory-sinks.ts'
import { SEIZURE } from './fixtures/seizure.ts'
import { run } from './index.ts'
import { LabelRuns } from './label-runs.ts'

const config = loadConfig({}, {})
const log = createLogger({ level: 'silent' })
const T = (s: string) => Date.parse(`2025-10-10T${s}Z`)

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'vigil-labels-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function csv(name: string, rows: string[]): Promise<string> {
  const file = path.join(dir, name)
  await writeFile(file, `time,patient_id,heart_rate_bpm,seizure_label\n${rows.join('\n')}\n`)
  return file
}

/** Two patients interleaved: p1 has a run of three positive rows and one ending at the end of the file, p2 a run of one. */
const ROWS = [
  '2025-10-10 10:00:00,p1,80,0',
  '2025-10-10 10:00:30,p1,120,1',
  '2025-10-10 10:00:40,p2,70,yes',
  '2025-10-10 10:01:00,p1,125,TRUE',
  '2025-10-10 10:01:10,p2,71,',
  '2025-10-10 10:01:30,p1,130, 1 ',
  '2025-10-10 10:02:00,p1,90,no',
  '2025-10-10 10:02:30,p1,85,false',
  '2025-10-10 10:03:00,p1,140,1',
]

describe('the label cell', () => {
  it('is positive for 1, true and yes, negative for 0, false, no and empty, case and spaces ignored, and nothing else', () => {
    for (const t of ['1', 'true', 'yes', ' TRUE ', 'Yes']) expect(parseLabel(t), t).toBe(true)
    for (const t of ['0', 'false', 'no', '', '  ', 'NO']) expect(parseLabel(t), t).toBe(false)
    for (const t of ['2', 'maybe', '1.5', 'y', '-1']) expect(parseLabel(t), t).toBeUndefined()
  })

  it('comes with each reading of the CSV when --label names its column, and the replay stops on one that is not a label, naming the line and the column', async () => {
    const items: CsvItem[] = []
    for await (const item of readCsv(await csv('labels.csv', ROWS), { timeZone: 'UTC', label: 'seizure_label' })) items.push(item)
    expect(items.map((i) => (i.kind === 'reading' ? i.label : i.kind))).toEqual([false, true, true, true, false, true, false, false, true])
    const bad = await csv('bad.csv', [ROWS[0]!, '2025-10-10 10:00:30,p1,120,maybe'])
    await expect(async () => {
      for await (const _ of readCsv(bad, { timeZone: 'UTC', label: 'seizure_label' })) {
        // read to the end
      }
    }).rejects.toThrow('line 3, column seizure_label: "maybe" is not a label: expected 1, true or yes (positive) or 0, false, no or empty (negative).')
    await expect(async () => {
      for await (const _ of readCsv(bad, { timeZone: 'UTC', label: 'label' })) {
        // read to the end
      }
    }).rejects.toThrow('--label names "label", but the CSV header has no such column (it has time, patient_id, heart_rate_bpm, seizure_label).')
  })
})

describe('runs of positive rows', () => {
  it('are one episode per run of consecutive positive rows of a patient, from the first positive row to the last, ended by its next negative row', () => {
    const runs = new LabelRuns()
    expect(runs.add('p1', 1, false)).toBeUndefined()
    expect(runs.add('p1', 2, true)).toBeUndefined()
    expect(runs.add('p2', 3, true)).toBeUndefined()
    expect(runs.add('p1', 4, true)).toBeUndefined()
    expect(runs.add('p2', 5, false)).toEqual({ patientId: 'p2', onset: 3, end: 3 })
    expect(runs.add('p1', 6, false)).toEqual({ patientId: 'p1', onset: 2, end: 4 })
    expect(runs.add('p1', 7, false)).toBeUndefined()
    runs.add('p1', 8, true)
    runs.add('p2', 9, true)
    expect(runs.endAll(false)).toEqual([
      { patientId: 'p1', onset: 8, end: undefined },
      { patientId: 'p2', onset: 9, end: undefined },
    ])
    expect(runs.endAll(true)).toEqual([])
  })

  it('become replay events with kind, onset and end, no plateau or recovery, and an id from source, patient, kind and onset', () => {
    const event = replayEpisodeEvent({ patientId: 'p1', onset: 1_000, end: 5_000 }, 'seizure', 9_000)
    expect(event).toEqual({
      v: 1,
      eventId: 'csv:p1:seizure:1000',
      patientId: 'p1',
      kind: 'seizure',
      onset: 1_000,
      end: 5_000,
      source: 'replay',
      recordedAt: 9_000,
    })
    expect(clinicalEventSchema.safeParse(event).success).toBe(true)
    expect(replayEpisodeEvent({ patientId: 'p1', onset: 1_000, end: undefined }, 'seizure', 9_000)).not.toHaveProperty('end')
  })
})

describe('a replay with --label', () => {
  it('publishes each run when it ends (a negative row of the patient, or the end of the file), with the kind of --label-kind', async () => {
    const events = memoryEvents()
    const file = await csv('replay.csv', ROWS)
    const summary = await run(config, { replay: file, label: 'seizure_label', labelKind: 'tonic-clonic' }, { log, sink: memorySink(), events })
    expect(events.events.map((e) => [e.patientId, e.kind, e.onset, e.end])).toEqual([
      ['p2', 'tonic-clonic', T('10:00:40'), T('10:00:40')],
      ['p1', 'tonic-clonic', T('10:00:30'), T('10:01:30')],
      ['p1', 'tonic-clonic', T('10:03:00'), T('10:03:00')],
    ])
    expect(events.events[1]!.eventId).toBe(`csv:p1:tonic-clonic:${T('10:00:30')}`)
    expect(summary.episodesPublished).toBe(3)
  })

  it('with --loop shifts each pass like its readings, so that every pass has its own ids', async () => {
    const events = memoryEvents()
    const sink = memorySink()
    const file = await csv('loop.csv', ROWS)
    // Nine rows a pass: 27 readings are three passes.
    await run(config, { replay: file, label: 'seizure_label', loop: true, count: 27 }, { log, sink, events })
    // A pass spans 10:00:00 to 10:03:00 and the file's step is 10 s (pass-span.ts).
    const shift = T('10:03:00') + 10_000 - T('10:00:00')
    const onsets = events.events.filter((e) => e.patientId === 'p1').map((e) => e.onset)
    expect(onsets.slice(0, 4)).toEqual([T('10:00:30'), T('10:03:00'), T('10:00:30') + shift, T('10:03:00') + shift])
    expect(new Set(events.events.map((e) => e.eventId)).size).toBe(events.events.length)
  })

  it('finds the seizures of the seizure export, each a run of positive rows of one patient', async () => {
    const events = memoryEvents()
    const summary = await run(config, { replay: SEIZURE, label: 'seizure_label' }, { log, sink: memorySink(), events })
    expect(summary.replay?.rowsSent).toBe(12_000)
    expect(events.events.length).toBeGreaterThan(0)
    for (const e of events.events) {
      expect(clinicalEventSchema.safeParse(e).success).toBe(true)
      expect(e).toMatchObject({ source: 'replay', kind: 'seizure' })
      expect(e.end!).toBeGreaterThanOrEqual(e.onset)
    }
  })

  it('is refused without --replay', async () => {
    await expect(run(config, { label: 'seizure_label', count: 1 }, { log, sink: memorySink(), events: memoryEvents() })).rejects.toThrow(
      '--label reads a column of the replayed file: use it with --replay FILE.csv.',
    )
  })
})
