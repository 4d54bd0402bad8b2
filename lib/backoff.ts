/**
 * Capped exponential backoff with full jitter, for every retry loop in Vigil (broker or Redis
 * unreachable, a stage waiting for its dependency). One implementation, used everywhere.
 */
import { setTimeout as sleep } from 'node:timers/promises'

export interface BackoffOptions {
  /** First delay, in milliseconds. @defaultValue 200 ms */
  initialDelayMs?: number
  /** Largest delay, in milliseconds. @defaultValue 10 000 ms: an outage is noticed within 10 s of its end */
  maxDelayMs?: number
  /** Give up after this many milliseconds in total (Infinity: never). @defaultValue Infinity */
  deadlineMs?: number
  /** Called before each wait, with the attempt number (1-based), the error and the coming delay. */
  onRetry?: (attempt: number, error: unknown, delayMs: number) => void
  /** Stops the retries (e.g. on shutdown); the last error is rethrown. */
  signal?: AbortSignal
  /** Errors for which retrying is pointless; rethrown at once. */
  isFatal?: (error: unknown) => boolean
  /** Random source in [0, 1), for deterministic tests. @defaultValue Math.random */
  random?: () => number
}

/** The delay before retry `attempt` (1-based): uniform in [cap/2, cap], cap = min(max, initial·2^(attempt-1)). */
export function backoffDelay(attempt: number, initialDelayMs = 200, maxDelayMs = 10_000, random: () => number = Math.random): number {
  const cap = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.max(0, attempt - 1))
  return Math.round(cap / 2 + (random() * cap) / 2)
}

/** Runs `fn` until it succeeds, waiting a capped exponential backoff between attempts. */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: BackoffOptions = {}): Promise<T> {
  const { initialDelayMs = 200, maxDelayMs = 10_000, deadlineMs = Infinity, onRetry, signal, isFatal, random = Math.random } = options
  const started = Date.now()
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt)
    } catch (error) {
      if (isFatal?.(error) === true || signal?.aborted === true) throw error
      const delay = backoffDelay(attempt, initialDelayMs, maxDelayMs, random)
      if (Date.now() - started + delay > deadlineMs) throw error
      onRetry?.(attempt, error, delay)
      try {
        await sleep(delay, undefined, { signal })
      } catch {
        // Aborted while waiting: surface the operation's own error, not the AbortError.
        throw error
      }
    }
  }
}

/**
 * Polls `check` until it returns a value other than undefined/false, or the deadline passes.
 * `giveUpIf` is asked before each try: a reason it returns ends the wait at once (a process that
 * exited will never become ready).
 */
export async function pollUntil<T>(
  check: () => Promise<T | undefined | false>,
  options: { timeoutMs: number; intervalMs?: number; what: string; giveUpIf?: () => string | undefined },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs
  let lastError: unknown
  for (;;) {
    const reason = options.giveUpIf?.()
    if (reason !== undefined) throw new Error(`${reason} while waiting for ${options.what}`)
    try {
      const value = await check()
      if (value !== undefined && value !== false) return value
    } catch (error) {
      lastError = error
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? `: ${lastError.message}` : ''
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.what}${why}`, { cause: lastError })
    }
    await sleep(options.intervalMs ?? 100)
  }
}

/**
 * `p`, or a rejection with `message` when it has not settled within `ms`: a bound on a wait,
 * never a pause (the timer is cleared as soon as `p` settles).
 */
export function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms)
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}

/** Whether `p` settles (resolves or rejects) within `ms`; the timer is cleared as soon as it does. */
export function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  const settled = p.then(
    () => true,
    () => true,
  )
  return withTimeout(settled, ms, 'not settled').catch(() => false)
}
