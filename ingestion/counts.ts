/**
 * The gateway's counters and its status line every 10 s (never a line per request): readings
 * accepted, requests refused (4xx), requests answered 503 while Kafka was unreachable.
 */

/** The gateway's counters (its `stats()`, lib/stage.ts). */
export interface GatewayStats {
  /** Readings acknowledged by Kafka and answered 202. */
  accepted: number
  /** Requests answered 4xx. */
  refused: number
  /** Requests answered 503. */
  unavailable: number
}

export class GatewayCounts implements GatewayStats {
  /** Readings acknowledged by Kafka and answered 202. */
  accepted = 0
  /** Requests answered 4xx. */
  refused = 0
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

  /** The counters now, a copy. */
  stats(): GatewayStats {
    return { accepted: this.accepted, refused: this.refused, unavailable: this.unavailable }
  }

  /** The status line at `now` (epoch ms), with the rate of readings accepted since the last line. */
  statusLine(now: number, kafkaUnreachable: boolean): string {
    const rate = ((this.accepted - this.#last.accepted) * 1000) / Math.max(1, now - this.#last.at)
    this.#last = { at: now, accepted: this.accepted }
    return (
      `${rate.toFixed(0)} readings/s accepted (${this.accepted} in all), requests refused ${this.refused}, ` +
      `answered 503 ${this.unavailable}, Kafka ${kafkaUnreachable ? 'unreachable' : 'ok'}`
    )
  }
}
