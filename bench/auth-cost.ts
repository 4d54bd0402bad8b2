/**
 * What identity costs the serving layer per request: `GET /api/me` and `GET /api/patients` (an
 * empty view, so the route itself is cheap) answered for the bootstrap token (a constant-time
 * compare, no round trip) and for a named user's session cookie (one Redis GET, then the
 * registry held in memory), sequentially over one keep-alive connection on this machine. Also
 * one sign-in (scrypt, lib/identity/passwords.ts). Not one of `vigil bench`'s timed benchmarks;
 * the figures are in docs/SECURITY.md. Needs the stack (`vigil stack up`); uses its own prefixes.
 *
 *   npx tsx bench/auth-cost.ts [requests]      (default 2000)
 */
import { randomUUID } from 'node:crypto'
import { loadConfig } from '../lib/config.ts'
import { createLogger } from '../lib/log.ts'
import { openRegistry } from '../lib/identity/registry.ts'
import { cliPrincipal } from '../lib/identity/cli-principal.ts'
import { start, servingOptions } from '../serving/index.ts'
import { freePort } from '../test/support.ts'

const requests = Number(process.argv[2] ?? 2_000)
const id = `bench-auth-${randomUUID().slice(0, 8)}`
const token = randomUUID()
const config = loadConfig({ topicPrefix: `${id}.`, redisPrefix: `${id}:`, port: await freePort(), logLevel: 'warn' })
const log = createLogger({ level: 'warn' })
const registry = await openRegistry(config, { log, clientId: 'vigil-bench-auth' })
const password = 'correct horse battery staple'
await registry.addUser({ username: 'kim', role: 'clinician', password }, cliPrincipal())
const serving = await start({ ...config, token, serving: servingOptions({ signInsPerMinute: 1_000 }) }, { log })

const t0 = performance.now()
const login = await fetch(`${serving.url}/login`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ username: 'kim', password }),
})
const signInMs = performance.now() - t0
const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? ''
if (login.status !== 200 || !cookie.startsWith('vigil_session=')) throw new Error(`sign-in failed: ${login.status}`)

async function timeIt(path: string, headers: Record<string, string>): Promise<string> {
  for (let i = 0; i < 100; i++) await (await fetch(`${serving.url}${path}`, { headers })).arrayBuffer()
  const t = performance.now()
  for (let i = 0; i < requests; i++) {
    const res = await fetch(`${serving.url}${path}`, { headers })
    await res.arrayBuffer()
    if (res.status !== 200) throw new Error(`${path}: ${res.status}`)
  }
  return `${(((performance.now() - t) / requests) * 1000).toFixed(0)} µs`
}

process.stdout.write(`sign-in (scrypt N=2^17): ${signInMs.toFixed(0)} ms\n`)
for (const path of ['/api/me', '/api/patients']) {
  const viaToken = await timeIt(path, { authorization: `Bearer ${token}` })
  const viaSession = await timeIt(path, { cookie })
  process.stdout.write(`${path.padEnd(14)} per request, ${requests} in a row: token ${viaToken}, session ${viaSession}\n`)
}
await serving.stop()
await registry.close()
process.stdout.write(`(topics ${id}.vitals.registry and .vitals.audit left on the broker; \`vigil init --with-identity\` with that prefix deletes them)\n`)
