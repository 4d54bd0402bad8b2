/**
 * The speed layer's offset bookkeeping, per partition of `vitals.readings`. Pure; the commit
 * requests themselves are commit-pipeline.ts's.
 *
 * Offsets are Kafka's "next record to read": a written batch whose last record is at offset `o`
 * makes `o + 1` committable. Only written batches reach the book, so a commit always follows the
 * batch's Redis write and its produced records (docs/CONTRACT.md, Principles: offsets after side
 * effects). Later batches overwrite the pending offset of their partition: one request commits
 * the newest written offset of every partition at once.
 */

export interface PartitionOffset {
  partition: number
  offset: bigint
}

export class OffsetBook {
  /** Per partition: the next offset to process (last processed + 1). */
  private readonly positions = new Map<number, bigint>()
  /** Per partition: written, not yet handed to a commit request. */
  private readonly pending = new Map<number, bigint>()
  /** Per partition: the offset up to which (exclusive) records are replays of a rebuild. */
  private readonly replays = new Map<number, bigint>()

  /** A batch is written: `lastOffsets` holds, per partition, the offset of its last record. */
  written(lastOffsets: ReadonlyMap<number, bigint>): void {
    for (const [partition, last] of lastOffsets) {
      const next = last + 1n
      this.pending.set(partition, next)
      this.positions.set(partition, next)
      const until = this.replays.get(partition)
      if (until !== undefined && next >= until) this.replays.delete(partition)
    }
  }

  hasPending(): boolean {
    return this.pending.size > 0
  }

  /** The offsets to commit now (every partition with a written batch since the last take), in the order first written. */
  takePending(): PartitionOffset[] {
    const out = [...this.pending].map(([partition, offset]) => ({ partition, offset }))
    this.pending.clear()
    return out
  }

  /** The next offset to process in `partition`, if a batch of it was written since the last rewind. */
  position(partition: number): bigint | undefined {
    return this.positions.get(partition)
  }

  /** Records of `partition` below this offset are replays of a rebuild (undefined: none). */
  replayUntil(partition: number): bigint | undefined {
    return this.replays.get(partition)
  }

  /** `partition` was rewound for a rebuild: the records up to `until` (exclusive) were processed before. */
  rewound(partition: number, until: bigint): void {
    this.replays.set(partition, until)
  }

  /** The stream is reopened from the committed offsets: the positions are no longer known. */
  forgetPositions(): void {
    this.positions.clear()
  }
}
