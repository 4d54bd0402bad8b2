/**
 * The push's fan-out at ward scale: 200 dashboards (real Socket.io clients, each subscribed to one
 * patient's room as the page is when a patient is open), readings published through Redis as the
 * speed layer publishes them (one `readings` update per batch, many patients each), and every
 * client's series entries counted: each reading of its patient exactly once, in order, and nothing
 * of any other patient.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { io as connect, type Socket } from 'socket.io-client'
import { createTestEnv, freePort, type TestEnv } from '../test/support.ts'
import { connectRedis, type RedisClient } from '../lib/redis.ts'
import { redisKeys, type RedisKeys } from '../lib/contract/keys.ts'
import { encodeUpdate } from '../lib/contract/codecs/updates.ts'
import type { PatientState, SeriesEntry, Update } from '../lib/contract/views.ts'
import { createLogger } from '../lib/log.ts'
import { pollUntil } from '../lib/backoff.ts'
import { start, servingOptions, type Serving } from './index.ts'
import type { ClientToServerEvents, ServerToClientEvents, Snapshot } from './events.ts'
import { stateOf } from '../test/view-fixtures.ts'

const TOKEN = 'fanout-test-token-0123456789'
type Client = Socket<ServerToClientEvents, ClientToServerEvents>

const DASHBOARDS = 200
/** Rooms the dashboards open, two or three dashboards each. */
const ROOMS = 80
/** Patients 0-59 have readings and subscribers, 60-79 subscribers only, 100-159 readings only. */
const PUBLISHED = [...Array.from({ length: 60 }, (_, i) => i), ...Array.from({ length: 60 }, (_, i) => 100 + i)]
const BATCHES = 12
/** The seq of the last batch, published to every room once the others are out. */
const LAST_SEQ = 1_000_000

const patientId = (n: number) => `p-fan-${String(n).padStart(3, '0')}`

let env: TestEnv
let serving: Serving
let redis: RedisClient
let keys: RedisKeys
const clients: Client[] = []

beforeAll(async () => {
  env = await createTestEnv()
  const config = Object.freeze({ ...env.config, port: await freePort(), token: TOKEN })
  keys = redisKeys(config.redisPrefix)
  redis = await connectRedis(config)
  // A client too far behind is skipped and gets a snapshot instead (the coalescer's tests): here
  // the bound is out of reach, so that every client owes every reading of its room.
  serving = await start({ ...config, serving: servingOptions({ pushIntervalMs: 100, maxPendingPackets: 10_000 }) }, { log: createLogger({ level: 'silent' }) })
})

afterAll(async () => {
  for (const c of clients) c.disconnect()
  await serving?.stop()
  redis?.destroy()
  await env?.cleanup()
})

/** One batch as the speed layer publishes it: every patient's new state and its entries, in one message. */
async function publishBatch(readings: { patient: number; seq: number }[]): Promise<void> {
  const byPatient = new Map<string, { patient: PatientState; entries: SeriesEntry[] }>()
  for (const { patient: n, seq } of readings) {
    const { patient, entry } = stateOf({ patientId: patientId(n), ts: 1_700_000_000_000 + seq, seq, vitals: { heartRate: 60 + (seq % 50), spo2: 97 } })
    const part = byPatient.get(patient.patientId)
    if (part === undefined) byPatient.set(patient.patientId, { patient, entries: [entry] })
    else byPatient.set(patient.patientId, { patient, entries: [...part.entries, entry] })
  }
  const update: Update = { type: 'readings', patients: [...byPatient.values()] }
  await redis.publish(keys.updates, encodeUpdate(update))
}

describe('Socket.io fan-out to 200 dashboards', () => {
  it("pushes each reading to its room's clients exactly once and in order, and none to the clients of other rooms", async () => {
    const rooms: number[] = []
    const received: { patientId: string; seq: number }[][] = []
    await Promise.all(
      Array.from({ length: DASHBOARDS }, async (_, i) => {
        const c: Client = connect(serving.url, {
          transports: ['websocket'],
          extraHeaders: { authorization: `Bearer ${TOKEN}` },
          reconnection: false,
          forceNew: true,
        })
        clients.push(c)
        const got: { patientId: string; seq: number }[] = []
        received[i] = got
        c.on('reading', (push) => {
          for (const s of push.series) for (const e of s.entries) got.push({ patientId: s.patientId, seq: e.seq })
        })
        await new Promise<Snapshot>((resolve) => c.once('snapshot', resolve))
        rooms[i] = i % ROOMS
        expect(await c.emitWithAck('subscribe', { patientId: patientId(i % ROOMS) })).toEqual({ ok: true })
      }),
    )

    // Batches back to back (coalesced into one push) and apart (one push each); one to three
    // readings per patient per batch.
    const published = new Map<number, number[]>()
    let seq = 0
    for (let b = 0; b < BATCHES; b++) {
      const readings: { patient: number; seq: number }[] = []
      for (const p of PUBLISHED) {
        for (let k = 0; k <= (p + b) % 3; k++) {
          readings.push({ patient: p, seq: ++seq })
          published.set(p, [...(published.get(p) ?? []), seq])
        }
      }
      await publishBatch(readings)
      if (b % 3 === 2) await sleep(150)
    }
    // Pushes reach a client in order: once its room's last reading is in, every earlier push is too.
    await publishBatch(Array.from({ length: ROOMS }, (_, room) => ({ patient: room, seq: LAST_SEQ })))
    await pollUntil(async () => received.every((got) => got.at(-1)?.seq === LAST_SEQ), {
      timeoutMs: 60_000,
      intervalMs: 50,
      what: 'every dashboard to receive its room’s last reading',
    })

    for (let i = 0; i < DASHBOARDS; i++) {
      const room = rooms[i]!
      const expected = [...(published.get(room) ?? []), LAST_SEQ].map((s) => ({ patientId: patientId(room), seq: s }))
      expect({ dashboard: i, got: received[i] }).toEqual({ dashboard: i, got: expected })
    }
    // The rooms without readings got only the last batch's; the others, 12 batches' worth.
    expect(received.filter((got) => got.length === 1)).toHaveLength(40)
    expect(Math.min(...received.filter((got) => got.length > 1).map((got) => got.length))).toBeGreaterThan(BATCHES)
  })
})
