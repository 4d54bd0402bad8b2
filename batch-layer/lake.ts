/**
 * The raw lake's layout and the bookkeeping that makes the archiver exactly once.
 *
 *   <lake>/raw/readings/dt=YYYY-MM-DD/<topic>-p<partition>-<first>-<last>-of<parts>.parquet
 *   <lake>/raw/rejected/dt=YYYY-MM-DD/<topic>-p<partition>-<first>-<last>-of<parts>.parquet
 *
 * A flush covers one partition's offsets first..last (inclusive, as consumed) and writes one
 * file per (kind, dt) it holds: usually one, more when late readings from another day or schema
 * failures are in the range. Every file of a flush carries the same range and the number of
 * files of the flush (`of<parts>`), so the flush is complete exactly when all its parts are in
 * place. Files are written under a hidden temporary name and renamed; on start, temporary files
 * and the parts of incomplete flushes are deleted, and each partition resumes after the last
 * offset of its complete flushes. The archiver never writes over a committed range, so where a
 * flush happened to end (record count, age, shutdown) does not matter: a replay after a crash
 * starts after the lake's last complete flush, never from an older group offset, which is what
 * lets a wall-clock age trigger coexist with exactly once (the Kafka Connect S3 sink's issue
 * #177 came from replaying from the group offset into differently bounded files).
 *
 * The batch job moves raw files it cannot read to the same relative path under
 * <lake>/quarantine (quarantine.ts). The scan counts those as parts of their flush too, so a
 * quarantined part neither makes its flush incomplete (the other parts would be deleted) nor
 * moves the partition's resume position back (the range would be archived again); the repair
 * never deletes a quarantined file. Raw is listed before quarantine, so a file moved during the
 * scan is seen at least once (and counted once).
 *
 * Compaction (compact.ts) rewrites consecutive complete files of one (kind, dt, partition) into
 *
 *   <topic>-p<partition>-<first>-<last>-compacted.parquet
 *
 * where first..last spans its sources' ranges. It is written under a hidden temporary name
 * (`.compacting`, never taken for the archiver's), fsynced and renamed, and only then are the
 * sources deleted. Three rules keep every offset exactly once through a compaction killed at
 * any point:
 *   1. A raw file is superseded when a raw compacted file of the same kind, dt and partition
 *      spans its range: readers (the batch job's listing, visibleNames) skip it, and the next
 *      compaction deletes it. So between the rename and the last delete, readers see the
 *      compacted file and not its sources; before the rename, only the sources. (A plain glob
 *      of the folders does not know this rule: it can see both in that window, which lasts
 *      milliseconds, or until the next compaction when one was killed there.)
 *   2. A compacted file counts as a complete flush of its own, and a flush with a missing part
 *      is complete when a compacted file of its partition (raw or quarantined) spans its range:
 *      a flush split across two days keeps its other part after one day is compacted. This
 *      cannot hide a crash: only a partition's last flush can be incomplete (the archiver writes
 *      flushes one after another and repairs before writing again), and compaction only takes
 *      complete files, so no compacted file spans an incomplete flush.
 *   3. A partition resumes after the last offset of its complete flushes and compacted files:
 *      a compacted file ends where its last source ended, so compaction never moves it.
 * The archiver only adds files above every complete range of their partition and never deletes
 * a complete or compacted file (its repair takes its own temporary files and incomplete flushes),
 * so a compaction running beside it never spans a file it did not read. A reader that listed
 * sources a compaction then deleted lists again (job.ts).
 *
 * The clinical events of `vitals.events` (event-archiver.ts) are a flat folder beside the kinds,
 * one file per flush and no `dt=` folders:
 *
 *   <lake>/raw/events/<topic>-p<partition>-<first>-<last>-of1.parquet
 *
 * A flush is a single file, so it is complete once renamed and there is no incomplete flush to
 * repair; the same rules otherwise (temporary name, fsync, rename only by the partition's owner,
 * resume after the last complete range: `scanEvents`). Neither compaction nor quarantine nor the
 * batch job's statistics look there: they list the `dt=` folders of RAW_KINDS.
 */
import { mkdir, open, readdir, rm, stat } from 'node:fs/promises'
import path from 'node:path'

export type RawKind = 'readings' | 'rejected'
export const RAW_KINDS: readonly RawKind[] = ['readings', 'rejected']

export function rawDir(lake: string, kind: RawKind): string {
  return path.join(lake, 'raw', kind)
}

export function dtDir(lake: string, kind: RawKind, dt: string): string {
  return path.join(rawDir(lake, kind), `dt=${dt}`)
}

/** The clinical events' folder (see the header): not a RawKind, it has no `dt=` folders. */
export function eventsDir(lake: string): string {
  return path.join(lake, 'raw', 'events')
}

/** Where bad raw files go, under their raw relative path: <lake>/quarantine/raw/<kind>/dt=.../<name>. */
export function quarantineRoot(lake: string): string {
  return path.join(lake, 'quarantine')
}

/** UTC calendar day of an epoch-ms time, YYYY-MM-DD (the `dt` partition and the statistics' day). */
export function utcDay(ms: number): string {
  const iso = new Date(ms).toISOString()
  return iso.slice(0, iso.indexOf('T'))
}

