/**
 * The device tokens the gateway accepts (VIGIL_DEVICE_TOKENS), and the check of an Authorization
 * header against them: only `Bearer <token>`, compared by SHA-256 digest in constant time so that
 * neither a token's length nor its prefix leaks through timing. With no token configured one is
 * generated, so the gateway is never open without a token.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

export type TokenCheck = 'ok' | 'missing' | 'invalid'

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest()
}

export class DeviceTokens {
  readonly tokens: readonly string[]
  /** True when the token was generated at start (none configured). */
  readonly generated: boolean
  readonly #hashes: readonly Buffer[]

  constructor(configured: readonly string[] | undefined) {
    this.generated = (configured ?? []).length === 0
    // 24 random bytes: 192 bits, 32 characters of base64url.
    this.tokens = this.generated ? [randomBytes(24).toString('base64url')] : [...configured!]
    this.#hashes = this.tokens.map(sha256)
  }

  /** `missing`: no Bearer credential in the header; `invalid`: one the gateway does not accept. */
  check(authorization: string | undefined): TokenCheck {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')
    if (m === null) return 'missing'
    const presented = sha256(m[1]!)
    return this.#hashes.some((h) => timingSafeEqual(h, presented)) ? 'ok' : 'invalid'
  }
}
