/**
 * The gateway's counters and its status line every 10 s (never a line per request): readings
 * accepted, requests refused (4xx) and, of those, the ones refused for who sent them (per reason,
 * docs/SECURITY.md, Devices bound to their patients), requests answered 503 while Kafka was unreachable.
 */
import { REFUSALS, type Refusal } from './binding.ts'

/** The gateway's counters (its `stats()`, lib/stage.ts). */
export interface GatewayStats {
  /** Readings acknowledged by Kafka and answered 202. */
  accepted: number
  /** Requests answered 4xx. */
  refused: number
  /** Requests refused for their sender (401, 403), per reason; each is also in `refused`. */
  refusals: Record<Refusal, number>
  /** Requests answered 503. */
  unavailable: number
}

function noRefusals(): Record<Refusal, number> {
  return Object.fromEntries(REFUSALS.map((r) => [r, 0])) as Record<Refusal, number>
}

export class GatewayCounts implements GatewayStats {
  /** Readings acknowledged by Kafka and answered 202. */
  accepted = 0
  /** Requests answered 4xx. */
  refused = 0
  /** Requests refused for their sender, per reason. */
  readonly refusals = noRefusals()
  /** Requests answered 503. */
  unavailable = 0
  /** When the last status line was made (epoch ms), and the count then. */
  #last = { at: 0, accepted: 0 }

  /** Starts the status lines at `now` (epoch ms): the first line's rate counts from here. */
  startLines(now: number): void {
    this.#last = { at: now, accepted: this.accepted }
  }

  /** Counts a request by the status it was answered with. */
  answered(status: number): void {
    if (status === 503) this.unavailable++
    else if (status >= 400) this.refused++
  }

  /** Counts a request refused for its sender (its status is counted by `answered`). */
  refusedFor(reason: Refusal): void {
    this.refusals[reason]++
  }

  /** The counters now, a copy. */
  stats(): GatewayStats {
    return { accepted: this.accepted, refused: this.refused, refusals: { ...this.refusals }, unavailable: this.unavailable }
  }

  /** The status line at `now` (epoch ms), with the rate of readings accepted since the last line. */
  statusLine(now: number, kafkaUnreachable: boolean): string {
    const rate = ((this.accepted - this.#last.accepted) * 1000) / Math.max(1, now - this.#last.at)
    this.#last = { at: now, accepted: this.accepted }
    const reasons = REFUSALS.map((r) => `${r} ${this.refusals[r]}`).join(', ')
    return (
      `${rate.toFixed(0)} readings/s accepted (${this.accepted} in all), requests refused ${this.refused} (${reasons}), ` +
      `answered 503 ${this.unavailable}, Kafka ${kafkaUnreachable ? 'unreachable' : 'ok'}`
    )
  }
}
