/**
 * Security checks of the two HTTP faces of Vigil, against the real stack (docs/CONTRACT.md, The gateway
 * and Serving; docs/SECURITY.md): every route either app registers refuses without the right
 * credential, and every serving route is checked against every role (the lists come from the
 * apps' route tables, so a route added later is checked too, and docs/SECURITY.md's table of them
 * must be the app's); signing in, the session cookie's attributes over HTTP, TLS and a trusted
 * proxy (whose client address is the X-Forwarded-For entry it added), the sign-in rate limits (an
 * attempt counted before its password is checked), wrong tokens limited per address, changes
 * refused from another origin, two acknowledgements of one alert at once recorded once (a claim left by a dead request
 * taken over, one still held answered 503), sessions
 * ended by sign-out, disable and password change; Socket.io lets a client
 * in with the token as a bearer header, the session cookie or the handshake `auth` payload and
 * refuses it without (and a session opened with the token in its headers every later request
 * without it), a hostile patient id stays text in Chromium, and a body over the limit is answered
 * 413 before it has been sent whole.
 */
import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import https from 'node:https'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { io as connect, type Socket } from 'socket.io-client'
import type { Browser, BrowserContext } from 'playwright-core'
import type { RouteOptions } from 'fastify'
import { roleAllows, type Requirement, type Role } from '../../lib/identity/model.ts'
import { OPERATOR, PASSWORD, postLogin, sessionCookie, signIn, testUsers, type TestUsers } from './sign-in.ts'
import { pollUntil } from '../../lib/backoff.ts'
import { createTestEnv, launchChromium, type TestEnv } from '../support.ts'
import type { Config } from '../../lib/config.ts'
import { withTimeout } from '../../lib/backoff.ts'
import { createLogger } from '../../lib/log.ts'
import { connectRedis, type RedisClient } from '../../lib/redis.ts'
import { redisKeys, type RedisKeys } from '../../lib/contract/keys.ts'
import { start, servingOptions, type Serving } from '../../serving/index.ts'
import { runBatchJob } from '../../batch-layer/job.ts'
import { freePort, writeAlert, writeReadings } from '../view-fixtures.ts'
import { ackKey } from '../../serving/view.ts'
import * as ingestion from '../../ingestion/gateway.ts'
import type { Gateway } from '../../ingestion/gateway.ts'
import { gatewayOptions } from '../../ingestion/config.ts'

const SERVING_TOKEN = 'security-serving-token-0123456789'
const DEVICE_TOKEN = 'security-device-token-0123456789'
/** The gateway's public route (docs/CONTRACT.md, The gateway); the serving layer's are those its route table declares public. */
const GATEWAY_PUBLIC = new Set(['/healthz'])
/** Markup that would set window.__pwned if any of it were parsed as HTML. */
const PAYLOADS = ['<img src=x onerror="window.__pwned=1">', '<script>window.__pwned=1</script>', '"><svg onload=window.__pwned=1>']
const MB = 1024 * 1024

interface Route {
  method: string
  url: string
  /** The role the route declares (serving layer; the gateway's routes declare none). */
  role?: Requirement
}

let env: TestEnv
let serving: Serving
let gateway: Gateway
let redis: RedisClient
let keys: RedisKeys
let config: Config
let users: TestUsers
const servingRoutes: Route[] = []
const gatewayRoutes: Route[] = []
const servingLimit = servingOptions().bodyLimitBytes
const gatewayLimit = gatewayOptions().bodyLimitBytes

function collector(into: Route[]) {
  return (route: RouteOptions) => {
    for (const method of [route.method].flat()) into.push({ method, url: route.url, role: route.config?.role })
  }
}

/** A concrete path for a route: parameters get sample values (`:id` a patient id), a wildcard a file. */
function samplePath(url: string): string {
  return url.replace(/:(\w+)(\([^)]*\))?/g, (_m, name: string) => (name === 'id' ? 'p-0001' : `sample-${name}`)).replace(/\*$/, 'index.html')
}

async function request(base: string, route: Route, headers: Record<string, string>): Promise<{ status: number; body: string; headers: Headers }> {
  const hasBody = !['GET', 'HEAD', 'OPTIONS', 'DELETE'].includes(route.method)
  const res = await fetch(`${base}${samplePath(route.url)}`, {
    method: route.method,
    headers: hasBody ? { 'content-type': 'application/json', ...headers } : headers,
    body: hasBody ? '{"probe":true}' : undefined,
    redirect: 'manual',
  })
  return { status: res.status, body: await res.text(), headers: res.headers }
}

/** A raw TCP connection to a server: what it sent back, what we sent, and when it closed. */
class RawConnection {
  received = ''
  sent = 0
  closed: Promise<void>
  private waiters: Array<() => void> = []
  private constructor(readonly socket: net.Socket) {
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => {
      this.received += chunk
      for (const w of this.waiters.splice(0)) w()
    })
    // The server may close while we still write: that is an expected outcome here, not an error.
    socket.on('error', () => undefined)
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()))
  }

  static open(url: string): Promise<RawConnection> {
    const { hostname, port } = new URL(url)
    return new Promise((resolve, reject) => {
      const s = net.connect(Number(port), hostname, () => resolve(new RawConnection(s)))
      s.once('error', reject)
    })
  }

  /** Resolves once written to the kernel; false when the server has already closed the connection. */
  write(data: string | Buffer): Promise<boolean> {
    if (this.socket.destroyed || this.socket.writableEnded) return Promise.resolve(false)
    return new Promise((resolve) => {
      this.socket.write(data, (error) => {
        if (error === undefined || error === null) this.sent += Buffer.byteLength(data)
        resolve(error === undefined || error === null)
      })
    })
  }

  /** True once the response head has arrived. */
  get answered(): boolean {
    return this.received.includes('\r\n\r\n')
  }

  /** The status code of the response, once its head has arrived (or the connection closed without one). */
  async status(): Promise<number | null> {
    const done = this.closed.then(() => undefined)
    while (!this.answered && !this.socket.destroyed) await Promise.race([new Promise<void>((resolve) => this.waiters.push(resolve)), done])
    const m = /^HTTP\/1\.1 (\d{3})/.exec(this.received)
    return m === null ? null : Number(m[1])
  }

  destroy(): void {
    this.socket.destroy()
  }
}

