/**
 * The audit trail (docs/SECURITY.md): every acknowledgement, band or scale change, device and user
 * change, appended to the Kafka topic `vitals.audit` (kept forever, never compacted) and read back
 * per patient.
 */
import type { Config } from '../config.ts'
import type { Logger } from '../log.ts'
import type { AuditEvent } from './model.ts'

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

export declare function openAuditLog(config: Config, deps: { log: Logger; clientId: string }): Promise<AuditLog>

/** The events that match, oldest first, read from the topic's start to its end at the time of the call. */
export declare function readAudit(config: Config, filter: AuditFilter): Promise<AuditEvent[]>
