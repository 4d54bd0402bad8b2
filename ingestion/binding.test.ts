import { describe, expect, it } from 'vitest'
import type { Reading } from '../lib/contract/schema.ts'
import { credentialHash, type DeviceRecord } from '../lib/identity/model.ts'
import type { RegistryReader } from '../lib/identity/registry.ts'
import type { LocatedReading } from './bodies.ts'
import { bindingRefusal, identify, readingRefusal } from './binding.ts'
import { DeviceTokens } from './device-tokens.ts'

const T0 = Date.UTC(2026, 2, 1, 8)
const HOUR = 3_600_000

function device(id: string, over: Partial<DeviceRecord> = {}): DeviceRecord {
  return {
    type: 'device',
    id,
    kind: 'wearable',
    credentialHash: credentialHash(`credential-of-${id}`),
    createdAt: T0,
    revokedAt: null,
    assignments: [],
    ...over,
  }
}

/** Assigned to p-1 from T0 to T0 + 2 h, then to p-2 from T0 + 3 h on (an hour unassigned between). */
const WRIST = device('wrist-1', {
  assignments: [
    { patientId: 'p-1', from: T0, to: T0 + 2 * HOUR },
    { patientId: 'p-2', from: T0 + 3 * HOUR, to: null },
  ],
})
const REVOKED = device('cuff-9', { revokedAt: T0 + HOUR, assignments: [{ patientId: 'p-1', from: T0, to: null }] })

/** A RegistryReader over plain records, as the registry would hold them. */
function reader(devices: DeviceRecord[]): RegistryReader {
  return {
    device: (id) => devices.find((d) => d.id === id),
    deviceByCredential: (c) => devices.find((d) => d.credentialHash === credentialHash(c)),
    devices: () => devices,
    user: () => undefined,
    users: () => [],
  }
}

function at(ts: number, patientId: string, deviceId = 'wrist-1', pointer = '/0'): LocatedReading {
  const reading: Reading = { v: 1, patientId, deviceId, ts, seq: 1, vitals: { heartRate: 70 } }
  return { reading, pointer }
}

describe("whose a request's credential is", () => {
  const registry = reader([WRIST, REVOKED])
  const dev = new DeviceTokens(['dev-token-1'])
  const none = new DeviceTokens(undefined)

  it('is a registered device for its credential, in registry mode and in development mode alike', () => {
    for (const tokens of [none, dev])
      expect(identify('credential-of-wrist-1', tokens, registry)).toEqual({ outcome: 'sender', sender: { kind: 'device', device: WRIST } })
  })

  it('refuses a revoked device with its record, and a credential nobody issued as unknown', () => {
    expect(identify('credential-of-cuff-9', dev, registry)).toEqual({ outcome: 'revoked', device: REVOKED })
    expect(identify('credential-of-wrist-2', none, registry)).toEqual({ outcome: 'unknown-credential', missing: false })
    expect(identify(undefined, dev, registry)).toEqual({ outcome: 'unknown-credential', missing: true })
  })

  it('accepts a development token only in development mode, for any device', () => {
    expect(identify('dev-token-1', dev, registry)).toEqual({ outcome: 'sender', sender: { kind: 'development' } })
    expect(identify('dev-token-1', none, registry)).toEqual({ outcome: 'unknown-credential', missing: false })
  })

  it('answers that the registry is not read yet for a credential that is not a development token, before the registry is read', () => {
    expect(identify('credential-of-wrist-1', dev, undefined)).toEqual({ outcome: 'registry-unavailable' })
    expect(identify('dev-token-1', dev, undefined)).toEqual({ outcome: 'sender', sender: { kind: 'development' } })
    expect(identify(undefined, none, undefined)).toEqual({ outcome: 'unknown-credential', missing: true })
  })
})

describe("whether a device's readings are its own to send", () => {
  it('lets a device send its readings for the patient it was assigned to at each reading, across a reassignment', () => {
    expect(bindingRefusal(WRIST, [at(T0, 'p-1'), at(T0 + 2 * HOUR - 1, 'p-1', 'wrist-1', '/1'), at(T0 + 3 * HOUR, 'p-2', 'wrist-1', '/2')])).toBeUndefined()
    expect(bindingRefusal(WRIST, [])).toBeUndefined()
  })

  it('refuses a reading for another patient than the one assigned at its time, pointing at its patientId', () => {
    expect(readingRefusal(WRIST, at(T0 + HOUR, 'p-2', 'wrist-1', '/3'))).toEqual({
      reason: 'not-assigned',
      error: { pointer: '/3/patientId', detail: `device "wrist-1" was not assigned to patient "p-2" at ${new Date(T0 + HOUR).toISOString()}` },
    })
  })

  it('refuses a reading timed before the first assignment, between two, or for the old patient after the reassignment', () => {
    for (const r of [at(T0 - 1, 'p-1'), at(T0 + 2 * HOUR, 'p-1'), at(T0 + 2 * HOUR + 1, 'p-2'), at(T0 + 3 * HOUR, 'p-1'), at(T0 + 30 * HOUR, 'p-1')]) {
      expect(readingRefusal(WRIST, r)?.reason, JSON.stringify(r.reading)).toBe('not-assigned')
    }
  })

  it('refuses a reading that names another device, pointing at its deviceId (and line), whatever its patient', () => {
    const other = { ...at(T0, 'p-1', 'wrist-2', '/4'), line: 5 }
    expect(readingRefusal(WRIST, other)).toEqual({
      reason: 'device-mismatch',
      error: { pointer: '/4/deviceId', line: 5, detail: 'deviceId "wrist-2" is not "wrist-1", the device this credential belongs to' },
    })
  })

  it('refuses the whole request naming every offending reading, device-mismatch first among the reasons', () => {
    const readings = [at(T0, 'p-1', 'wrist-1', '/0'), at(T0, 'p-2', 'wrist-1', '/1'), at(T0, 'p-1', 'wrist-7', '/2')]
    expect(bindingRefusal(WRIST, readings)).toMatchObject({
      reason: 'device-mismatch',
      count: 2,
      errors: [{ pointer: '/1/patientId' }, { pointer: '/2/deviceId' }],
    })
    expect(bindingRefusal(WRIST, readings.slice(0, 2))).toMatchObject({ reason: 'not-assigned', count: 1 })
  })

  it('names at most 100 offending readings but counts them all', () => {
    const many = Array.from({ length: 250 }, (_, i) => at(T0 + i, 'p-9', 'wrist-1', `/${i}`))
    const refusal = bindingRefusal(WRIST, many)
    expect(refusal?.count).toBe(250)
    expect(refusal?.errors).toHaveLength(100)
    expect(refusal?.errors.at(-1)?.pointer).toBe('/99/patientId')
  })

  it('refuses every reading of a device that was never assigned', () => {
    expect(bindingRefusal(device('spare-1'), [at(T0, 'p-1', 'spare-1')])).toMatchObject({ reason: 'not-assigned', count: 1 })
  })
})
