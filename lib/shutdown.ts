/**
 * The lifecycle every long-running stage follows (docs/CONVENTIONS.md): its `start(config, deps)`
 * resolves to a `Stage` (lib/stage.ts), a `Stoppable`; entry points stop their stages on
 * SIGINT/SIGTERM, intake and serving first, then the consumers, each wave at once, within a deadline.
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

/** A stage to stop; `stopFirst`: in the first wave (what takes data in or serves it out). */
export interface StageToStop {
  name: string
  stage: Stoppable
  stopFirst?: boolean
}

/**
 * Stops stages in two waves, each all at once (its stops started in reverse order of start, none
 * waiting for another): first the `stopFirst` ones (the gateway, the simulator, the serving layer:
 * nothing more enters or is pushed), then the rest (the consumers: the archiver writing what it
 * consumed, the speed layer settling its batch, together). A shutdown then takes the slowest stop
 * of each wave, not the sum of all: stopped one after another, `vigil all` under load once took
 * 10.7 s of its 10 s. One stage failing to stop does not keep the others running.
 * `progress.stopping` names the stages not stopped yet, for a deadline's message.
 */
export async function stopAll(stages: ReadonlyArray<StageToStop>, log: Logger, progress: { stopping?: Set<string> } = {}): Promise<boolean> {
  const stopping = new Set(stages.map((s) => s.name))
  progress.stopping = stopping
  const stopOne = async ({ name, stage }: StageToStop): Promise<boolean> => {
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
  }
  const reversed = [...stages].reverse()
  const first = await Promise.all(reversed.filter((s) => s.stopFirst === true).map(stopOne))
  const rest = await Promise.all(reversed.filter((s) => s.stopFirst !== true).map(stopOne))
  return [...first, ...rest].every(Boolean)
}

/**
 * `stopAll` within a deadline: past `timeoutMs` the process exits with code 1, naming the stages
 * that did not stop, so a hung stage never keeps a supervisor from restarting the process.
 */
export async function stopAllWithin(stages: ReadonlyArray<StageToStop>, log: Logger, timeoutMs: number): Promise<boolean> {
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
 * Runs a set of started stages until a signal, then stops them (`stopAll`) within `timeoutMs`.
 * Returns the exit code: 0 when every stage stopped cleanly.
 */
export async function runUntilSignal(stages: ReadonlyArray<StageToStop>, options: ShutdownOptions): Promise<number> {
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
