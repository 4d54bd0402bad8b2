/**
 * The edge's progress: a line redrawn every second on a TTY; elsewhere, one status line in the
 * log every 10 s (docs/CONVENTIONS.md, Hot paths: never a line per reading).
 */
import type { Logger } from '../lib/log.ts'
import type { Sink } from './sinks.ts'

/** Live counters the progress line reads. */
export interface ProgressCounters {
  /** Records handed to the sink. */
  readonly sent: number
  /** CSV rows skipped (a replay's errors besides the gateway's refusals). */
  readonly skipped: number
  /** CSV cells left out of their row's reading, the rest of the row sent. */
  readonly leftOut: number
}

export function startProgress(
  stream: NodeJS.WriteStream | undefined,
  counters: ProgressCounters,
  sink: Sink,
  now: () => number,
  log: Logger,
): { stop(): void } {
  let lastSent = 0
  let lastT = now()
  const timer = setInterval(
    () => {
      const t = now()
      const rate = ((counters.sent - lastSent) / (t - lastT)) * 1000
      lastSent = counters.sent
      lastT = t
      const s = sink.stats
      const errors = s.refused + counters.skipped
      const outages = s.outages > 0 ? ` · outages ${s.outages}` : ''
      const leftOut = counters.leftOut > 0 ? ` · cells left out ${counters.leftOut}` : ''
      const line = `${Math.round(rate)} readings/s · total ${counters.sent} · acked ${s.acked} · errors ${errors}${leftOut}${outages}`
      if (stream === undefined) log.info(line.replaceAll(' · ', ', '))
      else stream.write(`\redge: ${line}   `)
    },
    stream === undefined ? 10_000 : 1_000,
  )
  timer.unref()
  return {
    stop() {
      clearInterval(timer)
      stream?.write('\n')
    },
  }
}
