/**
 * Where the edge's clinical events go (`vitals.events`, docs/CONTRACT.md, Clinical events): their
 * own small batching producer, apart from the readings' so that a reading never waits behind an
 * event or the other way round, with the readings' failure policy ('retry': held and retried with
 * backoff while Kafka is unreachable, nothing lost). Keyed by patientId, like the readings.
 * Events are few (an episode per patient every hour or so), so the buffer is never the bound.
 */
import type { Config } from '../lib/config.ts'
import type { ClinicalEvent } from '../lib/contract/events.ts'
import { TOPIC_PARTITIONS, topicNames } from '../lib/contract/topics.ts'
import type { Logger } from '../lib/log.ts'
import { BatchingProducer } from '../lib/producer.ts'

export interface EventSinkStats {
  /** Events handed to the sink. */
  sent: number
  /** Events Kafka acknowledged. */
  acked: number
}

export interface EventSink {
  /** Prepares the target (creates the topic on a fresh broker); optional. */
  ready?(): Promise<void>
  send(event: ClinicalEvent): void
  /** Resolves when everything sent so far is acknowledged. */
  flush(): Promise<void>
  /** Flushes (unless `drain: false`) and releases the connection. */
  close(options?: { drain?: boolean }): Promise<void>
  readonly stats: EventSinkStats
}

export function kafkaEventSink(config: Config, deps: { log: Logger }): EventSink {
  const producer = new BatchingProducer(config, {
    topic: topicNames(config.topicPrefix).events,
    clientId: 'vigil-edge-events',
    onFailure: 'retry',
    log: deps.log,
    // A few events per patient and hour: a small buffer is room for hours of an outage.
    maxBufferedRecords: 10_000,
  })
  const stats: EventSinkStats = { sent: 0, acked: 0 }
  return {
    ready: () => producer.ensureTopic(TOPIC_PARTITIONS.events),
    send(event) {
      stats.sent++
      producer.send([{ key: event.patientId, value: JSON.stringify(event) }]).then(
        () => {
          stats.acked++
        },
        // Only a close that gave up on an unreachable broker rejects in 'retry' mode: the summary counts it unacknowledged.
        () => undefined,
      )
    },
    flush: () => producer.flush(),
    close: (o) => producer.close(o),
    stats,
  }
}
