/**
 * The one builder of Redis keys (docs/CONTRACT.md, Redis). Every key starts with the configured prefix
 * (VIGIL_REDIS_PREFIX, default `vigil:`). A patient's keys carry the hash tag of the patient's view
 * shard (`vigil:{v7}:p-0001:latest`): a Redis Cluster keeps each shard's keys in one slot, so the
 * speed layer writes a batch as one script call per shard (many patients each) and never spans
 * slots in one call. Each shard also holds a copy of the view's epoch (`shardEpoch`), which fences
 * that shard's writes.
 */
import { crc32 } from 'node:zlib'

/**
 * The number of view shards. Part of the key layout: changing it moves every patient's keys (a
 * rebuild: `vigil init`, then the speed layer refills the view from Kafka). A batch is one script
 * call per shard it touches, and each call has a fixed cost in Redis and in the client: with 256
 * shards a steady 5,000 readings/s (batches of a few hundred patients) took 250 calls a batch and
 * about 5 ms of Redis time each; 16 keeps a batch to 17 calls. On a 3-master cluster (the slot
 * ranges `redis-cli --cluster create` assigns) the 16 shards fall 6/5/5; a cluster of more than 16
 * masters would leave some without view keys.
 */
export const VIEW_SHARDS = 16

/** The view shard of a patient: CRC-32 of the id, modulo VIEW_SHARDS. */
export function viewShard(patientId: string): number {
  return crc32(patientId) % VIEW_SHARDS
}

/** The per-patient keys the speed layer writes, as they end (`…:<patientId>:<kind>`). */
type ViewKeyKind = 'latest' | 'series' | 'alerts' | 'dedup'

export interface RedisKeys {
  readonly prefix: string
  /** Hash of the patient's latest state. */
  latest(patientId: string): string
  /** Recent readings of the patient (at least 15 minutes), scored by event time. */
  series(patientId: string): string
  /** The patient's band overrides (per-patient thresholds). */
  bands(patientId: string): string
  /** Open alert state per vital of the patient. */
  alertState(patientId: string): string
  /** Speed layer's per-device state of the patient's devices (last seq, cadence), for duplicate and stale detection. */
  dedup(patientId: string): string
  /** The copy of the view's epoch in a view shard (same slot as the shard's patients' keys). */
  shardEpoch(shard: number): string
  /** Bumped by every change of a patient's band overrides, so a reader can cache them until it moves. */
  readonly bandsVersion: string
  /**
   * The view's epoch: a random id set when the view is (re)built; gone after a wipe. It shares the
   * `{view}` hash tag with `patients` and `alerts`, the keys the speed layer's global call writes.
   */
  readonly viewEpoch: string
  /** Sorted set of patients by the event time of their newest reading. */
  readonly patients: string
  /** Capped stream of alert events. */
  readonly alerts: string
  /** The batch view of one day (YYYY-MM-DD). */
  batchDaily(date: string): string
  /** Cutoff and run info of the latest batch run. */
  readonly batchMeta: string
  /** Pub/sub channel the serving layer listens on. */
  readonly updates: string
  /**
   * The risk model the speed layer serves (JSON RiskModelInfo, lib/contract/views.ts): set when it
   * loads one, deleted when it runs without one; the dashboard shows the risk panel only while set.
   */
  readonly riskModel: string
  /** A signed-in session, by the SHA-256 (hex) of its id; expires with the session. */
  session(idHash: string): string
  /** Failed sign-ins of one user name, by the SHA-256 (hex) of the name; expires with the window. */
  loginFailures(nameHash: string): string
  /**
   * The write lock of one identity registry record, by the SHA-256 (hex) of its record key
   * (`device:<id>`, `user:<name>`): held while a process changes the record; expires on its own if
   * the holder dies (lib/identity/registry-lock.ts).
   */
  registryLock(recordKeyHash: string): string
  /**
   * The claim on acknowledging one alert, by its id: held by the one request that records and
   * stores the acknowledgement; expires on its own if the holder dies (serving/acknowledgements.ts).
   */
  ackClaim(alertId: string): string
  /** Any other key of a stage, kept under the prefix (e.g. `speed:dedup`). */
  other(...parts: string[]): string
  /** Glob matching every key under the prefix, for SCAN in `vigil init`. */
  readonly everything: string
}

export function redisKeys(prefix = 'vigil:'): RedisKeys {
  const shard = (n: number) => `${prefix}{v${n}}`
  const patientKey = (id: string, kind: ViewKeyKind) => `${shard(viewShard(id))}:${id}:${kind}`
  return Object.freeze({
    prefix,
    latest: (id: string) => patientKey(id, 'latest'),
    series: (id: string) => patientKey(id, 'series'),
    // Not a view key (no script writes it, and Kafka cannot refill it): it keeps the patient's own tag.
    bands: (id: string) => `${prefix}{${id}}:bands`,
    alertState: (id: string) => patientKey(id, 'alerts'),
    dedup: (id: string) => patientKey(id, 'dedup'),
    shardEpoch: (n: number) => `${shard(n)}:epoch`,
    bandsVersion: `${prefix}bands-version`,
    viewEpoch: `${prefix}{view}:epoch`,
    patients: `${prefix}{view}:patients`,
    alerts: `${prefix}{view}:alerts`,
    batchDaily: (date: string) => `${prefix}batch:daily:${date}`,
    batchMeta: `${prefix}batch:meta`,
    updates: `${prefix}updates`,
    riskModel: `${prefix}risk:model`,
    session: (idHash: string) => `${prefix}session:${idHash}`,
    loginFailures: (nameHash: string) => `${prefix}login-failures:${nameHash}`,
    registryLock: (recordKeyHash: string) => `${prefix}registry-lock:${recordKeyHash}`,
    ackClaim: (alertId: string) => `${prefix}ack-claim:${alertId}`,
    other: (...parts: string[]) => `${prefix}${parts.join(':')}`,
    everything: `${escapeGlob(prefix)}*`,
  })
}

/** Escapes SCAN MATCH glob characters so a prefix is matched literally. */
function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`)
}
