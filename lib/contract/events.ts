/**
 * Clinical event schema v1 (docs/CONTRACT.md, Clinical events): the ground truth the risk model
 * learns from and is measured against. An event is an episode of one patient, with the times of
 * its phases: onset (it starts), plateau (it is at full strength), recovery (it starts to wane)
 * and end. Three sources write them to `vitals.events`, keyed by patientId:
 *  - the simulator, for each episode it draws (edge/simulation.ts), when event time reaches its onset;
 *  - the CSV replay with `--label <column>`: a run of positive rows of one patient is one episode;
 *  - a clinician, through `POST /api/events` (serving/routes-events.ts), recorded with the user.
 * `eventId` is the idempotency key: a producer that sends an event again sends the same id, and
 * readers of the lake keep one row per id (the archiver keeps every offset once; an id repeated
 * at two offsets is one event sent twice).
 */
import { z } from 'zod'
import { describeIssues, patientIdSchema } from './schema.ts'

/** Who recorded an event. */
export const EVENT_SOURCES = ['simulator', 'replay', 'clinician'] as const
export type EventSource = (typeof EVENT_SOURCES)[number]

/** Kinds are open-ended words (`hypotension`, `seizure`, `rapid-response-call`): lowercase, digits and '-'. */
export const EVENT_KIND = /^[a-z][a-z0-9-]{0,39}$/

const ms = z.number().int().min(0).max(8_640_000_000_000)

export const clinicalEventSchema = z
  .strictObject({
    v: z.literal(1),
    /** Idempotency key: 1-128 ASCII characters of [A-Za-z0-9._:-]. */
    eventId: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, { error: 'eventId must be 1-128 characters of A-Z, a-z, 0-9, ., _, : or -' }),
    patientId: patientIdSchema,
    kind: z.string().regex(EVENT_KIND, { error: 'kind must be a lowercase word of at most 40 characters (a-z, 0-9, -), e.g. hypotension' }),
    /** Epoch ms of the start of the episode. */
    onset: ms,
    /** Epoch ms it reached full strength (absent: unknown). */
    plateau: ms.optional(),
    /** Epoch ms it began to wane (absent: unknown). */
    recovery: ms.optional(),
    /** Epoch ms it was over (absent: unknown or not yet). */
    end: ms.optional(),
    /** 0-1: 0.5 a warning-level episode, 1 a critical one (absent: unknown). */
    severity: z.number().min(0).max(1).optional(),
    source: z.enum(EVENT_SOURCES),
    /** The user who recorded it (clinician events). */
    recordedBy: z.string().min(1).max(128).optional(),
    /** Epoch ms the event was recorded (wall clock of its producer). */
    recordedAt: ms,
    /** Free text (clinician events), at most 500 characters. */
    note: z.string().max(500).optional(),
  })
  .refine((e) => (e.plateau ?? e.onset) >= e.onset && (e.recovery ?? e.plateau ?? e.onset) >= (e.plateau ?? e.onset), {
    error: 'phase times must not go back: onset <= plateau <= recovery <= end',
  })
  .refine((e) => e.end === undefined || e.end >= (e.recovery ?? e.plateau ?? e.onset), {
    error: 'phase times must not go back: onset <= plateau <= recovery <= end',
  })

export type ClinicalEvent = z.infer<typeof clinicalEventSchema>

export type EventParseResult = { ok: true; event: ClinicalEvent } | { ok: false; detail: string }

/** Parses raw bytes (or a string) into an event, with every problem named when it fails. */
export function parseClinicalEvent(raw: Buffer | Uint8Array | string): EventParseResult {
  let json: unknown
  try {
    json = JSON.parse(typeof raw === 'string' ? raw : Buffer.from(raw).toString('utf8'))
  } catch (error) {
    return { ok: false, detail: `not JSON: ${(error as Error).message}` }
  }
  const parsed = clinicalEventSchema.safeParse(json)
  return parsed.success ? { ok: true, event: parsed.data } : { ok: false, detail: describeIssues(parsed.error) }
}

/** The id of a simulated or replayed episode: the same episode always gets the same id. */
export function episodeEventId(source: 'simulator' | 'replay', patientId: string, kind: string, onset: number): string {
  return `${source === 'simulator' ? 'sim' : 'csv'}:${patientId}:${kind}:${onset}`
}
