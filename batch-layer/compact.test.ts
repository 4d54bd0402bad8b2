import { describe, expect, it } from 'vitest'
import { classify, fileName, parseFileName, visibleNames, type LakeFile } from './lake.ts'
import { columnsProblem, daysWithSmallFiles, planRuns, widestFile } from './compact.ts'

const T = 't.vitals.readings'

const part = (
  partition: number,
  first: number,
  last: number,
  parts: number,
  dt = '2026-11-22',
  kind: LakeFile['kind'] = 'readings',
  extra: Partial<LakeFile> = {},
): LakeFile => ({
  topic: T,
  partition,
  first,
  last,
  parts,
  dt,
  kind,
  path: `/lake/raw/${kind}/dt=${dt}/${partition}-${first}-${last}-of${parts}`,
  ...extra,
})

const compacted = (
  partition: number,
  first: number,
  last: number,
  dt = '2026-11-22',
  kind: LakeFile['kind'] = 'readings',
  extra: Partial<LakeFile> = {},
): LakeFile =>
  part(partition, first, last, 1, dt, kind, { compacted: true, path: `/lake/raw/${kind}/dt=${dt}/${partition}-${first}-${last}-compacted`, ...extra })

describe('compacted file names', () => {
  it("round-trip and are told apart from a flush's parts", () => {
    const c = { topic: 'test-1a2b.vitals.readings', partition: 3, first: 0, last: 4999, parts: 1, compacted: true as const }
    expect(fileName(c)).toBe('test-1a2b.vitals.readings-p3-0-4999-compacted.parquet')
    expect(parseFileName(fileName(c))).toEqual(c)
    expect(parseFileName('test-1a2b.vitals.readings-p3-0-4999-of1.parquet')?.compacted).toBeUndefined()
    expect(parseFileName('.test-p3-0-4999-compacted.parquet.77.compacting')).toBeUndefined()
  })
})

describe('a compacted file in the lake scan', () => {
  it('supersedes the raw files of its folder and partition that it spans, and leaves the resume position where it was', () => {
    const sources = [part(0, 0, 9, 1), part(0, 10, 19, 1), part(0, 20, 29, 1)]
    const before = classify(sources)
    const during = classify([...sources, compacted(0, 0, 29), part(0, 30, 39, 1), part(1, 0, 9, 1), part(0, 5, 5, 1, '2026-11-23')])
    expect(during.next).toEqual(
      new Map([
        [0, 40],
        [1, 10],
      ]),
    )
    expect(before.next.get(0)).toBe(30)
    expect(during.superseded.map((f) => f.first)).toEqual([0, 10, 20])
    // Another partition, a later range and another day are not superseded.
    expect(during.complete.map((f) => `${f.dt}:${f.partition}:${f.first}:${f.compacted === true}`).sort()).toEqual([
      '2026-11-22:0:0:true',
      '2026-11-22:0:30:false',
      '2026-11-22:1:0:false',
      '2026-11-23:0:5:false',
    ])
    expect(during.incomplete).toEqual([])
  })

  it('keeps a flush split across two days complete after one day is compacted', () => {
    // Flush 100..199 had a part on each day; day 22's part is now inside the compacted file.
    const scan = classify([compacted(2, 0, 199, '2026-11-22'), part(2, 100, 199, 2, '2026-11-23')])
    expect(scan.incomplete).toEqual([])
    expect(scan.complete).toHaveLength(2)
    expect(scan.next.get(2)).toBe(200)
  })

  it('keeps a flush complete when its compacted part was quarantined, without hiding its raw sources', () => {
    const q = compacted(2, 0, 199, '2026-11-22', 'readings', { quarantined: true })
    const scan = classify([q, part(2, 100, 199, 2, '2026-11-23'), part(2, 0, 99, 1, '2026-11-22')])
    expect(scan.incomplete).toEqual([])
    expect(scan.superseded).toEqual([])
    expect(scan.next.get(2)).toBe(200)
  })

  it('still finds the incomplete last flush of a crash, which no compacted file spans', () => {
    const tail = part(0, 30, 39, 2, '2026-11-23')
    const scan = classify([compacted(0, 0, 29, '2026-11-22'), compacted(0, 0, 29, '2026-11-22', 'rejected'), tail])
    expect(scan.incomplete).toEqual([tail])
    expect(scan.next.get(0)).toBe(30)
  })

  it('supersedes an older compacted file spanned by a newer one', () => {
    const scan = classify([compacted(0, 0, 29), part(0, 30, 39, 1), compacted(0, 0, 39)])
    expect(scan.superseded.map((f) => `${f.first}-${f.last}`).sort()).toEqual(['0-29', '30-39'])
    expect(scan.complete.map((f) => `${f.first}-${f.last}`)).toEqual(['0-39'])
  })
})

