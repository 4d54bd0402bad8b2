/**
 * Which archiver writes each partition into the lake, when several archivers share a topic's
 * partitions as one consumer group (`vigil archive --instance-id <id>`, one per process or host
 * on the same lake folder).
 *
 * The group gives each partition to one member, but a member that lost a partition in a rebalance
 * may still be finishing a flush of it: renamed after the new owner read where the partition's
 * lake ends, that flush and the new owner's first one would both hold the same offsets. So each
 * partition has an owner file, `<lake>/raw/.owners/<topic>-p<partition>`, holding the token of
 * the archiver that last took it. An archiver that is assigned a partition
 * 1. writes its own token there (`claim`, atomic by rename);
 * 2. waits CLAIM_GRACE_MS, so that a former owner's flush that checked the file just before the
 *    claim has renamed its files (a check and its renames are milliseconds apart); not when the
 *    former owner cannot be writing: no owner yet, this process itself (its flushes have ended),
 *    or a process of this host that is gone (a restart after a crash or a stop);
 * 3. only then repairs the partition and reads where it resumes (lake.ts).
 * Before renaming a flush's files, an archiver checks that the owner file still holds its token
 * (`owner`); if not, it deletes its temporary files and leaves the range to the new owner, who
 * archives it from where the lake ends. Tokens carry the group generation of their assignment: a
 * claim never replaces the token of a live archiver of a later generation, and an archiver that
 * finds its partition claimed under an earlier one (a claim that raced its own) takes it over
 * again. A flush is therefore renamed either before the new owner
 * reads the lake (and counted in where it resumes) or never. The bound: a former owner stalled for
 * longer than the grace period between its check and its rename (a process stopped with SIGSTOP
 * at that moment) could still rename late; kill -9, crashes and rebalances cannot.
 */
import { randomUUID } from 'node:crypto'
import { readFile, rename, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { ensureDir, rawDir } from './lake.ts'

/** How long a new owner waits after its claim before reading the partition's lake (see the header). */
export const CLAIM_GRACE_MS = 1_000

export function ownerFile(lake: string, topic: string, partition: number): string {
  return path.join(rawDir(lake, 'readings'), '..', '.owners', `${topic}-p${partition}`)
}

/**
 * A token for one assignment (a new one each time the group assigns partitions to this archiver):
 * host, pid, instance, random, and the group generation the assignment came with.
 */
export function newToken(instance: string, generation: number): string {
  return `${hostname()} ${process.pid} ${instance} ${randomUUID()} ${generation}`
}

/** The group generation a token was claimed under; -1 for a token without one. */
export function generationOf(token: string | undefined): number {
  const last = token?.split(' ')[4]
  const generation = last === undefined ? Number.NaN : Number(last)
  return Number.isInteger(generation) ? generation : -1
}

/** Whether the archiver that wrote `token` may still be writing: not when it was this process, or a process of this host that is gone. */
export function mayStillWrite(token: string | undefined): boolean {
  if (token === undefined) return false
  const [host, pid] = token.split(' ')
  if (host !== hostname()) return true
  const ownerPid = Number(pid)
  if (!Number.isInteger(ownerPid) || ownerPid <= 0) return true
  if (ownerPid === process.pid) return false
  try {
    process.kill(ownerPid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** What `claim` did: whether it took the partition, and whether the former owner may still be writing. */
export interface Claimed {
  claimed: boolean
  formerMayWrite: boolean
}

/**
 * Makes `token` the owner of `partition`, replacing any former owner's, unless a live archiver
 * holds it under a later group generation: a claim for an assignment the group has already moved
 * past (an archiver that finished a long flush before claiming, while another member joined and
 * claimed under the next generation) must not take the partition back from its new owner, which
 * would then leave every flush of it to an owner that no longer has it (a scale run stalled so on
 * two partitions). `formerMayWrite` (`mayStillWrite`): the caller then waits CLAIM_GRACE_MS.
 */
export async function claim(lake: string, topic: string, partition: number, token: string): Promise<Claimed> {
  const file = ownerFile(lake, topic, partition)
  await ensureDir(path.dirname(file))
  const former = await owner(lake, topic, partition)
  const formerMayWrite = mayStillWrite(former)
  if (formerMayWrite && generationOf(former) > generationOf(token)) return { claimed: false, formerMayWrite }
  const tmp = `${file}.${process.pid}.claim`
  await writeFile(tmp, token)
  await rename(tmp, file)
  return { claimed: true, formerMayWrite }
}

/** The token in the partition's owner file, if any. */
export async function owner(lake: string, topic: string, partition: number): Promise<string | undefined> {
  return readFile(ownerFile(lake, topic, partition), 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined
    throw error
  })
}

/** What `claimAll` did: claimed every partition, or stopped (the group moved on, or `refused` is held under a later generation). */
export type ClaimedAll = { claimed: true } | { claimed: false; refused?: number }

/**
 * Steps 1 and 2 of the header for one assignment: claims each of `partitions` for `token`, then
 * waits CLAIM_GRACE_MS when a former owner may still be writing. Stops as soon as `current` says
 * the group has moved past the assignment (a flush awaited before can take seconds) or a claim is
 * refused; the caller then waits for the group's next assignment.
 */
export async function claimAll(lake: string, topic: string, partitions: readonly number[], token: string, current: () => boolean): Promise<ClaimedAll> {
  let formerMayWrite = false
  for (const partition of partitions) {
    if (!current()) return { claimed: false }
    const claimed = await claim(lake, topic, partition, token)
    if (!claimed.claimed) return { claimed: false, refused: partition }
    if (claimed.formerMayWrite) formerMayWrite = true
  }
  if (formerMayWrite) await sleep(CLAIM_GRACE_MS)
  return { claimed: true }
}
