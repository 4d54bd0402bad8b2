/**
 * The contract of every long-running stage (docs/CONTRACT.md, Code layout; docs/CONVENTIONS.md):
 * the speed layer, the archiver, the gateway, the serving layer and the edge each export
 *
 *   start(config: Config & { <stage>: <Stage>Options }, deps: <Stage>Deps): Promise<<Stage>>
 *
 * whose config carries the stage's own options under its key (`speed`, `archiver`, `gateway`,
 * `serving`, `edge`), whose deps are what the composition root hands in (a logger, hooks, the
 * batch job), and whose result, once the stage runs, is a `Stage`: stopped by `lib/shutdown.ts`,
 * its counters read by `stats()`. The batch job runs to completion instead, and keeps its own
 * function type (`RunBatchJob`, lib/contract/batch.ts).
 */
import type { Config } from './config.ts'
import type { Stoppable } from './shutdown.ts'

export interface Stage<S> extends Stoppable {
  /** The stage's counters now (the numbers its status line reports). */
  stats(): S
}

/** The config a stage starts with: the shared config, and the stage's own options under its key. */
export type StageConfig<K extends string, O> = Config & { readonly [P in K]: O }

/** The shape of every stage module's `start`. */
export type StartStage<K extends string, O, D, T extends Stage<unknown>> = (config: StageConfig<K, O>, deps: D) => Promise<T>
