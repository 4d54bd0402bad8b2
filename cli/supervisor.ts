/**
 * The supervision of the stages one process runs (`vigil all`): starts them in the order given
 * (data-flow order), then waits for the first of a signal or a stage crashing, and stops every
 * stage started so far, once, in the waves of `stopAll`, within the shutdown deadline
 * (lib/shutdown.ts).
 * The caller turns signals into `shutdown`; this module does not touch the process.
 */
import { VigilError, describeError } from '../lib/errors.ts'
import type { Logger } from '../lib/log.ts'
import { stopAll, stopAllWithin, type StageToStop } from '../lib/shutdown.ts'

/** A started stage: its name, how to stop it and in which wave (lib/shutdown.ts `StageToStop`). */
export interface Running extends StageToStop {
  /** Settles when the stage ends on its own; rejects when it crashed. */
  ended?: Promise<unknown>
}

/** A stage to start: its name and how (resolves to the running stage). */
export type StageStart = readonly [name: string, start: () => Promise<Running>]

export class Supervisor {
  private readonly aborter = new AbortController()
  private readonly running: Running[] = []
  /** The one shutdown, from its first request on (undefined: none requested). */
  private stopping: Promise<number> | undefined
  private resolveStopped: (code: Promise<number>) => void = () => undefined
  /** Settles with the exit code of the shutdown, whoever requested it. */
  private readonly stopped = new Promise<number>((resolve) => {
    this.resolveStopped = resolve
  })

  constructor(
    private readonly log: Logger,
    /** The whole shutdown must fit in this; past it lib/shutdown.ts exits with code 1. */
    private readonly timeoutMs: number,
  ) {}

  /** Aborted as soon as a shutdown is requested: a wait for the services ends with it. */
  get signal(): AbortSignal {
    return this.aborter.signal
  }

  /** The shutdown under way, if one was requested. */
  requested(): Promise<number> | undefined {
    return this.stopping
  }

  /**
   * Stops every running stage (`stopAll`: the `stopFirst` ones, then the others); resolves to
   * `code`, or 1 when a stage did not stop cleanly. Only the first request counts: later ones get the same promise.
   */
  shutdown(reason: string, code: number): Promise<number> {
    if (this.stopping === undefined) {
      this.aborter.abort()
      const names = this.running.map((r) => r.name).reverse()
      this.log.info(`${reason}: stopping ${names.join(', ') || 'nothing'}`)
      this.stopping = stopAllWithin(this.running, this.log, this.timeoutMs).then((clean) => (clean ? code : 1))
      this.resolveStopped(this.stopping)
    }
    return this.stopping
  }

  /**
   * Starts the stages one after another. Undefined once all run; the exit code when a shutdown was
   * requested meanwhile (the stage starting then is stopped as soon as it has started).
   */
  async startInOrder(starts: readonly StageStart[]): Promise<number | undefined> {
    for (const [name, start] of starts) {
      if (this.stopping !== undefined) return await this.stopping
      let started: Running
      try {
        started = await start()
      } catch (error) {
        throw new VigilError('STAGE_FAILED', `${name} could not start: ${describeError(error)}`, { cause: error })
      }
      this.running.push(started)
      // A shutdown requested while this stage was starting stopped only the stages before it.
      if (this.stopping !== undefined) {
        const clean = await stopAll([started], this.log)
        const code = await this.stopping
        return clean ? code : 1
      }
    }
    return undefined
  }

  /** Names of the running stages, in start order. */
  names(): string[] {
    return this.running.map((r) => r.name)
  }

  /**
   * Until a shutdown: a signal's (through `shutdown`), or a stage's crash, which stops the others
   * with exit code 1 (a stage that ends without an error, like a simulator run to its end, is fine).
   */
  supervise(): Promise<number> {
    for (const r of this.running) {
      r.ended?.catch((error: unknown) => {
        this.log.error(`${r.name} crashed: ${describeError(error)}`)
        void this.shutdown(`${r.name} crashed`, 1)
      })
    }
    return this.stopped
  }
}
