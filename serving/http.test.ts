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

const TOKEN = 'http-unit-token-0123456789'
const bearer = { authorization: `Bearer ${TOKEN}` }

/**
 * The app before the API, with the token as its only way in: its session store was never
 * connected, so a request with a session cookie would fail (sessions: serving/sessions.int.test.ts).
 */
async function app(onRoute?: (route: RouteOptions) => void): Promise<FastifyInstance> {
  const sessions = createSessionStore(createRedis({ redisUrl: 'redis://127.0.0.1:1' }), redisKeys('unit:'), 60_000)
  const auth = createAuth({ token: TOKEN, sessions, registry: new RegistryState() })
  return createHttpApp({ options: servingOptions(), log: createLogger({ level: 'silent' }), auth, onRoute })
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