function head(method: string, path: string, base: string, headers: Record<string, string>): string {
  const lines = [`${method} ${path} HTTP/1.1`, `Host: ${new URL(base).host}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)]
  return `${lines.join('\r\n')}\r\n\r\n`
}

/** Declares a 100 MB body, sends its first 64 KiB, and returns what the server does then. */
async function declaredOversize(
  base: string,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number | null; sent: number; closed: boolean }> {
  const c = await RawConnection.open(base)
  try {
    await c.write(head('POST', path, base, { 'Content-Type': 'application/json', 'Content-Length': String(100 * MB), ...headers }))
    await c.write(Buffer.alloc(64 * 1024, 0x20))
    const status = await withTimeout(c.status(), 10_000, `no answer to a 100 MB body on ${path} after its first 64 KiB`)
    const closed = await withTimeout(c.closed, 10_000, 'still open').then(
      () => true,
      () => false,
    )
    return { status, sent: c.sent, closed }
  } finally {
    c.destroy()
  }
}

/** Streams a chunked body (no Content-Length) until `limit` + 64 KiB has been sent, then stops and waits for the answer. */
async function chunkedOversize(
  base: string,
  path: string,
  headers: Record<string, string>,
  limit: number,
): Promise<{ status: number | null; sent: number; closed: boolean }> {
  const c = await RawConnection.open(base)
  try {
    await c.write(head('POST', path, base, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', ...headers }))
    const chunk = Buffer.alloc(16 * 1024, 0x20)
    const framed = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')])
    let payload = 0
    while (payload < limit + 64 * 1024 && !c.answered) {
      if (!(await c.write(framed))) break
      payload += chunk.length
    }
    // The body is never finished (no terminating chunk): only a server that stops at the limit answers.
    const status = await withTimeout(c.status(), 10_000, `no answer to a chunked body past the limit on ${path}`)
    const closed = await withTimeout(c.closed, 10_000, 'still open').then(
      () => true,
      () => false,
    )
    return { status, sent: payload, closed }
  } finally {
    c.destroy()
  }
}

beforeAll(async () => {
  env = await createTestEnv()
  const quiet = createLogger({ level: 'silent' })
  config = Object.freeze({ ...env.config, port: await freePort(), token: SERVING_TOKEN, deviceTokens: [DEVICE_TOKEN] })
  keys = redisKeys(config.redisPrefix)
  redis = await connectRedis(config)
  await writeReadings(redis, keys, [{ patientId: 'p-0001', ts: Date.now(), seq: 1, vitals: { heartRate: 72, spo2: 98 } }], { publish: false })
  // Sign-ins per address are checked on servers of their own below: here every test signs in from 127.0.0.1.
  serving = await start(
    { ...config, serving: servingOptions({ pushIntervalMs: 50, signInsPerMinute: 10_000 }) },
    { runBatchJob, log: quiet, onRoute: collector(servingRoutes) },
  )
  gateway = await ingestion.start({ ...config, gateway: gatewayOptions({ host: '127.0.0.1', port: 0 }) }, { log: quiet, onRoute: collector(gatewayRoutes) })
  users = await testUsers(config, () => serving.url, SERVING_TOKEN)
  for (const role of ['viewer', 'clinician', 'admin'] as const) await users.add(`sec.${role}`, role)
})

afterAll(async () => {
  await users?.close()
  await gateway?.stop()
  await serving?.stop()
  redis?.destroy()
  await env?.cleanup()
})

describe.each([
  {
    name: 'serving layer',
    app: () => ({
      base: serving.url,
      routes: servingRoutes,
      token: SERVING_TOKEN,
      otherToken: DEVICE_TOKEN,
      open: new Set(servingRoutes.filter((r) => r.role === 'public').map((r) => r.url)),
    }),
  },
  { name: 'device gateway', app: () => ({ base: gateway.url, routes: gatewayRoutes, token: DEVICE_TOKEN, otherToken: SERVING_TOKEN, open: GATEWAY_PUBLIC }) },
])('the $name route table', ({ name, app }) => {
  it('lists the routes docs/CONTRACT.md names, read from the app itself', () => {
    const urls = new Set(app().routes.map((r) => `${r.method} ${r.url}`))
    const expected =
      name === 'serving layer'
        ? [
            'GET /api/patients',
            'GET /api/patients/:id',
            'GET /api/patients/:id/series',
            'GET /api/alerts',
            'GET /api/stats/daily',
            'POST /api/batch/runs',
            'GET /metrics',
            'GET /healthz',
            'GET /login',
            'POST /login',
            'POST /logout',
            'GET /api/me',
            'PUT /api/patients/:id/bands',
            'POST /api/alerts/:alertId/ack',
            'GET /api/admin/users',
            'GET /api/audit',
          ]
        : ['POST /v1/readings', 'POST /fhir/Observation', 'POST /fhir', 'GET /healthz']
    for (const e of expected) expect(urls, e).toContain(e)
  })

  it("refuses every route but the public ones with 401 without a credential, with a wrong token, with the other service's token and with a forged session cookie", async () => {
    const { base, routes, token, otherToken, open } = app()
    const guarded = routes.filter((r) => !open.has(r.url))
    expect(guarded.length).toBeGreaterThan(name === 'serving layer' ? 10 : 2)
    const refusals: string[] = []
    for (const route of guarded) {
      for (const [label, headers] of [
        ['no token', {}],
        ['a wrong token', { authorization: `Bearer ${token}x` }],
        ["the other service's token", { authorization: `Bearer ${otherToken}` }],
        ['a forged session cookie', { cookie: 'vigil_session=forged' }],
      ] as Array<[string, Record<string, string>]>) {
        const res = await request(base, route, headers)
        if (res.status !== 401) refusals.push(`${route.method} ${route.url} with ${label}: ${res.status}`)
        else if (res.headers.get('set-cookie') !== null) refusals.push(`${route.method} ${route.url} with ${label}: sets a cookie`)
        else if (name === 'serving layer' && res.body !== '') refusals.push(`${route.method} ${route.url} with ${label}: a body on 401`)
      }
    }
    expect(refusals).toEqual([])
  })

  it('lets the right token reach every guarded route (the sample paths hit real handlers)', async () => {
    const { base, routes, token, open } = app()
    const reached: string[] = []
    for (const route of routes.filter((r) => !open.has(r.url))) {
      const res = await request(base, route, { authorization: `Bearer ${token}` })
      reached.push(`${route.method} ${route.url} ${[401, 403, 404, 405].includes(res.status) || res.status >= 500 ? `refused ${res.status}` : 'reached'}`)
    }
    expect(reached.filter((r) => !r.endsWith('reached'))).toEqual([])
  })

  it('answers an unknown path with the same bare 401 as a real one without a token, so routes cannot be probed', async () => {
    const { base, token } = app()
    const unknown = await request(base, { method: 'GET', url: '/no/such/route' }, {})
    expect(unknown.status).toBe(401)
    for (const method of ['DELETE', 'OPTIONS', 'PATCH']) {
      expect((await request(base, { method, url: name === 'serving layer' ? '/api/patients' : '/v1/readings' }, {})).status, method).toBe(401)
    }
    const known = await request(base, { method: 'GET', url: '/no/such/route' }, { authorization: `Bearer ${token}` })
    expect(known.status).toBe(404)
  })

  it('answers /healthz without a token, with service state only and no patient data', async () => {
    const { base } = app()
    const res = await request(base, { method: 'GET', url: '/healthz' }, {})
    expect(res.status).toBe(200)
    const body = JSON.parse(res.body) as Record<string, unknown>
    expect(Object.keys(body).sort()).toEqual(name === 'serving layer' ? ['kafka', 'redis', 'status'] : ['kafka', 'status'])
    expect(res.body).not.toContain('p-0001')
    expect(res.body).not.toContain(SERVING_TOKEN)
    expect(res.body).not.toContain(DEVICE_TOKEN)
  })
})

/** Who may act on the serving layer, each with its role: a named user's session per role, and the bootstrap token. */
interface Principal {
  label: string
  role: Role
  headers: Record<string, string>
}

/** A fresh session per role (signed in through POST /login), and the bearer token. */
async function principals(): Promise<Principal[]> {
  const sessions = await Promise.all(
    (['viewer', 'clinician', 'admin'] as const).map(async (role) => ({
      label: `a ${role}'s session`,
      role,
      headers: { cookie: await signIn(serving.url, `sec.${role}`) },
    })),
  )
  return [...sessions, { label: 'the bearer token', role: 'admin', headers: { authorization: `Bearer ${SERVING_TOKEN}` } }]
}

