/**
 * The speed layer's commits: one commit request at a time, for every partition at once,
 * overlapping the next batch's work, so a commit is never on a batch's critical path and always
 * follows the batch's writes (what is committable is offsets.ts's).
 */
import type { Consumer } from '@platformatic/kafka'
import { describeError } from '../lib/errors.ts'
import type { Logger } from '../lib/log.ts'
import type { OffsetBook } from './offsets.ts'

export class CommitPipeline {
  /** The commit requests in flight, until nothing is pending (undefined: none). */
  private inFlight: Promise<void> | undefined

  constructor(
    private readonly consumer: Pick<Consumer<Buffer, Buffer, Buffer, Buffer>, 'commit'>,
    private readonly book: OffsetBook,
    private readonly topic: string,
    private readonly log: Logger,
  ) {}

  /** A batch is written (its last offset per partition): commit after the request in flight, if any. */
  schedule(lastOffsets: ReadonlyMap<number, bigint>): void {
    this.book.written(lastOffsets)
    this.inFlight ??= this.flush()
  }

  /** Resolves once no commit is in flight (a rewind must not be undone by a commit landing after it). */
  settled(): Promise<void> {
    return this.inFlight ?? Promise.resolve()
  }

  private async flush(): Promise<void> {
    // Entered with something pending (schedule just wrote it), so the first await comes before
    // `inFlight` is cleared below.
    while (this.book.hasPending()) {
      const offsets = this.book.takePending().map(({ partition, offset }) => ({ topic: this.topic, partition, offset, leaderEpoch: -1 }))
      try {
        await this.consumer.commit({ offsets })
      } catch (error) {
        // A rebalance took a partition away: its new owner replays from the last commit, and the
        // duplicate detection written with the batch makes that replay a no-op.
        this.log.debug({ err: describeError(error) }, 'commit refused')
      }
    }
    this.inFlight = undefined
  }
}
