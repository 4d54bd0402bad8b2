import { describe, expect, it } from 'vitest'
import { VigilError } from '../errors.ts'
import { type DeviceRecord, patientAt } from './model.ts'
import {
  assigned,
  checkNoUndo,
  checkReason,
  disabled,
  newDevice,
  newUser,
  patientsOfMove,
  publicDevice,
  publicUser,
  revoked,
  withPassword,
  withRole,
} from './records.ts'
import { RegistryState } from './registry-state.ts'

const HASH = 'a'.repeat(64)
const T0 = Date.UTC(2026, 10, 1, 8)

function codeOf(fn: () => unknown): string {
  try {
    fn()
  } catch (error) {
    if (error instanceof VigilError) return error.code
    throw error
  }
  return 'none'
}

function device(assignments: DeviceRecord['assignments'] = []): DeviceRecord {
  return { type: 'device', id: 'd-1', kind: 'cuff', credentialHash: HASH, createdAt: T0, revokedAt: null, assignments }
}

describe('assigned', () => {
  it('ends the open assignment where the new one begins', () => {
    const d = assigned(device([{ patientId: 'p-1', from: T0, to: null }]), 'p-2', T0 + 10)
    expect(d.assignments).toEqual([
      { patientId: 'p-1', from: T0, to: T0 + 10 },
      { patientId: 'p-2', from: T0 + 10, to: null },
    ])
    expect([patientAt(d, T0 + 9), patientAt(d, T0 + 10)]).toEqual(['p-1', 'p-2'])
  })

  it('drops an open assignment ended where it began (it covered no instant)', () => {
    expect(assigned(device([{ patientId: 'p-1', from: T0, to: null }]), 'p-2', T0).assignments).toEqual([{ patientId: 'p-2', from: T0, to: null }])
  })

  it.each([
    ['before the open assignment began', [{ patientId: 'p-1', from: T0, to: null }], 'p-2', T0 - 1, 'INPUT_INVALID'],
    ['before the last assignment ended', [{ patientId: 'p-1', from: T0, to: T0 + 5 }], 'p-2', T0 + 4, 'INPUT_INVALID'],
    ['to nobody when none is open', [{ patientId: 'p-1', from: T0, to: T0 + 5 }], null, T0 + 6, 'INPUT_INVALID'],
    ['to a bad patient id', [], 'p 1', T0, 'INPUT_INVALID'],
    ['at a time that is not one', [], 'p-1', Number.NaN, 'INPUT_INVALID'],
  ])('refuses an assignment %s', (_what, assignments, patientId, from, code) => {
    expect(codeOf(() => assigned(device(assignments), patientId, from))).toBe(code)
  })

  it('refuses a revoked device', () => {
    expect(codeOf(() => assigned({ ...device(), revokedAt: T0 }, 'p-1', T0 + 1))).toBe('CONFLICT')
  })

  it('does not change the record it was given', () => {
    const before = device([{ patientId: 'p-1', from: T0, to: null }])
    assigned(before, 'p-2', T0 + 10)
    expect(before.assignments).toEqual([{ patientId: 'p-1', from: T0, to: null }])
  })
})

describe('revoked', () => {
  it('ends the open assignment at the revocation, and refuses a second revocation', () => {
    const r = revoked(device([{ patientId: 'p-1', from: T0, to: null }]), T0 + 7)
    expect(r).toMatchObject({ revokedAt: T0 + 7, assignments: [{ patientId: 'p-1', from: T0, to: T0 + 7 }] })
    expect(codeOf(() => revoked(r, T0 + 8))).toBe('CONFLICT')
  })

  it('drops an assignment that had not begun yet', () => {
    expect(revoked(device([{ patientId: 'p-1', from: T0 + 100, to: null }]), T0).assignments).toEqual([])
  })
})

describe('new records and their public views', () => {
  it('builds a device with or without a patient, and refuses a bad id or kind', () => {
    expect(newDevice({ id: 'w-1', kind: 'wearable' }, HASH, T0).assignments).toEqual([])
    expect(newDevice({ id: 'w-1', kind: 'wearable', patientId: 'p-1' }, HASH, T0).assignments).toEqual([{ patientId: 'p-1', from: T0, to: null }])
    expect(codeOf(() => newDevice({ id: '', kind: 'wearable' }, HASH, T0))).toBe('INPUT_INVALID')
    expect(codeOf(() => newDevice({ id: 'w-1', kind: 'pager' }, HASH, T0))).toBe('INPUT_INVALID')
  })

  it('leaves the secrets out of the public views', () => {
    const d = newDevice({ id: 'w-1', kind: 'wearable' }, HASH, T0)
    const u = newUser({ username: 'ann', role: 'viewer', passwordHash: 'scrypt$secret' }, T0)
    expect(JSON.stringify(publicDevice(d))).not.toContain(HASH)
    expect(publicDevice(d)).not.toHaveProperty('credentialHash')
    expect(JSON.stringify(publicUser(u))).not.toContain('scrypt$secret')
    expect(publicUser(u)).not.toHaveProperty('passwordHash')
  })

  it('moves credentialVersion on with a password change and a disable, not with a role change', () => {
    const u = newUser({ username: 'ann', role: 'viewer', passwordHash: 'h1' }, T0)
    expect([u, withRole(u, 'admin', T0), withPassword(u, 'h2', T0), disabled(u, T0)].map((x) => x.credentialVersion)).toEqual([1, 1, 2, 2])
    expect(codeOf(() => withRole(u, 'owner', T0))).toBe('INPUT_INVALID')
    expect(codeOf(() => disabled(disabled(u, T0), T0))).toBe('CONFLICT')
  })
})

