/**
 * Topic and consumer-group names (docs/CONTRACT.md, Topics). A prefix (VIGIL_TOPIC_PREFIX) is put in
 * front of every name so that tests and parallel environments share one broker safely.
 */

/** Default partition counts; `vitals.readings` is keyed by patientId, so 6 partitions bound the parallelism of consumers. */
export const TOPIC_PARTITIONS = {
  readings: 6,
  rejected: 3,
  alerts: 3,
} as const

export type TopicRole = keyof typeof TOPIC_PARTITIONS

export interface TopicNames {
  readings: string
  rejected: string
  alerts: string
}

export function topicNames(prefix = ''): TopicNames {
  return {
    readings: `${prefix}vitals.readings`,
    rejected: `${prefix}vitals.rejected`,
    alerts: `${prefix}vitals.alerts`,
  }
}

export interface GroupNames {
  speed: string
  archiver: string
  serving: string
}

export function consumerGroups(prefix = ''): GroupNames {
  return {
    speed: `${prefix}vigil-speed`,
    archiver: `${prefix}vigil-archiver`,
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

/** Every topic of Vigil with its partition count, for creating them (`ensureTopics` in lib/kafka.ts). */
export function topicSpecs(prefix = ''): Array<{ name: string; partitions: number }> {
  const names = topicNames(prefix)
  return (Object.keys(TOPIC_PARTITIONS) as TopicRole[]).map((role) => ({ name: names[role], partitions: TOPIC_PARTITIONS[role] }))
}
