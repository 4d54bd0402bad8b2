/**
 * The lifecycle every long-running stage follows (docs/CONVENTIONS.md): its `start(config, deps)`
 * resolves to a `Stage` (lib/stage.ts), a `Stoppable`; entry points stop their stages on
 * SIGINT/SIGTERM, all at once, within a deadline.
 */
import type { Logger } from 'pino'
import { describeError } from './errors.ts'

export interface Stoppable {
  stop(): Promise<void>
}

export interface ShutdownOptions {
  log: Logger
  /** Longest time the whole shutdown may take before the process exits anyway. @defaultValue 10 000 ms */
  timeoutMs?: number
}

/**
 * Stops stages all at once (each stop started in reverse order of start, none waiting for another):
 * the stages share nothing a stop must hand over, so the shutdown takes as long as the slowest stop,
 * not their sum (stopped one after another, `vigil all` under load once took 10.7 s of its 10 s: the
 * archiver writing its buffers, then the speed layer settling its batch). One stage failing to stop
 * does not keep the others running. `progress.stopping` names the stages not stopped yet, for a
 * deadline's message.
 */
export async function stopAll(
  stages: ReadonlyArray<{ name: string; stage: Stoppable }>,
  log: Logger,
  progress: { stopping?: Set<string> } = {},
): Promise<boolean> {
  const stopping = new Set(stages.map((s) => s.name))
  progress.stopping = stopping
  const clean = await Promise.all(
    [...stages].reverse().map(async ({ name, stage }) => {
      const started = Date.now()
      try {
        await stage.stop()
        log.debug({ stage: name, ms: Date.now() - started }, 'stopped')
        return true
      } catch (error) {
        log.error({ stage: name, err: describeError(error) }, `${name} did not stop cleanly: ${describeError(error)}`)
        return false
      } finally {
        stopping.delete(name)
      }
    }),
  )
  return clean.every(Boolean)
}

/**
 * `stopAll` within a deadline: past `timeoutMs` the process exits with code 1, naming the stages
 * that did not stop, so a hung stage never keeps a supervisor from restarting the process.
 */
export async function stopAllWithin(stages: ReadonlyArray<{ name: string; stage: Stoppable }>, log: Logger, timeoutMs: number): Promise<boolean> {
  const progress: { stopping?: Set<string> } = {}
  const timer = setTimeout(() => {
    const left = [...(progress.stopping ?? [])]
    log.error(
      `shutdown took longer than ${timeoutMs / 1000} s (${left.length > 0 ? `${left.join(', ')} still stopping` : 'a stage was still stopping'}): exiting anyway`,
    )
    process.exit(1)
  }, timeoutMs)
  timer.unref()
  try {
    return await stopAll(stages, log, progress)
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Resolves when SIGINT or SIGTERM arrives (once); a second signal exits at once. The returned
 * `dispose` removes the handlers.
 */
export function onSignal(handler: (signal: NodeJS.Signals) => void): () => void {
  let seen = false
  const listener = (signal: NodeJS.Signals) => {
    if (seen) {
      process.exit(130)
    }
    seen = true
    handler(signal)
  }
  process.on('SIGINT', listener)
  process.on('SIGTERM', listener)
  return () => {
    process.off('SIGINT', listener)
    process.off('SIGTERM', listener)
  }
}

/**
 * Runs a set of started stages until a signal, then stops them (`stopAll`) within `timeoutMs`. Returns the exit code: 0 when every stage stopped cleanly.
 */
export async function runUntilSignal(stages: ReadonlyArray<{ name: string; stage: Stoppable }>, options: ShutdownOptions): Promise<number> {
  const { log, timeoutMs = 10_000 } = options
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    const dispose = onSignal((s) => {
      dispose()
      resolve(s)
    })
  })
  log.info(`${signal} received: stopping`)
  return (await stopAllWithin(stages, log, timeoutMs)) ? 0 : 1
}
