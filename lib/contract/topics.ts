/**
 * Topic and consumer-group names (docs/CONTRACT.md, Topics). A prefix (VIGIL_TOPIC_PREFIX) is put in
 * front of every name so that tests and parallel environments share one broker safely.
 */

/**
 * Partition counts. `vitals.readings` is keyed by patientId, so its partitions bound how many
 * instances of a layer share the work: 12 divides evenly among 1, 2, 3, 4, 6 or 12 instances (and
 * among the two left when one of three stops), and leaves room to grow to 12 per layer. It is
 * chosen once: adding partitions later moves patients to other partitions, and a patient's
 * readings would then sit in two partitions with no order between them (docs/ARCHITECTURE.md,
 * Scaling out).
 */
export const TOPIC_PARTITIONS = {
  readings: 12,
  rejected: 3,
  alerts: 3,
  /** Clinical events (lib/contract/events.ts): few records, keyed by patientId like the alerts. */
  events: 3,
} as const

export type TopicRole = keyof typeof TOPIC_PARTITIONS

export interface TopicNames {
  readings: string
  rejected: string
  alerts: string
  events: string
}

export function topicNames(prefix = ''): TopicNames {
  return {
    readings: `${prefix}vitals.readings`,
    rejected: `${prefix}vitals.rejected`,
    alerts: `${prefix}vitals.alerts`,
    events: `${prefix}vitals.events`,
  }
}

export interface GroupNames {
  speed: string
  archiver: string
  /** The archiver's second consumer, of `vitals.events` (batch-layer/event-archiver.ts). */
  eventArchiver: string
  serving: string
}

export function consumerGroups(prefix = ''): GroupNames {
  return {
    speed: `${prefix}vigil-speed`,
    archiver: `${prefix}vigil-archiver`,
    eventArchiver: `${prefix}vigil-archiver-events`,
    serving: `${prefix}vigil-serving`,
  }
}

/** Names of the headers on a `vitals.rejected` record. */
export const REJECT_HEADERS = {
  reason: 'vigil-reason',
  detail: 'vigil-detail',
  sourceTopic: 'vigil-source-topic',
  sourcePartition: 'vigil-source-partition',
  sourceOffset: 'vigil-source-offset',
  /**
   * Set only on a record whose other fields were accepted and classified: its refused vitals,
   * comma-separated (e.g. `temperature` or `diastolic`); the reason is the first one's.
   */
  fields: 'vigil-reject-fields',
  /** Set only when the value was cut to the dead letter's size bound: the size of the whole record's value. */
  originalBytes: 'vigil-original-bytes',
} as const

/**
 * How many copies of each topic a cluster of `brokers` live brokers keeps: three from three brokers
 * on, one per broker below that. With three copies `min.insync.replicas` is 2: a write the producers
 * (acks=all, idempotent) saw acknowledged is on two brokers, so losing any one broker loses no
 * acknowledged reading and producing goes on; losing two stops producing (NOT_ENOUGH_REPLICAS)
 * rather than acknowledge a write held by one broker. Fewer brokers keep the broker's default (1).
 * `ensureTopics` (lib/kafka.ts) applies it to every topic it creates, the identity topics too.
 */
export function topicReplication(brokers: number): { replicas: number; configs: Array<{ name: string; value: string }> } {
  const replicas = Math.max(1, Math.min(3, Math.floor(brokers)))
  return { replicas, configs: replicas === 3 ? [{ name: 'min.insync.replicas', value: '2' }] : [] }
}

/** Every topic of Vigil with its partition count, for creating them (`ensureTopics` in lib/kafka.ts). */
export function topicSpecs(prefix = ''): Array<{ name: string; partitions: number }> {
  const names = topicNames(prefix)
  return (Object.keys(TOPIC_PARTITIONS) as TopicRole[]).map((role) => ({ name: names[role], partitions: TOPIC_PARTITIONS[role] }))
}

/**
 * A topic of the identity store (docs/SECURITY.md): one partition (one total order) and its own
 * topic configs. Kept apart from TOPIC_PARTITIONS and `topicSpecs`, which `vigil init` deletes and
 * recreates: these survive it unless `vigil init --with-identity`.
 */
export interface IdentityTopicSpec {
  name: string
  partitions: 1
  configs: ReadonlyArray<{ name: string; value: string }>
}

export interface IdentityTopics {
  /** `vitals.registry`: devices and users, compacted so that the newest record of each key is kept. */
  registry: IdentityTopicSpec
  /** `vitals.audit`: the audit trail, append-only and kept forever. */
  audit: IdentityTopicSpec
}

export function identityTopics(prefix = ''): IdentityTopics {
  return {
    registry: { name: `${prefix}vitals.registry`, partitions: 1, configs: [{ name: 'cleanup.policy', value: 'compact' }] },
    audit: {
      name: `${prefix}vitals.audit`,
      partitions: 1,
      configs: [
        { name: 'cleanup.policy', value: 'delete' },
        // -1: never deleted by age or by size.
        { name: 'retention.ms', value: '-1' },
        { name: 'retention.bytes', value: '-1' },
      ],
    },
  }
}
