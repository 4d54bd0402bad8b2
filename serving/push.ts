/**
 * Live push (docs/CONTRACT.md, Serving): listens on the updates channel and forwards to Socket.io
 * clients, coalesced. The decisions are pure and live elsewhere: decoding in serving/intake.ts,
 * what is pending, when it goes out and who gets what in serving/coalescer.ts. Here is the I/O:
 * the subscription, the connection handler (snapshot, patient rooms) and the fan-out of each
 * flush. Alerts are flushed on the same loop; a new batch view is announced at once; a change of
 * the served risk model when serving/risk-model-watch.ts reads it.
 */
import type { Server, Socket } from 'socket.io'
import { patientIdSchema } from '../lib/contract/schema.ts'
import type { RedisKeys } from '../lib/contract/keys.ts'
import type { Logger } from '../lib/log.ts'
import type { RedisClient } from '../lib/redis.ts'
import type { Stoppable } from '../lib/shutdown.ts'
import { describeError } from '../lib/errors.ts'
import { Coalescer, patientRoom, planPush, systemClock, type ClientState, type ReadingsBatch } from './coalescer.ts'
import type { ServingOptions } from './config.ts'
import type { ClientToServerEvents, RoomAck, InterServerEvents, ReadingPush, ServerToClientEvents, Snapshot, SocketData } from './events.ts'
import { RateWindow, decodeUpdate } from './intake.ts'
import { SharedBuild } from './shared-build.ts'
import { watchRiskModel } from './risk-model-watch.ts'
import { countAlert, countClient, countPush, countReadings, type ServingMetrics } from './metrics.ts'
import type { View } from './view.ts'

export { patientRoom } from './coalescer.ts'

export type VigilServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>
export type VigilSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>

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

/** Socket.io's side of the push: snapshots, rooms, and sending what the coalescer lets out. */
class Fanout {
  /** Pages connecting together share one read of the view (shared-build.ts). */
  private readonly snapshots = new SharedBuild(() => this.buildSnapshot())

  constructor(private readonly deps: PushDeps) {}

  snapshot(): Promise<Snapshot> {
    return this.snapshots.get()
  }

  private async buildSnapshot(): Promise<Snapshot> {
    const { view, options } = this.deps
    const [patients, feed, batch, riskModel] = await Promise.all([view.patients(), view.alerts(options.alertFeedSize), view.batchMeta(), view.riskModel()])
    return { serverTime: Date.now(), staleAfterMs: options.staleAfterMs, patients, alerts: feed, batch, riskModel }
  }

  async sendSnapshot(socket: VigilSocket): Promise<void> {
    try {
      socket.emit('snapshot', await this.snapshot())
      countPush(this.deps.metrics, 'snapshot')
    } catch (error) {
      // The page keeps its last state and shows it as not live; the next reconnect retries.
      socket.data.needsSnapshot = true
      this.deps.log.warn(`could not build a snapshot: ${describeError(error)}`)
    }
  }

  onConnection(socket: VigilSocket): void {
    const { metrics } = this.deps
    socket.data.needsSnapshot = false
    countClient(metrics, 1)
    socket.on('disconnect', () => countClient(metrics, -1))
    socket.on('subscribe', (request, ack) => this.room(socket, true, request, ack))
    socket.on('unsubscribe', (request, ack) => this.room(socket, false, request, ack))
    void this.sendSnapshot(socket)
  }

  private room(socket: VigilSocket, join: boolean, request: { patientId: string }, ack?: (result: RoomAck) => void): void {
    const parsed = patientIdSchema.safeParse(request?.patientId)
    let result: RoomAck = { ok: true }
    // socket.rooms includes the socket's own room: more than the limit means the limit is reached.
    if (!parsed.success) result = { ok: false, error: 'expected {patientId}' }
    else if (join && socket.rooms.size > MAX_ROOMS_PER_CLIENT) result = { ok: false, error: `at most ${MAX_ROOMS_PER_CLIENT} patients per connection` }
    else if (join) void socket.join(patientRoom(parsed.data))
    else void socket.leave(patientRoom(parsed.data))
    if (typeof ack === 'function') ack(result)
  }

