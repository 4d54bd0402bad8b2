import { describe, expect, it } from 'vitest'
import type { Principal } from '../lib/identity/model.ts'
import { clinicianEvent, eventTime } from './routes-events.ts'

const nurse: Principal = { user: 'nurse-ada', role: 'clinician', via: 'session' }
const ONSET = Date.parse('2026-11-30T09:00:00Z')

describe("a clinician's event body", () => {
  it('takes times as epoch ms, a string of digits or an ISO 8601 date-time with its offset, and nothing else', () => {
    expect(eventTime(ONSET)).toBe(ONSET)
    expect(eventTime(String(ONSET))).toBe(ONSET)
    expect(eventTime('2026-11-30T10:00:00+01:00')).toBe(ONSET)
    for (const bad of ['this morning', '30/11/2026', '', true, {}]) expect(eventTime(bad), String(bad)).toBeUndefined()
  })

  it('becomes an event v1 of source clinician, by the signed-in user, recorded now, with a clin: id unless it gives one', () => {
    const made = clinicianEvent({ patientId: 'p-1', kind: 'fever', onset: '2026-11-30T09:00:00Z', plateau: null, note: ' ' }, nurse, 5, () => 'u-1')
    expect(made).toEqual({
      ok: true,
      event: { v: 1, eventId: 'clin:u-1', patientId: 'p-1', kind: 'fever', onset: ONSET, source: 'clinician', recordedBy: 'nurse-ada', recordedAt: 5 },
    })
    const given = clinicianEvent({ eventId: 'clin:mine', patientId: 'p-1', kind: 'fever', onset: ONSET }, nurse, 5)
    expect(given.ok && given.event.eventId).toBe('clin:mine')
  })

  it.each([
    [{ patientId: 'p-1', kind: 'fever' }, 'onset: required: epoch ms or an ISO 8601 date-time'],
    [{ patientId: 'p-1', kind: 'fever', onset: ONSET, end: ONSET - 1 }, 'event: phase times must not go back: onset <= plateau <= recovery <= end'],
    [
      { patientId: 'p-1', kind: 'fever', onset: ONSET, recordedAt: 1, v: 2 },
      'recordedAt: not a field of the body (the server sets v, source, recordedBy and recordedAt); v: not a field of the body (the server sets v, source, recordedBy and recordedAt)',
    ],
    [
      { patientId: 'p-1', kind: 'Fever', onset: 'soon', severity: -1 },
      'onset: expected epoch ms or an ISO 8601 date-time such as 2026-11-30T10:15:00Z; kind: kind must be a lowercase word of at most 40 characters (a-z, 0-9, -), e.g. hypotension; severity: Too small: expected number to be >=0',
    ],
  ])('refuses %j naming every bad field: %s', (body, message) => {
    expect(clinicianEvent(body, nurse, 5)).toEqual({ ok: false, message })
  })
})
