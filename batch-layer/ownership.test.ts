import { hostname } from 'node:os'
import { describe, expect, it } from 'vitest'
import { mayStillWrite, newToken } from './ownership.ts'

describe('mayStillWrite: whether a partition claimed from a former owner needs the grace period', () => {
  it('is false without a former owner, and for this process itself', () => {
    expect(mayStillWrite(undefined)).toBe(false)
    expect(mayStillWrite(newToken('a'))).toBe(false)
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
