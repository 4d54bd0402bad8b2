/**
 * The clinical events the edge publishes (lib/contract/events.ts; docs/CONTRACT.md, Clinical
 * events): a simulated episode at its onset, a run of labelled rows of a replayed CSV at its end.
 * Pure: the sources decide when, these decide what.
 */
import { clinicalEventSchema, episodeEventId, type ClinicalEvent } from '../lib/contract/events.ts'
import { VigilError } from '../lib/errors.ts'
import type { Pacer } from './pacer.ts'
import type { Episode } from './physiology.ts'
import type { EpisodeKind } from './personas.ts'

/**
 * A simulated episode's kind as an event kind, a lowercase word (EVENT_KIND): the persona's
 * camelCase names with '-' (`hypertensiveCrisis` is `hypertensive-crisis`), the others as they are.
 */
export function eventKindOf(kind: EpisodeKind): string {
  return kind.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
}

/** Maps a simulated event time (epoch ms) to the event time the stream shows: whole epoch ms, never decreasing. */
export type EventTimeMap = (simulatedMs: number) => number

/**
 * How an episode's simulated times become stream times, the way the readings' are (pacer.ts), at
 * the reading that reached its onset (`simulatedTs`, stamped `stampedTs`):
 *  - `eventTime` (--speedup K): the readings' own mapping, a function of event time alone:
 *    origin + (t − origin)/K. An episode spans 1/K of its simulated length, as its readings do.
 *  - `rate` (--rate R): readings are stamped by their index (origin + i/R s), not by their
 *    simulated time. The ward makes `wardRate` readings per simulated second, so one stamped
 *    second holds R/wardRate simulated seconds; times are anchored at the reading that reached the
 *    onset: t → stampedTs + (t − simulatedTs) × wardRate/R. The onset lands at or before that
 *    reading's stamp, never after the readings already sent.
 *  - `asap` (--rate max): readings keep the simulation's event time, and so do the episodes.
 */
export function episodeTimeMap(pacer: Pacer, wardRate: number, simulatedTs: number, stampedTs: number): EventTimeMap {
  const s = pacer.schedule
  switch (s.kind) {
    case 'eventTime':
      return (t) => pacer.stamp(0, t)
    case 'rate':
      return (t) => stampedTs + Math.round(((t - simulatedTs) * wardRate) / s.perSecond)
    case 'asap':
      return (t) => Math.round(t)
  }
}

/** Checks an event against schema v1: a failure is a bug of the edge, named with the event. */
function checked(event: ClinicalEvent): ClinicalEvent {
  const parsed = clinicalEventSchema.safeParse(event)
  if (parsed.success) return parsed.data
  throw new VigilError('STAGE_FAILED', `the edge built an invalid clinical event ${JSON.stringify(event)}: ${parsed.error.message}`)
}

/** The event of a simulated episode of `patientId`, its phase times mapped to the stream's (`map`). */
export function simulatedEpisodeEvent(patientId: string, episode: Episode, map: EventTimeMap, recordedAt: number): ClinicalEvent {
  const kind = eventKindOf(episode.kind)
  const onset = map(episode.start)
  return checked({
    v: 1,
    eventId: episodeEventId('simulator', patientId, kind, onset),
    patientId,
    kind,
    onset,
    plateau: map(episode.plateau),
    recovery: map(episode.recovery),
    end: map(episode.end),
    severity: episode.severity,
    source: 'simulator',
    recordedAt,
  })
}

/** A run of consecutive positive rows of one patient in a replayed CSV (--label). */
export interface LabelRun {
  patientId: string
  /** Event time of its first positive row, epoch ms (shifted with the pass). */
  onset: number
  /** Event time of its last positive row; undefined when the replay stopped within the run. */
  end: number | undefined
}

/** The event of a labelled run; plateau and recovery are not known from a label. */
export function replayEpisodeEvent(run: LabelRun, kind: string, recordedAt: number): ClinicalEvent {
  return checked({
    v: 1,
    eventId: episodeEventId('replay', run.patientId, kind, run.onset),
    patientId: run.patientId,
    kind,
    onset: run.onset,
    ...(run.end === undefined ? {} : { end: run.end }),
    source: 'replay',
    recordedAt,
  })
}