/** The rows of docs/SECURITY.md's "Every route's role" table, as `METHOD path role`. */
function documentedRoutes(markdown: string): string[] {
  const section = markdown.split(/^## /m).find((s) => s.startsWith("Every route's role")) ?? ''
  return [...section.matchAll(/^\| (GET|POST|PUT|PATCH|DELETE) \| `([^`]+)` \| (\w+) \|$/gm)].map((m) => `${m[1]} ${m[2]} ${m[3]}`)
}

/** The cookie's attributes, by lower-case name (`vigil_session` holds the value). */
function cookieAttributes(setCookie: string | null): Map<string, string> {
  return new Map(
    (setCookie ?? '').split(';').map((part) => {
      const [k = '', ...v] = part.trim().split('=')
      return [k.toLowerCase(), v.join('=')] as [string, string]
    }),
  )
}

describe('the serving layer checks every route against every role', () => {
  it("answers 403 {error, message} when a route asks for more than the principal's role, and never 401 or 403 when it does not", async () => {
    const all = await principals()
    // POST /logout ends the session it is sent with: last, for each principal.
    const routes = [...servingRoutes.filter((r) => r.url !== '/logout'), ...servingRoutes.filter((r) => r.url === '/logout')]
    const wrong: string[] = []
    let refusals = 0
    for (const principal of all) {
      for (const route of routes) {
        const required = route.role ?? 'undeclared'
        const res = await request(serving.url, route, principal.headers)
        const what = `${route.method} ${route.url} (${required}) with ${principal.label}: ${res.status} ${res.body.slice(0, 80)}`
        if (required === 'undeclared') wrong.push(what)
        else if (roleAllows(principal.role, required)) {
          if (res.status === 401 || res.status === 403) wrong.push(what)
        } else {
          refusals++
          const body = route.method === 'HEAD' ? {} : (JSON.parse(res.body) as unknown)
          const expected = route.method === 'HEAD' ? {} : { error: 'Forbidden', message: `${required} required` }
          if (res.status !== 403 || JSON.stringify(body) !== JSON.stringify(expected)) wrong.push(what)
        }
      }
    }
    expect(wrong).toEqual([])
    // A viewer is refused the clinician and admin routes, a clinician the admin ones: the matrix did refuse.
    expect(refusals).toBeGreaterThan(10)
  })

  it('lets the public routes answer without a credential, and sends a browser without one from / to /login', async () => {
    const publicRoutes = servingRoutes.filter((r) => r.role === 'public')
    expect(publicRoutes.map((r) => `${r.method} ${r.url}`)).toEqual(expect.arrayContaining(['GET /login', 'POST /login', 'POST /logout', 'GET /healthz']))
    for (const route of publicRoutes) {
      const res = await request(serving.url, route, {})
      expect(`${route.method} ${route.url} ${res.status}`).not.toMatch(/ 40[13]$/)
    }
    const root = await fetch(`${serving.url}/`, { redirect: 'manual' })
    expect({ status: root.status, location: root.headers.get('location') }).toEqual({ status: 302, location: '/login' })
    const signedIn = await fetch(`${serving.url}/`, { headers: { authorization: `Bearer ${SERVING_TOKEN}` } })
    expect(signedIn.status).toBe(200)
    expect(await signedIn.text()).toContain('<html')
  })

  it("is docs/SECURITY.md's table of every route's role, route for route", async () => {
    const documented = documentedRoutes(await readFile(new URL('../../docs/SECURITY.md', import.meta.url), 'utf8'))
    // The parser's own check: a table with a route more or less is told apart.
    expect(documentedRoutes("## Every route's role\n\n| GET | `/a` | viewer |\n| POST | `/b` | admin |\n")).toEqual(['GET /a viewer', 'POST /b admin'])
    const gets = new Map(servingRoutes.filter((r) => r.method === 'GET').map((r) => [r.url, r.role]))
    // Every GET also answers HEAD, with the same role: the table lists the GET.
    for (const head of servingRoutes.filter((r) => r.method === 'HEAD')) expect(`HEAD ${head.url} ${head.role}`).toBe(`HEAD ${head.url} ${gets.get(head.url)}`)
    const actual = servingRoutes.filter((r) => r.method !== 'HEAD').map((r) => `${r.method} ${r.url} ${r.role}`)
    expect([...documented].sort()).toEqual([...actual].sort())
  })
})

describe('signing in to the serving layer', () => {
  it('serves the sign-in page at /login; with a wrong, empty or malformed token it sets no session and answers a bare 401', async () => {
    const page = await fetch(`${serving.url}/login`)
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toMatch(/^text\/html/)
    expect(await page.text()).toContain('login.js')
    for (const q of ['?token=', `?token=${SERVING_TOKEN}x`, `?token=${DEVICE_TOKEN}`, `?token=${SERVING_TOKEN}&token=${SERVING_TOKEN}`]) {
      const res = await fetch(`${serving.url}/login${q}`, { redirect: 'manual' })
      expect(res.status, q).toBe(401)
      expect(res.headers.get('set-cookie'), q).toBeNull()
      expect(await res.text(), q).toBe('')
    }
  })

  it('sets, for the bootstrap token and for a named user, a random session cookie: HttpOnly, SameSite=Strict, Path=/, Max-Age of the session, not Secure over HTTP', async () => {
    const bootstrap = await fetch(`${serving.url}/login?token=${SERVING_TOKEN}`, { redirect: 'manual' })
    expect({ status: bootstrap.status, location: bootstrap.headers.get('location') }).toEqual({ status: 303, location: '/' })
    // A client cannot make the cookie Secure by claiming HTTPS: this server trusts no proxy.
    const named = await postLogin(serving.url, 'sec.viewer', PASSWORD, { 'x-forwarded-proto': 'https' })
    expect(named.status).toBe(200)
    for (const res of [bootstrap, named]) {
      const attributes = cookieAttributes(res.headers.get('set-cookie'))
      expect(attributes.get('vigil_session')).toMatch(/^[\w-]{43}$/)
      expect([...attributes.keys()].sort()).toEqual(['httponly', 'max-age', 'path', 'samesite', 'vigil_session'])
      expect(attributes.get('max-age')).toBe(String(12 * 3600))
      expect(attributes.get('path')).toBe('/')
      expect(attributes.get('samesite')).toBe('Strict')
      expect(res.headers.get('set-cookie')).not.toContain(SERVING_TOKEN)
    }
    expect(sessionCookie(bootstrap)).not.toBe(sessionCookie(await fetch(`${serving.url}/login?token=${SERVING_TOKEN}`, { redirect: 'manual' })))
  })

  it('answers a named sign-in with {user, role, expiresAt}, and /api/me with who each credential acts as', async () => {
    const before = Date.now()
    const res = await postLogin(serving.url, 'sec.clinician', PASSWORD)
    const body = (await res.json()) as { user: string; role: string; expiresAt: number }
    expect({ user: body.user, role: body.role }).toEqual({ user: 'sec.clinician', role: 'clinician' })
    expect(body.expiresAt).toBeGreaterThanOrEqual(before + 12 * 3600_000)
    expect(body.expiresAt).toBeLessThanOrEqual(Date.now() + 12 * 3600_000)
    const me = async (headers: Record<string, string>) => (await fetch(`${serving.url}/api/me`, { headers })).json()
    expect(await me({ cookie: sessionCookie(res) })).toEqual({ user: 'sec.clinician', role: 'clinician', via: 'session', expiresAt: body.expiresAt })
    expect(await me({ authorization: `Bearer ${SERVING_TOKEN}` })).toEqual({ user: 'VIGIL_TOKEN', role: 'admin', via: 'token', expiresAt: null })
    const bootstrap = sessionCookie(await fetch(`${serving.url}/login?token=${SERVING_TOKEN}`, { redirect: 'manual' }))
    expect(await me({ cookie: bootstrap })).toMatchObject({ user: 'VIGIL_TOKEN', role: 'admin', via: 'session' })
  })

  it('takes a form too: 303 to / with the cookie', async () => {
    const res = await fetch(`${serving.url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: 'sec.viewer', password: PASSWORD }).toString(),
      redirect: 'manual',
    })
    expect({ status: res.status, location: res.headers.get('location') }).toEqual({ status: 303, location: '/' })
    expect((await fetch(`${serving.url}/api/me`, { headers: { cookie: sessionCookie(res) } })).status).toBe(200)
  })

  it('refuses an unknown user, a wrong password and a disabled user alike: the same 401 and body, no cookie', async () => {
    await users.add('sec.gone', 'clinician')
    await users.disable('sec.gone')
    const answers = new Set<string>()
    for (const [username, password] of [
      ['sec.nobody', PASSWORD],
      ['sec.viewer', `${PASSWORD}!`],
      ['sec.gone', PASSWORD],
      ['SEC.VIEWER', PASSWORD],
    ]) {
      const res = await postLogin(serving.url, username!, password!)
      expect(res.headers.get('set-cookie'), username).toBeNull()
      answers.add(`${res.status} ${await res.text()}`)
    }
    expect([...answers]).toEqual(['401 {"error":"Unauthorized","message":"wrong user name or password"}'])
  })

  it("refuses a sign-in posted from another site's page", async () => {
    const res = await postLogin(serving.url, 'sec.viewer', PASSWORD, { origin: 'https://evil.example' })
    expect(res.status).toBe(403)
    expect(res.headers.get('set-cookie')).toBeNull()
    expect((await postLogin(serving.url, 'sec.viewer', PASSWORD, { origin: new URL(serving.url).origin })).status).toBe(200)
  })

  it('answers 429 with Retry-After after 5 failed sign-ins of one user name, even with the right password, while other names still sign in', async () => {
    await users.add('sec.guessed', 'viewer')
    for (let i = 0; i < 5; i++) expect((await postLogin(serving.url, 'sec.guessed', `guess number ${i} wrong`)).status).toBe(401)
    const locked = await postLogin(serving.url, 'sec.guessed', PASSWORD)
    expect(locked.status).toBe(429)
    expect(locked.headers.get('set-cookie')).toBeNull()
    const retryAfter = Number(locked.headers.get('retry-after'))
    expect(retryAfter).toBeGreaterThan(0)
    expect(retryAfter).toBeLessThanOrEqual(15 * 60)
    expect(await locked.json()).toMatchObject({ error: 'Too Many Requests' })
    expect((await postLogin(serving.url, 'sec.viewer', PASSWORD)).status).toBe(200)
    const metrics = await (await fetch(`${serving.url}/metrics`, { headers: { authorization: `Bearer ${SERVING_TOKEN}` } })).text()
    expect(metrics).toMatch(/^vigil_serving_sign_ins_total\{outcome="throttled"\} [1-9]/m)
  })

  it('counts each sign-in attempt of a user name before its password is checked: of 10 wrong passwords sent at once, at most 5 get 401 and the rest 429', async () => {
    await users.add('sec.raced', 'viewer')
    const statuses = await Promise.all(Array.from({ length: 10 }, (_, i) => postLogin(serving.url, 'sec.raced', `parallel guess ${i}`).then((r) => r.status)))
    const count = (status: number) => statuses.filter((s) => s === status).length
    expect({ other: statuses.filter((s) => s !== 401 && s !== 429) }).toEqual({ other: [] })
    expect(count(401)).toBeLessThanOrEqual(5)
    expect(count(401) + count(429)).toBe(10)
    // The name is locked now: the right password too.
    expect((await postLogin(serving.url, 'sec.raced', PASSWORD)).status).toBe(429)
  })

  it("refuses a disabled user's session at its next request, and a session opened before a password change", async () => {
    await users.add('sec.leaver', 'clinician')
    await users.add('sec.changer', 'viewer')
    const leaver = { cookie: await signIn(serving.url, 'sec.leaver') }
    const changer = { cookie: await signIn(serving.url, 'sec.changer') }
    for (const headers of [leaver, changer]) expect((await fetch(`${serving.url}/api/patients`, { headers })).status).toBe(200)
    await users.disable('sec.leaver')
    const refused = await fetch(`${serving.url}/api/patients`, { headers: leaver })
    expect({ status: refused.status, body: await refused.text() }).toEqual({ status: 401, body: '' })
    await users.registry.setPassword('sec.changer', 'a brand new passphrase', OPERATOR)
    await pollUntil(async () => (await fetch(`${serving.url}/api/me`, { headers: changer })).status === 401, {
      timeoutMs: 15_000,
      intervalMs: 50,
      what: 'the session opened before the password change to be refused',
    })
    expect((await postLogin(serving.url, 'sec.changer', 'a brand new passphrase')).status).toBe(200)
  })

  it("ends the browser's previous session when another sign-in opens a new one", async () => {
    const first = await signIn(serving.url, 'sec.viewer')
    const second = await postLogin(serving.url, 'sec.clinician', PASSWORD, { cookie: first })
    expect(second.status).toBe(200)
    expect((await fetch(`${serving.url}/api/me`, { headers: { cookie: first } })).status).toBe(401)
    expect(await (await fetch(`${serving.url}/api/me`, { headers: { cookie: sessionCookie(second) } })).json()).toMatchObject({ user: 'sec.clinician' })
  })

  it('ends the session at sign-out: the cookie is cleared and opens nothing after', async () => {
    const cookie = await signIn(serving.url, 'sec.viewer')
    const res = await fetch(`${serving.url}/logout`, { method: 'POST', headers: { cookie } })
    expect(res.status).toBe(204)
    const cleared = cookieAttributes(res.headers.get('set-cookie'))
    expect({ value: cleared.get('vigil_session'), maxAge: cleared.get('max-age') }).toEqual({ value: '', maxAge: '0' })
    expect((await fetch(`${serving.url}/api/me`, { headers: { cookie } })).status).toBe(401)
  })
})

