/** The serving layer's status line: one every 10 s, never one per message, saying what the pages were sent. */
import type { Logger } from '../lib/log.ts'
import type { Stoppable } from '../lib/shutdown.ts'
import type { ServingMetrics } from './metrics.ts'

const STATUS_INTERVAL_MS = 10_000

export function startStatusLine(metrics: ServingMetrics, log: Logger): Stoppable {
  let last = { at: Date.now(), readings: 0, pushes: 0 }
  const report = () => {
    const { readings, pushes, alerts, clients } = metrics.totals
    const now = Date.now()
    // Per second over the time since the last line, to one decimal.
    const per = (n: number) => Math.round(((n * 1000) / Math.max(1, now - last.at)) * 10) / 10
    log.info(`${per(readings - last.readings)} readings/s seen, ${per(pushes - last.pushes)} pushes/s to ${clients} clients, alerts ${alerts}`)
    last = { at: now, readings, pushes }
  }
  const timer = setInterval(report, STATUS_INTERVAL_MS)
  timer.unref()
  return {
    async stop() {
      clearInterval(timer)
    },
  }
}
