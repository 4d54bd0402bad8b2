import { describe, expect, it } from 'vitest'
import type { Reading } from '../lib/contract/schema.ts'
import { credentialHash, type DeviceRecord } from '../lib/identity/model.ts'
import type { RegistryReader } from '../lib/identity/registry.ts'
import type { LocatedReading } from './bodies.ts'
import { bindingRefusal, identify, measuredSpan, readingRefusal, span, type BindingLimits } from './binding.ts'
import { DeviceTokens } from './device-tokens.ts'

const T0 = Date.UTC(2026, 2, 1, 8)
const MINUTE = 60_000
const HOUR = 3_600_000
/** The gateway's defaults: five minutes of device clock ahead, 24 hours to upload for a patient left. */
const LIMITS: BindingLimits = { maxClockAheadMs: 5 * MINUTE, reassignedUploadGraceMs: 24 * HOUR }
/** The gateway's clock in most cases: an hour into the assignment to p-2. */
const NOW = T0 + 4 * HOUR

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
  const refusal = (r: LocatedReading, now = NOW) => readingRefusal(WRIST, r, LIMITS, now)
  const refusals = (rs: LocatedReading[], now = NOW) => bindingRefusal(WRIST, rs, LIMITS, now)

  it('lets a device send its readings for the patient it was assigned to at each reading, across a reassignment', () => {
    expect(refusals([at(T0, 'p-1'), at(T0 + 2 * HOUR - 1, 'p-1', 'wrist-1', '/1'), at(T0 + 3 * HOUR, 'p-2', 'wrist-1', '/2')])).toBeUndefined()
    expect(refusals([])).toBeUndefined()
  })

  it('refuses a reading for another patient than the one assigned at its time, pointing at its patientId', () => {
    expect(refusal(at(T0 + HOUR, 'p-2', 'wrist-1', '/3'))).toEqual({
      reason: 'not-assigned',
      error: {
        pointer: '/3/patientId',
        detail: `device "wrist-1" may not send readings for patient "p-2" timed ${new Date(T0 + HOUR).toISOString()}: it was not assigned to that patient then, or that assignment ended more than 24 h ago (a device's readings for a patient it left are taken for 24 h after the handover)`,
      },
    })
  })

  it('refuses a reading timed before the first assignment, between two, or for the old patient after the reassignment', () => {
    for (const r of [at(T0 - 1, 'p-1'), at(T0 + 2 * HOUR, 'p-1'), at(T0 + 2 * HOUR + 1, 'p-2'), at(T0 + 3 * HOUR, 'p-1'), at(NOW, 'p-1')]) {
      expect(refusal(r)?.reason, JSON.stringify(r.reading)).toBe('not-assigned')
    }
  })

  it("takes the current assignment's readings from any time since its start: a device uploading a long buffer", () => {
    const later = T0 + 30 * 24 * HOUR
    expect(refusals([at(T0 + 3 * HOUR, 'p-2'), at(later - HOUR, 'p-2', 'wrist-1', '/1'), at(later, 'p-2', 'wrist-1', '/2')], later)).toBeUndefined()
    expect(refusal(at(T0 + 3 * HOUR - 1, 'p-2'), later)?.reason).toBe('not-assigned')
  })

  it('takes the readings of a patient the device left until the grace after the handover has passed, and not a millisecond later', () => {
    const ended = T0 + 2 * HOUR
    const old = [at(T0, 'p-1'), at(ended - 1, 'p-1', 'wrist-1', '/1')]
    expect(refusals(old, ended + 1)).toBeUndefined()
    expect(refusals(old, ended + 24 * HOUR)).toBeUndefined()
    expect(refusals(old, ended + 24 * HOUR + 1)).toMatchObject({
      reason: 'not-assigned',
      count: 2,
      errors: [{ pointer: '/0/patientId' }, { pointer: '/1/patientId' }],
    })
    // The detail is the one for a patient the device never had: a credential does not learn whom it served.
    const detailFor = (patientId: string) => refusal(at(T0, patientId), ended + 24 * HOUR + 1)?.error.detail.replace(`"${patientId}"`, '"?"')
    expect(detailFor('p-1')).toBe(detailFor('p-9'))
    expect(bindingRefusal(WRIST, old, { ...LIMITS, reassignedUploadGraceMs: 0 }, ended + 1)).toMatchObject({ reason: 'not-assigned', count: 2 })
  })

  it("refuses a reading timed more than the allowed clock skew ahead of the gateway's clock, pointing at its ts and saying to set the device's clock", () => {
    expect(refusals([at(NOW + 5 * MINUTE, 'p-2')])).toBeUndefined()
    expect(refusal(at(NOW + 5 * MINUTE + 1, 'p-2', 'wrist-1', '/2'))).toEqual({
      reason: 'clock',
      error: {
        pointer: '/2/ts',
        detail: `ts ${new Date(NOW + 5 * MINUTE + 1).toISOString()} is ${5 * MINUTE + 1} ms ahead of the gateway's clock (${new Date(NOW).toISOString()}; at most 5 min allowed): the device's clock is ahead; set it (NTP) and send the readings again with their true times`,
      },
    })
    const tenYears = NOW + 10 * 365 * 24 * HOUR
    expect(refusal(at(tenYears, 'p-2'))?.reason).toBe('clock')
    expect(refusal(at(tenYears + 123, 'p-2'))?.error.detail).toContain(' is about 3650 days ahead ')
    // Judged before the assignment: the future has no assignment to judge it by.
    expect(refusal(at(tenYears, 'p-1'))?.reason).toBe('clock')
    expect(readingRefusal(WRIST, at(NOW + 1, 'p-2'), { ...LIMITS, maxClockAheadMs: 0 }, NOW)?.reason).toBe('clock')
  })

  it('refuses a reading that names another device, pointing at its deviceId (and line), whatever its patient or time', () => {
    const other = { ...at(T0, 'p-1', 'wrist-2', '/4'), line: 5 }
    expect(refusal(other)).toEqual({
      reason: 'device-mismatch',
      error: { pointer: '/4/deviceId', line: 5, detail: 'deviceId "wrist-2" is not "wrist-1", the device this credential belongs to' },
    })
    expect(refusal(at(NOW + 24 * HOUR, 'p-2', 'wrist-2'))?.reason).toBe('device-mismatch')
  })

  it('refuses the whole request naming every offending reading, for the gravest reason: device-mismatch, then not-assigned, then clock', () => {
    const future = at(NOW + HOUR, 'p-2', 'wrist-1', '/3')
    const readings = [at(NOW, 'p-2', 'wrist-1', '/0'), at(NOW, 'p-1', 'wrist-1', '/1'), at(NOW, 'p-2', 'wrist-7', '/2'), future]
    expect(refusals(readings)).toMatchObject({
      reason: 'device-mismatch',
      count: 3,
      errors: [{ pointer: '/1/patientId' }, { pointer: '/2/deviceId' }, { pointer: '/3/ts' }],
    })
    expect(refusals([...readings.slice(0, 2), future])).toMatchObject({ reason: 'not-assigned', count: 2 })
    expect(refusals([future, readings[1]!])).toMatchObject({ reason: 'not-assigned', count: 2 })
    expect(refusals([readings[0]!, future])).toMatchObject({ reason: 'clock', count: 1 })
  })

  it('names at most 100 offending readings but counts them all', () => {
    const many = Array.from({ length: 250 }, (_, i) => at(T0 + i, 'p-9', 'wrist-1', `/${i}`))
    const r = refusals(many)
    expect(r?.count).toBe(250)
    expect(r?.errors).toHaveLength(100)
    expect(r?.errors.at(-1)?.pointer).toBe('/99/patientId')
  })

  it('refuses every reading of a device that was never assigned', () => {
    expect(bindingRefusal(device('spare-1'), [at(T0, 'p-1', 'spare-1')], LIMITS, NOW)).toMatchObject({ reason: 'not-assigned', count: 1 })
  })
})

describe('a span of time in a detail', () => {
  it('is given in the largest whole unit', () => {
    expect([24 * HOUR, 5 * MINUTE, 90_000, 250, 0, 5 * MINUTE + 1].map(span)).toEqual(['24 h', '5 min', '90 s', '250 ms', '0 ms', '300001 ms'])
  })
})

describe('a measured span of time in a detail', () => {
  it('is exact under an hour and in whole hours, and rounded beyond', () => {
    expect([5 * MINUTE + 1, 59 * MINUTE, 90_000, 24 * HOUR].map(measuredSpan)).toEqual(['300001 ms', '59 min', '90 s', '24 h'])
    expect([2.5 * HOUR + 1, 36 * HOUR + 7, 10 * 365 * 24 * HOUR + 123].map(measuredSpan)).toEqual(['about 2.5 h', 'about 1.5 days', 'about 3650 days'])
  })
})
