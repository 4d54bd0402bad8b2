/**
 * What the speed layer says to Kafka, each written once: the records it produces (alert events on
 * `vitals.alerts`, dead letters on `vitals.rejected`, docs/CONTRACT.md Topics) and the options of
 * its consumer group, which the client needs both when built and when it joins. Pure.
 */
import { encodeAlertEvent } from '../lib/contract/codecs/alerts.ts'
import { consumerGroupOptions } from '../lib/kafka.ts'
import type { Vital } from '../lib/contract/schema.ts'
import type { AlertEvent } from '../lib/contract/views.ts'
import { REJECT_HEADERS } from '../lib/contract/topics.ts'
import type { SpeedOptions } from './config.ts'
import { deadLetterHeaders, deadLetterPayload, type RejectReason } from './validate.ts'

/** A consumed record, as much of it as the speed layer reads (a @platformatic/kafka `Message` is one). */
export interface SourceRecord {
  topic: string
  partition: number
  offset: bigint
  /** Broker timestamp, epoch milliseconds. */
  timestamp: bigint
  key: Buffer | null | undefined
  value: Buffer | null | undefined
  headers: ReadonlyMap<Buffer, Buffer>
}

/** A record to produce. */
export interface OutRecord {
  topic: string
  key?: Buffer
  value: Buffer
  headers?: Map<Buffer, Buffer>
}

/** An alert event on `vitals.alerts`: keyed by patient, the event as JSON (the same text as in the alerts stream). */
export function alertRecord(topic: string, e: AlertEvent): OutRecord {
  return { topic, key: Buffer.from(e.patientId), value: Buffer.from(encodeAlertEvent(e)) }
}

/**
 * The dead letter of `m` on `topic` (docs/CONTRACT.md Topics): its bytes (cut past
 * DEAD_LETTER_MAX_BYTES), keyed by the patientId when the value passed the schema, with the
 * reject headers after the record's own. `fields`: the vitals refused of a record whose other
 * fields were accepted (the `vigil-reject-fields` header).
 */
export function deadLetterRecord(
  topic: string,
  m: SourceRecord,
  reason: RejectReason,
  detail: string,
  patientId: string | undefined,
  fields?: readonly Vital[],
): OutRecord {
  const headers = deadLetterHeaders(m.headers)
  headers.set(Buffer.from(REJECT_HEADERS.reason), Buffer.from(reason))
  headers.set(Buffer.from(REJECT_HEADERS.detail), Buffer.from(detail))
  if (fields !== undefined && fields.length > 0) headers.set(Buffer.from(REJECT_HEADERS.fields), Buffer.from(fields.join(',')))
  headers.set(Buffer.from(REJECT_HEADERS.sourceTopic), Buffer.from(m.topic))
  headers.set(Buffer.from(REJECT_HEADERS.sourcePartition), Buffer.from(String(m.partition)))
  headers.set(Buffer.from(REJECT_HEADERS.sourceOffset), Buffer.from(String(m.offset)))
  const payload = deadLetterPayload(patientId !== undefined ? Buffer.from(patientId) : m.key, m.value)
  if (payload.originalBytes !== undefined) headers.set(Buffer.from(REJECT_HEADERS.originalBytes), Buffer.from(String(payload.originalBytes)))
  return { topic, key: payload.key, value: payload.value, headers }
}

/**
 * The group options the consumer is built with and joins with (lib/kafka.ts, the same values both
 * times): the session timeout also as the rebalance timeout, so that a rebalance after a member
 * left never waits longer than a session for the others, and the fetch wait and buffer bound of
 * the options.
 */
export function groupOptions(opts: Pick<SpeedOptions, 'sessionTimeoutMs' | 'fetchMaxWaitMs' | 'maxBufferedRecords'>) {
  return consumerGroupOptions({
    sessionTimeoutMs: opts.sessionTimeoutMs,
    rebalanceTimeoutMs: opts.sessionTimeoutMs,
    fetchMaxWaitMs: opts.fetchMaxWaitMs,
    maxBufferedRecords: opts.maxBufferedRecords,
  })
}
