import { describe, expect, it } from 'vitest'
import { classify, fileName, parseFileName, utcDay, type LakeFile } from './lake.ts'
import { batchOptionsSchema, daysBetween } from './config.ts'

const file = (partition: number, first: number, last: number, parts: number, dt = '2026-11-22', kind: LakeFile['kind'] = 'readings'): LakeFile => ({
  topic: 't.vitals.readings',
  partition,
  first,
  last,
  parts,
  dt,
  kind,
  path: `/lake/raw/${kind}/dt=${dt}/${partition}-${first}`,
})

describe('lake file names', () => {
  it('round-trip topic, partition, offset range and part count, even when the topic holds dashes', () => {
    const f = { topic: 'test-1a2b.vitals.readings', partition: 5, first: 1200, last: 2399, parts: 2 }
    expect(fileName(f)).toBe('test-1a2b.vitals.readings-p5-1200-2399-of2.parquet')
    expect(parseFileName(fileName(f))).toEqual(f)
  })

  it('ignore temporary and foreign files', () => {
    expect(parseFileName('.t-p0-0-9-of1.parquet.123.tmp')).toBeUndefined()
    expect(parseFileName('notes.txt')).toBeUndefined()
  })
})

describe('resuming from the lake', () => {
  it('resumes each partition after the last offset of its complete flushes', () => {
    const scan = classify([file(0, 0, 99, 1), file(0, 100, 199, 1), file(1, 0, 49, 1)])
    expect(scan.next).toEqual(
      new Map([
        [0, 200],
        [1, 50],
      ]),
    )
    expect(scan.incomplete).toEqual([])
  })

  it('treats a flush with a missing part as incomplete and resumes before it', () => {
    const partial = file(0, 100, 199, 3, '2026-11-23')
    const scan = classify([file(0, 0, 99, 1), partial, file(0, 100, 199, 3, '2026-11-22', 'rejected')])
    expect(scan.next.get(0)).toBe(100)
    expect(scan.incomplete.map((f) => f.dt).sort()).toEqual(['2026-11-22', '2026-11-23'])
  })

  it('counts a flush split across two days and a rejected file as complete when all parts are there', () => {
    const scan = classify([file(2, 0, 9, 3, '2026-11-22'), file(2, 0, 9, 3, '2026-11-23'), file(2, 0, 9, 3, '2026-11-23', 'rejected')])
    expect(scan.next.get(2)).toBe(10)
    expect(scan.complete).toHaveLength(3)
  })
})

describe('days', () => {
  it('are UTC calendar days of event time', () => {
    expect(utcDay(Date.UTC(2026, 10, 22, 23, 59, 59, 999))).toBe('2026-11-22')
    expect(utcDay(Date.UTC(2026, 10, 23))).toBe('2026-11-23')
  })

  it('span a range inclusively, across a month end', () => {
    expect(daysBetween('2026-11-29', '2026-12-02')).toEqual(['2026-11-29', '2026-11-30', '2026-12-01', '2026-12-02'])
  })

  it('refuse an impossible date, a reversed range and --date with --from', () => {
    expect(batchOptionsSchema.safeParse({ date: '2026-02-30' }).success).toBe(false)
    expect(batchOptionsSchema.safeParse({ from: '2026-11-23', to: '2026-11-22' }).success).toBe(false)
    expect(batchOptionsSchema.safeParse({ date: '2026-11-22', from: '2026-11-22', to: '2026-11-23' }).success).toBe(false)
    expect(batchOptionsSchema.safeParse({ from: '2026-11-22' }).success).toBe(false)
    expect(batchOptionsSchema.parse({ date: '2026-11-22' })).toEqual({ date: '2026-11-22', full: false, strict: false })
  })
})
