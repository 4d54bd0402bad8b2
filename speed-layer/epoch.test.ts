import { describe, expect, it } from 'vitest'
import { epochToWriteUnder, housekeepingNeedsRebuild, planRewinds, rebuildWarning, unrebuiltPartitions } from './epoch.ts'

describe('the view epoch', () => {
  it('a write goes under the current epoch only when it is the known one (or none is known) and every mark holds it', () => {
    expect(epochToWriteUnder(null, 'e1')).toBe('e1')
    expect(epochToWriteUnder('e1', 'e1', ['e1', 'e1'])).toBe('e1')
    expect(epochToWriteUnder(null, null)).toBeUndefined()
    expect(epochToWriteUnder('e1', null)).toBeUndefined()
    expect(epochToWriteUnder('e1', 'e2')).toBeUndefined()
    expect(epochToWriteUnder('e1', 'e1', ['e1', null])).toBeUndefined()
    expect(epochToWriteUnder(null, 'e2', ['e1'])).toBeUndefined()
  })

  it('housekeeping rebuilds when the epoch moved under a running instance or an owned partition is not marked, not on a never-written view', () => {
    expect(housekeepingNeedsRebuild(null, null, [])).toBe(false)
    expect(housekeepingNeedsRebuild(null, 'e1', ['e1'])).toBe(false)
    expect(housekeepingNeedsRebuild('e1', 'e1', ['e1', 'e1'])).toBe(false)
    expect(housekeepingNeedsRebuild('e1', null, [])).toBe(true)
    expect(housekeepingNeedsRebuild('e1', 'e2', ['e2'])).toBe(true)
    expect(housekeepingNeedsRebuild(null, 'e1', ['e1', null])).toBe(true)
  })

  it('the partitions to rebuild are the owned ones not marked with the epoch', () => {
    expect(unrebuiltPartitions([0, 2, 5], ['e1', null, 'e0'], 'e1')).toEqual([2, 5])
    expect(unrebuiltPartitions([0, 2], ['e1', 'e1'], 'e1')).toEqual([])
  })
})

describe('the rewinds of a rebuild', () => {
  it('rewinds a partition to the window start when it stands past it, from its position or else its committed offset', () => {
    expect(
      planRewinds([
        { partition: 0, position: 500n, committed: 400n, target: 100n },
        { partition: 1, committed: 300n, target: 250n },
        { partition: 2, position: 80n, committed: 80n, target: 80n },
        { partition: 3, committed: -1n, target: 0n },
        { partition: 4, position: 10n, target: -1n },
        { partition: 5, committed: 0n, target: 0n },
      ]),
    ).toEqual([
      { partition: 0, offset: 100n, until: 500n },
      { partition: 1, offset: 250n, until: 300n },
    ])
  })

  it('warns of a wipe or of unmarked partitions, and stays quiet on a first start with nothing to replay', () => {
    const at = Date.UTC(2025, 10, 22, 10, 0, 0)
    const base = { parts: [1, 4], sinceMs: at }
    expect(rebuildWarning({ ...base, before: null, after: 'e1', created: true, rewound: 0 })).toBeUndefined()
    expect(rebuildWarning({ ...base, before: 'e0', after: 'e1', created: false, rewound: 2 })).toBe(
      'the Redis view is empty (Redis wiped or restarted): rebuilding from Kafka since 2025-11-22T10:00:00.000Z (2 partitions rewound)',
    )
    expect(rebuildWarning({ ...base, before: null, after: 'e1', created: false, rewound: 1 })).toBe(
      "partitions 1, 4 were not rebuilt under the view's epoch (an instance stopped during a rebuild, or the view predates per-partition rebuild marks): " +
        'rebuilding from Kafka since 2025-11-22T10:00:00.000Z (1 partitions rewound)',
    )
    expect(rebuildWarning({ ...base, before: 'e1', after: 'e1', created: false, rewound: 0 })).toMatch(/not rebuilt .* \(nothing to replay\)$/)
  })
})
