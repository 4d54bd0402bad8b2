/**
 * Live push: listens on the updates channel and forwards to Socket.io clients, coalesced. Each
 * update is folded into pending state (the newest state per patient, the newest entries per
 * patient, bounded); a throttle flushes at most once per `pushIntervalMs`, so a client gets at
 * most one `reading` event per interval however fast readings arrive (10k readings/s become 10 events/s
 * per tab). Every client gets the changed patients for its grid; a patient's series entries go
 * only to the clients in that patient's room. Alerts are flushed on the same loop; a new batch
 * view is announced at once.
 */
import type { Server, Socket } from 'socket.io'
import { patientIdSchema } from '../lib/contract/schema.ts'
import type { RedisKeys } from '../lib/contract/keys.ts'
import type { Logger } from '../lib/log.ts'
import type { RedisClient } from '../lib/redis.ts'
import type { Stoppable } from '../lib/shutdown.ts'
import { describeError } from '../lib/errors.ts'
import type { AlertEvent, PatientState, SeriesEntry, Update } from '../lib/contract/views.ts'
import type { ServingOptions } from './config.ts'
import type { AlertView, ClientToServerEvents, RoomAck, InterServerEvents, ReadingPush, ServerToClientEvents, Snapshot, SocketData } from './events.ts'
import type { ServingMetrics } from './metrics.ts'
import type { View } from './view.ts'

export type VigilServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>
export type VigilSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>

/** The room of a patient's subscribers. */
export function patientRoom(patientId: string): string {
  return `patient:${patientId}`
}

const UPDATE_TYPES: ReadonlySet<unknown> = new Set(['readings', 'alert', 'batch'])
const ALERT_LEVELS: ReadonlySet<unknown> = new Set(['WARNING', 'CRITICAL_LOW', 'CRITICAL_HIGH', 'STALE'])
const ALERT_KINDS: ReadonlySet<unknown> = new Set(['raised', 'escalated', 'cleared'])

/** Patient rooms one connection may join (a page shows one patient; a wall display a few dozen). */
const MAX_ROOMS_PER_CLIENT = 64

/** Most alerts kept between two flushes; an alert storm beyond it still reaches the stream and the API. */
const MAX_PENDING_ALERTS = 500

/** Packets waiting in an engine.io socket's buffer (not in its public types; read to bound memory per slow client). */
function pendingPackets(socket: VigilSocket): number {
  const buffer = (socket.conn as unknown as { writeBuffer?: unknown[] }).writeBuffer
  return Array.isArray(buffer) ? buffer.length : 0
}

export interface PushDeps {
  io: VigilServer
  subscriber: RedisClient
  keys: RedisKeys
  view: View
  options: ServingOptions
  metrics: ServingMetrics
  log: Logger
}

export interface Push extends Stoppable {
  snapshot(): Promise<Snapshot>
}

