import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { clinicalEventSchema, type ClinicalEvent } from '../lib/contract/events.ts'
import { loadConfig } from '../lib/config.ts'
import { createLogger } from '../lib/log.ts'
import type { Reading } from '../lib/contract/schema.ts'
import { EpisodeQueue } from './episode-queue.ts'
import { episodeTimeMap, eventKindOf, simulatedEpisodeEvent } from './episode-events.ts'
import { encodeReading } from './faults.ts'
import { memoryEvents, memorySink } from './fixtures/memory-sinks.ts'
import { run } from './index.ts'
import { Pacer } from './pacer.ts'
import type { Episode } from './physiology.ts'
import { Simulator } from './simulator.ts'

const START = Date.UTC(2025, 10, 22, 6, 0, 0)
/** Four simulated hours: every persona's first episodes, and some second ones. */
const SPAN_MS = 4 * 3_600_000

/** Every episode the patients of a ward without announcements hold at some point, by patient and onset. */
function drawnEpisodes(patients: number, seed: number, spanMs: number): Map<string, Episode> {
  const sim = new Simulator(patients, seed, START)
  const seen = new Map<string, Episode>()
  // Looked at every 50 readings (a few simulated seconds): an episode lasts minutes at least.
  for (let n = 0; sim.peekTs() < START + spanMs; n++) {
    sim.next()
    if (n % 50 === 0) for (const p of sim.patients) for (const e of p.episodes) seen.set(`${p.id}@${e.start}`, { ...e })
  }
  return seen
}

describe('the simulated ward announcing its episodes', () => {
  it('leaves every reading of a seeded run as it was', () => {
    const plain = new Simulator(12, 42, START)
    const announcing = new Simulator(12, 42, START, { episodes: true })
    let announced = 0
    const a: string[] = []
    const b: string[] = []
    while (plain.peekTs() < START + SPAN_MS) {
      a.push(encodeReading(plain.next()))
      const r = announcing.next()
      b.push(encodeReading(r))
      announced += announcing.episodesStartedBy(r.ts).length
    }
    expect(announced).toBeGreaterThan(12)
    expect(b).toEqual(a)
  })

  it('hands out each drawn episode once, with its drawn times, at the first reading at or past its onset and never before', () => {
    const sim = new Simulator(12, 7, START, { episodes: true })
    const announced = new Map<string, Episode>()
    let previousTs = -Infinity
    while (sim.peekTs() < START + SPAN_MS) {
      const r = sim.next()
      for (const { patientId, episode } of sim.episodesStartedBy(r.ts)) {
        const key = `${patientId}@${episode.start}`
        expect(announced.has(key), key).toBe(false)
        expect(episode.start).toBeLessThanOrEqual(r.ts)
        // The reading before this one was still before the onset: announced as soon as event time reached it.
        expect(episode.start).toBeGreaterThan(previousTs)
        announced.set(key, { ...episode })
      }
      previousTs = r.ts
    }
    const drawn = [...drawnEpisodes(12, 7, SPAN_MS)].filter(([, e]) => e.start <= previousTs)
    expect(drawn.length).toBeGreaterThan(12)
    expect(new Map(drawn)).toEqual(announced)
  })

  it('keeps the onsets it holds in order, ties in the order queued', () => {
    const q = new EpisodeQueue()
    const e = (start: number): Episode => ({ kind: 'fever', start, plateau: start, recovery: start, end: start, severity: 1 })
    for (const [id, start] of [
      ['a', 30],
      ['b', 10],
      ['c', 20],
      ['d', 10],
      ['e', 50],
    ] as const)
      q.push(id, e(start))
    expect(q.nextStart).toBe(10)
    expect(q.popStartedBy(9)).toEqual([])
    expect(q.popStartedBy(20).map((s) => s.patientId)).toEqual(['b', 'd', 'c'])
    expect(q.popStartedBy(100).map((s) => s.patientId)).toEqual(['a', 'e'])
    expect(q.nextStart).toBe(Infinity)
  })
})

