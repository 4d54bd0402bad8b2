/**
 * A consumed batch, decoded in arrival (offset) order: each record validated, the valid readings
 * grouped by patient in the order they arrived, the invalid ones turned into dead letters, and
 * the last offset seen per partition. Pure.
 *
 * Replays of a rebuild: a record below its partition's `replayUntil` offset was processed before
 * Redis was wiped. Its reading is applied again (the view is being rebuilt) but its alert events
 * and its dead letter were produced the first time, so they are not produced again.
 */
import type { Reading } from '../lib/contract/schema.ts'
import { deadLetterRecord, type OutRecord, type SourceRecord } from './records.ts'
import { validateRecord, type RejectReason } from './validate.ts'

export interface PatientGroup {
  partition: number
  /** Readings seen for the first time, in arrival order. */
  fresh: Reading[]
  /** Readings the view had already seen before a Redis wipe, in arrival order: their alert events are not produced again. */
  replayed: Reading[]
}

export interface DecodedBatch {
  /** Per patient, in order of first appearance. */
  groups: Map<string, PatientGroup>
  /** Dead letters to produce (not those of replayed records), in arrival order. */
  deadLetters: OutRecord[]
  /** The reason of each dead letter, to count once the batch is written. */
  rejects: RejectReason[]
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
  const out: DecodedBatch = { groups: new Map(), deadLetters: [], rejects: [], lastOffsets: new Map() }
  for (const m of batch) {
    out.lastOffsets.set(m.partition, m.offset)
    const replayed = (options.replayUntil(m.partition) ?? -1n) > m.offset
    const v = validateRecord(m.value ?? undefined, { key: m.key?.toString('utf8'), brokerTs: Number(m.timestamp) }, options.maxClockSkewMs)
    if (!v.ok) {
      if (!replayed) {
        out.rejects.push(v.reason)
        out.deadLetters.push(deadLetterRecord(options.rejectedTopic, m, v.reason, v.detail, v.patientId))
      }
      continue
    }
    let g = out.groups.get(v.reading.patientId)
    if (g === undefined) {
      g = { partition: m.partition, fresh: [], replayed: [] }
      out.groups.set(v.reading.patientId, g)
    }
    ;(replayed ? g.replayed : g.fresh).push(v.reading)
  }
  return out
}
