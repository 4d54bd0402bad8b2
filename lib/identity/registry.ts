/**
 * The identity registry (docs/SECURITY.md): devices and users, kept in the compacted Kafka topic
 * `vitals.registry` and read into memory by every process that needs it.
 */
import type { Config } from '../config.ts'
import type { Logger } from '../log.ts'
import type { DeviceKind, DeviceRecord, Principal, Role, UserRecord } from './model.ts'

/** What a process that only checks credentials needs (the gateway, the serving layer's sign-in). */
export interface RegistryReader {
  device(id: string): DeviceRecord | undefined
  /** The device whose credential this is (looked up by its SHA-256), revoked or not. */
  deviceByCredential(credential: string): DeviceRecord | undefined
  devices(): DeviceRecord[]
  user(username: string): UserRecord | undefined
  users(): UserRecord[]
}

export interface Registry extends RegistryReader {
  /**
   * Registers a device and returns its credential (shown once; only its hash is kept). With a
   * patient, the device is assigned to it from `from` (default now).
   */
  addDevice(
    input: { id: string; kind: DeviceKind; patientId?: string | null; from?: number },
    actor: Principal,
    reason?: string | null,
  ): Promise<{ device: DeviceRecord; credential: string }>
  /** Ends the device's open assignment at `from` and, unless `patientId` is null, opens one to that patient. */
  assignDevice(id: string, patientId: string | null, from: number, actor: Principal, reason?: string | null): Promise<DeviceRecord>
  revokeDevice(id: string, actor: Principal, reason: string): Promise<DeviceRecord>
  addUser(input: { username: string; role: Role; password: string }, actor: Principal, reason?: string | null): Promise<UserRecord>
  setRole(username: string, role: Role, actor: Principal, reason?: string | null): Promise<UserRecord>
  setPassword(username: string, password: string, actor: Principal): Promise<UserRecord>
  disableUser(username: string, actor: Principal, reason?: string | null): Promise<UserRecord>
  /** Resolves once every write acknowledged anywhere before the call is applied here. */
  sync(): Promise<void>
  close(): Promise<void>
}

export interface RegistryDeps {
  log: Logger
  /** The Kafka client id, e.g. `vigil-gateway-registry`. */
  clientId: string
}

/** Opens the registry: creates its topic if needed, reads it to its end, then follows it. */
export declare function openRegistry(config: Config, deps: RegistryDeps): Promise<Registry>
