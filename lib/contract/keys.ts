/**
 * The one builder of Redis keys (docs/CONTRACT.md, Redis). Every key starts with the configured prefix
 * (VIGIL_REDIS_PREFIX, default `vigil:`), and per-patient keys put the patient id in a hash tag
 * (`vigil:{p-0001}:latest`) so that a Redis Cluster keeps one patient's keys in one slot.
 */
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
  const tag = (id: string) => `${prefix}{${id}}`
  return Object.freeze({
    prefix,
    latest: (id: string) => `${tag(id)}:latest`,
    series: (id: string) => `${tag(id)}:series`,
    bands: (id: string) => `${tag(id)}:bands`,
    alertState: (id: string) => `${tag(id)}:alerts`,
    dedup: (id: string) => `${tag(id)}:dedup`,
    patients: `${prefix}patients`,
    alerts: `${prefix}alerts`,
    batchDaily: (date: string) => `${prefix}batch:daily:${date}`,
    batchMeta: `${prefix}batch:meta`,
    updates: `${prefix}updates`,
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
