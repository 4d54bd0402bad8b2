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
 * offset of its complete flushes. Nothing is ever rewritten over a committed range, so where a
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
 */
import { mkdir, readdir, rm, stat } from 'node:fs/promises'
import path from 'node:path'

export type RawKind = 'readings' | 'rejected'
export const RAW_KINDS: readonly RawKind[] = ['readings', 'rejected']

export function rawDir(lake: string, kind: RawKind): string {
  return path.join(lake, 'raw', kind)
}

export function dtDir(lake: string, kind: RawKind, dt: string): string {
  return path.join(rawDir(lake, kind), `dt=${dt}`)
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
  parts: number
}

export function fileName(f: FlushName): string {
  return `${f.topic}-p${f.partition}-${f.first}-${f.last}-of${f.parts}.parquet`
}

/** The temporary name a part is written under: hidden, and not matched by `*.parquet` globs. */
export function tempName(final: string): string {
  return `.${final}.${process.pid}.tmp`
}

const NAME = /^(.+)-p(\d+)-(\d+)-(\d+)-of(\d+)\.parquet$/

export function parseFileName(name: string): FlushName | undefined {
  const m = NAME.exec(name)
  if (m === null) return undefined
  return { topic: m[1] as string, partition: Number(m[2]), first: Number(m[3]), last: Number(m[4]), parts: Number(m[5]) }
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
  /** Leftover temporary files: to delete. */
  temporary: string[]
  complete: LakeFile[]
}

/** Lists the raw lake's files of one topic, quarantined ones included (names only; no Parquet is opened). */
export async function scanLake(lake: string, topic: string): Promise<LakeScan> {
  const files: LakeFile[] = []
  const temporary: string[] = []
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
          const f = parseFileName(name)
          const id = `${kind}/${dtEntry}/${name}`
          if (f === undefined || f.topic !== topic || seen.has(id)) continue
          seen.add(id)
          files.push({ ...f, kind, dt: dtEntry.slice(3), path: path.join(dir, name), ...(quarantined ? { quarantined } : {}) })
        }
      }
    }
  }
  return { ...classify(files), temporary }
}

/** Pure part of the scan: which flushes are complete, and where each partition resumes. */
export function classify(files: readonly LakeFile[]): Omit<LakeScan, 'temporary'> {
  const flushes = new Map<string, LakeFile[]>()
  for (const f of files) {
    const key = `${f.partition}:${f.first}:${f.last}:${f.parts}`
    const list = flushes.get(key)
    if (list === undefined) flushes.set(key, [f])
    else list.push(f)
  }
  const next = new Map<number, number>()
  const incomplete: LakeFile[] = []
  const complete: LakeFile[] = []
  for (const parts of flushes.values()) {
    const head = parts[0] as LakeFile
    if (parts.length < head.parts) {
      incomplete.push(...parts)
      continue
    }
    complete.push(...parts)
    const after = head.last + 1
    if (after > (next.get(head.partition) ?? -1)) next.set(head.partition, after)
  }
  return { next, incomplete, complete }
}

/** Deletes temporary files and the raw parts of incomplete flushes; returns how many files it removed. */
export async function repairLake(scan: LakeScan): Promise<number> {
  const doomed = [...scan.temporary, ...scan.incomplete.filter((f) => f.quarantined !== true).map((f) => f.path)]
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
