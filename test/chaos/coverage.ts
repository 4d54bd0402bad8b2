/**
 * How far the lake reaches: the chaos and scale runs wait until the archivers have every offset
 * of `vitals.readings` in complete flushes before they check the invariants.
 */
import { readdir } from 'node:fs/promises'
import path from 'node:path'
import { RAW_KINDS, parseFileName, rawDir } from '../../batch-layer/lake.ts'

/** Offsets of vitals.readings the lake's complete flushes do not reach yet, summed over partitions. */
export async function lakeCoverage(lake: string, ends: readonly number[]): Promise<number> {
  const reached = ends.map(() => 0)
  for (const kind of RAW_KINDS) {
    let days: string[] = []
    try {
      days = await readdir(rawDir(lake, kind))
    } catch {
      continue
    }
    for (const day of days) {
      for (const name of await readdir(path.join(rawDir(lake, kind), day)).catch(() => [] as string[])) {
        const f = parseFileName(name)
        if (f !== undefined && f.last + 1 > (reached[f.partition] ?? 0)) reached[f.partition] = f.last + 1
      }
    }
  }
  return ends.reduce((sum, end, p) => sum + Math.max(0, end - (reached[p] ?? 0)), 0)
}
