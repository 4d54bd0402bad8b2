import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { io as connect, type Socket } from 'socket.io-client'
import { createTestEnv, type TestEnv } from '../test/support.ts'
import type { Config } from '../lib/config.ts'
import { createLogger } from '../lib/log.ts'
import { pollUntil } from '../lib/backoff.ts'
import { generateLake } from '../batch-layer/synthetic.ts'
import { start, servingOptions, type Serving } from './index.ts'
import { runBatchJob } from '../batch-layer/job.ts'
import type { BatchProgress, ClientToServerEvents, ServerToClientEvents, StatsNotice } from './events.ts'
import { freePort } from '../test/view-fixtures.ts'

const TOKEN = 'batch-test-token-0123456789'
const DAY = '2026-11-20'

let env: TestEnv
let serving: Serving
let client: Socket<ServerToClientEvents, ClientToServerEvents>
const progress: BatchProgress[] = []
const stats: StatsNotice[] = []

const post = (body: unknown) =>
  fetch(`${serving.url}/api/batch/runs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })

beforeAll(async () => {
  env = await createTestEnv()
  await generateLake(env.config.datalakeDir, 60_000, { days: 1, patients: 50, startDay: DAY })
  const config: Config = Object.freeze({ ...env.config, port: await freePort(), token: TOKEN })
  serving = await start({ ...config, serving: servingOptions({ batchRunsPerMinute: 3 }) }, { runBatchJob, log: createLogger({ level: 'silent' }) })
  client = connect(serving.url, { transports: ['websocket'], extraHeaders: { authorization: `Bearer ${TOKEN}` }, reconnection: false })
  client.on('batch:progress', (p) => progress.push(p))
  client.on('stats', (n) => stats.push(n))
  await new Promise((resolve) => client.once('snapshot', resolve))
})

afterAll(async () => {
  client?.disconnect()
  await serving?.stop()
  await env?.cleanup()
})

describe('batch runs from the API', () => {
  it("runs one job at a time: a second request gets 409 with the running job's id; progress and the result arrive over Socket.io", async () => {
    const first = await post({ date: DAY })
    expect(first.status).toBe(202)
    const { jobId } = (await first.json()) as { jobId: string }
    const second = await post({ date: DAY })
    expect(second.status).toBe(409)
    expect(((await second.json()) as { jobId: string }).jobId).toBe(jobId)

    const notice = await pollUntil(async () => stats.find((s) => s.jobId === jobId), { timeoutMs: 60_000, what: 'the stats event of the run' })
    expect(notice.result?.dates).toEqual([DAY])
    expect(notice.result?.readings).toBe(60_000)
    expect(notice.result?.rows).toBeGreaterThan(0)
    expect(notice.meta?.runId).toBe(notice.result?.runId)
    const mine = progress.filter((p) => p.jobId === jobId)
    expect(mine.some((p) => p.phase === 'compute' || p.phase === 'scan')).toBe(true)
    expect(mine.at(-1)?.state).toBe('succeeded')

    const daily = (await (
      await fetch(`${serving.url}/api/stats/daily?date=${DAY}&patientId=p-0001`, { headers: { authorization: `Bearer ${TOKEN}` } })
    ).json()) as { rows: Array<{ vital: string; count: number }> }
    expect(daily.rows.length).toBeGreaterThan(0)
    const metrics = await (await fetch(`${serving.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text()
    expect(metrics).toMatch(/vigil_batch_run_duration_seconds_count\{outcome="succeeded"\} 1/)
  })

  it('rate-limits the batch trigger', async () => {
    // Two requests went through above; the limit is 3 a minute.
    const third = await post({ date: DAY })
    expect([202, 409]).toContain(third.status)
    const fourth = await post({ date: DAY })
    expect(fourth.status).toBe(429)
    await pollUntil(
      async () =>
        ((await (await fetch(`${serving.url}/api/batch/runs/current`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { running: unknown })
          .running === null,
      { timeoutMs: 60_000, what: 'the third run to end' },
    )
  })
})
