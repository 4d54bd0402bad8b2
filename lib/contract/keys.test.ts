import { describe, expect, it } from 'vitest'
import { crc32 } from 'node:zlib'
import { VIEW_SHARDS, redisKeys, viewShard } from './keys.ts'

describe('redisKeys', () => {
  it('builds the keys of docs/CONTRACT.md under the default prefix, with patient keys in their view shard', () => {
    const k = redisKeys()
    const v = viewShard('p-0001')
    expect(k.latest('p-0001')).toBe(`vigil:{v${v}}:p-0001:latest`)
    expect(k.series('p-0001')).toBe(`vigil:{v${v}}:p-0001:series`)
    expect(k.bands('p-0001')).toBe('vigil:{p-0001}:bands')
    expect(k.alertState('p-0001')).toBe(`vigil:{v${v}}:p-0001:alerts`)
    expect(k.dedup('p-0001')).toBe(`vigil:{v${v}}:p-0001:dedup`)
    expect(k.shardEpoch(v)).toBe(`vigil:{v${v}}:epoch`)
    expect(k.bandsVersion).toBe('vigil:bands-version')
    expect(k.patients).toBe('vigil:{view}:patients')
    expect(k.alerts).toBe('vigil:{view}:alerts')
    expect(k.viewEpoch).toBe('vigil:{view}:epoch')
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
    expect(k.latest('p-9')).toBe(`test-1:{v${viewShard('p-9')}}:p-9:latest`)
    expect(k.other('speed', 'dedup')).toBe('test-1:speed:dedup')
    expect(k.everything).toBe('test-1:*')
  })

  it('escapes glob characters of the prefix so SCAN matches it literally', () => {
    expect(redisKeys('a[1]?:').everything).toBe('a\\[1\\]\\?:*')
  })

  it('spreads patients over the view shards by CRC-32, the same shard for the same id every time', () => {
    expect(viewShard('p-0001')).toBe(crc32('p-0001') % VIEW_SHARDS)
    const used = new Set(Array.from({ length: 10_000 }, (_, i) => viewShard(`p-${i}`)))
    expect(used.size).toBe(VIEW_SHARDS)
  })
})