export async function startPush(deps: PushDeps): Promise<Push> {
  const { io, subscriber, keys, view, options, metrics, log } = deps
  const states = new Map<string, PatientState>()
  const entries = new Map<string, SeriesEntry[]>()
  let alerts: AlertEvent[] = []
  let malformed = 0

  // Readings per second over a sliding 10 s window, one slot per second.
  const slots = new Array<number>(10).fill(0)
  let slot = 0
  const rateTimer = setInterval(() => {
    metrics.readingsPerSecond.set(slots.reduce((a, b) => a + b, 0) / slots.length)
    slot = (slot + 1) % slots.length
    slots[slot] = 0
  }, 1_000)
  rateTimer.unref()

  const onMessage = (message: string) => {
    let update: Update
    try {
      update = JSON.parse(message) as Update
    } catch {
      malformed++
      return
    }
    if (typeof update !== 'object' || update === null) {
      malformed++
      return
    }
    // Known types only as label values: a stray publisher must not grow the metric without bound.
    metrics.updatesSeen.inc({ type: UPDATE_TYPES.has(update.type) ? update.type : 'unknown' })
    if (update.type === 'readings') {
      const id = update.patient?.patientId
      if (typeof id !== 'string') return
      states.set(id, update.patient)
      schedule()
      const incoming = Array.isArray(update.entries) ? update.entries : []
      metrics.readingsSeen.inc(incoming.length)
      slots[slot] = (slots[slot] ?? 0) + incoming.length
      const list = entries.get(id)
      const merged = list === undefined ? incoming.slice() : list.concat(incoming)
      entries.set(id, merged.length > options.maxEntriesPerPush ? merged.slice(-options.maxEntriesPerPush) : merged)
    } else if (update.type === 'alert') {
      if (typeof update.alert?.id !== 'string') return
      metrics.alertsSeen.inc({ level: ALERT_LEVELS.has(update.alert.level) ? update.alert.level : 'unknown', kind: ALERT_KINDS.has(update.alert.kind) ? update.alert.kind : 'unknown' })
      alerts.push(update.alert)
      if (alerts.length > MAX_PENDING_ALERTS) alerts = alerts.slice(-MAX_PENDING_ALERTS)
      schedule()
    } else if (update.type === 'batch') {
      io.emit('stats', { meta: update.meta })
      metrics.pushes.inc({ event: 'stats' })
    }
  }

  async function snapshot(): Promise<Snapshot> {
    const [patients, feed, batch] = await Promise.all([view.patients(), view.alerts(options.alertFeedSize), view.batchMeta()])
    return { serverTime: Date.now(), staleAfterMs: options.staleAfterMs, patients, alerts: feed, batch }
  }

  async function sendSnapshot(socket: VigilSocket): Promise<void> {
    try {
      socket.emit('snapshot', await snapshot())
      metrics.pushes.inc({ event: 'snapshot' })
    } catch (error) {
      // The page keeps its last state and shows it as not live; the next reconnect retries.
      socket.data.needsSnapshot = true
      log.warn(`could not build a snapshot: ${describeError(error)}`)
    }
  }

  io.on('connection', (socket) => {
    socket.data.needsSnapshot = false
    metrics.connectedClients.inc()
    socket.on('disconnect', () => metrics.connectedClients.dec())
    const room = (join: boolean) => (request: { patientId: string }, ack?: (result: RoomAck) => void) => {
      const parsed = patientIdSchema.safeParse(request?.patientId)
      let result: RoomAck = { ok: true }
      if (!parsed.success) result = { ok: false, error: 'expected {patientId}' }
      else if (join && socket.rooms.size > MAX_ROOMS_PER_CLIENT) result = { ok: false, error: `at most ${MAX_ROOMS_PER_CLIENT} patients per connection` }
      else if (join) void socket.join(patientRoom(parsed.data))
      else void socket.leave(patientRoom(parsed.data))
      if (typeof ack === 'function') ack(result)
    }
    socket.on('subscribe', room(true))
    socket.on('unsubscribe', room(false))
    void sendSnapshot(socket)
  })

  async function acknowledgedViews(batch: AlertEvent[]): Promise<AlertView[]> {
    return view.withAcks(batch.reverse())
  }

  let flushing = false
  const flush = async () => {
    if (flushing) return
    flushing = true
    try {
      if (alerts.length > 0) {
        const batch = alerts
        alerts = []
        io.emit('alert', await acknowledgedViews(batch))
        metrics.pushes.inc({ event: 'alert' })
      }
      if (states.size === 0) return
      const serverTime = Date.now()
      const patients = [...states.values()]
      const series = new Map(entries)
      states.clear()
      entries.clear()
      // Group clients by the rooms they are in that have entries this round: each group's
      // payload is encoded once, and most clients (no such room) share one broadcast.
      const groups = new Map<string, string[]>()
      for (const socket of io.sockets.sockets.values()) {
        if (socket.data.needsSnapshot && pendingPackets(socket) === 0) {
          socket.data.needsSnapshot = false
          void sendSnapshot(socket)
          continue
        }
        if (pendingPackets(socket) > options.maxPendingPackets) {
          socket.data.needsSnapshot = true
          metrics.slowClients.inc()
          continue
        }
        const mine: string[] = []
        for (const room of socket.rooms) {
          if (room.startsWith('patient:') && series.has(room.slice('patient:'.length))) mine.push(room.slice('patient:'.length))
        }
        const key = mine.sort().join('\u0000')
        const ids = groups.get(key)
        if (ids === undefined) groups.set(key, [socket.id])
        else ids.push(socket.id)
      }
      for (const [key, ids] of groups) {
        const push: ReadingPush = {
          serverTime,
          patients,
          series: key === '' ? [] : key.split('\u0000').map((patientId) => ({ patientId, entries: series.get(patientId) ?? [] })),
        }
        io.to(ids).emit('reading', push)
        metrics.pushes.inc({ event: 'reading' }, ids.length)
      }
    } catch (error) {
      log.warn(`push failed: ${describeError(error)}`)
    } finally {
      flushing = false
    }
  }
  // Leading-edge throttle: the first update after a quiet interval goes out at once (low
  // latency at low rates); later ones wait for the interval's end (at most one push per interval).
  let timer: NodeJS.Timeout | undefined
  let lastFlush = 0
  let stopped = false
  const schedule = () => {
    if (timer !== undefined || stopped) return
    const wait = Math.max(0, lastFlush + options.pushIntervalMs - Date.now())
    timer = setTimeout(() => {
      timer = undefined
      lastFlush = Date.now()
      void flush().then(() => {
        // What arrived during the flush goes out in the next interval.
        if (states.size > 0 || alerts.length > 0) schedule()
      })
    }, wait)
  }

  await subscriber.subscribe(keys.updates, onMessage)
  const malformedTimer = setInterval(() => {
    if (malformed > 0) log.warn(`${malformed} messages on ${keys.updates} were not JSON in the last minute`)
    malformed = 0
  }, 60_000)
  malformedTimer.unref()

  return {
    snapshot,
    async stop() {
      stopped = true
      clearTimeout(timer)
      clearInterval(rateTimer)
      clearInterval(malformedTimer)
      await subscriber.unsubscribe(keys.updates).catch(() => undefined)
    },
  }
}
