import type { FastifyInstance, RouteOptions } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { redisKeys } from '../lib/contract/keys.ts'
import { RegistryState } from '../lib/identity/registry-state.ts'
import { createLogger } from '../lib/log.ts'
import { createRedis } from '../lib/redis.ts'
import { createAuth } from './auth.ts'
import { servingOptions } from './config.ts'
import { createHttpApp, dashboardRoutes } from './http.ts'
import { createSessionStore } from './sessions.ts'
import { clientAddress } from './token-guesses.ts'

const TOKEN = 'http-unit-token-0123456789'
const bearer = { authorization: `Bearer ${TOKEN}` }

/**
 * The app before the API, with the token as its only way in: its session store was never
 * connected, so a request with a session cookie would fail (sessions: serving/sessions.int.test.ts).
 */
async function app(onRoute?: (route: RouteOptions) => void, flags: Record<string, unknown> = {}): Promise<FastifyInstance> {
  const sessions = createSessionStore(createRedis({ redisUrl: 'redis://127.0.0.1:1' }), redisKeys('unit:'), 60_000)
  const auth = createAuth({ token: TOKEN, sessions, registry: new RegistryState(), wrongTokensPerMinute: 3 })
  return createHttpApp({ options: servingOptions(flags), log: createLogger({ level: 'silent' }), auth, onRoute })
}

let current: FastifyInstance | undefined
afterEach(async () => {
  await current?.close()
  current = undefined
})

describe('the role guard', () => {
  it('stops the server at start when a route declares no role, naming the route', async () => {
    current = await app()
    current.get('/api/declared', { config: { role: 'viewer' } }, async () => ({}))
    expect(() => current!.post('/api/forgotten', async () => ({}))).toThrow(/route POST \/api\/forgotten declares no role: add config: \{ role \}/)
  })

  it("gives @fastify/static's route the viewer role, and the sign-in page's files the public one", async () => {
    const roles: string[] = []
    current = await app((route) => roles.push(`${[route.method].flat().join(',')} ${route.url} ${route.config?.role}`))
    await current.register(dashboardRoutes)
    expect(roles).toEqual(
      expect.arrayContaining(['HEAD,GET /* viewer', 'GET /login.js public', 'GET /styles.css public', 'GET /vendor/chart.umd.min.js viewer']),
    )
  })

  it('answers a bare 401 without a principal (an unknown path too), sends GET / to /login, and lets the token through', async () => {
    current = await app()
    await current.register(dashboardRoutes)
    current.get('/api/thing', { config: { role: 'admin' } }, async (request) => ({ user: request.principal?.user }))
    current.get('/open', { config: { role: 'public' } }, async (request) => ({ principal: request.principal }))
    for (const url of ['/api/thing', '/no/such/path', '/index.html']) {
      const res = await current.inject({ url })
      expect({ url, status: res.statusCode, body: res.body, connection: res.headers.connection }).toEqual({ url, status: 401, body: '', connection: 'close' })
    }
    const root = await current.inject({ url: '/' })
    expect({ status: root.statusCode, location: root.headers.location }).toEqual({ status: 302, location: '/login' })
    expect((await current.inject({ url: '/api/thing', headers: bearer })).json()).toEqual({ user: 'VIGIL_TOKEN' })
    expect((await current.inject({ url: '/no/such/path', headers: bearer })).statusCode).toBe(404)
    expect((await current.inject({ url: '/open' })).json()).toEqual({ principal: null })
    expect((await current.inject({ url: '/open', headers: bearer })).json()).toEqual({ principal: { user: 'VIGIL_TOKEN', role: 'admin', via: 'token' } })
  })

  it('answers 503 when a session cannot be looked up, except on a public route, which answers without a principal', async () => {
    current = await app()
    current.get('/api/thing', { config: { role: 'viewer' } }, async () => ({}))
    current.get('/open', { config: { role: 'public' } }, async (request) => ({ principal: request.principal }))
    const cookie = { cookie: 'vigil_session=some-session-id' }
    const refused = await current.inject({ url: '/api/thing', headers: cookie })
    expect(refused.statusCode).toBe(503)
    expect(refused.json()).toMatchObject({ message: 'the sign-in cannot be checked: Redis does not answer; try again shortly' })
    expect((await current.inject({ url: '/open', headers: cookie })).json()).toEqual({ principal: null })
  })
})

