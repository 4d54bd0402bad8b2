/**
 * Wrong bootstrap tokens per client address (docs/SECURITY.md, Users, roles and sessions): a
 * `Bearer` header, a `/login?token=` or a Socket.io handshake token that is not VIGIL_TOKEN. An
 * address may send `max` wrong ones in a window that starts at its first; from then until the
 * window ends, every token it sends is refused without being compared, the right one too, since
 * an answer that still told right from wrong would let a guesser go on. A right token is never
 * counted, so a script with it is not limited.
 *
 * Held in this process's memory (as @fastify/rate-limit holds the sign-in limit), and bounded: at
 * `capacity` addresses the oldest window is dropped first.
 */
import type { IncomingMessage } from 'node:http'
import type { FastifyReply } from 'fastify'

/** A token sent from an address that has sent its limit of wrong ones: answered 429 with Retry-After. */
export class TooManyTokenGuesses extends Error {
  readonly retryAfterS: number

  constructor(lockedForMs: number) {
    const seconds = Math.max(1, Math.ceil(lockedForMs / 1000))
    super(`too many wrong tokens from this address: try again in ${seconds} s`)
    this.retryAfterS = seconds
  }

  answer(reply: FastifyReply): FastifyReply {
    return reply.code(429).header('retry-after', String(this.retryAfterS)).send({ error: 'Too Many Requests', message: this.message })
  }
}

interface Window {
  count: number
  endsAt: number
}

export class TokenGuesses {
  private readonly windows = new Map<string, Window>()

  constructor(
    /** Wrong tokens an address may send per window. */
    private readonly max: number,
    private readonly windowMs = 60_000,
    private readonly capacity = 10_000,
  ) {}

  /** Milliseconds until `address` may send a token again, or 0 when it may now. */
  lockedForMs(address: string, now = Date.now()): number {
    const w = this.live(address, now)
    return w !== undefined && w.count >= this.max ? w.endsAt - now : 0
  }

  /** Counts one wrong token from `address`. */
  addWrong(address: string, now = Date.now()): void {
    const w = this.live(address, now)
    if (w !== undefined) {
      w.count++
      return
    }
    this.windows.delete(address)
    if (this.windows.size >= this.capacity) this.dropOldest()
    this.windows.set(address, { count: 1, endsAt: now + this.windowMs })
  }

  private live(address: string, now: number): Window | undefined {
    const w = this.windows.get(address)
    return w !== undefined && w.endsAt > now ? w : undefined
  }

  /** A Map iterates in insertion order, and a window is inserted when it starts: the first is the oldest. */
  private dropOldest(): void {
    const oldest = this.windows.keys().next()
    if (oldest.done !== true) this.windows.delete(oldest.value)
  }
}

/**
 * The client's address of a raw request, as fastify's `request.ip` has it with serving/http.ts's
 * `trustNearestHop` (--trust-proxy): behind a trusted proxy, the last `X-Forwarded-For` entry (the one that proxy
 * added; entries before it are the client's to choose), else the peer of the connection.
 */
export function clientAddress(req: Pick<IncomingMessage, 'headers' | 'socket'>, trustProxy: boolean): string {
  const peer = req.socket.remoteAddress ?? ''
  if (!trustProxy) return peer
  const forwarded = req.headers['x-forwarded-for']
  if (typeof forwarded !== 'string') return peer
  // Empty entries are skipped, as fastify's parser skips them.
  const entries = forwarded
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
  return entries.at(-1) ?? peer
}
