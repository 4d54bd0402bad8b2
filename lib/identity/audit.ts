/**
 * The audit trail (docs/SECURITY.md): every acknowledgement, band or scale change, device and user
 * change, appended to the Kafka topic `vitals.audit` (kept forever, never compacted) and read back
 * per patient.
 *
 * One partition, so the trail has one total order; keyed by the patient id (or, for a change that
 * concerns no patient, its subject). Volumes are those of human actions (a few thousand a day at
 * most), so reading it back is a scan of the whole topic, filtered.
 */
import { randomUUID } from 'node:crypto'
import type { Config } from '../config.ts'
import { identityTopics } from '../contract/topics.ts'
import { VigilError } from '../errors.ts'
import { kafkaUnreachable } from '../kafka.ts'
import type { Logger } from '../log.ts'
import { AUDIT_ACTIONS, type AuditEvent } from './model.ts'
import { PartitionReader } from './partition-reader.ts'
import { checkReason } from './records.ts'
import { IdentityWriter, ensureIdentityTopics } from './writer.ts'

/** What a caller gives; the log adds `v`, `id` and `at` (now, unless given). */
export type AuditInput = Omit<AuditEvent, 'v' | 'id' | 'at'> & { at?: number }

export interface AuditLog {
  /** Appends the event and resolves once Kafka acknowledged it (acks=all); rejects when Kafka is unreachable. */
  record(input: AuditInput): Promise<AuditEvent>
  close(): Promise<void>
}

export interface AuditFilter {
  patientId?: string
  /** Only events at or after this time, epoch ms. */
  since?: number
  /** The newest `limit` events that match. */
  limit?: number
}

/** Fields never written to the trail, at any depth of `before` or `after`: a secret or its hash. */
const SECRET_FIELDS: ReadonlySet<string> = new Set(['credentialHash', 'passwordHash', 'password', 'credential'])

/** A copy of `value` without the secret fields: the registry passes views without them already, this keeps any other caller honest. */
function withoutSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutSecrets)
  if (value === null || typeof value !== 'object') return value
  return Object.fromEntries(
    Object.entries(value)
      .filter(([k]) => !SECRET_FIELDS.has(k))
      .map(([k, v]) => [k, withoutSecrets(v)]),
  )
}

/** The event as it is written: an id, the time, the reason checked, the secrets left out. */
export function auditEvent(input: AuditInput, now = Date.now()): AuditEvent {
  return {
    v: 1,
    id: randomUUID(),
    at: input.at ?? now,
    actor: { user: input.actor.user, role: input.actor.role, via: input.actor.via },
    action: input.action,
    patientId: input.patientId,
    subject: input.subject,
    before: withoutSecrets(input.before ?? null),
    after: withoutSecrets(input.after ?? null),
    reason: checkReason(input.reason),
  }
}

/** The record key of an event on `vitals.audit`: its patient, else its subject (docs/CONTRACT.md, Topics). */
export function auditKey(event: AuditEvent): string {
  return event.patientId ?? event.subject
}

export async function openAuditLog(config: Config, deps: { log: Logger; clientId: string }): Promise<AuditLog> {
  const { audit } = identityTopics(config.topicPrefix)
  await ensureIdentityTopics(config, [audit], deps.clientId)
  const writer = new IdentityWriter(config, deps.clientId, deps.log)
  return {
    async record(input) {
      const event = auditEvent(input)
      await writer.send([{ topic: audit.name, key: auditKey(event), value: JSON.stringify(event) }])
      return event
    },
    close: () => writer.close(),
  }
}

/** An audit event read back, or undefined for a record that is not one (written by hand): the trail lists what it can read. */
function parseAuditEvent(value: Buffer | undefined): AuditEvent | undefined {
  if (value === undefined) return undefined
  let e: Partial<AuditEvent>
  try {
    e = JSON.parse(value.toString('utf8')) as Partial<AuditEvent>
  } catch {
    return undefined
  }
  const ok =
    e !== null &&
    typeof e === 'object' &&
    e.v === 1 &&
    typeof e.id === 'string' &&
    typeof e.at === 'number' &&
    typeof e.actor?.user === 'string' &&
    (AUDIT_ACTIONS as readonly unknown[]).includes(e.action) &&
    (e.patientId === null || typeof e.patientId === 'string') &&
    typeof e.subject === 'string'
  return ok ? (e as AuditEvent) : undefined
}

/** True when the event passes the filter's patient and time. */
function auditMatches(e: AuditEvent, filter: AuditFilter): boolean {
  return (filter.patientId === undefined || e.patientId === filter.patientId) && (filter.since === undefined || e.at >= filter.since)
}

function checkFilter(filter: AuditFilter): void {
  if (filter.limit !== undefined && !(Number.isSafeInteger(filter.limit) && filter.limit > 0))
    throw new VigilError('INPUT_INVALID', `The limit must be a whole number above 0; got ${filter.limit}.`)
  if (filter.since !== undefined && !Number.isFinite(filter.since))
    throw new VigilError('INPUT_INVALID', 'The start time must be a time: give an ISO 8601 time.')
}

/** The events that match, oldest first, read from the topic's start to its end at the time of the call. */
export async function readAudit(config: Config, filter: AuditFilter): Promise<AuditEvent[]> {
  checkFilter(filter)
  const { audit } = identityTopics(config.topicPrefix)
  await ensureIdentityTopics(config, [audit], 'vigil-audit-reader')
  const reader = new PartitionReader(config, { topic: audit.name, clientId: 'vigil-audit-reader', maxWaitMs: 100 })
  const found: AuditEvent[] = []
  try {
    const end = await reader.endOffset()
    await reader.readTo(end, (r) => {
      const e = parseAuditEvent(r.value)
      if (e === undefined || !auditMatches(e, filter)) return
      found.push(e)
      // Keep memory bounded by the limit, not by the trail's length.
      if (filter.limit !== undefined && found.length >= 2 * filter.limit) found.splice(0, found.length - filter.limit)
    })
  } catch (error) {
    throw kafkaUnreachable(config, error)
  } finally {
    await reader.close()
  }
  return filter.limit === undefined ? found : found.slice(-filter.limit)
}
