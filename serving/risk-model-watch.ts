/**
 * Follows the `risk:model` key (docs/CONTRACT.md, Redis), which the speed layer sets when it loads a
 * risk model and deletes when it runs without one, and tells every page when it changes
 * (`risk:model`, docs/CONTRACT.md, Serving). No update announces a model: the speed layer only
 * writes the key, so the serving layer reads it, one GET every RISK_MODEL_POLL_MS. Each snapshot
 * also reads it, so a page connecting gets the current model at once; the poll only has to bring
 * a change to pages already open.
 */
import { describeError } from '../lib/errors.ts'
import type { Logger } from '../lib/log.ts'
import type { Stoppable } from '../lib/shutdown.ts'
import type { RiskModelInfo } from '../lib/contract/views.ts'

/**
 * How often the key is read (ms). A model is loaded or dropped when a speed layer starts, so a page
 * showing the panel up to 5 s late (or a dropped model's panel up to 5 s longer) is of no
 * consequence; the read is one GET of about 200 bytes, 0.2 a second (a round trip of 77 µs to a
 * local Redis, measured over 10,000 GETs on the 2-core development machine).
 */
export const RISK_MODEL_POLL_MS = 5_000

export interface RiskModelWatchDeps {
  read(): Promise<RiskModelInfo | null>
  /** Called with the new model (null: none) each time it differs from the last one read. */
  changed(model: RiskModelInfo | null): void
  log: Logger
  intervalMs?: number
}

/** Whether two reads of the key describe the same model (the same fields, field by field). */
export function sameRiskModel(a: RiskModelInfo | null, b: RiskModelInfo | null): boolean {
  if (a === null || b === null) return a === b
  return (
    a.version === b.version &&
    a.cohort === b.cohort &&
    a.horizonMinutes === b.horizonMinutes &&
    a.testAuroc === b.testAuroc &&
    (a.testAurocWithinPatients ?? null) === (b.testAurocWithinPatients ?? null) &&
    a.threshold.raise === b.threshold.raise &&
    a.threshold.clear === b.threshold.clear
  )
}

/**
 * Starts the poll. Every read that differs from the last is announced, the first one too: a page
 * that connected before it has a snapshot that may be older than it (one event to the pages open
 * at start, usually none). A failed read keeps the last model
 * and is logged once until a read succeeds again (Redis down is reported by /healthz, not every 5 s).
 */
export function watchRiskModel(deps: RiskModelWatchDeps): Stoppable {
  let last: RiskModelInfo | null | undefined
  let failing = false
  let busy = false
  const poll = async () => {
    if (busy) return
    busy = true
    try {
      const model = await deps.read()
      failing = false
      if (last === undefined || !sameRiskModel(last, model)) deps.changed(model)
      last = model
    } catch (error) {
      if (!failing) deps.log.warn(`could not read the risk model's key, the pages keep the last one: ${describeError(error)}`)
      failing = true
    } finally {
      busy = false
    }
  }
  void poll()
  const timer = setInterval(() => void poll(), deps.intervalMs ?? RISK_MODEL_POLL_MS)
  timer.unref()
  return {
    async stop() {
      clearInterval(timer)
    },
  }
}
