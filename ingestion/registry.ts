/**
 * The identity registry as the gateway sees it (docs/SECURITY.md, Devices bound to their
 * patients): opened at start, followed until stop, so that a device added, reassigned or revoked
 * anywhere reaches the gateway within the registry's follow latency. The gateway listens before
 * Kafka answers (devices get 503 and retry), so the registry is opened beside it and retried with
 * backoff until it is read; until then only development tokens are accepted.
 */
import type { Config } from '../lib/config.ts'
import type { Logger } from '../lib/log.ts'
import { retry } from '../lib/backoff.ts'
import { describeError } from '../lib/errors.ts'
import { openRegistry, type Registry, type RegistryReader } from '../lib/identity/registry.ts'

export class GatewayRegistry {
  #registry: Registry | undefined
  readonly #stop = new AbortController()
  /** Resolves after the first attempt to open the registry: true when it is read. */
  readonly firstAttempt: Promise<boolean>

  constructor(config: Config, log: Logger) {
    let attempted: (ok: boolean) => void = () => {}
    this.firstAttempt = new Promise((resolve) => {
      attempted = resolve
    })
    void this.#open(config, log, attempted)
  }

  /** The registry read so far, or undefined until it is read. */
  get reader(): RegistryReader | undefined {
    return this.#registry
  }

  async #open(config: Config, log: Logger, attempted: (ok: boolean) => void): Promise<void> {
    const signal = this.#stop.signal
    try {
      const registry = await retry(() => openRegistry(config, { log, clientId: 'vigil-gateway-registry' }), {
        signal,
        onRetry: (attempt, error, delayMs) => {
          attempted(false)
          if (attempt === 1 || attempt % 10 === 0)
            log.warn(`the device registry cannot be read yet (${describeError(error)}): registered devices get 503 until it is; retrying in ${delayMs} ms`)
        },
      })
      if (signal.aborted) await registry.close()
      else this.#registry = registry
      attempted(true)
    } catch (error) {
      // Only a stop ends the retries: the last attempt's error is expected then.
      attempted(false)
      if (!signal.aborted) log.error({ err: describeError(error) }, 'the device registry could not be opened')
    }
  }

  /**
   * Stops following the registry. An attempt to open it still in flight is not waited for (it may
   * be waiting for an unreachable broker): it closes what it opens once it sees the stop.
   */
  async close(): Promise<void> {
    this.#stop.abort()
    const registry = this.#registry
    this.#registry = undefined
    await registry?.close()
  }
}
