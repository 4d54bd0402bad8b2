/**
 * A consumed batch, decoded in arrival (offset) order: each record validated, the accepted readings
 * grouped by patient in the order they arrived, the rejected ones (and those with a refused field)
 * turned into dead letters, and the last offset seen per partition. Pure.
 *
 * Replays of a rebuild: a record below its partition's `replayUntil` offset was processed before
 * Redis was wiped. Its reading is applied again (the view is being rebuilt) but its alert events
 * and its dead letter were produced the first time, so they are not produced again.
 */
import type { Reading, Vital } from '../lib/contract/schema.ts'
import { deadLetterRecord, type OutRecord, type SourceRecord } from './records.ts'
import { describeFieldRejects, validateRecord, type RejectReason } from './validate.ts'

/** An accepted reading, as the patient code applies it. */
export interface Accepted {
  /** Only the accepted fields (validate.ts): refused and no-signal vitals removed. */
  reading: Reading
  /** The reading's no-signal fields (validate.ts NO_SIGNAL_VALUES), in VITALS order. */
  noSignal: readonly Vital[]
  /** The record's broker timestamp (ms): when it arrived. */
  arrivedAt: number
}

export interface PatientGroup {
  partition: number
  /** Readings seen for the first time, in arrival order. */
  fresh: Accepted[]
  /** Readings the view had already seen before a Redis wipe, in arrival order: their alert events are not produced again. */
  replayed: Accepted[]
}

export interface DecodedBatch {
  /** Per patient, in order of first appearance. */
  groups: Map<string, PatientGroup>
  /** Dead letters to produce (not those of replayed records), in arrival order. */
  deadLetters: OutRecord[]
  /** The reason of each dead letter, to count once the batch is written. */
  rejects: RejectReason[]
  /** How many of those dead letters are of records whose other fields were accepted. */
  partialRejects: number
  /** Per partition of the batch, the offset of its last record. */
  lastOffsets: Map<number, bigint>
}

export interface DecodeOptions {
  /** The topic dead letters go to. */
  rejectedTopic: string
  maxClockSkewMs: number
  /** Per partition, the offset up to which (exclusive) records are replays of a rebuild; undefined: none. */
  replayUntil: (partition: number) => bigint | undefined
}

export function decodeBatch(batch: readonly SourceRecord[], options: DecodeOptions): DecodedBatch {
  const out: DecodedBatch = { groups: new Map(), deadLetters: [], rejects: [], partialRejects: 0, lastOffsets: new Map() }
  for (const m of batch) {
    out.lastOffsets.set(m.partition, m.offset)
    const replayed = (options.replayUntil(m.partition) ?? -1n) > m.offset
    const arrivedAt = Number(m.timestamp)
    const v = validateRecord(m.value ?? undefined, { key: m.key?.toString('utf8'), brokerTs: arrivedAt }, options.maxClockSkewMs)
    if (!v.ok) {
      if (!replayed) {
        out.rejects.push(v.reason)
        out.deadLetters.push(deadLetterRecord(options.rejectedTopic, m, v.reason, v.detail, v.patientId))
      }
      continue
    }
    const first = v.fieldRejects[0]
    if (first !== undefined && !replayed) {
      // Once per record, whatever the number of refused fields; its other vitals are classified below.
      out.rejects.push(first.reason)
      out.partialRejects++
      const fields = v.fieldRejects.map((f) => f.vital)
      out.deadLetters.push(deadLetterRecord(options.rejectedTopic, m, first.reason, describeFieldRejects(v.fieldRejects), v.reading.patientId, fields))
    }
    let g = out.groups.get(v.reading.patientId)
    if (g === undefined) {
      g = { partition: m.partition, fresh: [], replayed: [] }
      out.groups.set(v.reading.patientId, g)
    }
    ;(replayed ? g.replayed : g.fresh).push({ reading: v.reading, noSignal: v.noSignal, arrivedAt })
  }
  return out
}
