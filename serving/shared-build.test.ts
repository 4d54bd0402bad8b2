import { describe, expect, it } from 'vitest'
import { SharedBuild } from './shared-build.ts'

/** A build whose runs the test finishes by hand, numbered from 1. */
function manual() {
  const runs: Array<{ n: number; finish: (ok: boolean) => void }> = []
  const build = () =>
    new Promise<number>((resolve, reject) => {
      const n = runs.length + 1
      runs.push({ n, finish: (ok) => (ok ? resolve(n) : reject(new Error(`run ${n} failed`))) })
    })
  return { runs, shared: new SharedBuild(build) }
}

describe('a build shared by the callers that ask meanwhile', () => {
  it('runs once for a caller alone, and again for the next caller after it ended', async () => {
    const { runs, shared } = manual()
    const first = shared.get()
    runs[0]!.finish(true)
    expect(await first).toBe(1)
    const second = shared.get()
    runs[1]!.finish(true)
    expect(await second).toBe(2)
    expect(runs).toHaveLength(2)
  })

  it('gives the callers who ask during a build the next build, one for all of them, started after they asked', async () => {
    const { runs, shared } = manual()
    const first = shared.get()
    const waiting = Array.from({ length: 200 }, () => shared.get())
    expect(runs).toHaveLength(1)
    runs[0]!.finish(true)
    expect(await first).toBe(1)
    await Promise.resolve()
    await new Promise((resolve) => setImmediate(resolve))
    expect(runs).toHaveLength(2)
    runs[1]!.finish(true)
    expect(new Set(await Promise.all(waiting))).toEqual(new Set([2]))
  })

  it('passes a failed build to its callers, and the waiting callers still get the next one', async () => {
    const { runs, shared } = manual()
    const first = shared.get()
    const second = shared.get()
    runs[0]!.finish(false)
    await expect(first).rejects.toThrow('run 1 failed')
    await new Promise((resolve) => setImmediate(resolve))
    runs[1]!.finish(true)
    expect(await second).toBe(2)
  })
})
