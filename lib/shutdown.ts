/**
 * The lifecycle every long-running stage follows (docs/CONVENTIONS.md): its `start(config, deps)`
 * resolves to a `Stage` (lib/stage.ts), a `Stoppable`; entry points stop stages in reverse order on
 * SIGINT/SIGTERM, within a deadline.
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
 * Stops stages in reverse order of start; one stage failing to stop does not keep the others
 * running. `progress.current` names the stage being stopped, for a deadline's message.
 */
export async function stopAll(stages: ReadonlyArray<{ name: string; stage: Stoppable }>, log: Logger, progress: { current?: string } = {}): Promise<boolean> {
  let clean = true
  for (const { name, stage } of [...stages].reverse()) {
    const started = Date.now()
    progress.current = name
    try {
      await stage.stop()
      log.debug({ stage: name, ms: Date.now() - started }, 'stopped')
    } catch (error) {
      clean = false
      log.error({ stage: name, err: describeError(error) }, `${name} did not stop cleanly: ${describeError(error)}`)
    }
  }
  progress.current = undefined
  return clean
}

/**
 * `stopAll` within a deadline: past `timeoutMs` the process exits with code 1, naming the stage
 * that did not stop, so a hung stage never keeps a supervisor from restarting the process.
 */
export async function stopAllWithin(stages: ReadonlyArray<{ name: string; stage: Stoppable }>, log: Logger, timeoutMs: number): Promise<boolean> {
  const progress: { current?: string } = {}
  const timer = setTimeout(() => {
    log.error(`shutdown took longer than ${timeoutMs / 1000} s (${progress.current ?? 'a stage'} was still stopping): exiting anyway`)
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
 * Runs a set of started stages until a signal, then stops them in reverse order within
 * `timeoutMs`. Returns the exit code: 0 when every stage stopped cleanly.
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
