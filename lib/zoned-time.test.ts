import { describe, expect, it } from 'vitest'
import { isTimeZone, type LocalInstants, localToUtc, offsetMs, zonedToUtc } from './zoned-time.ts'

const H = 3_600_000
const at = (iso: string) => Date.parse(iso)
/** Wall ms of a local date-time: its digits read as if they were UTC. */
const wall = (local: string) => Date.parse(`${local}Z`)
/** What localToUtc returns for instants given as ISO strings; `later` is `earlier` unless the wall time is in an overlap. */
const instants = (kind: LocalInstants['kind'], earlier: string, later = earlier): LocalInstants => ({ kind, earlier: at(earlier), later: at(later) })

describe('zoned time', () => {
  it('classifies the local times around a change: a gap moves forward by its length, an overlap has both instants', () => {
    expect(localToUtc(wall('2024-03-31T01:59:59'), 'Europe/Berlin')).toEqual(instants('unique', '2024-03-31T00:59:59Z'))
    expect(localToUtc(wall('2024-03-31T02:15:00'), 'Europe/Berlin')).toEqual(instants('gap', '2024-03-31T01:15:00Z'))
    expect(localToUtc(wall('2024-10-27T02:15:00'), 'Europe/Berlin')).toEqual(instants('overlap', '2024-10-27T00:15:00Z', '2024-10-27T01:15:00Z'))
    expect(localToUtc(wall('2024-11-03T02:00:00'), 'America/New_York')).toEqual(instants('unique', '2024-11-03T07:00:00Z'))
    // Lord Howe changes by 30 minutes.
    expect(localToUtc(wall('2024-04-07T01:45:00'), 'Australia/Lord_Howe')).toEqual(instants('overlap', '2024-04-06T14:45:00Z', '2024-04-06T15:15:00Z'))
    expect(zonedToUtc(wall('2024-10-06T02:15:00'), 'Australia/Lord_Howe')).toBe(at('2024-10-05T15:45:00Z'))
  })

  it('reads offsets with their odd minutes and seconds', () => {
    expect(offsetMs(at('2024-06-01T00:00:00Z'), 'Asia/Kolkata')).toBe(5.5 * H)
    expect(offsetMs(at('2024-06-01T00:00:00Z'), 'Pacific/Chatham')).toBe(12.75 * H)
    expect(offsetMs(at('2024-01-01T00:00:00Z'), 'Pacific/Chatham')).toBe(13.75 * H)
    expect(offsetMs(at('2024-01-01T00:00:00Z'), 'America/St_Johns')).toBe(-3.5 * H)
    // Liberia kept -0:44:30 until 1972.
    expect(offsetMs(at('1971-06-01T00:00:00Z'), 'Africa/Monrovia')).toBe(-(44 * 60 + 30) * 1000)
    expect(zonedToUtc(wall('1971-06-01T00:00:00'), 'Africa/Monrovia')).toBe(at('1971-06-01T00:44:30Z'))
  })

  it('gives back every instant from its local time: every 3 hours through 2023, 2024 and 2026 and every 5 minutes on change days, both hemispheres and odd offsets, forward and backward', () => {
    const zones = [
      'Europe/Berlin',
      'Europe/London',
      'America/New_York',
      'Australia/Sydney',
      'Asia/Kolkata',
      'Pacific/Chatham',
      'America/St_Johns',
      'Australia/Lord_Howe',
    ]
    const wrong: string[] = []
    for (const zone of zones) {
      let overlaps = 0
      let changeDays = 0
      for (const year of [2023, 2024, 2026]) {
        const instants: number[] = []
        for (let day = Date.UTC(year, 0, 1); day < Date.UTC(year + 1, 0, 1); day += 24 * H) {
          const changes = offsetMs(day, zone) !== offsetMs(day + 24 * H, zone)
          if (changes) changeDays++
          for (let t = day; t < day + 24 * H; t += changes ? 5 * 60_000 : 3 * H) instants.push(t)
        }
        for (const order of [instants, [...instants].reverse()]) {
          for (const t of order) {
            const local = localToUtc(t + offsetMs(t, zone), zone)
            if (local.kind === 'overlap') overlaps++
            if (local.kind === 'gap' || (local.earlier !== t && local.later !== t)) wrong.push(`${zone} ${new Date(t).toISOString()}: ${JSON.stringify(local)}`)
          }
        }
      }
      // Two changes a year; an overlap of one hour (Lord Howe: half an hour) in both directions, sampled every 5 minutes at both occurrences.
      expect(changeDays, zone).toBe(zone === 'Asia/Kolkata' ? 0 : 6)
      expect(overlaps, zone).toBe(zone === 'Asia/Kolkata' ? 0 : 3 * 2 * 2 * (zone === 'Australia/Lord_Howe' ? 6 : 12))
    }
    expect(wrong).toEqual([])
  })

  it('knows the IANA zones of the runtime and nothing else', () => {
    expect(isTimeZone('Europe/Berlin')).toBe(true)
    expect(isTimeZone('UTC')).toBe(true)
    expect(isTimeZone('Mars/Olympus_Mons')).toBe(false)
  })
})
