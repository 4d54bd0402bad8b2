/**
 * The push loop's decisions, without Socket.io or Redis (serving/push.ts does the I/O):
 * - what is pending between two pushes: the newest state per patient, that patient's newest
 *   series entries (at most `maxEntriesPerPatient`), and the alerts (at most `maxPendingAlerts`);
 * - when the next push goes out: a leading-edge throttle on an injected clock, at most one push
 *   per `intervalMs` (10k readings/s become 10 pushes/s per tab);
 * - who gets what (`planPush`): every client gets the changed patients; a patient's entries go
 *   only to the clients in that patient's room, one payload per group of clients with the same
 *   rooms; a client too far behind is skipped and gets a snapshot once drained.
 */
import type { AlertEvent, PatientState, SeriesEntry } from '../lib/contract/views.ts'

const ROOM_PREFIX = 'patient:'

/** The room of a patient's subscribers. */
export function patientRoom(patientId: string): string {
  return `${ROOM_PREFIX}${patientId}`
}

/** Timers, so that a test can drive time. */
export interface Clock {
  now(): number
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
}

export interface CoalescerOptions {
  /** At most one flush per this many milliseconds. */
  intervalMs: number
  /** Series entries kept per patient between two flushes; the newest win. */
  maxEntriesPerPatient: number
  /** Alerts kept between two flushes; the newest win (an alert storm beyond it still reaches the stream and the API). */
  maxPendingAlerts: number
}

/** The readings part of one flush: the changed patients, and each one's newest entries, oldest first. */
export interface ReadingsBatch {
  patients: PatientState[]
  series: ReadonlyMap<string, SeriesEntry[]>
}

/**
 * Pending updates and the throttle that flushes them. `flush` takes what is pending
 * (`takeAlerts`, `takeReadings`) and must not reject; a flush is never started while one runs.
 */
export class Coalescer {
  private readonly states = new Map<string, PatientState>()
  private readonly entries = new Map<string, SeriesEntry[]>()
  private alerts: AlertEvent[] = []
  private timer: unknown
  private lastFlush = 0
  private flushing = false
  private stopped = false

  constructor(
    private readonly options: CoalescerOptions,
    private readonly clock: Clock,
    private readonly flush: () => Promise<void>,
  ) {}

  addReadings(patient: PatientState, incoming: readonly SeriesEntry[]): void {
    this.states.set(patient.patientId, patient)
    const list = this.entries.get(patient.patientId)
    const merged = list === undefined ? incoming.slice() : list.concat(incoming)
    const max = this.options.maxEntriesPerPatient
    this.entries.set(patient.patientId, merged.length > max ? merged.slice(-max) : merged)
    this.schedule()
  }

  addAlert(alert: AlertEvent): void {
    this.alerts.push(alert)
    if (this.alerts.length > this.options.maxPendingAlerts) this.alerts = this.alerts.slice(-this.options.maxPendingAlerts)
    this.schedule()
  }

  get pending(): boolean {
    return this.states.size > 0 || this.alerts.length > 0
  }

  /** The pending alerts, oldest first, and none pending after. */
  takeAlerts(): AlertEvent[] {
    const taken = this.alerts
    this.alerts = []
    return taken
  }

  /** The pending readings, and none pending after; null when there are none. */
  takeReadings(): ReadingsBatch | null {
    if (this.states.size === 0) return null
    const batch = { patients: [...this.states.values()], series: new Map(this.entries) }
    this.states.clear()
    this.entries.clear()
    return batch
  }

  stop(): void {
    this.stopped = true
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer)
    this.timer = undefined
  }

  // Leading-edge throttle: the first update after a quiet interval goes out at once (low latency
  // at low rates); later ones wait for the interval's end (at most one flush per interval).
  private schedule(): void {
    if (this.timer !== undefined || this.stopped) return
    const wait = Math.max(0, this.lastFlush + this.options.intervalMs - this.clock.now())
    this.timer = this.clock.setTimeout(() => this.fire(), wait)
  }

  private fire(): void {
    this.timer = undefined
    this.lastFlush = this.clock.now()
    void this.flushOnce().then(() => {
      // What arrived during the flush goes out in the next interval.
      if (this.pending) this.schedule()
    })
  }

  private async flushOnce(): Promise<void> {
    if (this.flushing) return
    this.flushing = true
    try {
      await this.flush()
    } finally {
      this.flushing = false
    }
  }
}

/** A connected client as the plan sees it. */
export interface ClientState {
  id: string
  rooms: Iterable<string>
  /** Packets waiting in its socket's buffer. */
  pendingPackets: number
  /** Skipped earlier for being slow: it gets a snapshot instead of this push once drained. */
  needsSnapshot: boolean
}

export interface PushPlan {
  /** Clients that were skipped before and have drained: a fresh snapshot, not this push. */
  snapshot: string[]
  /** Clients with more than `maxPendingPackets` waiting: nothing now, a snapshot later. */
  skip: string[]
  /** One `reading` payload per group: the patients whose entries it carries, and its clients. */
  groups: Array<{ patientIds: string[]; clientIds: string[] }>
}

/** Who gets what of one readings flush (`series` keyed by patient id). */
export function planPush(clients: Iterable<ClientState>, series: ReadonlyMap<string, unknown>, maxPendingPackets: number): PushPlan {
  const plan: PushPlan = { snapshot: [], skip: [], groups: [] }
  // Grouped by the rooms with entries this round: each payload is encoded once, and most
  // clients (in no such room) share one broadcast.
  const groups = new Map<string, { patientIds: string[]; clientIds: string[] }>()
  for (const client of clients) {
    if (client.needsSnapshot && client.pendingPackets === 0) {
      plan.snapshot.push(client.id)
      continue
    }
    if (client.pendingPackets > maxPendingPackets) {
      plan.skip.push(client.id)
      continue
    }
    const mine: string[] = []
    for (const room of client.rooms) {
      if (room.startsWith(ROOM_PREFIX) && series.has(room.slice(ROOM_PREFIX.length))) mine.push(room.slice(ROOM_PREFIX.length))
    }
    mine.sort()
    const key = mine.join('\u0000')
    const group = groups.get(key)
    if (group === undefined) groups.set(key, { patientIds: mine, clientIds: [client.id] })
    else group.clientIds.push(client.id)
  }
  plan.groups = [...groups.values()]
  return plan
}
