/**
 * Isolation without mocks (docs/CONVENTIONS.md): every integration test gets its own topic prefix,
 * Redis key prefix and lake folder, on the one real broker and Redis, and removes them after.
 */
import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { loadConfig, type Config } from '../lib/config.ts'
import { createAdmin, ensureTopics } from '../lib/kafka.ts'
import { connectRedis, deleteKeys } from '../lib/redis.ts'
import { topicNames, topicSpecs, type TopicNames } from '../lib/contract/topics.ts'
import { redisKeys } from '../lib/contract/keys.ts'
import { chromium, type Browser, type Page } from 'playwright-core'
import { CHROMIUM, missingMessage } from '../stack/prerequisites.ts'

export interface TestEnv {
  config: Config
  topics: TopicNames
  /** Deletes the topics, the Redis keys under the prefix and the lake folder. */
  cleanup(): Promise<void>
}

/**
 * The Redis the integration tests run against: the one of the stack, unless VIGIL_TEST_REDIS_URL
 * names another (the `integration-redis-cluster` project sets it to the test Redis Cluster:
 * vitest.config.ts).
 */
export function testRedisUrl(): Record<string, string> {
  const url = process.env.VIGIL_TEST_REDIS_URL
  return url === undefined || url === '' ? {} : { redisUrl: url }
}

/** A config with a random topic prefix, Redis prefix and lake folder; its topics created. */
export async function createTestEnv(overrides: Record<string, unknown> = {}): Promise<TestEnv> {
  const id = `test-${randomUUID().slice(0, 8)}`
  const datalakeDir = await mkdtemp(path.join(tmpdir(), `vigil-${id}-`))
  const config = loadConfig({ topicPrefix: `${id}.`, redisPrefix: `${id}:`, datalakeDir, logLevel: 'warn', ...testRedisUrl(), ...overrides }, {})
  const topics = topicNames(config.topicPrefix)
  const admin = createAdmin(config)
  try {
    await ensureTopics(admin, topicSpecs(config.topicPrefix))
  } finally {
    await admin.close()
  }
  return {
    config,
    topics,
    async cleanup() {
      const a = createAdmin(config)
      try {
        const mine = (await a.listTopics()).filter((t) => t.startsWith(config.topicPrefix))
        if (mine.length > 0) await a.deleteTopics({ topics: mine })
      } finally {
        await a.close()
      }
      const redis = await connectRedis(config)
      try {
        await deleteKeys(redis, redisKeys(config.redisPrefix).everything)
      } finally {
        redis.destroy()
      }
      await rm(datalakeDir, { recursive: true, force: true })
    },
  }
}

/** A TCP port nothing listens on (yet): point a client at it to simulate an unreachable broker. */
export async function freePort(): Promise<number> {
  const net = await import('node:net')
  const srv = net.createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const port = (srv.address() as { port: number }).port
  await new Promise<void>((resolve) => srv.close(() => resolve()))
  return port
}

/**
 * Starts forwarding 127.0.0.1:`port` to `target` (host:port): the broker "comes back" at an
 * address a client has been retrying, without touching the shared broker. Kafka clients only
 * bootstrap through it (the broker advertises its own address), which is what recovery needs.
 */
export async function startTcpProxy(port: number, target: string): Promise<{ close(): Promise<void> }> {
  const net = await import('node:net')
  const [host, targetPort] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))]
  const sockets = new Set<import('node:net').Socket>()
  const srv = net.createServer((client) => {
    const upstream = net.connect(targetPort, host)
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('error', () => s.destroy())
      s.on('close', () => sockets.delete(s))
    }
    client.pipe(upstream).pipe(client)
  })
  await new Promise<void>((resolve) => srv.listen(port, '127.0.0.1', resolve))
  return {
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => srv.close(() => resolve()))
    },
  }
}

/**
 * Debian's Chromium (`which chromium`), headless, with nothing reaching the network on its own:
 * the browser the integration tests drive through playwright-core.
 */
export async function launchChromium(): Promise<Browser> {
  let executablePath: string
  try {
    executablePath = execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim()
  } catch {
    throw new Error(missingMessage([CHROMIUM]))
  }
  return chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  })
}

/**
 * What a page does wrong, collected as it happens: uncaught errors and console errors (CSP
 * violations included), those whose text matches `ignore` aside. A test expects it empty.
 */
export function collectErrors(page: Page, ignore?: RegExp): string[] {
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(e.message))
  page.on('console', (m) => {
    if (m.type() === 'error' && !ignore?.test(m.text())) errors.push(m.text())
  })
  return errors
}

/** Fills the sign-in form (public/login.html) the page shows with `user`'s name and password and submits it. */
export async function submitSignIn(page: Page, user: { username: string; password: string }): Promise<void> {
  await page.getByLabel('User name').fill(user.username)
  await page.getByLabel('Password').fill(user.password)
  await page.getByRole('button', { name: 'Sign in' }).click()
}