export interface FlushName {
  topic: string
  partition: number
  first: number
  last: number
  /** Files of the flush (`of<parts>`); 1 for a compacted file, which stands alone. */
  parts: number
  /** Written by compaction: replaces the files of its kind, dt and partition within first..last. */
  compacted?: true
}

export function fileName(f: FlushName): string {
  if (f.compacted === true) return `${f.topic}-p${f.partition}-${f.first}-${f.last}-compacted.parquet`
  return `${f.topic}-p${f.partition}-${f.first}-${f.last}-of${f.parts}.parquet`
}

/** The temporary name a part is written under: hidden, and not matched by `*.parquet` globs. */
export function tempName(final: string): string {
  return `.${final}.${process.pid}.tmp`
}

/** The temporary name compaction writes under: hidden, and not one the archiver's repair deletes. */
export function compactingName(final: string): string {
  return `.${final}.${process.pid}.compacting`
}

const NAME = /^(.+)-p(\d+)-(\d+)-(\d+)-of(\d+)\.parquet$/
const COMPACTED_NAME = /^(.+)-p(\d+)-(\d+)-(\d+)-compacted\.parquet$/

export function parseFileName(name: string): FlushName | undefined {
  const m = NAME.exec(name)
  if (m !== null) return { topic: m[1] as string, partition: Number(m[2]), first: Number(m[3]), last: Number(m[4]), parts: Number(m[5]) }
  const c = COMPACTED_NAME.exec(name)
  if (c !== null) return { topic: c[1] as string, partition: Number(c[2]), first: Number(c[3]), last: Number(c[4]), parts: 1, compacted: true }
  return undefined
}

export interface LakeFile extends FlushName {
  kind: RawKind
  dt: string
  path: string
  /** Moved to <lake>/quarantine by the batch job: counts for its flush, never deleted. */
  quarantined?: boolean
}

export interface LakeScan {
  /** Per partition, the offset after the last complete flush (absent: nothing archived yet). */
  next: Map<number, number>
  /** Parts of flushes that never completed (a crash between renames): to delete. */
  incomplete: LakeFile[]
  /** Leftover temporary files of the archiver: to delete. */
  temporary: string[]
  /** Complete files readers use: flush parts and compacted files, superseded ones left out. */
  complete: LakeFile[]
  /** Raw files a compacted file replaces (rule 1): readers skip them; compaction deletes them. */
  superseded: LakeFile[]
  /** Leftover temporary files of compaction: only compaction deletes them, under its lock. */
  compacting: string[]
}

/** Lists the raw lake's files of one topic, quarantined ones included (names only; no Parquet is opened). */
export async function scanLake(lake: string, topic: string): Promise<LakeScan> {
  const files: LakeFile[] = []
  const temporary: string[] = []
  const compacting: string[] = []
  const seen = new Set<string>()
  for (const quarantined of [false, true]) {
    const root = quarantined ? quarantineRoot(lake) : lake
    for (const kind of RAW_KINDS) {
      for (const dtEntry of await readdirOrEmpty(rawDir(root, kind))) {
        if (!dtEntry.startsWith('dt=')) continue
        const dir = path.join(rawDir(root, kind), dtEntry)
        for (const name of await readdirOrEmpty(dir)) {
          if (name.startsWith('.') && name.endsWith('.tmp')) {
            if (!quarantined) temporary.push(path.join(dir, name))
            continue
          }
          if (name.startsWith('.') && name.endsWith('.compacting')) {
            // Only this topic's: another topic's compaction may be writing in the same folder.
            const final = parseFileName(name.slice(1).replace(/\.\d+\.compacting$/, ''))
            if (!quarantined && final?.topic === topic) compacting.push(path.join(dir, name))
            continue
          }
          const f = parseFileName(name)
          const id = `${kind}/${dtEntry}/${name}`
          if (f === undefined || f.topic !== topic || seen.has(id)) continue
          seen.add(id)
          files.push({ ...f, kind, dt: dtEntry.slice(3), path: path.join(dir, name), ...(quarantined ? { quarantined } : {}) })
        }
      }
    }
  }
  return { ...classify(files), temporary, compacting }
}

/** What the event archiver needs of `eventsDir` for one topic: where each partition resumes, and the leftover temporary files. */
export interface EventsScan {
  /** Per partition, the offset after the highest `last` of its files (absent: nothing archived yet). */
  next: Map<number, number>
  /** Temporary files of this topic's flushes (tempName): never renamed, to delete. */
  temporary: string[]
  /** The complete files of this topic. */
  complete: Array<FlushName & { path: string }>
}

/** Lists the events folder's files of one topic (names only; no Parquet is opened). */
export async function scanEvents(lake: string, topic: string): Promise<EventsScan> {
  const dir = eventsDir(lake)
  const scan: EventsScan = { next: new Map(), temporary: [], complete: [] }
  for (const name of await readdirOrEmpty(dir)) {
    if (name.startsWith('.') && name.endsWith('.tmp')) {
      if (parseFileName(name.slice(1).replace(/\.\d+\.tmp$/, ''))?.topic === topic) scan.temporary.push(path.join(dir, name))
      continue
    }
    const f = parseFileName(name)
    if (f === undefined || f.topic !== topic) continue
    scan.complete.push({ ...f, path: path.join(dir, name) })
    if (f.last + 1 > (scan.next.get(f.partition) ?? -1)) scan.next.set(f.partition, f.last + 1)
  }
  return scan
}

