import { describe, expect, it } from 'vitest'
import { GatewayCounts } from './counts.ts'

describe("the gateway's counters and status line", () => {
  it('counts 4xx answers as refused, the refusals for their sender per reason, and 503 as unavailable, and gives the rate since the last line', () => {
    const c = new GatewayCounts()
    c.startLines(1_000)
    for (const s of [202, 400, 401, 413, 503, 503, 200, 403, 403]) c.answered(s)
    c.refusedFor('unknown-credential')
    c.refusedFor('revoked')
    c.refusedFor('not-assigned')
    c.accepted += 5_000
    expect(c.statusLine(11_000, false)).toBe(
      '500 readings/s accepted (5000 in all), requests refused 5 (unknown-credential 1, revoked 1, device-mismatch 0, not-assigned 1, clock 0), answered 503 2, Kafka ok',
    )
    c.accepted += 100
    c.refusedFor('device-mismatch')
    c.refusedFor('clock')
    expect(c.statusLine(21_000, true)).toBe(
      '10 readings/s accepted (5100 in all), requests refused 5 (unknown-credential 1, revoked 1, device-mismatch 1, not-assigned 1, clock 1), answered 503 2, Kafka unreachable',
    )
  })

  it('gives its counters as a copy that later answers do not change', () => {
    const c = new GatewayCounts()
    for (const s of [202, 400, 503, 503, 403]) c.answered(s)
    c.refusedFor('revoked')
    c.accepted += 7
    const stats = c.stats()
    c.answered(400)
    c.refusedFor('revoked')
    const none = { 'unknown-credential': 0, revoked: 0, 'device-mismatch': 0, 'not-assigned': 0, clock: 0 }
    expect(stats).toEqual({ accepted: 7, refused: 2, refusals: { ...none, revoked: 1 }, unavailable: 2 })
    expect(c.stats()).toEqual({ accepted: 7, refused: 3, refusals: { ...none, revoked: 2 }, unavailable: 2 })
  })
})
