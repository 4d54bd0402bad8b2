import { afterEach, describe, expect, it } from 'vitest'
import { parseClinicalEvent, type ClinicalEvent } from '../lib/contract/events.ts'
import { parseReading, type Reading } from '../lib/contract/schema.ts'
import { createLogger } from '../lib/log.ts'
import { readTopic, recordCount } from '../test/read-topic.ts'
import { createTestEnv, type TestEnv } from '../test/support.ts'
import { memoryEvents, memorySink } from './fixtures/memory-sinks.ts'
import { SEIZURE } from './fixtures/seizure.ts'
import { run } from './index.ts'

/** A --start in the past, as a backfill of a past day would use. */
const START = '2026-11-20T06:00:00Z'

const quiet = createLogger({ level: 'warn', destination: process.stderr })
const envs: TestEnv[] = []
async function env(): Promise<TestEnv> {
  const e = await createTestEnv()
  envs.push(e)
  return e
}
afterEach(async () => {
  for (const e of envs.splice(0)) await e.cleanup()
})

/** Every event of the topic, parsed, each checked against schema v1 and its key. */
async function eventsOn(e: TestEnv, count: number): Promise<ClinicalEvent[]> {
  const records = await readTopic(e.config, e.topics.events, count)
  return records.map((r) => {
    const parsed = parseClinicalEvent(r.value)
    if (!parsed.ok) throw new Error(parsed.detail)
    expect(r.key).toBe(parsed.event.patientId)
    return parsed.event
  })
}

const withoutRecordedAt = ({ recordedAt: _, ...rest }: ClinicalEvent) => rest
const byId = (a: { eventId: string }, b: { eventId: string }) => (a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0)

describe('vigil edge publishing clinical events to vitals.events', () => {
  it('with --rate max and a --start in the past: every simulated episode once, the same as the simulation draws, each onset within the readings sent', async () => {
    const e = await env()
    const options = { patients: 12, rate: 'max' as const, count: 60_000, seed: 11, start: START }
    const summary = await run(e.config, options, { log: quiet })
    expect(summary.episodesPublished).toBeGreaterThan(6)
    expect(summary.episodesUnacknowledged).toBe(0)
    expect(await recordCount(e.config, e.topics.events)).toBe(summary.episodesPublished)
    const events = await eventsOn(e, summary.episodesPublished!)
    const readings = (await readTopic(e.config, e.topics.readings, 60_000)).map((r) => (parseReading(r.value) as { reading: Reading }).reading)
    const lastTs = Math.max(...readings.map((r) => r.ts))
    for (const ev of events) {
      expect(ev.source).toBe('simulator')
      expect(ev.onset).toBeGreaterThanOrEqual(Date.parse(START))
      expect(ev.onset).toBeLessThanOrEqual(lastTs)
    }
    // The same run without Kafka publishes the same events: what the topic holds is the simulation's.
    const expected = memoryEvents()
    await run(e.config, options, { log: quiet, sink: memorySink(), events: expected })
    expect(events.map(withoutRecordedAt).sort(byId)).toEqual(expected.events.map(withoutRecordedAt).sort(byId))
  })

  it('with --speedup 3600 from a --start in the past: each onset stamped as the readings are, never past the newest reading sent when it was published', async () => {
    const e = await env()
    const start = Date.now() - 60_000
    const summary = await run(e.config, { patients: 6, speedup: 3_600, duration: 2, seed: 5, start }, { log: quiet })
    expect(summary.episodesPublished).toBeGreaterThan(0)
    const events = await eventsOn(e, summary.episodesPublished!)
    const readings = (await readTopic(e.config, e.topics.readings, summary.sent)).map((r) => (parseReading(r.value) as { reading: Reading }).reading)
    const lastTs = Math.max(...readings.map((r) => r.ts))
    for (const ev of events) {
      // Two wall-clock seconds of stamps from the start: two simulated hours compressed 3 600 times.
      expect(ev.onset).toBeGreaterThanOrEqual(start)
      expect(ev.onset).toBeLessThanOrEqual(lastTs)
      expect(ev.end! - ev.onset).toBeLessThan(10_000)
    }
  })

  it('with --replay --label seizure_label: each run of positive rows of the seizure export as a replay event', async () => {
    const e = await env()
    const summary = await run(e.config, { replay: SEIZURE, label: 'seizure_label' }, { log: quiet })
    expect(summary.replay?.rowsSent).toBe(12_000)
    expect(summary.episodesPublished).toBeGreaterThan(0)
    const events = await eventsOn(e, summary.episodesPublished!)
    expect(await recordCount(e.config, e.topics.events)).toBe(events.length)
    for (const ev of events) {
      expect(ev).toMatchObject({ source: 'replay', kind: 'seizure' })
      expect(ev.eventId).toBe(`csv:${ev.patientId}:seizure:${ev.onset}`)
    }
  })
})
