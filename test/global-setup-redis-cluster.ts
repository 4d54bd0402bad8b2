/**
 * The `integration-redis-cluster` project's setup (vitest.config.ts): a Redis Cluster of three
 * masters with a replica each on 127.0.0.1:17000-17005 (stack/redis-cluster.ts, what `vigil stack
 * up --redis-cluster` starts), reused when it already answers, stopped at the end only when it was
 * started here. The project points its tests at it with VIGIL_TEST_REDIS_URL (test/support.ts).
 */
import { downRedisCluster, upRedisCluster } from '../stack/redis-cluster.ts'

let startedHere = false

export async function setup(): Promise<void> {
  const log = (line: string) => process.stderr.write(`[redis-cluster] ${line}\n`)
  const cluster = await upRedisCluster(log)
  startedHere = cluster.action === 'started'
  log(`${cluster.action === 'started' ? `started in ${(cluster.ms / 1000).toFixed(1)} s` : 'already running, reused'}: ${cluster.url}`)
}

export async function teardown(): Promise<void> {
  if (startedHere) await downRedisCluster((line) => process.stderr.write(`[redis-cluster] ${line}\n`))
}
