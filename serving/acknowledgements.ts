/**
 * Acknowledging an alert once, whoever asks at the same time (docs/SECURITY.md, The audit trail):
 * claim, then record, then write.
 *
 * 1. Claim: the lock `keys.ackClaim(id)` (lib/redis-lock.ts: `SET NX PX` with a random token).
 *    One request wins it, in any number of serving processes. The winner renews it while it works,
 *    so a claim outlives a slow audit write, and one whose holder died expires within CLAIM_TTL_MS.
 * 2. The winner records the `alert.acknowledge` event in the audit trail (recordFirst), then stores
 *    the acknowledgement (HSETNX, serving/view.ts), then releases the claim, whether that worked or
 *    failed. When the audit write fails the request is refused 503: nothing changed.
 * 3. A loser records nothing: it waits for the winner's acknowledgement and answers it (200, the
 *    winner's `by`); if the claim is gone without one (the winner failed, or died and its claim
 *    expired), it claims again itself. A winner still at work after WAIT_FOR_WINNER_MS leaves the
 *    loser a 503 to retry (AckInProgress).
 *
 * So the trail holds one acknowledgement event per alert, by the user the alert shows. No fencing
 * (lib/redis-lock.ts): a winner stalled past the claim's TTL (Redis or the process paused) may
 * record a second event next to a new winner's; HSETNX still stores only the first acknowledgement.
 */
import { pollUntil } from '../lib/backoff.ts'
import { decodeAck } from '../lib/contract/codecs/alerts.ts'
import type { RedisKeys } from '../lib/contract/keys.ts'
import type { AuditLog } from '../lib/identity/audit.ts'
import type { Principal } from '../lib/identity/model.ts'
import type { RedisClient } from '../lib/redis.ts'
import { acquireLock, releaseLock, renewLock } from '../lib/redis-lock.ts'
import type { AlertView } from './events.ts'
import { recordFirst } from './routes-audit.ts'
import { ackKey, type View } from './view.ts'

/**
 * How long a claim lives without being renewed, in milliseconds: the longest an alert stays
 * claimed after its winner died. A live winner renews it every third of that.
 */
const CLAIM_TTL_MS = 10_000
/**
 * How long a loser waits for the winner's acknowledgement before it answers 503, in milliseconds:
 * longer than CLAIM_TTL_MS, so that a loser outlives the claim of a winner that died and claims in its place.
 */
const WAIT_FOR_WINNER_MS = 15_000
const POLL_MS = 20

/** Another request holds the alert's claim and is still recording its acknowledgement: 503, try again. */
export class AckInProgress extends Error {
  constructor(alertId: string, cause: unknown) {
    super(`another acknowledgement of alert ${alertId} is in progress: try again in a moment.`, { cause })
  }
}

export interface AckOutcome {
  alert: AlertView
  /** True when this request stored the acknowledgement (and recorded its event): the pages are to be told. */
  changed: boolean
}

export class Acknowledgements {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly view: View,
    private readonly audit: AuditLog,
  ) {}

  /** Acknowledges `alert` (not acknowledged when it was read) as `actor`, with an optional note. */
  async acknowledge(alert: AlertView, actor: Principal, note: string): Promise<AckOutcome> {
    const deadline = Date.now() + WAIT_FOR_WINNER_MS
    for (;;) {
      const claim = await acquireLock(this.redis, this.keys.ackClaim(alert.id), CLAIM_TTL_MS)
      if (claim !== null) return this.asWinner(alert, actor, note, claim)
      const stored = await this.winnersAck(alert, deadline)
      if (stored !== null) return { alert: stored, changed: false }
      // The claim is gone without an acknowledgement (the winner failed or died): this request tries in its place.
    }
  }

  /** Records and stores the acknowledgement under the claim `token`, renewed meanwhile, and releases the claim once that is done or failed. */
  private async asWinner(alert: AlertView, actor: Principal, note: string, token: string): Promise<AckOutcome> {
    const key = this.keys.ackClaim(alert.id)
    const renewal = setInterval(() => {
      // A renewal that fails leaves the claim to expire (see the header: no fencing); the next one tries again.
      renewLock(this.redis, key, token, CLAIM_TTL_MS).catch(() => undefined)
    }, CLAIM_TTL_MS / 3)
    renewal.unref()
    try {
      return await this.recordAndStore(alert, actor, note)
    } finally {
      clearInterval(renewal)
      // Stored: a waiter finds the acknowledgement, and a later claimant answers it as it stands.
      // Failed: a waiter claims in its place. A release that fails leaves the claim to expire.
      await releaseLock(this.redis, key, token).catch(() => undefined)
    }
  }

  private async recordAndStore(alert: AlertView, actor: Principal, note: string): Promise<AckOutcome> {
    // Acknowledged since it was read, by a request whose claim has been released since: answered as it stands.
    const [current] = await this.view.withAcks([alert])
    if (current?.ack !== undefined) return { alert: current, changed: false }
    const ack = { by: actor.user, at: Date.now() }
    // Recorded first; when Kafka does not acknowledge, this throws (503) and nothing is stored.
    await recordFirst(this.audit, {
      at: ack.at,
      actor,
      action: 'alert.acknowledge',
      patientId: alert.patientId,
      subject: alert.id,
      before: null,
      after: ack,
      reason: note === '' ? null : note,
    })
    return { alert: await this.view.acknowledge(alert, ack), changed: true }
  }

  /** The alert with the winner's acknowledgement once it is stored; null once the claim is gone without one; AckInProgress past the deadline. */
  private async winnersAck(alert: AlertView, deadline: number): Promise<AlertView | null> {
    const claimKey = this.keys.ackClaim(alert.id)
    const check = async (): Promise<{ alert: AlertView | null } | undefined> => {
      // Two commands sent at once, not one transaction: the keys are in different Redis Cluster
      // slots. Either order is safe: an acknowledgement stored after the first read and a claim
      // released before the second leaves this request to claim again, and find it stored.
      const [stored, claimed] = await Promise.all([this.redis.hGet(ackKey(this.keys), alert.id), this.redis.exists(claimKey)])
      const ack = decodeAck(typeof stored === 'string' ? stored : null)
      if (ack !== undefined) return { alert: { ...alert, ack } }
      return Number(claimed) === 0 ? { alert: null } : undefined
    }
    try {
      return (await pollUntil(check, { timeoutMs: Math.max(0, deadline - Date.now()), intervalMs: POLL_MS, what: `the acknowledgement of ${alert.id}` })).alert
    } catch (error) {
      // The winner is alive (it renews its claim) but still at work, e.g. its audit write waits on Kafka.
      throw new AckInProgress(alert.id, error)
    }
  }
}
