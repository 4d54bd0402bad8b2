import { mkdtemp, rm } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { claim, claimAll, generationOf, mayStillWrite, newToken, owner } from './ownership.ts'

describe('mayStillWrite: whether a partition claimed from a former owner needs the grace period', () => {
  it('is false without a former owner, and for this process itself', () => {
    expect(mayStillWrite(undefined)).toBe(false)
    expect(mayStillWrite(newToken('a', 1))).toBe(false)
  })

  it('is true for a live process of this host and for any process of another host', () => {
    expect(mayStillWrite(`${hostname()} ${process.ppid} a x`)).toBe(true)
    expect(mayStillWrite(`another-host-${hostname()} ${process.pid} a x`)).toBe(true)
  })

  it('is false for a process of this host that is gone (a restart after kill -9)', () => {
    // Above the kernel's pid limit (pid_max is at most 2^22): no process has it.
    expect(mayStillWrite(`${hostname()} 2147483646 a x`)).toBe(false)
  })
})

describe('claim: the owner file of a partition', () => {
  it('is not taken from a live archiver of a later group generation, and is taken from an earlier one', async () => {
    const lake = await mkdtemp(path.join(tmpdir(), 'vigil-owners-'))
    try {
      // A live archiver (the parent process: alive, of this host) holds partition 3 under generation 8.
      const later = `${hostname()} ${process.ppid} archive-1 x 8`
      expect(await claim(lake, 'readings', 3, later)).toEqual({ claimed: true, formerMayWrite: false })
      // Another member's claim for generation 7, the group having moved on meanwhile: refused.
      expect(await claim(lake, 'readings', 3, newToken('archive-2', 7))).toEqual({ claimed: false, formerMayWrite: true })
      expect(await owner(lake, 'readings', 3)).toBe(later)
      // The same generation, or a later one, takes it (with the grace period: the former may write).
      const same = newToken('archive-2', 8)
      expect(await claim(lake, 'readings', 3, same)).toEqual({ claimed: true, formerMayWrite: true })
      expect(await owner(lake, 'readings', 3)).toBe(same)
      // A gone process of a later generation (a group reset since) does not hold a partition back.
      await claim(lake, 'readings', 4, `${hostname()} 2147483646 archive-1 x 50`)
      expect(await claim(lake, 'readings', 4, newToken('archive-2', 1))).toEqual({ claimed: true, formerMayWrite: false })
    } finally {
      await rm(lake, { recursive: true, force: true })
    }
  })

  it('reads the generation of a token, -1 for one without', () => {
    expect(generationOf(newToken('a', 12))).toBe(12)
    expect(generationOf('host 1 a x')).toBe(-1)
    expect(generationOf(undefined)).toBe(-1)
  })
})

describe('claimAll: the claims of one assignment', () => {
  it('claims every partition, stops at one held under a later generation, and claims nothing once the group has moved on', async () => {
    const lake = await mkdtemp(path.join(tmpdir(), 'vigil-owners-'))
    try {
      const mine = newToken('archive-1', 5)
      expect(await claimAll(lake, 'events', [0, 1], mine, () => true)).toEqual({ claimed: true })
      expect([await owner(lake, 'events', 0), await owner(lake, 'events', 1)]).toEqual([mine, mine])
      // A live archiver (the parent process) holds partition 2 under generation 9: 2 is refused, 3 is never reached.
      await claim(lake, 'events', 2, `${hostname()} ${process.ppid} archive-2 x 9`)
      expect(await claimAll(lake, 'events', [2, 3], newToken('archive-1', 6), () => true)).toEqual({ claimed: false, refused: 2 })
      expect(await owner(lake, 'events', 3)).toBeUndefined()
      expect(await claimAll(lake, 'events', [3], newToken('archive-1', 7), () => false)).toEqual({ claimed: false })
      expect(await owner(lake, 'events', 3)).toBeUndefined()
    } finally {
      await rm(lake, { recursive: true, force: true })
    }
  })
})
