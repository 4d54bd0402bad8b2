/**
 * Users' passwords (docs/SECURITY.md, The identity registry): hashed with node:crypto's scrypt and
 * the parameters of the OWASP Password Storage Cheat Sheet (N=2^17, r=8, p=1), a 16-byte random
 * salt and a 64-byte key, stored as `scrypt$N$r$p$<salt base64>$<hash base64>` so that the
 * parameters can be raised later without breaking stored hashes.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'

/** scrypt's cost parameters (OWASP Password Storage Cheat Sheet, scrypt: N=2^17, r=8, p=1). */
export const SCRYPT_PARAMS = { N: 2 ** 17, r: 8, p: 1 } as const
const SALT_BYTES = 16
const KEY_BYTES = 64

/**
 * Bounds on the parameters a stored hash may ask for: a tampered or corrupt hash must not make a
 * sign-in allocate gigabytes or spin for minutes.
 */
const MAX_N = 2 ** 20
const MAX_R = 32
const MAX_P = 16

/**
 * NIST SP 800-63B (§5.1.1.2, memorized secret verifiers): require a minimum length, allow long
 * passphrases (at least 64 characters), count each Unicode code point as one character, and
 * impose no composition rules (no "one digit, one symbol"). 12 is above NIST's floor of 8, as
 * OWASP's Authentication Cheat Sheet advises for a system without a second factor; 1024 bounds
 * the work of one sign-in request.
 */
export const PASSWORD_MIN_LENGTH = 12
export const PASSWORD_MAX_LENGTH = 1024

/** Why a password is not acceptable, or undefined when it is. */
export function passwordProblem(password: string): string | undefined {
  const length = [...password].length
  if (length < PASSWORD_MIN_LENGTH) return `a password has at least ${PASSWORD_MIN_LENGTH} characters; got ${length}`
  if (length > PASSWORD_MAX_LENGTH) return `a password has at most ${PASSWORD_MAX_LENGTH} characters; got ${length}`
  return undefined
}

/** The memory scrypt needs for these parameters (128·N·r bytes), with headroom: node's default cap (32 MiB) is below OWASP's 128 MiB. */
function maxmemFor(N: number, r: number): number {
  return 2 * 128 * N * r
}

/** NFKC first (NIST SP 800-63B, §5.1.1.2): the same password typed on two keyboards or systems verifies. */
function derive(password: string, salt: Buffer, N: number, r: number, p: number, keyBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFKC'), salt, keyBytes, { N, r, p, maxmem: maxmemFor(N, r) }, (error, key) => (error ? reject(error) : resolve(key)))
  })
}

/** A new hash of `password` with a fresh salt, in the stored form. */
export async function hashPassword(password: string): Promise<string> {
  const { N, r, p } = SCRYPT_PARAMS
  const salt = randomBytes(SALT_BYTES)
  const key = await derive(password, salt, N, r, p, KEY_BYTES)
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64')}$${key.toString('base64')}`
}

interface StoredHash {
  N: number
  r: number
  p: number
  salt: Buffer
  key: Buffer
}

/** The parts of a stored hash, or undefined when it is not one this module wrote (or within its bounds). */
function parseStored(stored: string): StoredHash | undefined {
  const parts = stored.split('$')
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined
  const [N, r, p] = parts.slice(1, 4).map((s) => (/^[1-9]\d{0,9}$/.test(s ?? '') ? Number(s) : Number.NaN)) as [number, number, number]
  if (!(N > 1 && N <= MAX_N && (N & (N - 1)) === 0)) return undefined
  if (!(r >= 1 && r <= MAX_R && p >= 1 && p <= MAX_P)) return undefined
  const base64 = /^[A-Za-z0-9+/]+={0,2}$/
  if (!base64.test(parts[4]!) || !base64.test(parts[5]!)) return undefined
  const salt = Buffer.from(parts[4]!, 'base64')
  const key = Buffer.from(parts[5]!, 'base64')
  if (salt.length < 8 || key.length < 16 || key.length > 256) return undefined
  return { N, r, p, salt, key }
}

/**
 * True when `password` is the one `stored` was made from. Compares in constant time; a stored
 * value that cannot be parsed verifies false (never throws), so a corrupt record locks out
 * rather than lets in.
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const h = parseStored(stored)
  if (h === undefined) return false
  const key = await derive(password, h.salt, h.N, h.r, h.p, h.key.length)
  return timingSafeEqual(key, h.key)
}
