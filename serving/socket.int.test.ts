import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { io as connect, type Socket } from 'socket.io-client'
import { createTestEnv, type TestEnv } from '../test/support.ts'
import type { Config } from '../lib/config.ts'
import { connectRedis, type RedisClient } from '../lib/redis.ts'
import { redisKeys, type RedisKeys } from '../lib/contract/keys.ts'
import { createLogger } from '../lib/log.ts'
import { pollUntil } from '../lib/backoff.ts'
import { start, servingOptions, type Serving } from './index.ts'
import type { ClientToServerEvents, ReadingPush, ServerToClientEvents, Snapshot } from './events.ts'
import { freePort, writeAlert } from '../test/view-fixtures.ts'
import { writeReadings } from './state-fixtures.ts'
import { sessionCookie, signIn, testUsers, type TestUsers } from '../test/security/sign-in.ts'
import { sessionHandle } from './sessions.ts'

const TOKEN = 'socket-test-token-0123456789'
type Client = Socket<ServerToClientEvents, ClientToServerEvents>

let env: TestEnv
let config: Config
let serving: Serving
let redis: RedisClient
let keys: RedisKeys
const clients: Client[] = []

function client(headers: Record<string, string>, auth: Record<string, unknown> = {}): Client {
  const c: Client = connect(serving.url, { transports: ['websocket'], extraHeaders: headers, auth, reconnection: false, forceNew: true })
  clients.push(c)
  return c
}

function nextSnapshot(c: Client): Promise<Snapshot> {
  return new Promise((resolve) => c.once('snapshot', resolve))
}

function connectError(c: Client): Promise<Error> {
  return new Promise((resolve) => c.once('connect_error', resolve))
}

async function connected(headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }): Promise<{ c: Client; snapshot: Snapshot }> {
  const c = client(headers)
  const snapshot = await nextSnapshot(c)
  return { c, snapshot }
}

beforeAll(async () => {
  env = await createTestEnv()
  config = Object.freeze({ ...env.config, port: await freePort(), token: TOKEN })
  keys = redisKeys(config.redisPrefix)
  redis = await connectRedis(config)
  serving = await start(
    { ...config, serving: servingOptions({ pushIntervalMs: 100, sessionCheckIntervalMs: 200, maxEntriesPerPush: 1_000 }) },
    { log: createLogger({ level: 'silent' }) },
  )
})

afterAll(async () => {
  for (const c of clients) c.disconnect()
  await serving?.stop()
  redis?.destroy()
  await env?.cleanup()
})