  /** One flush: the pending alerts to everyone, then the pending readings as `planPush` decides. Never rejects. */
  async flush(coalescer: Coalescer): Promise<void> {
    const { io, view, metrics, log } = this.deps
    try {
      const alerts = coalescer.takeAlerts()
      if (alerts.length > 0) {
        io.emit('alert', await view.withAcks(alerts.reverse()))
        countPush(metrics, 'alert')
      }
      const readings = coalescer.takeReadings()
      if (readings !== null) this.sendReadings(readings)
    } catch (error) {
      log.warn(`push failed: ${describeError(error)}`)
    }
  }

  private sendReadings({ patients, series }: ReadingsBatch): void {
    const { io, options, metrics } = this.deps
    const serverTime = Date.now()
    const sockets = io.sockets.sockets
    const clients = [...sockets.values()].map(
      (s): ClientState => ({ id: s.id, rooms: s.rooms, pendingPackets: pendingPackets(s), needsSnapshot: s.data.needsSnapshot }),
    )
    const plan = planPush(clients, series, options.maxPendingPackets)
    for (const id of plan.snapshot) {
      const socket = sockets.get(id)
      if (socket === undefined) continue
      socket.data.needsSnapshot = false
      void this.sendSnapshot(socket)
    }
    for (const id of plan.skip) {
      const socket = sockets.get(id)
      if (socket !== undefined) socket.data.needsSnapshot = true
      metrics.slowClients.inc()
    }
    for (const { patientIds, clientIds } of plan.groups) {
      const push: ReadingPush = { serverTime, patients, series: patientIds.map((patientId) => ({ patientId, entries: series.get(patientId) ?? [] })) }
      io.to(clientIds).emit('reading', push)
      countPush(metrics, 'reading', clientIds.length)
    }
  }
}

export async function startPush(deps: PushDeps): Promise<Push> {
  const { io, subscriber, keys, view, options, metrics, log } = deps
  const fanout = new Fanout(deps)
  const limits = { intervalMs: options.pushIntervalMs, maxEntriesPerPatient: options.maxEntriesPerPush, maxPendingAlerts: MAX_PENDING_ALERTS }
  const coalescer: Coalescer = new Coalescer(limits, systemClock, () => fanout.flush(coalescer))
  const rate = new RateWindow(10)
  let malformed = 0

  const onMessage = (message: string) => {
    const update = decodeUpdate(message)
    if (update.kind === 'malformed') {
      malformed++
      return
    }
    metrics.updatesSeen.inc({ type: update.type })
    if (update.kind === 'readings') {
      malformed += update.skipped
      for (const { patient, entries } of update.patients) {
        countReadings(metrics, entries.length)
        rate.add(entries.length)
        coalescer.addReadings(patient, entries)
      }
    } else if (update.kind === 'alert') {
      countAlert(metrics, { level: update.level, kind: update.alertKind })
      coalescer.addAlert(update.alert)
    } else if (update.kind === 'batch') {
      io.emit('stats', { meta: update.meta })
      countPush(metrics, 'stats')
    }
  }

  io.on('connection', (socket) => fanout.onConnection(socket))
  const rateTimer = setInterval(() => metrics.readingsPerSecond.set(rate.tick()), 1_000)
  rateTimer.unref()
  await subscriber.subscribe(keys.updates, onMessage)
  const malformedTimer = setInterval(() => {
    if (malformed > 0) log.warn(`${malformed} messages on ${keys.updates} were not JSON (or patient parts had no patient id) in the last minute`)
    malformed = 0
  }, 60_000)
  malformedTimer.unref()
  const riskModel = watchRiskModel({
    read: () => view.riskModel(),
    changed: (model) => {
      io.emit('risk:model', { model })
      countPush(metrics, 'risk:model')
    },
    log,
  })

  return {
    snapshot: () => fanout.snapshot(),
    async stop() {
      coalescer.stop()
      clearInterval(rateTimer)
      clearInterval(malformedTimer)
      await riskModel.stop()
      await subscriber.unsubscribe(keys.updates).catch(() => undefined)
    },
  }
}
