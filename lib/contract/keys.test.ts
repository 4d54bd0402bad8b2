import { describe, expect, it } from 'vitest'
import { redisKeys } from './keys.ts'

describe('redisKeys', () => {
  it('builds the keys of docs/CONTRACT.md under the default prefix, with patient ids in hash tags', () => {
    const k = redisKeys()
    expect(k.latest('p-0001')).toBe('vigil:{p-0001}:latest')
    expect(k.series('p-0001')).toBe('vigil:{p-0001}:series')
    expect(k.patients).toBe('vigil:patients')
    expect(k.alerts).toBe('vigil:alerts')
    expect(k.batchDaily('2026-11-22')).toBe('vigil:batch:daily:2026-11-22')
    expect(k.batchMeta).toBe('vigil:batch:meta')
    expect(k.updates).toBe('vigil:updates')
    expect(k.everything).toBe('vigil:*')
    expect(k.session('ab12')).toBe('vigil:session:ab12')
    expect(k.loginFailures('cd34')).toBe('vigil:login-failures:cd34')
    expect(k.registryLock('ef56')).toBe('vigil:registry-lock:ef56')
    expect(k.ackClaim('a-1')).toBe('vigil:ack-claim:a-1')
  })

  it('honours another prefix everywhere', () => {
    const k = redisKeys('test-1:')
    expect(k.latest('p-9')).toBe('test-1:{p-9}:latest')
    expect(k.other('speed', 'dedup')).toBe('test-1:speed:dedup')
    expect(k.everything).toBe('test-1:*')
  })

  it('escapes glob characters of the prefix so SCAN matches it literally', () => {
    expect(redisKeys('a[1]?:').everything).toBe('a\\[1\\]\\?:*')
  })
})