describe('the files a reader lists', () => {
  it('leave out what a compacted file of the folder supersedes, and nothing else', () => {
    const names = [
      `${T}-p0-0-9-of1.parquet`,
      `${T}-p0-10-19-of2.parquet`,
      `${T}-p0-0-19-compacted.parquet`,
      `${T}-p0-20-29-of1.parquet`,
      `${T}-p1-5-9-of1.parquet`,
      `.${T}-p0-20-29-of1.parquet.12.tmp`,
      `.${T}-p0-0-29-compacted.parquet.12.compacting`,
      'foreign.parquet',
      'notes.txt',
    ]
    expect(visibleNames(names).sort()).toEqual(['foreign.parquet', `${T}-p0-0-19-compacted.parquet`, `${T}-p0-20-29-of1.parquet`, `${T}-p1-5-9-of1.parquet`])
  })
})

describe('compaction runs', () => {
  const f = (first: number, last: number, rows: number) => ({ first, last, rows })

  it('take consecutive files up to the row limit and leave single files alone', () => {
    const files = [f(0, 9, 10), f(10, 19, 10), f(20, 29, 10), f(30, 99, 70), f(100, 109, 10)]
    expect(planRuns(files, [], 30).map((r) => r.map((x) => x.first))).toEqual([[0, 10, 20]])
    expect(planRuns(files, [], 100).map((r) => r.map((x) => x.first))).toEqual([[0, 10, 20, 30]])
    expect(planRuns([f(0, 9, 10)], [], 100)).toEqual([])
  })

  it('never span a file they do not rewrite (incomplete or quarantined)', () => {
    const files = [f(0, 9, 10), f(10, 19, 10), f(30, 39, 10), f(40, 49, 10)]
    expect(planRuns(files, [{ first: 20, last: 29 }], 1_000).map((r) => r.map((x) => x.first))).toEqual([
      [0, 10],
      [30, 40],
    ])
  })
})

describe('the days the archiver compacts', () => {
  it('are those where a kind and partition has two files or more, quarantined ones not counted', () => {
    const files = [
      // Compacted already: one file a kind and partition.
      compacted(0, 0, 99, '2026-11-20'),
      compacted(1, 0, 99, '2026-11-20'),
      part(0, 0, 9, 1, '2026-11-20', 'rejected'),
      // Yesterday: a compacted file and a flush after it.
      compacted(0, 100, 199, '2026-11-21'),
      part(0, 200, 209, 2, '2026-11-21'),
      // A day with one small file and a quarantined one beside it: nothing to rewrite.
      part(2, 0, 9, 1, '2026-11-19'),
      part(2, 10, 19, 1, '2026-11-19', 'readings', { quarantined: true }),
      // Today: rejected records only, in two flushes.
      part(3, 5, 9, 1, '2026-11-22', 'rejected'),
      part(3, 10, 14, 1, '2026-11-22', 'rejected'),
    ]
    expect(daysWithSmallFiles(files)).toEqual(['2026-11-21', '2026-11-22'])
    expect(daysWithSmallFiles([])).toEqual([])
  })
})

describe('which files one compacted file can hold', () => {
  const OPTIONAL = new Set(['on_oxygen', 'consciousness'])
  const before = new Map([
    ['patient_id', 'BYTE_ARRAY UTF8'],
    ['ts', 'INT64 TIMESTAMP_MILLIS'],
    ['heart_rate', 'DOUBLE '],
  ])
  const after = new Map([...before, ['on_oxygen', 'BOOLEAN '], ['consciousness', 'BYTE_ARRAY UTF8']])

  it('takes files written before and after the assessment columns together, with the widest file as the template', () => {
    expect(columnsProblem([before, after, before], OPTIONAL)).toBeUndefined()
    const run = [{ path: 'a' }, { path: 'b' }, { path: 'c' }]
    expect(
      widestFile(
        run,
        new Map([
          ['a', before],
          ['b', after],
          ['c', after],
        ]),
      ),
    ).toEqual({ path: 'b' })
    expect(
      widestFile(
        run,
        new Map([
          ['a', before],
          ['b', before],
          ['c', before],
        ]),
      ),
    ).toEqual({ path: 'a' })
  })

  it('refuses files that differ in a column that is not optional, or in a column’s type', () => {
    const extra = new Map([...before, ['note', 'BYTE_ARRAY UTF8']])
    expect(columnsProblem([before, extra], OPTIONAL)).toBe('its files do not all have the same columns (2 different sets)')
    const typed = new Map([...after, ['on_oxygen', 'BYTE_ARRAY UTF8']])
    expect(columnsProblem([after, typed], OPTIONAL)).toBe(
      'its files do not all have the same columns (on_oxygen is BOOLEAN in one, BYTE_ARRAY UTF8 in another)',
    )
  })

  it('refuses two files each lacking an optional column the other has: no file holds every column', () => {
    const oxygenOnly = new Map([...before, ['on_oxygen', 'BOOLEAN ']])
    const acvpuOnly = new Map([...before, ['consciousness', 'BYTE_ARRAY UTF8']])
    expect(columnsProblem([oxygenOnly, acvpuOnly], OPTIONAL)).toBe('its files do not all have the same columns (optional columns differ)')
  })
})
