import { Command } from 'commander'
import { describe, expect, it } from 'vitest'
import { SPEED_FLAGS } from '../cli/commands/speed.ts'
import { DEFAULT_SPEED_OPTIONS, parseDuration, speedOptionsSchema } from './config.ts'

const MIN = 60_000
const HOUR = 60 * MIN

describe('the speed layer options', () => {
  it('defaults the persistence times and the NEWS2 freshness windows as docs/CLINICAL.md says', () => {
    expect(DEFAULT_SPEED_OPTIONS).toMatchObject({
      warningPersistenceMs: 60_000,
      criticalPersistenceMs: 15_000,
      noSignalPersistenceMs: 15_000,
      persistenceResetMs: 10_000,
    })
    expect(DEFAULT_SPEED_OPTIONS.news2FreshnessMs).toEqual({
      respRate: 5 * MIN,
      spo2: 5 * MIN,
      onOxygen: 4 * HOUR,
      systolic: 30 * MIN,
      heartRate: 5 * MIN,
      consciousness: 4 * HOUR,
      temperature: HOUR,
    })
  })

  it.each<[string, number | undefined]>([
    ['90s', 90_000],
    ['5m', 5 * MIN],
    ['5min', 5 * MIN],
    ['1.5h', 90 * MIN],
    ['250ms', 250],
    ['1000', 1_000],
    ['soon', undefined],
    ['-5m', undefined],
    ['', undefined],
  ])('reads the duration %j as %s ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms)
  })

  it('sets the named freshness windows over the defaults, from a flag or a partial record', () => {
    const fromText = speedOptionsSchema.parse({ news2FreshnessMs: 'systolic=1h, temperature=90m' }).news2FreshnessMs
    expect(fromText).toEqual({ ...DEFAULT_SPEED_OPTIONS.news2FreshnessMs, systolic: HOUR, temperature: 90 * MIN })
    expect(speedOptionsSchema.parse({ news2FreshnessMs: { spo2: 1_000 } }).news2FreshnessMs.spo2).toBe(1_000)
  })

  it('refuses an unknown parameter or an unreadable duration, naming it', () => {
    expect(speedOptionsSchema.safeParse({ news2FreshnessMs: 'pulse=5m' }).error?.issues[0]?.message).toMatch(/unknown NEWS2 parameter "pulse"/)
    expect(speedOptionsSchema.safeParse({ news2FreshnessMs: 'systolic=soon' }).error?.issues[0]?.message).toMatch(/duration .* for systolic/)
    expect(speedOptionsSchema.safeParse({ news2FreshnessMs: 'systolic' }).success).toBe(false)
  })

  it('offers the new options as vigil speed flags, the freshness default written as it is typed', () => {
    const help = Object.fromEntries(SPEED_FLAGS.options().map((o) => [o.flags, o.description]))
    expect(help['--warning-persistence-ms <ms>']).toContain('(default: 60000 ms)')
    expect(help['--critical-persistence-ms <ms>']).toContain('(default: 15000 ms)')
    expect(help['--no-signal-persistence-ms <ms>']).toContain('(default: 15000 ms)')
    expect(help['--persistence-reset-ms <ms>']).toContain('(default: 10000 ms)')
    expect(help['--news2-freshness-ms <param=duration,...>']).toContain(
      '(default: respRate=5m,spo2=5m,onOxygen=4h,systolic=30m,heartRate=5m,consciousness=4h,temperature=1h)',
    )
    const cmd = SPEED_FLAGS.addTo(new Command('speed').exitOverride())
    cmd.parse(['--news2-freshness-ms', 'systolic=1h', '--warning-persistence-ms', '30000'], { from: 'user' })
    const parsed = SPEED_FLAGS.parse(cmd)
    expect(parsed.warningPersistenceMs).toBe(30_000)
    expect(parsed.news2FreshnessMs.systolic).toBe(HOUR)
    expect(parsed.news2FreshnessMs.heartRate).toBe(5 * MIN)
  })
})