describe('a simulated episode as a clinical event', () => {
  const episode: Episode = {
    kind: 'hypertensiveCrisis',
    start: START + 600_000.4,
    plateau: START + 900_000.6,
    recovery: START + 2_700_000,
    end: START + 3_600_000,
    severity: 0.9,
  }

  it('keeps the drawn times (whole ms) with --rate max, names the kind as a lowercase word and takes its id from source, patient, kind and onset', () => {
    const map = episodeTimeMap(new Pacer({ kind: 'asap' }, () => 0), 5, START + 600_001, START + 600_001)
    const event = simulatedEpisodeEvent('p-0006', episode, map, 1_700_000_000_000)
    expect(event).toEqual({
      v: 1,
      eventId: `sim:p-0006:hypertensive-crisis:${START + 600_000}`,
      patientId: 'p-0006',
      kind: 'hypertensive-crisis',
      onset: START + 600_000,
      plateau: START + 900_001,
      recovery: START + 2_700_000,
      end: START + 3_600_000,
      severity: 0.9,
      source: 'simulator',
      recordedAt: 1_700_000_000_000,
    })
    expect(clinicalEventSchema.safeParse(event).success).toBe(true)
    expect(['tachycardia', 'hypoglycaemia'].map((k) => eventKindOf(k as Episode['kind']))).toEqual(['tachycardia', 'hypoglycaemia'])
  })

  it('maps the times as the readings are stamped with --speedup: origin + (t - origin) / speedup', () => {
    const pacer = new Pacer({ kind: 'eventTime', speedup: 60, origin: START }, () => 0)
    const event = simulatedEpisodeEvent('p-0006', episode, episodeTimeMap(pacer, 5, START + 600_001, pacer.stamp(0, START + 600_001)), 0)
    expect([event.onset, event.plateau, event.recovery, event.end]).toEqual([START + 10_000, START + 15_000, START + 45_000, START + 60_000])
    expect(event.onset).toBe(pacer.stamp(0, episode.start))
  })

  it('maps the times with --rate R from the reading that reached the onset, the ward making W readings a simulated second: R/W simulated seconds per second', () => {
    const pacer = new Pacer({ kind: 'rate', perSecond: 100, origin: START }, () => 0)
    // The reading that reached the onset: simulated 1 ms after it, stamped START + 5 000 (reading 500).
    const map = episodeTimeMap(pacer, 20, episode.start + 1, START + 5_000)
    const event = simulatedEpisodeEvent('p-0006', episode, map, 0)
    expect(event.onset).toBe(START + 5_000)
    // 300 simulated seconds of onset are 300 × 20 / 100 = 60 s of stamps.
    expect(event.plateau! - event.onset).toBe(60_000)
    expect(event.end! - event.onset).toBe(600_000)
  })
})

describe('a simulated run publishing its episodes', () => {
  const config = loadConfig({}, {})
  const log = createLogger({ level: 'silent' })

  it('publishes each episode once, valid, after the reading that reached its onset, and counts them in the summary', async () => {
    const sink = memorySink()
    const events = memoryEvents(sink)
    const summary = await run(config, { patients: 12, seed: 3, start: START, rate: 'max', count: 120_000 }, { log, sink, events })
    expect(summary.episodesPublished).toBe(events.events.length)
    expect(events.events.length).toBeGreaterThan(12)
    expect(new Set(events.events.map((e) => e.eventId)).size).toBe(events.events.length)
    const readings = sink.records.map((r) => JSON.parse(r.value) as Reading)
    events.events.forEach((e: ClinicalEvent, i) => {
      expect(clinicalEventSchema.safeParse(e).success).toBe(true)
      expect(e.source).toBe('simulator')
      // A chunk of readings (2 000) goes out after the events its readings reached: the readings sent
      // before an event are all before its onset, and its chunk holds the one that reached it.
      const before = events.after[i]!
      if (before > 0) expect(readings[before - 1]!.ts).toBeLessThanOrEqual(e.onset)
      expect(readings.slice(before, before + 2_000).some((r) => r.ts >= e.onset)).toBe(true)
    })
    // Same seed and start: the same events (ids and times), and the same readings.
    const again = memoryEvents()
    const sink2 = memorySink()
    await run(config, { patients: 12, seed: 3, start: START, rate: 'max', count: 120_000 }, { log, sink: sink2, events: again })
    expect(again.events.map(({ recordedAt: _, ...e }) => e)).toEqual(events.events.map(({ recordedAt: _, ...e }) => e))
    expect(sink2.records.map((r) => r.value)).toEqual(sink.records.map((r) => r.value))
  })

  it('says once, with --via http, that its episodes are not published, and publishes none', async () => {
    const lines: string[] = []
    const destination = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk))
        done()
      },
    })
    const events = memoryEvents()
    const summary = await run(
      config,
      { patients: 12, seed: 3, start: START, rate: 'max', count: 20_000, via: 'http' },
      { log: createLogger({ level: 'info', destination, pretty: false }), sink: memorySink(), events },
    )
    expect(lines.filter((l) => l.includes('simulated episodes are not published with --via http'))).toHaveLength(1)
    expect(events.events).toEqual([])
    expect(summary.episodesPublished).toBeUndefined()
  })

  it('publishes nothing with --no-episodes, the readings the same', async () => {
    const events = memoryEvents()
    const off = memorySink()
    const summary = await run(config, { patients: 12, seed: 3, start: START, rate: 'max', count: 20_000, episodes: false }, { log, sink: off, events })
    expect(events.events).toEqual([])
    expect(summary.episodesPublished).toBeUndefined()
    const on = memorySink()
    const published = memoryEvents()
    await run(config, { patients: 12, seed: 3, start: START, rate: 'max', count: 20_000 }, { log, sink: on, events: published })
    expect(published.events.length).toBeGreaterThan(0)
    expect(off.records.map((r) => r.value)).toEqual(on.records.map((r) => r.value))
  })
})