/** A request over HTTPS to a server whose self-signed certificate is `ca`. */
function overTls(
  url: string,
  ca: Buffer,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; setCookie: string | null }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: init.method ?? 'GET', headers: init.headers, ca }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0, setCookie: res.headers['set-cookie']?.join('\n') ?? null }))
    })
    req.on('error', reject)
    req.end(init.body)
  })
}

describe('the serving layer over TLS (--tls-cert/--tls-key) and behind a trusted proxy (--trust-proxy)', () => {
  let dir: string
  let cert: Buffer
  let tls: Serving
  let proxied: Serving
  const quiet = createLogger({ level: 'silent' })
  const json = { 'content-type': 'application/json' }
  const credentials = JSON.stringify({ username: 'sec.viewer', password: PASSWORD })

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vigil-tls-'))
    const [certFile, keyFile] = [path.join(dir, 'cert.pem'), path.join(dir, 'key.pem')]
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-keyout',
        keyFile,
        '-out',
        certFile,
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    )
    cert = await readFile(certFile)
    tls = await start(
      { ...config, port: await freePort(), serving: servingOptions({ tlsCert: certFile, tlsKey: keyFile, signInsPerMinute: 3 }) },
      { log: quiet },
    )
    proxied = await start({ ...config, port: await freePort(), serving: servingOptions({ trustProxy: true, signInsPerMinute: 1 }) }, { log: quiet })
  })

  afterAll(async () => {
    await tls?.stop()
    await proxied?.stop()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('serves HTTPS only, at an https URL, and sets the session cookie Secure', async () => {
    expect(tls.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    const bootstrap = await overTls(`${tls.url}/login?token=${SERVING_TOKEN}`, cert)
    const named = await overTls(`${tls.url}/login`, cert, { method: 'POST', headers: json, body: credentials })
    for (const res of [bootstrap, named]) {
      const attributes = cookieAttributes(res.setCookie)
      expect(attributes.get('vigil_session')).toMatch(/^[\w-]{43}$/)
      expect([...attributes.keys()].sort()).toEqual(['httponly', 'max-age', 'path', 'samesite', 'secure', 'vigil_session'])
    }
    await expect(fetch(`${tls.url.replace('https:', 'http:')}/healthz`)).rejects.toThrow()
  })

  it('answers 429 past --sign-ins-per-minute sign-ins from one client address, whatever their outcome', async () => {
    // The first of the 3 this minute was the sign-in above.
    const statuses: number[] = []
    for (let i = 0; i < 3; i++) statuses.push((await overTls(`${tls.url}/login`, cert, { method: 'POST', headers: json, body: '{}' })).status)
    expect(statuses).toEqual([400, 400, 429])
  })

  it("behind a trusted proxy, sets Secure when the proxy says HTTPS, and limits each client's address (X-Forwarded-For), not the proxy's", async () => {
    const login = (headers: Record<string, string>) =>
      fetch(`${proxied.url}/login`, { method: 'POST', headers: { ...json, ...headers }, body: credentials, redirect: 'manual' })
    const viaHttps = await login({ 'x-forwarded-proto': 'https', 'x-forwarded-for': '10.0.0.1' })
    expect(viaHttps.status).toBe(200)
    expect(cookieAttributes(viaHttps.headers.get('set-cookie')).has('secure')).toBe(true)
    expect((await login({ 'x-forwarded-proto': 'https', 'x-forwarded-for': '10.0.0.1' })).status).toBe(429)
    const viaHttp = await login({ 'x-forwarded-proto': 'http', 'x-forwarded-for': '10.0.0.2' })
    expect(viaHttp.status).toBe(200)
    expect(cookieAttributes(viaHttp.headers.get('set-cookie')).has('secure')).toBe(false)
  })

  it('keys the limit by the X-Forwarded-For entry the proxy added (the last): an address the client writes before it changes nothing', async () => {
    const login = (forwardedFor: string) =>
      fetch(`${proxied.url}/login`, { method: 'POST', headers: { ...json, 'x-forwarded-for': forwardedFor }, body: credentials, redirect: 'manual' })
    expect((await login('6.6.6.6, 10.0.0.3')).status).toBe(200)
    // The same client (10.0.0.3, as the proxy saw it) with another address of its choosing in front: still limited.
    for (const spoofed of ['7.7.7.7, 10.0.0.3', '10.0.0.9, 10.0.0.3', '10.0.0.3'])
      expect({ spoofed, status: (await login(spoofed)).status }).toEqual({ spoofed, status: 429 })
    // A client that the proxy saw as another address is another client.
    expect((await login('10.0.0.3, 10.0.0.4')).status).toBe(200)
  })

  it("behind a trusted proxy, takes the page's origin from the Host header on the API and on Socket.io alike, never from X-Forwarded-Host: a change and a handshake from the page's origin both pass, from a foreign one both are refused", async () => {
    const alertId = `sec-forwarded-host-${Date.now()}`
    await writeAlert(
      redis,
      keys,
      { id: alertId, patientId: 'p-proxied', vital: 'spo2', kind: 'raised', level: 'WARNING', value: 93, ts: Date.now(), message: 'SpO2 93' },
      false,
    )
    // What the proxy passed on: the Host the browser used, and an X-Forwarded-Host naming another
    // host (one a client wrote, which a proxy may pass on), with the scheme that host would be read with.
    const foreignHost = 'vigil.example'
    const proxyHeaders = (origin: string) => ({
      authorization: `Bearer ${SERVING_TOKEN}`,
      'x-forwarded-host': foreignHost,
      'x-forwarded-proto': 'https',
      origin,
    })
    const pageOrigin = new URL(proxied.url).origin
    const foreignOrigin = `https://${foreignHost}`
    const ack = (origin: string) => fetch(`${proxied.url}/api/alerts/${alertId}/ack`, { method: 'POST', headers: proxyHeaders(origin) })
    const handshake = async (origin: string, transport: 'polling' | 'websocket'): Promise<string> => {
      const c = connect(proxied.url, { transports: [transport], extraHeaders: proxyHeaders(origin), reconnection: false, forceNew: true, timeout: 10_000 })
      try {
        return await withTimeout(
          new Promise<string>((resolve) => {
            c.once('snapshot', () => resolve('connected'))
            c.once('connect_error', () => resolve('refused'))
          }),
          15_000,
          `no answer to a handshake from ${origin} over ${transport}`,
        )
      } finally {
        c.disconnect()
      }
    }

    const foreignAck = await ack(foreignOrigin)
    expect(foreignAck.status).toBe(403)
    expect(await redis.hGet(ackKey(keys), alertId)).toBeNull()
    const pageAck = await ack(pageOrigin)
    expect(pageAck.status).toBe(200)
    expect(((await pageAck.json()) as { ack: { by: string } }).ack.by).toBe('VIGIL_TOKEN')
    const handshakes: Record<string, string> = {}
    for (const transport of ['polling', 'websocket'] as const) {
      handshakes[`page ${transport}`] = await handshake(pageOrigin, transport)
      handshakes[`foreign ${transport}`] = await handshake(foreignOrigin, transport)
    }
    expect(handshakes).toEqual({ 'page polling': 'connected', 'foreign polling': 'refused', 'page websocket': 'connected', 'foreign websocket': 'refused' })
  })
})

describe('two clinicians acknowledging one alert at once', () => {
  it('leaves exactly one acknowledgement event per alert in the trail, by the user the alert shows, and both answers show that user (10 rounds)', async () => {
    await users.add('sec.clinician2', 'clinician')
    const sessions = [await signIn(serving.url, 'sec.clinician'), await signIn(serving.url, 'sec.clinician2')]
    const acknowledged = new Map<string, string>()
    const now = Date.now()
    for (let round = 0; round < 10; round++) {
      const id = `sec-race-${now}-${round}`
      await writeAlert(
        redis,
        keys,
        { id, patientId: 'p-race', vital: 'spo2', kind: 'raised', level: 'WARNING', value: 93, ts: now + round, message: 'SpO2 93' },
        false,
      )
      // Body-less, as a page's button may send it.
      const answers = await Promise.all(
        sessions.map(async (cookie) => {
          const res = await fetch(`${serving.url}/api/alerts/${encodeURIComponent(id)}/ack`, { method: 'POST', headers: { cookie } })
          return { status: res.status, body: (await res.json()) as { ack?: { by: string; at: number } } }
        }),
      )
      expect(answers.map((a) => a.status)).toEqual([200, 200])
      const by = answers[0]?.body.ack?.by ?? 'none'
      expect(['sec.clinician', 'sec.clinician2']).toContain(by)
      expect(answers[1]?.body.ack).toEqual(answers[0]?.body.ack)
      expect(JSON.parse((await redis.hGet(ackKey(keys), id)) ?? '{}')).toEqual(answers[0]?.body.ack)
      acknowledged.set(id, by)
    }
    const res = await fetch(`${serving.url}/api/patients/p-race/audit?limit=1000`, { headers: { authorization: `Bearer ${SERVING_TOKEN}` } })
    const events = ((await res.json()) as Array<{ action: string; subject: string; actor: { user: string } }>).filter((e) => e.action === 'alert.acknowledge')
    const trail = [...acknowledged.keys()].map((id) => ({ id, users: events.filter((e) => e.subject === id).map((e) => e.actor.user) }))
    expect(trail).toEqual([...acknowledged].map(([id, by]) => ({ id, users: [by] })))
  })

  it("takes over the claim of a request that died once it expires, and answers 503 'in progress' while a live one still holds it, recording nothing", async () => {
    const cookie = await signIn(serving.url, 'sec.clinician')
    const now = Date.now()
    const [orphaned, held] = [`sec-claim-orphaned-${now}`, `sec-claim-held-${now}`]
    for (const id of [orphaned, held]) {
      await writeAlert(
        redis,
        keys,
        { id, patientId: 'p-claim', vital: 'spo2', kind: 'raised', level: 'WARNING', value: 93, ts: now, message: 'SpO2 93' },
        false,
      )
    }
    // Claims as another serving process leaves them: one that died (its claim expires in 2 s, never
    // renewed nor released) and one still at work (renewed, so it outlives the 15 s a request waits).
    await redis.set(keys.ackClaim(orphaned), 'dead-peer', { expiration: { type: 'PX', value: 2_000 } })
    await redis.set(keys.ackClaim(held), 'live-peer', { expiration: { type: 'PX', value: 60_000 } })
    const ack = async (id: string) => {
      const res = await fetch(`${serving.url}/api/alerts/${encodeURIComponent(id)}/ack`, { method: 'POST', headers: { cookie } })
      return { status: res.status, body: (await res.json()) as { ack?: { by: string }; error?: string; message?: string } }
    }
    const [afterDeadPeer, whileLivePeer] = await Promise.all([ack(orphaned), ack(held)])
    expect(afterDeadPeer.status).toBe(200)
    expect(afterDeadPeer.body.ack?.by).toBe('sec.clinician')
    expect(whileLivePeer).toEqual({
      status: 503,
      body: { error: 'Service Unavailable', message: `another acknowledgement of alert ${held} is in progress: try again in a moment.` },
    })
    expect(await redis.hGet(ackKey(keys), held)).toBeNull()
    // The claim is released once the acknowledgement is stored; the live peer's is left as it is.
    expect(await redis.exists(keys.ackClaim(orphaned))).toBe(0)
    expect(await redis.get(keys.ackClaim(held))).toBe('live-peer')
    await redis.del(keys.ackClaim(held))
  }, 30_000)
})

describe('changes sent from another page', () => {
  const PATIENT = 'p-csrf'
  const refusal = { error: 'Forbidden', message: "a change must be sent from this server's own pages, not from another site's" }
  const ownOrigin = () => new URL(serving.url).origin
  const alertId = (n: number) => `sec-csrf-${n}`
  const ackUrl = (n: number) => `${serving.url}/api/alerts/${encodeURIComponent(alertId(n))}/ack`

  beforeAll(async () => {
    for (const n of [1, 2]) {
      await writeAlert(
        redis,
        keys,
        { id: alertId(n), patientId: PATIENT, vital: 'heartRate', kind: 'raised', level: 'WARNING', value: 131, ts: Date.now(), message: 'HR 131' },
        false,
      )
    }
  })

  it("are refused 403 on POST /api/alerts/:id/ack, POST /api/batch/runs, POST /logout and PUT bands, with a signed-in clinician's cookie, when the Origin is another site's or Sec-Fetch-Site is same-site; and nothing changes", async () => {
    const cookie = await signIn(serving.url, 'sec.clinician')
    const bandsBefore = await (await fetch(`${serving.url}/api/patients/${PATIENT}/bands`, { headers: { cookie } })).json()
    const { port } = new URL(serving.url)
    const foreign: Array<Record<string, string>> = [
      { origin: 'https://evil.example' },
      // A sibling origin of the same site, to which SameSite=Strict still sends the cookie.
      { origin: `http://sibling.localhost:${port}`, 'sec-fetch-site': 'same-site' },
      { 'sec-fetch-site': 'same-site' },
      { origin: 'null' },
    ]
    const changes: Array<[string, string, string | undefined]> = [
      ['POST', ackUrl(1), undefined],
      ['POST', `${serving.url}/api/batch/runs`, undefined],
      ['POST', `${serving.url}/logout`, undefined],
      ['PUT', `${serving.url}/api/patients/${PATIENT}/bands`, JSON.stringify({ bands: ['spo2:news2-scale2'], reason: 'COPD, target 88-92 %' })],
    ]
    const wrong: string[] = []
    for (const headers of foreign) {
      for (const [method, url, body] of changes) {
        const res = await fetch(url, { method, body, headers: { cookie, ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) } })
        const answer = { status: res.status, body: await res.text() }
        if (answer.status !== 403 || answer.body !== JSON.stringify(refusal))
          wrong.push(`${method} ${url} ${JSON.stringify(headers)}: ${JSON.stringify(answer)}`)
      }
    }
    expect(wrong).toEqual([])
    expect(await redis.hGet(ackKey(keys), alertId(1))).toBeNull()
    expect(await (await fetch(`${serving.url}/api/batch/runs/current`, { headers: { cookie } })).json()).toEqual({ running: null })
    expect((await fetch(`${serving.url}/api/me`, { headers: { cookie } })).status).toBe(200)
    expect(await (await fetch(`${serving.url}/api/patients/${PATIENT}/bands`, { headers: { cookie } })).json()).toEqual(bandsBefore)
  })

  it("are taken body-less from this server's own page (its Origin, Sec-Fetch-Site same-origin) and from a script with the token and no Origin", async () => {
    const cookie = await signIn(serving.url, 'sec.clinician')
    const ownPage = { cookie, origin: ownOrigin(), 'sec-fetch-site': 'same-origin' }
    const fromPage = await fetch(ackUrl(1), { method: 'POST', headers: ownPage })
    expect(fromPage.status).toBe(200)
    expect(((await fromPage.json()) as { ack: { by: string } }).ack.by).toBe('sec.clinician')
    const fromScript = await fetch(ackUrl(2), { method: 'POST', headers: { authorization: `Bearer ${SERVING_TOKEN}` } })
    expect(fromScript.status).toBe(200)
    expect(((await fromScript.json()) as { ack: { by: string } }).ack.by).toBe('VIGIL_TOKEN')
    expect((await fetch(`${serving.url}/logout`, { method: 'POST', headers: ownPage })).status).toBe(204)
    expect((await fetch(`${serving.url}/api/me`, { headers: { cookie } })).status).toBe(401)
  })
})

