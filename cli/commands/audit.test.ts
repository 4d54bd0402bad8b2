import { describe, expect, it } from 'vitest'
import { describeChange, formatTable, parseInstant, printable } from './audit.ts'

describe('parseInstant', () => {
  it.each([
    ['2026-11-22T08:00Z', Date.UTC(2026, 10, 22, 8)],
    ['2026-11-22T08:00:30.5Z', Date.UTC(2026, 10, 22, 8, 0, 30, 500)],
    ['2026-11-22T09:00+01:00', Date.UTC(2026, 10, 22, 8)],
    ['2026-11-22', Date.UTC(2026, 10, 22)],
  ])('reads %s', (text, ms) => {
    expect(parseInstant(text, '--since')).toBe(ms)
  })

  it.each(['2026-11-22T08:00', 'yesterday', '1795991577175', '2026-13-40T08:00Z'])('refuses %s (no offset, or not a time)', (text) => {
    expect(() => parseInstant(text, '--since')).toThrow(/--since ".*" is not an ISO 8601 time with its offset/)
  })
})

describe('describeChange', () => {
  it('shows only the fields that changed, times in UTC, assignments as periods', () => {
    const t = Date.UTC(2026, 10, 22, 8)
    expect(describeChange({ role: 'viewer', credentialVersion: 1, updatedAt: 1 }, { role: 'clinician', credentialVersion: 1, updatedAt: 2 })).toBe(
      'role: viewer -> clinician',
    )
    expect(
      describeChange(
        { revokedAt: null, assignments: [{ patientId: 'p-1', from: t, to: null }] },
        { revokedAt: t, assignments: [{ patientId: 'p-1', from: t, to: t }] },
      ),
    ).toBe('revokedAt: - -> 2026-11-22 08:00:00Z; assignments: p-1 [2026-11-22 08:00:00Z..] -> p-1 [2026-11-22 08:00:00Z..2026-11-22 08:00:00Z]')
    expect(describeChange(null, { type: 'user', username: 'a', role: 'viewer' })).toBe('created {role: viewer}')
    expect(describeChange({ a: 1 }, { a: 1 })).toBe('no change')
  })
})

describe('printable and formatTable', () => {
  it('shows control characters as escapes, never as themselves', () => {
    expect(printable('ok \u001b[31mred\r\n')).toBe('ok \\u001b[31mred\\u000d\\u000a')
    expect(formatTable(['a', 'b'], [['x\u0007', 'y']])).toBe(`${'a'.padEnd(7)}  b\nx\\u0007  y\n`)
  })
})
