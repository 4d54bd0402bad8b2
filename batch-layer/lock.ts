/**
 * Pid lock files that keep one writer of a kind per lake and topic: one archiver per instance id
 * (two with the same id would fence each other out of the group; archivers with different ids
 * share the partitions, ownership.ts), one compaction (two would rewrite the same files). The
 * file holds the owner's pid; a lock whose process is gone (kill -9) is taken over.
 */
import { readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { VigilError } from '../lib/errors.ts'
import { ensureDir, rawDir } from './lake.ts'

export type LockHolder = 'archiver' | 'compaction'

/** The lock is held by a live process (its sentence names it). */
export class LockHeld extends VigilError {}

/** Where the lock of `holder` for `topic` lives: next to the raw kinds, hidden. */
export function lockFile(lake: string, holder: LockHolder, topic: string, instance?: string): string {
  const name = `${holder === 'archiver' ? 'archiver' : 'compact'}-${topic}${instance === undefined ? '' : `-${instance}`}`
  return path.join(rawDir(lake, 'readings'), '..', `.${name}.lock`)
}

/** Takes the lock (of `instance`, for an archiver in a group) or throws one sentence naming the live owner; resolves to its release. */
export async function takeLock(lake: string, holder: LockHolder, topic: string, instance?: string): Promise<() => Promise<void>> {
  const file = lockFile(lake, holder, topic, instance)
  await ensureDir(path.dirname(file))
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(file, String(process.pid), { flag: 'wx' })
      return async () => {
        await rm(file, { force: true })
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const owner = Number((await readFile(file, 'utf8').catch(() => '')).trim())
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
        const what =
          holder === 'archiver'
            ? `another archiver${instance === undefined ? '' : ` with instance id ${instance}`} (pid ${owner}) is writing ${topic} into ${lake}`
            : `another compaction (pid ${owner}) is rewriting ${topic}'s files in ${lake}`
        throw new LockHeld(
          'STAGE_FAILED',
          `${what}: stop it first, or delete ${file} if that process is not a ${holder === 'archiver' ? 'vigil archive' : 'vigil compact'}.`,
        )
      }
      await rm(file, { force: true })
    }
  }
  throw new VigilError('STAGE_FAILED', `cannot take the ${holder} lock ${file}: delete it and retry.`)
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