describe('guessing the bootstrap token', () => {
  let guarded: Serving
  /** The client addresses, as the trusted proxy in front says (one per test, so that each starts with its own count). */
  const from = (address: string) => ({ 'x-forwarded-for': address })
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

  beforeAll(async () => {
    // 3 wrong tokens a minute per address; behind a trusted proxy, so that each test can be another address.
    guarded = await start(
      { ...config, port: await freePort(), serving: servingOptions({ signInsPerMinute: 3, trustProxy: true }) },
      { log: createLogger({ level: 'silent' }) },
    )
  })

  afterAll(async () => {
    await guarded?.stop()
  })

  it('answers 3 wrong tokens a minute from one address at /login?token= with 401, then 429 with Retry-After, the right token too, with no session; other addresses still sign in', async () => {
    const login = (token: string, address: string) =>
      fetch(`${guarded.url}/login?token=${encodeURIComponent(token)}`, { headers: from(address), redirect: 'manual' })
    const statuses: number[] = []
    for (let i = 0; i < 4; i++) statuses.push((await login(`guess-${i}`, '10.1.0.1')).status)
    expect(statuses).toEqual([401, 401, 401, 429])
    const right = await login(SERVING_TOKEN, '10.1.0.1')
    expect(right.status).toBe(429)
    expect(right.headers.get('set-cookie')).toBeNull()
    expect(Number(right.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(Number(right.headers.get('retry-after'))).toBeLessThanOrEqual(60)
    expect(await right.json()).toMatchObject({ error: 'Too Many Requests' })
    // The address's bearer tokens are the same guesses: locked too.
    expect((await fetch(`${guarded.url}/api/patients`, { headers: { ...from('10.1.0.1'), ...bearer(SERVING_TOKEN) } })).status).toBe(429)
    const other = await login(SERVING_TOKEN, '10.1.0.2')
    expect(other.status).toBe(303)
    expect(sessionCookie(other)).toMatch(/^vigil_session=/)
  })

  it("counts wrong Bearer tokens per address on every route, Socket.io's path too: past 3 a minute, 429 to any token from it, whatever address the client writes in front; its sessions still work", async () => {
    const address = '10.1.0.3'
    const statuses: number[] = []
    for (const path of ['/api/patients', '/api/me', '/metrics', '/api/alerts']) {
      statuses.push((await fetch(`${guarded.url}${path}`, { headers: { ...from(address), ...bearer(`${SERVING_TOKEN}x`) } })).status)
    }
    expect(statuses).toEqual([401, 401, 401, 429])
    for (const [forwardedFor, path] of [
      [address, '/api/patients'],
      [`1.2.3.4, ${address}`, '/api/patients'],
      [address, '/socket.io/socket.io.esm.min.js'],
    ] as const) {
      const res = await fetch(`${guarded.url}${path}`, { headers: { 'x-forwarded-for': forwardedFor, ...bearer(SERVING_TOKEN) } })
      expect({ forwardedFor, path, status: res.status }).toEqual({ forwardedFor, path, status: 429 })
    }
    // A named user's session from the same address is no token: it goes on.
    const signedIn = await postLogin(guarded.url, 'sec.viewer', PASSWORD, from(address))
    expect(signedIn.status).toBe(200)
    expect((await fetch(`${guarded.url}/api/patients`, { headers: { ...from(address), cookie: sessionCookie(signedIn) } })).status).toBe(200)
  })

  it('never limits a script with the right token', async () => {
    const address = '10.1.0.4'
    for (let i = 0; i < 30; i++) {
      expect((await fetch(`${guarded.url}/api/patients`, { headers: { ...from(address), ...bearer(SERVING_TOKEN) } })).status).toBe(200)
    }
    for (let i = 0; i < 5; i++) {
      expect((await fetch(`${guarded.url}/login?token=${SERVING_TOKEN}`, { headers: from(address), redirect: 'manual' })).status).toBe(303)
    }
  })
})

describe("the device gateway's tokens", () => {
  const reading = JSON.stringify({ v: 1, patientId: 'p-0001', deviceId: 'wrist-0001', ts: Date.now(), seq: 1, vitals: { heartRate: 72 } })
  const post = (path: string, headers: Record<string, string>) =>
    fetch(`${gateway.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: reading })

  it('takes the token only as a Bearer credential in the Authorization header', async () => {
    expect((await post(`/v1/readings?token=${DEVICE_TOKEN}`, {})).status).toBe(401)
    expect((await post('/v1/readings', { authorization: `Basic ${Buffer.from(`device:${DEVICE_TOKEN}`).toString('base64')}` })).status).toBe(401)
    expect((await post('/v1/readings', { authorization: `Bearer ${DEVICE_TOKEN.slice(0, -1)}` })).status).toBe(401)
    expect((await post('/v1/readings', { authorization: `Bearer ${DEVICE_TOKEN} ${DEVICE_TOKEN}` })).status).toBe(401)
    expect((await post('/v1/readings', { cookie: `token=${DEVICE_TOKEN}` })).status).toBe(401)
    const refused = await post('/v1/readings', {})
    expect(refused.headers.get('www-authenticate')).toBe('Bearer')
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect((await post('/v1/readings', { authorization: `Bearer ${DEVICE_TOKEN}` })).status).toBe(202)
  })
})

describe('Socket.io', () => {
  type Client = Socket
  const clients: Client[] = []
  /** `vigil_session=<value>` as /login sets it. */
  let sessionCookie = ''
  beforeAll(async () => {
    const res = await fetch(`${serving.url}/login?token=${SERVING_TOKEN}`, { redirect: 'manual' })
    sessionCookie = (res.headers.get('set-cookie') ?? '').split(';')[0] ?? ''
    expect(sessionCookie).toMatch(/^vigil_session=[^;]+$/)
  })
  afterAll(() => {
    for (const c of clients) c.disconnect()
  })

  /** How a client carries (or fails to carry) the token: in its request headers, in the handshake `auth` payload, or not at all. */
  interface Credential {
    label: string
    headers?: Record<string, string>
    auth?: Record<string, unknown>
  }
  /** The three ways in, each with the right token. */
  const rightCredentials = (): Credential[] => [
    { label: 'a bearer header', headers: { authorization: `Bearer ${SERVING_TOKEN}` } },
    { label: 'the session cookie', headers: { cookie: sessionCookie } },
    { label: 'the handshake auth payload', auth: { token: SERVING_TOKEN } },
  ]
  /** Credentials in headers that are wrong: refused by the guard in front of Socket.io, before any session exists. */
  const wrongHeaders = (): Credential[] => [
    { label: 'a wrong bearer header', headers: { authorization: `Bearer ${SERVING_TOKEN}x` } },
    { label: 'the device token as bearer', headers: { authorization: `Bearer ${DEVICE_TOKEN}` } },
    { label: 'a forged session cookie', headers: { cookie: 'vigil_session=forged' } },
  ]
  /** No token, or an auth payload token that is wrong or not a string: all refused by the namespace, alike. */
  const wrongPayloads = (): Credential[] => [
    { label: 'no token' },
    { label: 'a wrong auth token', auth: { token: `${SERVING_TOKEN}x` } },
    { label: 'the device token as auth token', auth: { token: DEVICE_TOKEN } },
    { label: 'the session cookie value as auth token', auth: { token: sessionCookie.slice('vigil_session='.length) } },
    { label: 'an empty auth token', auth: { token: '' } },
    { label: 'a number as auth token', auth: { token: 123 } },
    { label: 'an array holding the token as auth token', auth: { token: [SERVING_TOKEN] } },
    { label: 'an object holding the token as auth token', auth: { token: { token: SERVING_TOKEN } } },
    { label: 'null as auth token', auth: { token: null } },
    { label: 'the token under another key', auth: { Token: SERVING_TOKEN } },
  ]

  function client(transport: 'polling' | 'websocket', credential: Credential): { c: Client; events: string[] } {
    const c = connect(serving.url, {
      transports: [transport],
      extraHeaders: credential.headers ?? {},
      auth: credential.auth ?? {},
      reconnection: false,
      forceNew: true,
      timeout: 10_000,
    })
    clients.push(c)
    const events: string[] = []
    c.onAny((event: string) => events.push(event))
    return { c, events }
  }

  it('lets the right token in as a bearer header, as the session cookie and in the handshake auth payload, over polling and over WebSocket', async () => {
    for (const transport of ['polling', 'websocket'] as const) {
      for (const credential of rightCredentials()) {
        const { c } = client(transport, credential)
        await withTimeout(
          new Promise<void>((resolve, reject) => {
            c.once('snapshot', () => resolve())
            c.once('connect_error', reject)
          }),
          15_000,
          `no snapshot with ${credential.label} over ${transport}`,
        )
        expect(c.connected, `${credential.label} over ${transport}`).toBe(true)
        expect(c.io.engine.transport.name, credential.label).toBe(transport)
        c.disconnect()
      }
    }
  })

  it('refuses a wrong token in each of the three ways, no token, and a non-string auth token, over polling and over WebSocket, and sends such a socket nothing', async () => {
    const refused: Array<{ c: Client; events: string[] }> = []
    for (const transport of ['polling', 'websocket'] as const) {
      const messages = new Map<string, string>()
      for (const credential of [...wrongHeaders(), ...wrongPayloads()]) {
        const r = client(transport, credential)
        const error = await withTimeout(
          new Promise<Error>((resolve) => r.c.once('connect_error', resolve)),
          15_000,
          `no connect_error with ${credential.label} over ${transport}`,
        )
        expect(error).toBeInstanceOf(Error)
        expect(r.c.connected, `${credential.label} over ${transport}`).toBe(false)
        messages.set(credential.label, error.message)
        refused.push(r)
      }
      // A wrong or non-string auth token is refused exactly as no token is: the same one word, nothing that tells why.
      for (const credential of wrongPayloads()) expect(`${credential.label}: ${messages.get(credential.label)}`).toBe(`${credential.label}: unauthorized`)
    }
    // A client with the token connects and sees an alert and readings go out: the refused ones saw nothing.
    const ok = client('websocket', { label: 'auth payload', auth: { token: SERVING_TOKEN } })
    await withTimeout(new Promise<void>((resolve) => ok.c.once('snapshot', () => resolve())), 15_000, 'no snapshot with the right token')
    expect(ok.c.connected).toBe(true)
    const alertSeen = new Promise<void>((resolve) =>
      ok.c.on('alert', (alerts: Array<{ id: string }>) => alerts.some((a) => a.id === 'sec-alert-1') && resolve()),
    )
    const readingSeen = new Promise<void>((resolve) =>
      ok.c.on('reading', (push: { patients: Array<{ patientId: string }> }) => push.patients.some((p) => p.patientId === 'p-socket') && resolve()),
    )
    await writeReadings(redis, keys, [{ patientId: 'p-socket', ts: Date.now(), seq: 1, vitals: { heartRate: 120 } }])
    await writeAlert(redis, keys, {
      id: 'sec-alert-1',
      patientId: 'p-socket',
      vital: 'heartRate',
      kind: 'raised',
      level: 'WARNING',
      value: 120,
      ts: Date.now(),
      message: 'HR 120',
    })
    await withTimeout(Promise.all([alertSeen, readingSeen]), 10_000, 'the authorised client got no alert or reading')
    for (const r of refused) expect(r.events).toEqual([])
  })

  /** Opens an engine.io session by plain polling requests with no credential, sends one Socket.io CONNECT packet, and reads the packets that come back until `done`. */
  async function rawPolling(connectPacket: string, done: (packets: string[]) => boolean): Promise<{ sid: string; packets: string[] }> {
    const base = `${serving.url}/socket.io/?EIO=4&transport=polling`
    const open = await fetch(base)
    expect(open.status).toBe(200)
    const sid = (JSON.parse((await open.text()).slice(1)) as { sid: string }).sid
    const sent = await fetch(`${base}&sid=${sid}`, { method: 'POST', body: connectPacket, headers: { 'content-type': 'text/plain' } })
    expect(sent.status).toBe(200)
    const packets: string[] = []
    for (let poll = 0; poll < 6 && !done(packets); poll++) {
      const res = await withTimeout(fetch(`${base}&sid=${sid}`), 10_000, 'a poll got no answer')
      if (res.status !== 200) {
        packets.push(`HTTP ${res.status}`)
        break
      }
      // engine.io v4 joins the packets of one poll with the record separator; '6' (noop) only releases a poll.
      packets.push(...(await res.text()).split('\x1e').filter((p) => p !== '6'))
    }
    return { sid, packets }
  }
  const closedOrGone = (packets: string[]) => packets.some((p) => p === '1' || p.startsWith('HTTP '))

  it('answers a raw CONNECT without the token, or with a wrong or non-string one, with one CONNECT_ERROR and then closes the session', async () => {
    const wrong = [
      '40',
      '40{}',
      `40{"token":"${SERVING_TOKEN}x"}`,
      `40{"token":"${DEVICE_TOKEN}"}`,
      '40{"token":123}',
      `40{"token":["${SERVING_TOKEN}"]}`,
      `40{"token":{"token":"${SERVING_TOKEN}"}}`,
      '40{"token":null}',
      '40{"token":true}',
    ]
    for (const packet of wrong) {
      const { packets } = await rawPolling(packet, closedOrGone)
      // CONNECT_ERROR, then engine.io's close packet: no snapshot, and no second try on this session.
      expect({ packet, packets }).toEqual({ packet, packets: ['44{"message":"unauthorized"}', '1'] })
    }
  })

  it('answers a raw CONNECT with the token in its auth payload with the snapshot, and the session then refuses a request carrying a wrong token', async () => {
    const { sid, packets } = await rawPolling(`40{"token":"${SERVING_TOKEN}"}`, (p) => p.some((x) => x.startsWith('42["snapshot"')) || closedOrGone(p))
    expect(packets[0]).toMatch(/^40\{"sid":"[\w-]+"\}$/)
    expect(packets.some((p) => p.startsWith('42["snapshot"'))).toBe(true)
    expect(closedOrGone(packets)).toBe(false)
    const poll = `${serving.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`
    expect((await fetch(poll, { headers: { authorization: `Bearer ${DEVICE_TOKEN}` } })).status).toBe(401)
    expect((await fetch(poll, { headers: { cookie: 'vigil_session=forged' } })).status).toBe(401)
  })

  it('refuses a raw WebSocket upgrade carrying a wrong token, and opens one carrying the right token or none (the namespace then asks for it)', async () => {
    const upgrade = (headers: Record<string, string>) =>
      head('GET', '/socket.io/?EIO=4&transport=websocket', serving.url, {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
        ...headers,
      })
    for (const [headers, expected] of [
      [{ Authorization: `Bearer ${DEVICE_TOKEN}` }, 401],
      [{ Authorization: `Bearer ${SERVING_TOKEN}x` }, 401],
      [{ Cookie: 'vigil_session=forged' }, 401],
      [{ Authorization: `Bearer ${SERVING_TOKEN}` }, 101],
      [{ Cookie: sessionCookie }, 101],
      [{}, 101],
    ] as Array<[Record<string, string>, number]>) {
      const c = await RawConnection.open(serving.url)
      try {
        await c.write(upgrade(headers))
        expect({ headers, status: await withTimeout(c.status(), 10_000, 'no answer to the upgrade') }).toEqual({ headers, status: expected })
      } finally {
        c.destroy()
      }
    }
  })

  it('refuses a session id opened with the token in its headers when used without it, over polling and WebSocket, even while that session is live', async () => {
    const auth = { authorization: `Bearer ${SERVING_TOKEN}` }
    const handshake = await fetch(`${serving.url}/socket.io/?EIO=4&transport=polling`, { headers: auth })
    expect(handshake.status).toBe(200)
    const sid = (JSON.parse((await handshake.text()).slice(1)) as { sid: string }).sid
    expect(sid).toMatch(/^[\w-]{10,}$/)
    const poll = await fetch(`${serving.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`)
    expect(poll.status).toBe(401)
    const send = await fetch(`${serving.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, {
      method: 'POST',
      body: '40',
      headers: { 'content-type': 'text/plain' },
    })
    expect(send.status).toBe(401)
    const c = await RawConnection.open(serving.url)
    try {
      await c.write(
        head('GET', `/socket.io/?EIO=4&transport=websocket&sid=${sid}`, serving.url, {
          Connection: 'Upgrade',
          Upgrade: 'websocket',
          'Sec-WebSocket-Version': '13',
          'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
        }),
      )
      expect(await withTimeout(c.status(), 10_000, 'no answer to the upgrade')).toBe(401)
    } finally {
      c.destroy()
    }
    // Spellings that engine.io reads as the same session: a repeated sid (it takes the last), a dot segment, a fragment.
    for (const target of [
      `/socket.io/?EIO=4&transport=polling&sid=other&sid=${sid}`,
      `/socket.io/x/../?EIO=4&transport=polling&sid=${sid}`,
      `/socket.io/?EIO=4&transport=polling&sid=${sid}#`,
    ]) {
      const raw = await RawConnection.open(serving.url)
      try {
        await raw.write(head('GET', target, serving.url, {}))
        expect({ target, status: await withTimeout(raw.status(), 10_000, `no answer to ${target}`) }).toEqual({ target, status: 401 })
      } finally {
        raw.destroy()
      }
    }
    // The session is still there for its owner: the refusals were about the token, not the sid.
    const owner = await fetch(`${serving.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, {
      method: 'POST',
      body: '1',
      headers: { 'content-type': 'text/plain', ...auth },
    })
    expect(owner.status).toBe(200)
  })

  it('serves its client bundle only with the token in a header or the session cookie', async () => {
    expect((await fetch(`${serving.url}/socket.io/socket.io.esm.min.js`)).status).toBe(401)
    expect((await fetch(`${serving.url}/socket.io/socket.io.esm.min.js`, { headers: { authorization: `Bearer ${SERVING_TOKEN}x` } })).status).toBe(401)
    expect((await fetch(`${serving.url}/socket.io/socket.io.esm.min.js`, { headers: { authorization: `Bearer ${SERVING_TOKEN}` } })).status).toBe(200)
    expect((await fetch(`${serving.url}/socket.io/socket.io.esm.min.js`, { headers: { cookie: sessionCookie } })).status).toBe(200)
  })
})

describe('bodies over the limit', () => {
  const cases = () => [
    ...gatewayRoutes
      .filter((r) => r.method === 'POST')
      .map((r) => ({ base: gateway.url, path: samplePath(r.url), auth: { Authorization: `Bearer ${DEVICE_TOKEN}` }, limit: gatewayLimit })),
    ...servingRoutes
      .filter((r) => r.method === 'POST' || r.method === 'PUT')
      .map((r) => ({ base: serving.url, path: samplePath(r.url), auth: { Authorization: `Bearer ${SERVING_TOKEN}` }, limit: servingLimit, method: r.method })),
  ]

  it('are answered 413 after the first 64 KiB of a declared 100 MB body, and the connection is closed rather than drained', async () => {
    const list = cases()
    expect(list.length).toBeGreaterThanOrEqual(6)
    for (const c of list) {
      const r = await declaredOversize(c.base, c.path, c.auth)
      expect({ path: c.path, status: r.status, closed: r.closed }).toEqual({ path: c.path, status: 413, closed: true })
      expect(r.sent).toBeLessThan(MB)
    }
  })

  it('are answered 413 once a chunked body passes the limit, without the rest of the body, and the connection is closed', async () => {
    for (const c of cases()) {
      const r = await chunkedOversize(c.base, c.path, c.auth, c.limit)
      expect({ path: c.path, status: r.status, closed: r.closed }).toEqual({ path: c.path, status: 413, closed: true })
      expect(r.sent).toBeLessThanOrEqual(c.limit + 64 * 1024)
    }
  })

  it('are refused 401 at once without a token, and the connection is closed rather than drained', async () => {
    for (const base of [gateway.url, serving.url]) {
      const r = await declaredOversize(base, base === gateway.url ? '/v1/readings' : '/api/batch/runs', {})
      expect({ base, status: r.status, closed: r.closed }).toEqual({ base, status: 401, closed: true })
    }
  })
})

describe('a hostile patient id and user name on the dashboard', () => {
  let browser: Browser
  let context: BrowserContext
  const pageErrors: string[] = []

  beforeAll(async () => {
    const now = Date.now()
    for (const [i, id] of PAYLOADS.entries()) {
      await writeReadings(
        redis,
        keys,
        Array.from({ length: 10 }, (_, k) => ({ patientId: id, ts: now - (9 - k) * 1000, seq: k, vitals: { heartRate: 120 + i, spo2: 91 } })),
        { news2: 7, publish: false },
      )
      await writeAlert(
        redis,
        keys,
        {
          id: `xss-${i}`,
          patientId: id,
          vital: 'heartRate',
          kind: 'raised',
          level: 'WARNING',
          value: 120 + i,
          ts: now - i,
          message: PAYLOADS[(i + 1) % PAYLOADS.length]!,
        },
        false,
      )
    }
    // The user name policy allows markup (lib/identity/model.ts, usernameProblem): the page must show it as text.
    await users.add(PAYLOADS[0]!, 'clinician')
    browser = await launchChromium()
    // The page's CSP would stop an injected handler on its own; bypassing it here tests the rendering itself.
    context = await browser.newContext({ bypassCSP: true, viewport: { width: 1440, height: 1000 } })
  })

  afterAll(async () => {
    await context?.close()
    await browser?.close()
  })

  it('shows each payload as text in the grid, the detail, the alert feed and as the signed-in user who acknowledges, and none of it runs', async () => {
    const page = await context.newPage()
    page.on('pageerror', (e) => pageErrors.push(e.message))
    page.on('dialog', (d) => void d.dismiss())
    // Signed out, the dashboard sends the browser to the sign-in page; the hostile user signs in there.
    const res = await page.goto(`${serving.url}/`)
    expect(new URL(page.url()).pathname).toBe('/login')
    expect(res?.headers()['content-security-policy']).toContain("script-src 'self'")
    await page.fill('#username', PAYLOADS[0]!)
    await page.fill('#password', PASSWORD)
    await page.click('#sign-in')
    await page.locator('#conn-text', { hasText: 'Live' }).waitFor()
    expect(await page.locator('#me-name').textContent()).toBe(PAYLOADS[0])
    const flags = () =>
      page.evaluate(() => ({
        pwned: (window as unknown as { __pwned?: unknown }).__pwned,
        handlers: document.querySelectorAll('[onerror], [onload]').length,
        injected: document.querySelectorAll('img, svg, body script').length,
      }))
    // Every patient's tile is drawn (the three hostile ones and p-0001): whatever the markup did, it has done it by now.
    await page.locator('.tile').nth(PAYLOADS.length).waitFor()
    expect(await flags()).toEqual({ pwned: undefined, handlers: 0, injected: 0 })
    for (const payload of PAYLOADS) {
      const tile = page.locator('.tile-id').filter({ hasText: payload })
      await tile.waitFor()
      expect(await tile.textContent()).toBe(payload)
      await tile.click()
      await expect.poll(() => page.locator('#detail-title').textContent(), { timeout: 5_000 }).toBe(payload)
      await page.locator('.chart-card canvas').first().waitFor()
      expect(await flags()).toEqual({ pwned: undefined, handlers: 0, injected: 0 })
    }
    // The alert feed, with this patient's alerts only, and an acknowledgement whose author is markup too.
    await page.check('#alerts-mine')
    const alert = page.locator('#alert-feed li').first()
    await expect.poll(() => alert.locator('.alert-title').textContent(), { timeout: 5_000 }).toBe(PAYLOADS[2])
    expect(await alert.locator('.alert-msg').textContent()).toBe(PAYLOADS[0])
    await alert.locator('button.ack').click()
    await alert.locator('.acked').filter({ hasText: PAYLOADS[0]! }).waitFor()
    await alert.locator('.alert-title button').click()
    await page.screenshot({ path: '/tmp/security-xss.png', fullPage: true })
    expect(await flags()).toEqual({ pwned: undefined, handlers: 0, injected: 0 })
    expect(pageErrors).toEqual([])
  })
})
