/**
 * The Socket.io event maps (docs/CONTRACT.md, Serving), shared by the server (serving/push.ts) and the
 * page (public/app.js refers to them in JSDoc). Names are the contract: `snapshot`, `reading`,
 * `alert`, `stats`, `batch:progress`, `risk:model`, `session:end` from server to client; `subscribe` / `unsubscribe` from
 * client to server.
 */
import type { AlertEvent, BatchMeta, PatientState, RiskModelInfo, SeriesEntry } from '../lib/contract/views.ts'
import type { BatchRunResult } from '../lib/contract/batch.ts'
import type { Principal } from '../lib/identity/model.ts'

/** An alert as the feed shows it: the event, the stream entry id, and who acknowledged it. */
export interface AlertView extends AlertEvent {
  /** Redis stream entry id, when read from the stream (a live push has none yet). */
  streamId?: string
  ack?: { by: string; at: number }
}

/** Everything a page needs to be whole again, sent on connect and on every reconnect. */
export interface Snapshot {
  /** Server wall-clock time (ms), so the page can tell stale patients without trusting its own clock. */
  serverTime: number
  staleAfterMs: number
  patients: PatientState[]
  /** Newest first. */
  alerts: AlertView[]
  batch: BatchMeta | null
  /**
   * The risk model the speed layer serves, or null while it serves none: the page shows a
   * patient's risk only while this is set (a risk left in a patient's state by a model no longer
   * served is not shown).
   */
  riskModel: RiskModelInfo | null
}

/** The served risk model changed (loaded, replaced or dropped): the page shows or hides the risk panels. */
export interface RiskModelNotice {
  model: RiskModelInfo | null
}

/**
 * One push of the coalescing loop: the grid's changed patients (everyone gets these) and the
 * series entries of the patients this client subscribed to (oldest first).
 */
export interface ReadingPush {
  serverTime: number
  patients: PatientState[]
  series: Array<{ patientId: string; entries: SeriesEntry[] }>
}

export interface BatchProgress {
  jobId: string
  phase: string
  done: number
  total: number
  message?: string
  /** 'running' while in progress, then 'succeeded' or 'failed'. */
  state: 'running' | 'succeeded' | 'failed'
}

/** The batch job's result as pushed to pages: `skippedFiles` counts the quarantined files; `quarantined` lists the first of them, with lake-relative paths (serving/batch.ts). */
export type BatchResultSummary = Omit<BatchRunResult, 'skippedFiles'> & { skippedFiles: number }

/** A new batch view is in Redis: pages reload their daily panel. */
export interface StatsNotice {
  meta: BatchMeta | null
  jobId?: string
  result?: BatchResultSummary
}

export interface ServerToClientEvents {
  snapshot: (snapshot: Snapshot) => void
  reading: (push: ReadingPush) => void
  /** New or acknowledged alerts, newest first. */
  alert: (alerts: AlertView[]) => void
  stats: (notice: StatsNotice) => void
  'batch:progress': (progress: BatchProgress) => void
  'risk:model': (notice: RiskModelNotice) => void
  /** The connection's sign-in ended; the server disconnects it right after (docs/SECURITY.md, Users, roles and sessions). */
  'session:end': (end: SessionEnd) => void
}

/**
 * Why a page's session ended: `signed-out` (POST /logout), `expired` (its time is up, or it was
 * ended elsewhere), `revoked` (the user was disabled or removed, or changed password).
 */
export type SessionEndReason = 'signed-out' | 'expired' | 'revoked'

export interface SessionEnd {
  reason: SessionEndReason
}

/** Answer to subscribe / unsubscribe, for clients that want to know the room is joined. */
export interface RoomAck {
  ok: boolean
  error?: string
}

export interface ClientToServerEvents {
  subscribe: (request: { patientId: string }, ack?: (result: RoomAck) => void) => void
  unsubscribe: (request: { patientId: string }, ack?: (result: RoomAck) => void) => void
}

/** Vigil runs one serving process; no events between servers. */
export type InterServerEvents = Record<string, never>

export interface SocketData {
  /** Set when the client's socket buffer overflowed: it gets a fresh snapshot once drained. */
  needsSnapshot: boolean
  /** Who the connection acts as, set by the namespace guard (serving/socket-guard.ts). */
  principal: Principal
  /** The handle (SHA-256 of the id) of the session it came with, or null for the bearer token. */
  session: string | null
}
