/**
 * The development tokens the gateway accepts (VIGIL_DEVICE_TOKENS). A development token is compared by SHA-256 digest in constant time so
 * that neither its length nor its prefix leaks through timing. None configured: none accepted
 * (the registry's devices only; docs/SECURITY.md, Devices bound to their patients).
 */
import { timingSafeEqual } from 'node:crypto'
import { sha256Hex } from '../lib/identity/model.ts'

function sha256(s: string): Buffer {
  return Buffer.from(sha256Hex(s), 'hex')
}

export class DeviceTokens {
  readonly tokens: readonly string[]
  readonly #hashes: readonly Buffer[]

  constructor(configured: readonly string[] | undefined) {
    this.tokens = [...(configured ?? [])]
    this.#hashes = this.tokens.map(sha256)
  }

  /** True when tokens are configured: the gateway runs in development mode. */
  get development(): boolean {
    return this.tokens.length > 0
  }

  /** True when `credential` is one of the configured tokens. */
  accepts(credential: string): boolean {
    const presented = sha256(credential)
    // Every token is compared, so the time taken does not say which one matched.
    let match = false
    for (const h of this.#hashes) match = timingSafeEqual(h, presented) || match
    return match
  }
}
