/**
 * Prometheus metrics of the serving process (prom-client). Its own registry, so that two
 * servers in one process (tests) never collide. What it can see from where it sits: connected
 * clients, pushes, batch runs, sign-ins, and what flows past on the updates channel (readings, alerts by
 * level), plus consumer lag by group, read from the broker at scrape time. The four the status line
 * and `stats()` report are also summed in plain numbers (`totals`), since prom-client reads its own
 * values only asynchronously; they change only through the `count*` functions below, which move
 * both together.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/** The serving layer's counters (its `stats()`, lib/stage.ts, and its status line), summed over their labels. */
export interface ServingStats {
  /** Socket.io clients connected now. */
  clients: number
  /** Socket.io events sent (a `reading` event sent to n clients counts n). */
  pushes: number
  /** Readings seen on the updates channel. */
  readings: number
  /** Alert events seen on the updates channel. */
  alerts: number
}

export interface ServingMetrics {
  registry: Registry
  /** connectedClients, pushes, readingsSeen and alertsSeen summed, kept by the count* functions. */
  readonly totals: ServingStats
  connectedClients: Gauge
  pushes: Counter<'event'>
  readingsSeen: Counter
  readingsPerSecond: Gauge
  alertsSeen: Counter<'level' | 'kind'>
  updatesSeen: Counter<'type'>
  batchRuns: Histogram<'outcome'>
  consumerLag: Gauge<'group'>
  slowClients: Counter
  /** POST /login attempts by outcome: `signed-in`, `refused` (wrong name or password, disabled), `throttled` (429). */
  signIns: Counter<'outcome'>
}

export function createMetrics(lag: () => Promise<Record<string, number | null>>): ServingMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'vigil_serving_' })
  const m: ServingMetrics = {
    registry,
    totals: { clients: 0, pushes: 0, readings: 0, alerts: 0 },
    connectedClients: new Gauge({ name: 'vigil_serving_connected_clients', help: 'Socket.io clients connected now', registers: [registry] }),
    pushes: new Counter({
      name: 'vigil_serving_pushes_total',
      help: 'Socket.io events sent to clients, by event',
      labelNames: ['event'],
      registers: [registry],
    }),
    readingsSeen: new Counter({ name: 'vigil_serving_readings_seen_total', help: 'Readings seen on the updates channel', registers: [registry] }),
    readingsPerSecond: new Gauge({
      name: 'vigil_serving_readings_per_second',
      help: 'Readings per second seen on the updates channel over the last 10 s',
      registers: [registry],
    }),
    alertsSeen: new Counter({
      name: 'vigil_serving_alerts_seen_total',
      help: 'Alert events seen on the updates channel, by level and kind',
      labelNames: ['level', 'kind'],
      registers: [registry],
    }),
    updatesSeen: new Counter({
      name: 'vigil_serving_updates_seen_total',
      help: 'Messages seen on the updates channel, by type',
      labelNames: ['type'],
      registers: [registry],
    }),
    batchRuns: new Histogram({
      name: 'vigil_batch_run_duration_seconds',
      help: 'Duration of batch runs started from the API, by outcome',
      labelNames: ['outcome'],
      buckets: [1, 2, 5, 10, 30, 60, 120, 300, 600],
      registers: [registry],
    }),
    consumerLag: new Gauge({
      name: 'vigil_consumer_lag',
      help: 'Records of vitals.readings not yet committed, by consumer group (absent when the broker does not answer)',
      labelNames: ['group'],
      registers: [registry],
      async collect() {
        this.reset()
        const byGroup = await lag().catch(() => ({}) as Record<string, number | null>)
        for (const [group, value] of Object.entries(byGroup)) if (value !== null) this.set({ group }, value)
      },
    }),
    slowClients: new Counter({
      name: 'vigil_serving_slow_client_skips_total',
      help: 'Pushes skipped because a client could not keep up (it gets a snapshot later)',
      registers: [registry],
    }),
    signIns: new Counter({
      name: 'vigil_serving_sign_ins_total',
      help: 'Sign-in attempts with a user name and password, by outcome (signed-in, refused, throttled)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
  }
  return m
}

/** `n` events of kind `event` sent to clients. */
export function countPush(m: ServingMetrics, event: string, n = 1): void {
  m.pushes.inc({ event }, n)
  m.totals.pushes += n
}

/** A client connected (+1) or left (-1). */
export function countClient(m: ServingMetrics, delta: 1 | -1): void {
  if (delta > 0) m.connectedClients.inc()
  else m.connectedClients.dec()
  m.totals.clients += delta
}

/** `n` readings seen on the updates channel. */
export function countReadings(m: ServingMetrics, n: number): void {
  m.readingsSeen.inc(n)
  m.totals.readings += n
}

/** One alert event seen on the updates channel. */
export function countAlert(m: ServingMetrics, labels: { level: string; kind: string }): void {
  m.alertsSeen.inc(labels)
  m.totals.alerts++
}
