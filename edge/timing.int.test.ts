import { afterEach, describe, expect, it } from 'vitest'
import { createLogger } from '../lib/log.ts'
import { parseReading } from '../lib/contract/schema.ts'
import { readTopic } from '../test/read-topic.ts'
import { createTestEnv, type TestEnv } from '../test/support.ts'
import { run } from './index.ts'

const quiet = createLogger({ level: 'warn', destination: process.stderr })
const envs: TestEnv[] = []
afterEach(async () => {
  for (const e of envs.splice(0)) await e.cleanup()
})

async function timestamps(e: TestEnv, count: number): Promise<number[]> {
  const records = await readTopic(e.config, e.topics.readings, count)
  return records.map((r) => {
    const p = parseReading(r.value)
    if (!p.ok) throw new Error(p.detail)
    return p.reading.ts
  })
}

describe('event time of simulated readings', () => {
  it('stamps reading i of a --rate R run with its schedule, start + i/R seconds', async () => {
    const e = await createTestEnv()
    envs.push(e)
    const start = Date.parse('2026-11-22T08:00:00Z')
    const summary = await run(e.config, { patients: 10, rate: 500, count: 1_000, seed: 3, start }, { log: quiet })
    expect(summary.acked).toBe(1_000)
    const ts = (await timestamps(e, 1_000)).sort((a, b) => a - b)
    expect(ts[0]).toBe(start)
    // 1 000 readings at 500/s: the last is stamped 1 998 ms after the first, whatever the simulated cadence.
    expect(ts[999]).toBe(start + 1_998)
  })

  it('never stamps a reading ahead of the wall clock with --speedup, though the physiology runs faster', async () => {
    const e = await createTestEnv()
    envs.push(e)
    const before = Date.now()
    const summary = await run(e.config, { patients: 5, speedup: 60, duration: 2, seed: 4 }, { log: quiet })
    const after = Date.now()
    expect(summary.acked).toBeGreaterThan(0)
    const ts = await timestamps(e, summary.acked)
    expect(Math.min(...ts)).toBeGreaterThanOrEqual(before)
    expect(Math.max(...ts)).toBeLessThanOrEqual(after)
    // 5 patients at 1 Hz for ~2 s would be ~10 pulse readings; 60x simulated time sends ~60x as many.
    expect(summary.acked).toBeGreaterThan(200)
  })
})