describe('Socket.io push', () => {
  it('refuses a handshake without the token or with a wrong one', async () => {
    for (const headers of [{}, { authorization: 'Bearer not-the-token-at-all' }, { cookie: 'vigil_session=forged' }] as Record<string, string>[]) {
      const c = client(headers)
      const error = await connectError(c)
      expect(error).toBeInstanceOf(Error)
      expect(c.connected).toBe(false)
    }
  })

  it('takes the token in the handshake auth payload, and refuses a wrong or non-string one as it refuses none', async () => {
    const c = client({}, { token: TOKEN })
    const snapshot = await nextSnapshot(c)
    expect(Array.isArray(snapshot.patients)).toBe(true)
    expect(c.connected).toBe(true)
    const none = await connectError(client({}))
    expect(none.message).toBe('unauthorized')
    for (const token of ['not-the-token-at-all', '', 42, [TOKEN], null]) {
      const refused = client({}, { token })
      const error = await connectError(refused)
      expect({ token, message: error.message }).toEqual({ token, message: none.message })
      expect(refused.connected).toBe(false)
    }
  })

  it('sends a snapshot of patients and alerts on connect', async () => {
    await writeReadings(redis, keys, [{ patientId: 'p-snap', ts: Date.now(), seq: 1, vitals: { heartRate: 80 } }], { publish: false })
    await writeAlert(
      redis,
      keys,
      { id: 'p-snap|hr|1', patientId: 'p-snap', vital: 'heartRate', kind: 'raised', level: 'WARNING', value: 105, ts: Date.now(), message: 'HR 105' },
      false,
    )
    const { snapshot } = await connected()
    expect(snapshot.patients.find((p) => p.patientId === 'p-snap')?.vitals.heartRate?.value).toBe(80)
    expect(snapshot.alerts[0]?.id).toBe('p-snap|hr|1')
  })

  it("delivers a reading to the patient's room within 1 s of the Update, and only the grid state to others", async () => {
    const { c: member } = await connected()
    const { c: other } = await connected()
    expect(await member.emitWithAck('subscribe', { patientId: 'p-live' })).toEqual({ ok: true })
    const memberGot = new Promise<ReadingPush>((resolve) => member.on('reading', (p) => p.series.length > 0 && resolve(p)))
    const otherGot = new Promise<ReadingPush>((resolve) => other.on('reading', (p) => p.patients.some((x) => x.patientId === 'p-live') && resolve(p)))
    const published = Date.now()
    await writeReadings(redis, keys, [{ patientId: 'p-live', ts: published, seq: 7, vitals: { heartRate: 131, spo2: 97 } }])
    const push = await memberGot
    expect(Date.now() - published).toBeLessThan(1_000)
    expect(push.series).toEqual([
      { patientId: 'p-live', entries: [expect.objectContaining({ seq: 7, vitals: { heartRate: 131, spo2: 97 }, status: 'CRITICAL_HIGH' })] },
    ])
    const seen = await otherGot
    expect(seen.series).toEqual([])
    expect(seen.patients.find((p) => p.patientId === 'p-live')?.status).toBe('CRITICAL_HIGH')
  })

  it('coalesces a burst of 500 updates into at most ~10 pushes per second without losing the newest entries', async () => {
    // maxEntriesPerPush (1,000 here, 200 by default) bounds what one push carries per patient, the
    // newest winning: with the default, a push delayed past ~240 ms on a busy machine (or a burst
    // the cluster's bus delivered late) dropped the oldest of the burst (495 of 500 on CI).
    const { c } = await connected()
    expect(await c.emitWithAck('subscribe', { patientId: 'p-burst' })).toEqual({ ok: true })
    const pushes: ReadingPush[] = []
    c.on('reading', (p) => pushes.push(p))
    const t0 = Date.now()
    const base = Date.now()
    for (let i = 0; i < 500; i++) {
      await writeReadings(redis, keys, [{ patientId: 'p-burst', ts: base + i, seq: i, vitals: { heartRate: 70 } }])
    }
    await pollUntil(async () => pushes.some((p) => p.series.some((s) => s.entries.some((e) => e.seq === 499))), {
      timeoutMs: 30_000,
      intervalMs: 20,
      what: 'the last entry',
    })
    const seconds = (Date.now() - t0) / 1000
    expect(pushes.length).toBeLessThanOrEqual(Math.ceil(seconds * 10) + 2)
    const seqs = new Set(pushes.flatMap((p) => p.series.flatMap((s) => s.entries.map((e) => e.seq))))
    expect(seqs.size).toBe(500)
  })

  it('forwards alerts to every client', async () => {
    const { c } = await connected()
    const got = new Promise<string[]>((resolve) => c.on('alert', (alerts) => resolve(alerts.map((a) => a.id))))
    await writeAlert(redis, keys, {
      id: 'p-x|spo2|1',
      patientId: 'p-x',
      vital: 'spo2',
      kind: 'raised',
      level: 'CRITICAL_LOW',
      value: 88,
      ts: Date.now(),
      message: 'SpO2 88',
    })
    expect(await got).toEqual(['p-x|spo2|1'])
  })

  it('sends a fresh snapshot when a client reconnects', async () => {
    const c = client({ authorization: `Bearer ${TOKEN}` })
    await nextSnapshot(c)
    c.disconnect()
    await writeReadings(redis, keys, [{ patientId: 'p-back', ts: Date.now(), seq: 1, vitals: { spo2: 90 } }], { publish: false })
    c.connect()
    const snapshot = await nextSnapshot(c)
    expect(snapshot.patients.some((p) => p.patientId === 'p-back')).toBe(true)
  })
})

