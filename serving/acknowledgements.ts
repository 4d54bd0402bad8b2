/**
 * Acknowledging an alert once, whoever asks at the same time (docs/SECURITY.md, The audit trail):
 * claim, then record, then write.
 *
 * 1. Claim: `SET <prefix>ack-claim:<alert id> <random id> NX PX` (keys.other('ack-claim', id)).
 *    One request wins it, in any number of serving processes.
 * 2. The winner records the `alert.acknowledge` event in the audit trail (recordFirst), then stores
 *    the acknowledgement (HSETNX, serving/view.ts). When the audit write fails it releases the
 *    claim and the request is refused 503: nothing changed.
 * 3. A loser records nothing: it waits for the winner's acknowledgement and answers it (200, the
 *    winner's `by`); if the winner released its claim instead, it claims again itself.
 *
 * So the trail holds one acknowledgement event per alert, by the user the alert shows.
 */
import { randomUUID } from 'node:crypto'
import { pollUntil } from '../lib/backoff.ts'
import { decodeAck } from '../lib/contract/codecs/alerts.ts'
import type { RedisKeys } from '../lib/contract/keys.ts'
import { VigilError } from '../lib/errors.ts'
import type { AuditLog } from '../lib/identity/audit.ts'
import type { Principal } from '../lib/identity/model.ts'
import type { RedisClient } from '../lib/redis.ts'
import type { AlertView } from './events.ts'
import { recordFirst } from './routes-audit.ts'
import { ackKey, type View } from './view.ts'

/**
 * How long a claim lives, in milliseconds: longer than one audit write can take (4 tries of the
 * Kafka client's 10 s request timeout, lib/kafka.ts), so that a slow winner is not joined by a
 * second; a winner that died lets the alert be acknowledged again after it.
 */
const CLAIM_MS = 60_000
/** How long a loser waits for the winner's acknowledgement before it answers 503, in milliseconds. */
const WAIT_FOR_WINNER_MS = 15_000
const POLL_MS = 20

/**
 * KEYS[1]: the claim. ARGV[1]: the id it was claimed with.
 * Deletes the claim only while it is still the caller's (it may have expired and been taken since); returns 1 when deleted.
 */
const RELEASE_CLAIM = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

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
      const claim = randomUUID()
      if (await this.claim(alert.id, claim)) return this.asWinner(alert, actor, note, claim)
      const stored = await this.winnersAck(alert, deadline)
      if (stored !== null) return { alert: stored, changed: false }
      // The winner released its claim (its audit write failed): this request tries in its place.
    }
  }

  private claimKey(alertId: string): string {
    return this.keys.other('ack-claim', alertId)
  }

  private async claim(alertId: string, claim: string): Promise<boolean> {
    return (await this.redis.set(this.claimKey(alertId), claim, { condition: 'NX', expiration: { type: 'PX', value: CLAIM_MS } })) === 'OK'
  }

  private async asWinner(alert: AlertView, actor: Principal, note: string, claim: string): Promise<AckOutcome> {
    // Acknowledged since it was read, by a request whose claim has expired since: answered as it stands.
    const [current] = await this.view.withAcks([alert])
    if (current?.ack !== undefined) return { alert: current, changed: false }
    const ack = { by: actor.user, at: Date.now() }
    const event = {
      at: ack.at,
      actor,
      action: 'alert.acknowledge',
      patientId: alert.patientId,
      subject: alert.id,
      before: null,
      after: ack,
      reason: note === '' ? null : note,
    } as const
    try {
      await recordFirst(this.audit, event)
    } catch (error) {
      // Nothing was recorded, so nothing is stored: the next request (a loser waiting, or a retry) may claim it.
      await this.redis.eval(RELEASE_CLAIM, { keys: [this.claimKey(alert.id)], arguments: [claim] }).catch(() => undefined)
      throw error
    }
    return { alert: await this.view.acknowledge(alert, ack), changed: true }
  }

  /** The alert with the winner's acknowledgement once it is stored; null once the claim is gone without one; 503 past the deadline. */
  private async winnersAck(alert: AlertView, deadline: number): Promise<AlertView | null> {
    const claimKey = this.claimKey(alert.id)
    const check = async (): Promise<{ alert: AlertView | null } | undefined> => {
      const [stored, claimed] = await this.redis.multi().hGet(ackKey(this.keys), alert.id).exists(claimKey).exec()
      const ack = decodeAck(typeof stored === 'string' ? stored : null)
      if (ack !== undefined) return { alert: { ...alert, ack } }
      return Number(claimed) === 0 ? { alert: null } : undefined
    }
    try {
      return (await pollUntil(check, { timeoutMs: Math.max(0, deadline - Date.now()), intervalMs: POLL_MS, what: `the acknowledgement of ${alert.id}` })).alert
    } catch (error) {
      throw new VigilError(
        'KAFKA_UNREACHABLE',
        'another acknowledgement of this alert is still being recorded in the audit trail: try again in a moment (`vigil stack status` if it persists).',
        { cause: error },
      )
    }
  }
}