describe('changes sent from another page', () => {
  const refusal = { error: 'Forbidden', message: "a change must be sent from this server's own pages, not from another site's" }

  it('refuses POST, PUT, PATCH and DELETE with a foreign Origin or a Sec-Fetch-Site other than same-origin or none, on public routes and unknown paths too, before the handler runs', async () => {
    current = await app()
    let ran = 0
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'] as const) {
      current.route({ method, url: '/api/change', config: { role: 'viewer' }, handler: async () => ({ ran: ++ran }) })
    }
    current.post('/open', { config: { role: 'public' } }, async () => ({ ran: ++ran }))
    const foreign: Array<Record<string, string>> = [
      { origin: 'https://evil.example' },
      { origin: 'http://localhost:8080' },
      { origin: 'http://evil.localhost' },
      { origin: 'null' },
      { origin: 'not a url' },
      { 'sec-fetch-site': 'same-site' },
      { 'sec-fetch-site': 'cross-site' },
      { origin: 'http://localhost', 'sec-fetch-site': 'same-site' },
    ]
    for (const headers of foreign) {
      for (const [method, url] of [
        ['POST', '/api/change'],
        ['PUT', '/api/change'],
        ['PATCH', '/api/change'],
        ['DELETE', '/api/change'],
        ['POST', '/open'],
        ['POST', '/no/such/path'],
      ] as const) {
        const res = await current.inject({ method, url, headers: { ...bearer, ...headers } })
        expect({ method, url, headers, status: res.statusCode, body: res.json() }).toEqual({ method, url, headers, status: 403, body: refusal })
      }
    }
    expect(ran).toBe(0)
  })

  it("lets a change through from this server's own page (Origin and Sec-Fetch-Site same-origin), typed by the user (none), and from a script that sends neither, with no body", async () => {
    current = await app()
    current.post('/api/change', { config: { role: 'viewer' } }, async () => ({ ok: true }))
    current.get('/api/read', { config: { role: 'viewer' } }, async () => ({ ok: true }))
    // inject's Host is localhost:80.
    for (const headers of [
      {},
      { origin: 'http://localhost:80' },
      { origin: 'http://localhost:80', 'sec-fetch-site': 'same-origin' },
      { 'sec-fetch-site': 'none' },
    ]) {
      const res = await current.inject({ method: 'POST', url: '/api/change', headers: { ...bearer, ...headers } })
      expect({ headers, status: res.statusCode }).toEqual({ headers, status: 200 })
    }
    // Reading is not a change: a GET from elsewhere is answered (what the answer holds is the role guard's business and the browser's same-origin policy's).
    expect(
      (await current.inject({ url: '/api/read', headers: { ...bearer, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' } })).statusCode,
    ).toBe(200)
  })
})

describe('wrong tokens per client address', () => {
  it('answers 401 to the first 3 wrong tokens of an address a minute (the limit here), then 429 with Retry-After to any token from it, the right one too; other addresses, and the same one with no token on a public route, go on', async () => {
    current = await app()
    current.get('/api/thing', { config: { role: 'viewer' } }, async () => ({ ok: true }))
    current.get('/open', { config: { role: 'public' } }, async (request) => ({ principal: request.principal }))
    const guesser = '203.0.113.9'
    const statuses: number[] = []
    for (let i = 0; i < 5; i++) {
      statuses.push((await current.inject({ url: '/api/thing', remoteAddress: guesser, headers: { authorization: `Bearer guess-${i}` } })).statusCode)
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429])
    const right = await current.inject({ url: '/api/thing', remoteAddress: guesser, headers: bearer })
    expect(right.statusCode).toBe(429)
    expect(Number(right.headers['retry-after'])).toBeGreaterThan(0)
    expect(Number(right.headers['retry-after'])).toBeLessThanOrEqual(60)
    expect(right.json()).toMatchObject({ error: 'Too Many Requests' })
    expect((await current.inject({ url: '/api/thing', remoteAddress: '203.0.113.10', headers: bearer })).statusCode).toBe(200)
    expect((await current.inject({ url: '/open', remoteAddress: guesser, headers: bearer })).json()).toEqual({ principal: null })
  })

  it('keeps a script with the right token unlimited', async () => {
    current = await app()
    current.get('/api/thing', { config: { role: 'viewer' } }, async () => ({ ok: true }))
    for (let i = 0; i < 100; i++) expect((await current.inject({ url: '/api/thing', headers: bearer })).statusCode).toBe(200)
  })
})

describe('the client address behind --trust-proxy', () => {
  it("is the X-Forwarded-For entry the proxy added (the last), whatever the client wrote before it, and the same as serving/token-guesses.ts's clientAddress reads", async () => {
    for (const trustProxy of [true, false]) {
      current = await app(undefined, { trustProxy })
      current.get('/open', { config: { role: 'public' } }, async (request) => ({ ip: request.ip, raw: clientAddress(request.raw, trustProxy) }))
      for (const [forwarded, expected] of [
        [undefined, '198.51.100.1'],
        ['10.0.0.1', '10.0.0.1'],
        ['6.6.6.6, 10.0.0.1', '10.0.0.1'],
        ['6.6.6.6,10.0.0.1, ', '10.0.0.1'],
        ['', '198.51.100.1'],
      ] as Array<[string | undefined, string]>) {
        const headers = forwarded === undefined ? {} : { 'x-forwarded-for': forwarded }
        const res = await current.inject({ url: '/open', remoteAddress: '198.51.100.1', headers })
        const ip = trustProxy ? expected : '198.51.100.1'
        expect({ trustProxy, forwarded, ...res.json() }).toEqual({ trustProxy, forwarded, ip, raw: ip })
      }
      await current.close()
      current = undefined
    }
  })
})
