import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdir, readdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'
import { DuckDBInstance } from '@duckdb/node-api'
import { createTestEnv, freePort, type TestEnv } from '../test/support.ts'
import { connectRedis } from '../lib/redis.ts'
import { redisKeys } from '../lib/contract/keys.ts'
import { TOPIC_PARTITIONS } from '../lib/contract/topics.ts'
import { createAdmin } from '../lib/kafka.ts'
import { pollUntil } from '../lib/backoff.ts'
import { produceAll, syntheticReadings } from '../batch-layer/synthetic.ts'

const run = promisify(execFile)
const envs: TestEnv[] = []
afterEach(async () => {
  for (const e of envs.splice(0)) await e.cleanup()
})

function vigilEnv(e: TestEnv, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    VIGIL_TOPIC_PREFIX: e.config.topicPrefix,
    VIGIL_REDIS_PREFIX: e.config.redisPrefix,
    VIGIL_DATALAKE_DIR: e.config.datalakeDir,
    ...extra,
  }
}

describe('vigil init', () => {
  it('refuses to reset without --yes when standard input is not a terminal, and changes nothing', async () => {
    const e = await createTestEnv()
    envs.push(e)
    const redis = await connectRedis(e.config)
    try {
      await redis.set(redisKeys(e.config.redisPrefix).other('kept'), '1')
      const result = await run('node', ['bin/vigil.js', 'init'], { env: vigilEnv(e) }).catch((err: { code: number; stderr: string }) => err)
      expect('code' in result ? result.code : 0).toBe(2)
      expect(result.stderr).toContain('pass --yes to confirm')
      expect(await redis.get(redisKeys(e.config.redisPrefix).other('kept'))).toBe('1')
    } finally {
      redis.destroy()
    }
  })

  it("recreates the topics, deletes only the prefix's Redis keys and empties the lake but keeps the folder", async () => {
    const e = await createTestEnv()
    envs.push(e)
    await produceAll(
      e.config,
      e.topics.readings,
      syntheticReadings({ count: 50, startTs: Date.UTC(2026, 10, 22) }).map((r) => ({ key: r.patientId, value: JSON.stringify(r) })),
    )
    const redis = await connectRedis(e.config)
    const neighbour = `other-app-${e.config.redisPrefix}key`
    try {
      const keys = redisKeys(e.config.redisPrefix)
      await redis.set(keys.other('a'), '1')
      await redis.hSet(keys.latest('p-1'), { heartRate: '70' })
      await redis.set(neighbour, 'survives')
      await mkdir(path.join(e.config.datalakeDir, 'raw', 'readings', 'dt=2026-11-22'), { recursive: true })
      await writeFile(path.join(e.config.datalakeDir, 'raw', 'readings', 'dt=2026-11-22', 'x.parquet'), 'x')

      const { stdout } = await run('node', ['bin/vigil.js', 'init', '--yes'], { env: vigilEnv(e) })
      expect(stdout).toContain(`${e.topics.readings} (${TOPIC_PARTITIONS.readings} partitions, 1 replica)`)
      expect(stdout).toContain(`Redis keys deleted under "${e.config.redisPrefix}": 2`)
      expect(stdout).toContain('data lake emptied: 1 files deleted')

      expect(await redis.get(neighbour)).toBe('survives')
      expect(await redis.exists(keys.latest('p-1'))).toBe(0)
      expect(await readdir(e.config.datalakeDir)).toEqual([])
      const admin = createAdmin(e.config)
      try {
        const offsets = await admin.listTopics()
        expect(offsets).toContain(e.topics.readings)
        expect(offsets).toContain(e.topics.rejected)
        expect(offsets).toContain(e.topics.alerts)
      } finally {
        await admin.close()
      }
      // The recreated topic is empty: a fresh consumer finds no record.
      const { Consumer } = await import('@platformatic/kafka')
      const { kafkaBaseOptions } = await import('../lib/kafka.ts')
      const consumer = new Consumer({ ...kafkaBaseOptions(e.config, 'init-check'), groupId: `${e.config.topicPrefix}init-check` })
      try {
        const ends = await consumer.listOffsets({ topics: [e.topics.readings] })
        expect((ends.get(e.topics.readings) ?? []).map(Number).reduce((a, b) => a + b, 0)).toBe(0)
      } finally {
        await consumer.close()
      }
    } finally {
      await redis.del(neighbour)
      redis.destroy()
    }
  })
})

describe('vigil all', () => {
  it("runs every layer in one process and, on SIGTERM, stops them within 10 s with the archiver's open files flushed", async () => {
    const e = await createTestEnv()
    envs.push(e)
    const count = 300
    await produceAll(
      e.config,
      e.topics.readings,
      syntheticReadings({ count, startTs: Date.now() - 60_000, stepMs: 100 }).map((r) => ({ key: r.patientId, value: JSON.stringify(r) })),
    )
    const port = await freePort()
    const child = spawn(process.execPath, ['bin/vigil.js', 'all', '--no-edge'], {
      env: vigilEnv(e, {
        VIGIL_PORT: String(port),
        VIGIL_INGEST_PORT: String(await freePort()),
        VIGIL_TOKEN: 'all-test-token-0123456789',
        VIGIL_LOG_LEVEL: 'info',
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const exited = once(child, 'exit')
    try {
      // Every reading in the real-time view: the speed layer runs.
      const redis = await connectRedis(e.config)
      try {
        await pollUntil(async () => (await redis.zCard(redisKeys(e.config.redisPrefix).patients)) > 0, {
          timeoutMs: 60_000,
          what: 'the speed layer to write the view',
        })
      } finally {
        redis.destroy()
      }
      const health = await pollUntil(
        async () => {
          const res = await fetch(`http://127.0.0.1:${port}/healthz`)
          return res.ok ? ((await res.json()) as { kafka: { reachable: boolean }; redis: { reachable: boolean } }) : undefined
        },
        { timeoutMs: 30_000, what: 'the serving layer' },
      )
      expect(health.kafka.reachable).toBe(true)
      expect(health.redis.reachable).toBe(true)
      expect(stderr).toContain('running: ingest, speed, archive, serve')
      // The archiver holds its partitions (what it consumes from then on is written at the stop).
      await pollUntil(async () => stderr.includes('vitals.readings assigned;') || undefined, { timeoutMs: 30_000, what: 'the archiver to take its partitions' })
    } finally {
      const t0 = Date.now()
      child.kill('SIGTERM')
      const [code, signal] = (await exited) as [number | null, string | null]
      expect({ code, signal }).toEqual({ code: 0, signal: null })
      expect(Date.now() - t0).toBeLessThan(10_000)
    }
    // The archiver flushed on the way out: every offset is in the lake.
    const db = await DuckDBInstance.create(':memory:')
    const conn = await db.connect()
    try {
      const glob = path.join(e.config.datalakeDir, 'raw', 'readings', '*', '*.parquet')
      const rows = (
        await conn.runAndReadAll(`SELECT count(*)::INTEGER, count(DISTINCT (kafka_partition, kafka_offset))::INTEGER FROM read_parquet('${glob}')`)
      ).getRows()[0] as number[]
      expect(rows).toEqual([count, count])
    } finally {
      conn.closeSync()
      db.closeSync()
    }
  })
})