/** Pure part of the scan: which flushes are complete, which files are superseded, where each partition resumes. */
export function classify(files: readonly LakeFile[]): Omit<LakeScan, 'temporary' | 'compacting'> {
  const superseded = new Set(supersededFiles(files.filter((f) => f.quarantined !== true)))
  // Compacted files stand for the parts they replaced, quarantined ones too (rule 2).
  const compacted = files.filter((f) => f.compacted === true)
  const flushes = new Map<string, LakeFile[]>()
  for (const f of files) {
    if (f.compacted === true) continue
    const key = `${f.partition}:${f.first}:${f.last}:${f.parts}`
    const list = flushes.get(key)
    if (list === undefined) flushes.set(key, [f])
    else list.push(f)
  }
  const next = new Map<number, number>()
  const incomplete: LakeFile[] = []
  const complete: LakeFile[] = []
  const resumeAfter = (f: LakeFile): void => {
    if (f.last + 1 > (next.get(f.partition) ?? -1)) next.set(f.partition, f.last + 1)
  }
  for (const parts of flushes.values()) {
    const head = parts[0] as LakeFile
    if (parts.length < head.parts && !compacted.some((c) => spans(c, head))) {
      incomplete.push(...parts)
      continue
    }
    for (const f of parts) if (!superseded.has(f)) complete.push(f)
    resumeAfter(head)
  }
  for (const c of compacted) {
    if (!superseded.has(c)) complete.push(c)
    resumeAfter(c)
  }
  return { next, incomplete, complete, superseded: [...superseded] }
}

/** Whether compacted file `c` of the same partition spans the offsets of `f`. */
function spans(c: FlushName, f: FlushName): boolean {
  return c !== f && c.topic === f.topic && c.partition === f.partition && c.first <= f.first && f.last <= c.last
}

/** Rule 1 over files of one or more folders: those a compacted file of the same folder spans. */
function supersededFiles<F extends FlushName & { kind?: RawKind; dt?: string }>(files: readonly F[]): F[] {
  const compactedByDir = new Map<string, F[]>()
  const dirOf = (f: F) => `${f.kind ?? ''}/${f.dt ?? ''}/${f.topic}/${f.partition}`
  for (const f of files) {
    if (f.compacted !== true) continue
    const list = compactedByDir.get(dirOf(f))
    if (list === undefined) compactedByDir.set(dirOf(f), [f])
    else list.push(f)
  }
  if (compactedByDir.size === 0) return []
  return files.filter((f) => (compactedByDir.get(dirOf(f)) ?? []).some((c) => spans(c, f)))
}

/**
 * The names of one `dt=` folder a reader should read: every `*.parquet` but the superseded ones
 * (rule 1). What a reader lists here holds each offset of the folder once, whatever step a
 * compaction is at; a file it listed may still vanish before it is read (the compaction
 * finished), which the reader must answer by listing again.
 */
export function visibleNames(names: readonly string[]): string[] {
  const parsed = names.map((name) => ({ name, f: parseFileName(name) }))
  const known = parsed.flatMap((p) => (p.f === undefined ? [] : [p.f]))
  const hidden = new Set(supersededFiles(known))
  return parsed.filter((p) => p.name.endsWith('.parquet') && !p.name.startsWith('.') && (p.f === undefined || !hidden.has(p.f))).map((p) => p.name)
}

/** The partition a temporary file of the archiver (tempName) belongs to; undefined for a name it did not give. */
export function temporaryPartition(file: string): number | undefined {
  return parseFileName(
    path
      .basename(file)
      .slice(1)
      .replace(/\.\d+\.tmp$/, ''),
  )?.partition
}

/**
 * Deletes temporary files and the raw parts of incomplete flushes; returns how many files it
 * removed. With `partitions`, only those partitions' (the ones this archiver was just assigned):
 * another archiver of the group may be writing the others.
 */
export async function repairLake(scan: LakeScan, partitions?: ReadonlySet<number>): Promise<number> {
  const mine = (partition: number | undefined) => partitions === undefined || (partition !== undefined && partitions.has(partition))
  const doomed = [
    ...scan.temporary.filter((file) => mine(temporaryPartition(file))),
    ...scan.incomplete.filter((f) => f.quarantined !== true && mine(f.partition)).map((f) => f.path),
  ]
  for (const p of doomed) await rm(p, { force: true })
  return doomed.length
}

/** Whether a path exists (false only for ENOENT; other errors are thrown). */
export async function exists(p: string): Promise<boolean> {
  try {
    await stat(p)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw error
  }
}

/** Flushes a file's data, or a folder's entries (a rename or delete in it), to the disk. */
export async function fsyncFile(file: string): Promise<void> {
  const fh = await open(file, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

export async function ensureDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true })
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
}
