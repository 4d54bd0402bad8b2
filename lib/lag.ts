/**
 * Consumer lag as Kafka itself defines it, the one measure every layer, /healthz, /metrics and
 * `vigil status` report: per partition, the high watermark (log-end offset) minus the group's
 * committed offset, read with the Admin API. A partition on which the group has committed nothing
 * counts from its log start offset (the oldest record still in the log): all of it is behind.
 *
 * Not a client's own view of its position: @platformatic/kafka's `consumer.getLag` subtracts the
 * offset the stream started from, which stays put when offsets are committed with
 * `consumer.commit` (as every Vigil stage does), so it grew with every record ever read.
 */
import type { Admin } from '@platformatic/kafka'

export interface PartitionLag {
  partition: number
  /** Log start offset: the oldest record still in the log. */
  start: number
  /** High watermark: the offset the next record produced will get. */
  end: number
  /** The group's committed offset (the next record it will read); null when it committed none here. */
  committed: number | null
  /** `end − committed`, or `end − start` when nothing is committed. */
  lag: number
}

export interface GroupLag {
  group: string
  topic: string
  /** Records behind, summed over the topic's partitions. */
  total: number
  /** Every partition of the topic, in partition order. */
  partitions: PartitionLag[]
}

/** The offset of "the next record" in a ListOffsets request (latest), and of the log start (earliest). */
const LATEST = -1n
const EARLIEST = -2n

/**
 * The committed-offset lag of each group (full names, prefix included) on `topic`, in the order of
 * `groups`. Null when the topic does not exist yet (nothing to lag behind; `vigil init` or the
 * first layer to start creates it).
 */
export async function committedLag(admin: Admin, target: { groups: readonly string[]; topic: string }): Promise<GroupLag[] | null> {
  const { topic } = target
  // listTopics, not metadata for the topic: a metadata request may create the topic on a broker
  // that auto-creates topics.
  if (!(await admin.listTopics()).includes(topic)) return null
  const meta = await admin.metadata({ topics: [topic] })
  const count = meta.topics.get(topic)?.partitionsCount ?? 0
  const indexes = Array.from({ length: count }, (_, i) => i)
  // Committed offsets first, then the ends: a commit between the two reads can only make the end
  // newer, never leave a committed offset past the end it is compared with (no negative lag).
  const committed = await admin.listConsumerGroupOffsets({
    groups: target.groups.map((groupId) => ({ groupId, topics: [{ name: topic, partitionIndexes: indexes }] })),
  })
  const at = (timestamp: bigint) =>
    admin.listOffsets({ topics: [{ name: topic, partitions: indexes.map((partitionIndex) => ({ partitionIndex, timestamp })) }] })
  const [ends, starts] = await Promise.all([at(LATEST), at(EARLIEST)])
  const offsetsOf = (listed: Awaited<ReturnType<typeof at>>) =>
    new Map(listed.find((t) => t.name === topic)?.partitions.map((p) => [p.partitionIndex, Number(p.offset)]) ?? [])
  const endOf = offsetsOf(ends)
  const startOf = offsetsOf(starts)

  return target.groups.map((group) => {
    const parts = committed.find((g) => g.groupId === group)?.topics.find((t) => t.name === topic)?.partitions ?? []
    const partitions = indexes.map((partition): PartitionLag => {
      const start = startOf.get(partition) ?? 0
      const end = endOf.get(partition) ?? 0
      const c = parts.find((p) => p.partitionIndex === partition)?.committedOffset ?? -1n
      // -1: the group has no offset for this partition (never committed, or it expired).
      const committedOffset = c < 0n ? null : Number(c)
      return { partition, start, end, committed: committedOffset, lag: end - (committedOffset ?? start) }
    })
    return { group, topic, total: partitions.reduce((sum, p) => sum + p.lag, 0), partitions }
  })
}

/** The partition furthest behind (the lowest-numbered on a tie); undefined when none is behind. */
export function worstPartition(g: GroupLag): PartitionLag | undefined {
  let worst: PartitionLag | undefined
  for (const p of g.partitions) if (p.lag > 0 && (worst === undefined || p.lag > worst.lag)) worst = p
  return worst
}

/**
 * The lag in a status line: `lag 0`, `lag 412 (partition 3: 230)` when behind, `lag ?` when Kafka
 * did not answer (undefined) and `lag -` before the topic exists (null).
 */
export function describeLag(g: GroupLag | null | undefined): string {
  if (g === undefined) return 'lag ?'
  if (g === null) return 'lag - (no topic yet)'
  const worst = worstPartition(g)
  return worst === undefined ? `lag ${g.total}` : `lag ${g.total} (partition ${worst.partition}: ${worst.lag})`
}