describe('Socket.io on a sign-in session', () => {
  let users: TestUsers
  beforeAll(async () => {
    users = await testUsers(config, () => serving.url, TOKEN)
    await users.add('socket.viewer', 'viewer')
    await users.add('socket.leaver', 'clinician')
  })
  afterAll(() => users?.close())

  /** The session cookie that the bootstrap sign-in (`/login?token=`) sets. */
  async function tokenSession(): Promise<string> {
    return sessionCookie(await fetch(`${serving.url}/login?token=${TOKEN}`, { redirect: 'manual' }))
  }

  it("lets in a named user's session cookie and the bootstrap token's, over WebSocket and polling", async () => {
    for (const cookie of [await signIn(serving.url, 'socket.viewer'), await tokenSession()]) {
      expect(cookie).not.toBe('')
      const { c, snapshot } = await connected({ cookie })
      expect(Array.isArray(snapshot.patients)).toBe(true)
      expect(c.connected).toBe(true)
      const polling: Client = connect(serving.url, { transports: ['polling'], extraHeaders: { cookie }, reconnection: false, forceNew: true })
      clients.push(polling)
      await nextSnapshot(polling)
      expect(polling.connected).toBe(true)
    }
  })

  it('ends the connections of a session at sign-out with session:end and a server disconnect, leaves other sessions connected, and the cookie then opens nothing', async () => {
    const cookie = await signIn(serving.url, 'socket.viewer')
    const { c } = await connected({ cookie })
    const { c: other } = await connected({ cookie: await signIn(serving.url, 'socket.viewer') })
    const { c: bearer } = await connected()
    const ended = new Promise<unknown>((resolve) => c.once('session:end', resolve))
    const disconnected = new Promise<string>((resolve) => c.once('disconnect', resolve))
    const res = await fetch(`${serving.url}/logout`, { method: 'POST', headers: { cookie } })
    expect(res.status).toBe(204)
    expect(res.headers.get('set-cookie')).toMatch(/^vigil_session=; Max-Age=0; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Strict$/)
    expect(await ended).toEqual({ reason: 'signed-out' })
    expect(await disconnected).toBe('io server disconnect')
    expect(other.connected).toBe(true)
    expect(bearer.connected).toBe(true)
    // The session is gone: its cookie is a wrong credential now, refused before Socket.io and by the API.
    const again = client({ cookie })
    await connectError(again)
    expect(again.connected).toBe(false)
    expect((await fetch(`${serving.url}/api/me`, { headers: { cookie } })).status).toBe(401)
  })
  /** Resolves with the reason of the connection's session:end once it is followed by the server's disconnect. */
  function sessionEnd(c: Client): Promise<{ reason: string; disconnect: string }> {
    return new Promise((resolve) => c.once('session:end', ({ reason }) => c.once('disconnect', (disconnect) => resolve({ reason, disconnect }))))
  }

  it('ends, at its next session check, a connection whose session expired or whose user was disabled', async () => {
    const expiring = await signIn(serving.url, 'socket.viewer')
    const { c: expired } = await connected({ cookie: expiring })
    const { c: disabled } = await connected({ cookie: await signIn(serving.url, 'socket.leaver') })
    const { c: kept } = await connected({ cookie: await signIn(serving.url, 'socket.viewer') })
    const endings = Promise.all([sessionEnd(expired), sessionEnd(disabled)])
    // The session key gone from Redis is what its TTL does at expiry.
    await redis.unlink(keys.session(sessionHandle(expiring.slice('vigil_session='.length))))
    await users.disable('socket.leaver')
    expect(await endings).toEqual([
      { reason: 'expired', disconnect: 'io server disconnect' },
      { reason: 'revoked', disconnect: 'io server disconnect' },
    ])
    expect(kept.connected).toBe(true)
  })
})