describe('checkReason', () => {
  it('trims, keeps an empty reason as null unless one is required, and bounds its length', () => {
    expect(checkReason('  lost  ')).toBe('lost')
    expect(checkReason('   ')).toBeNull()
    expect(checkReason(undefined)).toBeNull()
    expect(codeOf(() => checkReason(' ', true))).toBe('INPUT_INVALID')
    expect(codeOf(() => checkReason('x'.repeat(501)))).toBe('INPUT_INVALID')
  })
})

describe('RegistryState', () => {
  const value = (x: unknown) => Buffer.from(JSON.stringify(x))

  it('keeps the newest record of each key and finds a device by its credential', () => {
    const s = new RegistryState()
    const d = newDevice({ id: 'w-1', kind: 'wearable' }, 'b'.repeat(64), T0)
    expect(s.apply('device:w-1', value(d))).toEqual({ ok: true })
    expect(s.apply('device:w-1', value(assigned(d, 'p-1', T0)))).toEqual({ ok: true })
    expect(s.device('w-1')?.assignments).toHaveLength(1)
    expect(s.devices()).toHaveLength(1)
  })

  it('skips what Vigil did not write and keeps the previous record', () => {
    const s = new RegistryState()
    const d = newDevice({ id: 'w-1', kind: 'wearable' }, 'b'.repeat(64), T0)
    s.apply('device:w-1', value(d))
    expect(s.apply('device:w-1', Buffer.from('{not json'))).toMatchObject({ ok: false })
    expect(s.apply('device:w-2', value(d))).toMatchObject({ ok: false, problem: 'device:w-2: not a device record' })
    expect(s.apply('device:w-1', value({ ...d, kind: 'pager' }))).toMatchObject({ ok: false })
    expect(s.apply(undefined, value(d))).toMatchObject({ ok: false })
    expect(s.device('w-1')).toEqual(d)
  })

  it('forgets a key on a tombstone, with its credential', () => {
    const s = new RegistryState()
    s.apply('user:ann', value(newUser({ username: 'ann', role: 'viewer', passwordHash: 'h' }, T0)))
    expect(s.user('ann')).toBeDefined()
    s.apply('user:ann', undefined)
    expect(s.user('ann')).toBeUndefined()
  })

  it('hands out records that cannot be changed in place', () => {
    const s = new RegistryState()
    s.apply('device:w-1', value(newDevice({ id: 'w-1', kind: 'wearable', patientId: 'p-1' }, 'b'.repeat(64), T0)))
    expect(() => {
      s.device('w-1')!.assignments[0]!.patientId = 'p-2'
    }).toThrow(TypeError)
  })
})

describe('patientsOfMove', () => {
  it.each([
    ['from one patient to another: the one it leaves, then the one it joins', [{ patientId: 'p-1', from: T0, to: null }], 'p-2', ['p-1', 'p-2']],
    ['to no one: the one it leaves', [{ patientId: 'p-1', from: T0, to: null }], null, ['p-1']],
    ['from no one: the one it joins', [{ patientId: 'p-1', from: T0, to: T0 + 5 }], 'p-2', ['p-2']],
    ['to the patient it is with: that one, once', [{ patientId: 'p-1', from: T0, to: null }], 'p-1', ['p-1']],
  ])('a move %s', (_what, assignments, to, patients) => {
    expect(patientsOfMove(device(assignments), to)).toEqual(patients)
  })
})

describe('checkNoUndo', () => {
  const user = newUser({ username: 'sam', role: 'viewer', passwordHash: 'x' }, T0)
  it.each([
    ['a revoked device made active again', { ...device(), revokedAt: T0 }, device(), 'CONFLICT'],
    ['a disabled user made active again', disabled(user, T0 + 1), withRole(user, 'admin', T0 + 2), 'CONFLICT'],
    ['a change to a revoked device that keeps it revoked', { ...device(), revokedAt: T0 }, { ...device(), revokedAt: T0 }, 'none'],
    ['a role change of a disabled user', disabled(user, T0 + 1), withRole(disabled(user, T0 + 1), 'admin', T0 + 2), 'none'],
    ['a revocation', device(), revoked(device(), T0), 'none'],
    ['a new record', undefined, device(), 'none'],
  ])('%s', (_what, current, next, code) => {
    expect(codeOf(() => checkNoUndo(current, next))).toBe(code)
  })
})
