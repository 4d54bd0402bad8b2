/**
 * The speed layer's decisions about the view's epoch and its rebuild from Kafka (docs/CONTRACT.md,
 * Principles; docs/ARCHITECTURE.md, The speed layer's Redis state). Pure; the round trips are
 * rebuilder.ts's.
 *
 * `{view}:epoch` holds a random id set when the view is (re)built and is gone after a wipe;
 * `speed:rebuilt` holds, per partition, the epoch whose rebuild of that partition is done (its
 * rewind committed). An instance works against the epoch it knows (`known`, null before its first
 * batch) and writes nothing under another one.
 */

/**
 * The epoch a write may go under: the view's `current` epoch, provided there is one, it is the one
 * this instance works against (or this instance has adopted none yet) and every partition in
 * `marks` (their `speed:rebuilt` fields) was rebuilt under it. Undefined: rebuild first.
 */
export function epochToWriteUnder(known: string | null, current: string | null, marks: readonly (string | null)[] = []): string | undefined {
  if (current === null || (known !== null && current !== known)) return undefined
  return marks.every((m) => m === current) ? current : undefined
}

/**
 * The housekeeping check, with no batch at hand: rebuild when the epoch moved under a running
 * instance (wiped, or another instance rebuilt) or an owned partition (`marks`, empty when there
 * is no epoch) was not rebuilt under it. No epoch and none known: nothing was ever written, and
 * the first batch creates it.
 */
export function housekeepingNeedsRebuild(known: string | null, current: string | null, marks: readonly (string | null)[]): boolean {
  return (known !== null && current !== known) || marks.some((m) => m !== current)
}

/** The partitions of `owned` whose mark (`marks`, in the same order) is not `epoch`. */
export function unrebuiltPartitions(owned: readonly number[], marks: readonly (string | null)[], epoch: string | null): number[] {
  return owned.filter((_, k) => marks[k] !== epoch)
}

/** What is known of a partition when it is to be rebuilt. Offsets are "next record to read". */
export interface PartitionFacts {
  partition: number
  /** This instance's position (after its last written batch); undefined after a reopen. */
  position?: bigint
  /** The group's committed offset; undefined or -1n when none. */
  committed?: bigint
  /** The first offset at or after now − series window; undefined or -1n when none (nothing that recent). */
  target?: bigint
}

export interface Rewind {
  partition: number
  /** Where the partition is rewound to. */
  offset: bigint
  /** Records below this offset were processed before: their alert events and dead letters are not produced again. */
  until: bigint
}

/**
 * The rewinds of a rebuild: each partition whose series window starts before where it stands (its
 * position, else its committed offset) goes back to the window's start. A partition with nothing
 * processed, or nothing within the window, is left where it is.
 */
export function planRewinds(facts: readonly PartitionFacts[]): Rewind[] {
  const out: Rewind[] = []
  for (const f of facts) {
    const position = f.position ?? f.committed ?? -1n
    const target = f.target ?? -1n
    if (position > 0n && target >= 0n && target < position) out.push({ partition: f.partition, offset: target, until: position })
  }
  return out
}

export interface RebuildFacts {
  /** The epoch this instance worked against before the rebuild (null: none, a starting instance). */
  before: string | null
  /** The epoch adopted for the rebuild. */
  after: string | null
  /** Whether this instance created that epoch (there was none). */
  created: boolean
  /** The partitions being rebuilt. */
  parts: readonly number[]
  rewound: number
  /** Start of the replayed window, epoch milliseconds. */
  sinceMs: number
}

/**
 * The warning a rebuild logs, or undefined for a starting instance with nothing to replay (a
 * first start on an empty Redis is no event).
 */
export function rebuildWarning(f: RebuildFacts): string | undefined {
  if (f.rewound === 0 && f.before === null) return undefined
  const why =
    f.created || (f.before !== null && f.before !== f.after)
      ? 'the Redis view is empty (Redis wiped or restarted)'
      : `partitions ${f.parts.join(', ')} were not rebuilt under the view's epoch (an instance stopped during a rebuild, ` +
        'or the view predates per-partition rebuild marks)'
  const what = f.rewound > 0 ? `${f.rewound} partitions rewound` : 'nothing to replay'
  return `${why}: rebuilding from Kafka since ${new Date(f.sinceMs).toISOString()} (${what})`
}
