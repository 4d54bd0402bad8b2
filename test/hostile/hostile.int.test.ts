/**
 * The hostile-input corpus (corpus.ts) against the real pipeline: straight to Kafka and through
 * the gateway, with the speed layer and the gateway in this process. Every record must end
 * classified, counted (duplicate, late), dead-lettered with the reason the corpus expects, both
 * (a refused field dead-lettered, the rest classified), or refused by Kafka at produce time; no stage may crash or stall, and valid readings sent in
 * between must reach the view. The probe latency is printed, not asserted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Producer, type MessageToProduce } from '@platformatic/kafka'
import { createTestEnv, type TestEnv } from '../support.ts'
import { pollUntil } from '../../lib/backoff.ts'
import { describeError } from '../../lib/errors.ts'
import { createAdmin, kafkaBaseOptions } from '../../lib/kafka.ts'
import { redisKeys, type RedisKeys } from '../../lib/contract/keys.ts'
import { createLogger } from '../../lib/log.ts'
import { connectRedis, type RedisClient } from '../../lib/redis.ts'
import type { SeriesEntry } from '../../lib/contract/views.ts'
import { REJECT_HEADERS } from '../../lib/contract/topics.ts'
import { recordCount } from '../read-topic.ts'
import * as ingestion from '../../ingestion/gateway.ts'
import type { Gateway } from '../../ingestion/gateway.ts'
import { gatewayOptions } from '../../ingestion/config.ts'
import { consumerLag } from '../../serving/health.ts'
import { readWholeTopic } from '../chaos/ledger.ts'
import { DEFAULT_SPEED_OPTIONS, start, type SpeedLayer } from '../../speed-layer/index.ts'
import { DEAD_LETTER_MAX_BYTES } from '../../speed-layer/validate.ts'
import { hostileCorpus, httpExpectation, isPartialOutcome, type CorpusMessage, type Outcome } from './corpus.ts'

type Out = MessageToProduce<Buffer, Buffer, Buffer, Buffer>
/** A dead letter's reason, and its `vigil-reject-fields` header (only on a record whose other fields were classified). */
type DeadLetter = { reason: string; fields: string | undefined }

const TOKEN = 'hostile-corpus-token'
const SEED = Number(process.env.VIGIL_HOSTILE_SEED ?? 8)
const COUNT = Number(process.env.VIGIL_HOSTILE_COUNT ?? 10_000)
const HTTP_COUNT = Number(process.env.VIGIL_HOSTILE_HTTP_COUNT ?? 1_000)
/** Corpus records per second straight to Kafka: a steady hostile stream, not one burst, so the probes measure what hostile input costs valid readings rather than a backlog. */
const RATE = Number(process.env.VIGIL_HOSTILE_RATE ?? 2_000)
const CORPUS_ID = 'x-corpus-id'
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\ufffd]/

let env: TestEnv
let redis: RedisClient
let keys: RedisKeys
let layer: SpeedLayer
let gateway: Gateway
const prototypeKeys = Object.getOwnPropertyNames(Object.prototype).sort()

beforeAll(async () => {
  env = await createTestEnv()
  redis = await connectRedis(env.config)
  keys = redisKeys(env.config.redisPrefix)
  const log = createLogger({ level: 'warn', pretty: false, destination: process.stderr })
  layer = await start({ ...env.config, speed: { ...DEFAULT_SPEED_OPTIONS, housekeepingIntervalMs: 1_000 } }, { log })
  gateway = await ingestion.start({ ...env.config, deviceTokens: [TOKEN], gateway: gatewayOptions({ host: '127.0.0.1', port: 0 }) }, { log })
})

afterAll(async () => {
  await gateway?.stop()
  await layer?.stop()
  redis?.destroy()
  await env?.cleanup()
})

/** Counts of `kind / variant -> outcome`, for comparing and printing. */
function tally(entries: Iterable<[string, string]>): Record<string, number> {
  const t: Record<string, number> = {}
  for (const [k, outcome] of entries) t[`${k} -> ${outcome}`] = (t[`${k} -> ${outcome}`] ?? 0) + 1
  return Object.fromEntries(Object.entries(t).sort(([a], [b]) => a.localeCompare(b)))
}

/** `deviceId/seq` of a record that is a JSON object, the way a dead letter of the gateway's records is matched to its request. */
function readingKey(value: Buffer | null): string {
  try {
    const r = JSON.parse(value?.toString() ?? '') as { deviceId?: unknown; seq?: unknown }
    return `${String(r.deviceId)}/${String(r.seq)}`
  } catch {
    return '(not JSON)'
  }
}

function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN
}

describe('the hostile-input corpus', () => {
  it('classifies, counts or dead-letters every record with the expected reason, sent straight to Kafka and through the gateway, without a stall', async () => {
    const now = Date.now()
    const direct = hostileCorpus({ seed: SEED, count: COUNT, now })
    const overHttp = hostileCorpus({ seed: SEED + 1, count: HTTP_COUNT, now, idPrefix: 'h', memberNamedPatients: false })
    expect(direct.length).toBeGreaterThanOrEqual(Math.min(COUNT, 10_000))

    const plain = new Producer<Buffer, Buffer, Buffer, Buffer>({ ...kafkaBaseOptions(env.config, 'hostile-plain'), acks: -1 })
    const compressed = new Producer<Buffer, Buffer, Buffer, Buffer>({ ...kafkaBaseOptions(env.config, 'hostile-lz4'), acks: -1, compression: 'lz4' })
    const probes = new Producer({ ...kafkaBaseOptions(env.config, 'hostile-probe'), acks: -1 })
    const refused: CorpusMessage[] = []
    const tooLarge: string[] = []
    const latencies: number[] = []
    const baseline: number[] = []
    let probing = true
    let probeError: unknown
    try {
      // Valid readings of one patient every 50 ms: their time to the view, alone first (the
      // baseline), then while the corpus goes through.
      let probeSeq = 0
      const probe = async (into: number[]) => {
        const ts = Date.now()
        const r = { v: 1, patientId: 'probe-1', deviceId: 'probe-dev', ts, seq: ++probeSeq, vitals: { heartRate: 70, spo2: 98 } }
        await probes.send({ messages: [{ topic: env.topics.readings, key: Buffer.from(r.patientId), value: Buffer.from(JSON.stringify(r)) }] })
        await pollUntil(async () => Number((await redis.hGet(keys.latest('probe-1'), 'ts')) ?? 0) >= ts, {
          timeoutMs: 60_000,
          intervalMs: 5,
          what: `probe ${r.seq} in the view`,
        })
        into.push(Date.now() - ts)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      for (let i = 0; i < 20; i++) await probe(baseline)
      const probeLoop = (async () => {
        while (probing) await probe(latencies)
      })().catch((error: unknown) => {
        probeError = error
      })

      // (a) Straight to Kafka, in corpus order; a large record goes alone, compressible ones compressed.
      const headers = (m: CorpusMessage) => new Map([[Buffer.from(CORPUS_ID), Buffer.from(String(m.id))]])
      const toRecord = (m: CorpusMessage): Out =>
        ({ topic: env.topics.readings, key: m.key ?? undefined, value: m.value ?? undefined, headers: headers(m) }) as Out
      let chunk: Out[] = []
      const flush = async () => {
        if (chunk.length > 0) await plain.send({ messages: chunk })
        chunk = []
      }
      const paceFrom = Date.now()
      for (const [i, m] of direct.entries()) {
        const due = paceFrom + (i * 1000) / RATE
        if (due > Date.now()) {
          await flush()
          await new Promise((resolve) => setTimeout(resolve, due - Date.now()))
        }
        if (!m.big) {
          chunk.push(toRecord(m))
          if (chunk.length >= 500) await flush()
          continue
        }
        await flush()
        try {
          await (m.compressed ? compressed : plain).send({ messages: [toRecord(m)] })
        } catch (error) {
          refused.push(m)
          const e = error as Error & { findBy?: (property: string, value: unknown) => unknown }
          expect(e.findBy?.('apiId', 'MESSAGE_TOO_LARGE') != null, describeError(e)).toBe(true)
          tooLarge.push(describeError(e).slice(0, 200))
        }
      }
      await flush()
      expect(refused.map((m) => m.variant)).toEqual(direct.filter((m) => m.expect === 'refused').map((m) => m.variant))

      // (b) Through the gateway, one request per record, in order.
      const limit = gatewayOptions({}).bodyLimitBytes
      const httpGot: Array<[string, string]> = []
      const httpWant: Array<[string, string]> = []
      const accepted: CorpusMessage[] = []
      for (const m of overHttp) {
        const want = httpExpectation(m, limit)
        const res = await fetch(`${gateway.url}/v1/readings`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          body: new Uint8Array(m.value ?? Buffer.alloc(0)),
        })
        const text = await res.text()
        httpGot.push([`${m.kind}/${m.variant}`, String(res.status)])
        httpWant.push([`${m.kind}/${m.variant}`, String(want.status)])
        if (res.status === 202) accepted.push(m)
        else {
          expect(res.headers.get('content-type'), text.slice(0, 200)).toMatch(/^application\/problem\+json/)
          const problem = JSON.parse(text) as { status: number; detail: string; errors?: Array<{ pointer: string; detail: string }> }
          expect(problem.status).toBe(res.status)
          // A 400 names the bad fields.
          if (res.status === 400) expect(problem.errors?.length ?? 0).toBeGreaterThan(0)
          // An id outside the policy is named with the rule it breaks.
          if (m.kind === 'unicodeId' || m.kind === 'htmlId') {
            expect(
              problem.errors?.some(
                (e) => /^\/(patientId|deviceId)$/.test(e.pointer) && e.detail.includes("must be 1-64 ASCII letters, digits, '.', '_' or '-'"),
              ),
              text.slice(0, 300),
            ).toBe(true)
          }
        }
      }
      expect(tally(httpGot)).toEqual(tally(httpWant))

      // Bodies of many bad items are refused at once, listing at most 100 errors: no amplification, no stack overflow.
      const many = 300_000
      const floods: Array<[string, string, string]> = [
        ['/v1/readings', 'application/json', `[${Array.from({ length: many }, () => '{}').join(',')}]`],
        ['/v1/readings', 'application/x-ndjson', Array.from({ length: many }, () => 'x').join('\n')],
        ['/fhir', 'application/fhir+json', JSON.stringify({ resourceType: 'Bundle', entry: Array.from({ length: many }, () => ({})) })],
      ]
      for (const [path, type, body] of floods) {
        const res = await fetch(`${gateway.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': type }, body })
        const problem = (await res.json()) as { status: number; errors: unknown[] }
        expect([path, type, res.status, problem.errors.length]).toEqual([path, type, 400, 100])
      }
      const health = await fetch(`${gateway.url}/healthz`)
      expect(health.status).toBe(200)

      // Everything on the topic is processed and committed: the speed layer did not stall.
      const total = await recordCount(env.config, env.topics.readings)
      const admin = createAdmin(env.config)
      try {
        await pollUntil(
          async () => (await consumerLag(admin, env.config)).find((l) => l.group.endsWith('vigil-speed'))?.lag === 0 && layer.stats().records >= total,
          {
            timeoutMs: 90_000,
            intervalMs: 200,
            what: 'the speed layer to process and commit every record',
          },
        )
      } finally {
        await admin.close()
      }
      probing = false
      await probeLoop
      expect(probeError).toBeUndefined()

      // The dead letters, each traced back to its record.
      const { records: dead } = await readWholeTopic(env.config, env.topics.rejected)
      // A dead letter's reason, and the refused fields of a record whose other fields were classified.
      const deadDirect = new Map<number, DeadLetter>()
      const deadHttp = new Map<string, DeadLetter>()
      const cut = new Map<number, number>()
      for (const d of dead) {
        expect(d.value.length).toBeLessThanOrEqual(DEAD_LETTER_MAX_BYTES)
        const original = d.headers.get(REJECT_HEADERS.originalBytes)
        if (original !== undefined) cut.set(Number(d.headers.get(CORPUS_ID)), Number(original))
        const reason = d.headers.get(REJECT_HEADERS.reason) ?? '(none)'
        const dl: DeadLetter = { reason, fields: d.headers.get(REJECT_HEADERS.fields) }
        // The detail never carries what the record did: no control, zero-width or bidi character (units such as °C are the layer's own).
        expect(d.headers.get(REJECT_HEADERS.detail) ?? '').not.toMatch(INVISIBLE)
        const id = d.headers.get(CORPUS_ID)
        if (id !== undefined) {
          expect(deadDirect.has(Number(id))).toBe(false)
          deadDirect.set(Number(id), dl)
        } else {
          deadHttp.set(readingKey(d.value), dl)
        }
      }

      // Valid readings are in the view, with their accepted vitals only; the others are not.
      const inView = new Map<string, SeriesEntry>()
      const patients = new Set([...direct, ...accepted].flatMap((m) => (m.reading === undefined ? [] : [m.reading.patientId])))
      for (const p of patients) {
        for (const s of await redis.zRange(keys.series(p), 0, -1)) {
          const e = JSON.parse(s) as SeriesEntry
          inView.set(`${p}/${e.deviceId}/${e.seq}`, e)
        }
      }
      /** 'in the view' with the vitals the corpus expects classified (all sent, or only the accepted ones), else what is wrong. */
      const viewed = (m: CorpusMessage): string => {
        const e = m.reading === undefined ? undefined : inView.get(`${m.reading.patientId}/${m.reading.deviceId}/${m.reading.seq}`)
        if (e === undefined) return 'missing from the view'
        if (m.fields === undefined) return 'in the view'
        const sorted = (v: Record<string, unknown>) => JSON.stringify(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)))
        return sorted(e.vitals) === sorted(m.fields.applied) ? 'in the view' : `in the view with ${sorted(e.vitals)}, not ${sorted(m.fields.applied)}`
      }

      const outcomeOf = (m: CorpusMessage, dl: DeadLetter | undefined, expected: Outcome): string => {
        if (dl !== undefined) {
          if (dl.fields === undefined) return dl.reason
          // Partly refused: the dead letter names the refused fields, and the rest is classified.
          const named = dl.fields === m.fields?.refused.join(',') ? '' : ` naming ${dl.fields}`
          const view = viewed(m)
          return view === 'in the view' && named === '' ? `${dl.reason} and classified` : `${dl.reason}${named}, ${view}`
        }
        if (refused.includes(m)) return 'refused'
        if (expected === 'valid') return viewed(m) === 'in the view' ? 'valid' : viewed(m)
        if (isPartialOutcome(expected)) return `not dead-lettered, ${viewed(m)}`
        // Duplicates and late readings are counted, not written: they must be neither dead-lettered nor in the view as a new entry.
        if (expected === 'duplicate' || expected === 'late') return expected
        return 'not dead-lettered'
      }
      // Values over the dead letter's bound were cut, with their size in a header.
      const large = direct.filter((m) => deadDirect.has(m.id) && (m.value?.length ?? 0) > DEAD_LETTER_MAX_BYTES)
      expect([...cut].sort((a, b) => a[0] - b[0])).toEqual(large.map((m) => [m.id, m.value!.length]))
      const got = tally(direct.map((m) => [`${m.kind}/${m.variant}`, outcomeOf(m, deadDirect.get(m.id), m.expect)]))
      const want = tally(direct.map((m) => [`${m.kind}/${m.variant}`, m.expect]))
      expect(got).toEqual(want)
      const httpThen = accepted.map((m) => [m, httpExpectation(m, limit).then!] as const)
      const gotHttp = tally(httpThen.map(([m, then]) => [`${m.kind}/${m.variant}`, outcomeOf(m, deadHttp.get(readingKey(m.value)), then)]))
      const wantHttp = tally(httpThen.map(([m, then]) => [`${m.kind}/${m.variant}`, then]))
      expect(gotHttp).toEqual(wantHttp)

      // The speed layer's counters agree with the corpus.
      const all = [...direct.map((m) => m.expect), ...httpThen.map(([, then]) => then)]
      const stats = layer.stats()
      // A partly refused record is counted once under its first refused field's reason, and applied.
      const reasonOf = (o: Outcome) => (isPartialOutcome(o) ? o.slice(0, -' and classified'.length) : o)
      const expectedRejects = Object.fromEntries(Object.keys(stats.rejected).map((r) => [r, all.filter((o) => reasonOf(o) === r).length]))
      expect(stats.rejected).toEqual(expectedRejects)
      expect(stats.partialRejects).toBe(all.filter(isPartialOutcome).length)
      expect(stats.duplicates).toBe(all.filter((o) => o === 'duplicate').length)
      expect(stats.late).toBe(all.filter((o) => o === 'late').length)
      expect(stats.applied).toBe(all.filter((o) => o === 'valid' || isPartialOutcome(o)).length + baseline.length + latencies.length)
      expect(dead.length).toBe(Object.values(expectedRejects).reduce((a, b) => a + b, 0))

      // No key was added to Object.prototype by any of it (the layer and the gateway run in this process).
      expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeKeys)
      expect(({} as Record<string, unknown>).polluted).toBeUndefined()

      const byOutcome = Object.fromEntries(Object.entries(tally(all.map((o) => ['all', o]))).map(([k, v]) => [k.slice('all -> '.length), v]))
      console.log(
        `hostile corpus seed ${SEED}: ${direct.length} records straight to Kafka (${refused.length} refused by Kafka), ${overHttp.length} through the gateway (${accepted.length} accepted); ` +
          `outcomes ${JSON.stringify(byOutcome)}; ${dead.length} dead letters; ` +
          `latency of valid readings to the view: alone p50 ${percentile(baseline, 50)} ms, max ${Math.max(...baseline)} ms (${baseline.length}); ` +
          `amid the corpus at ${RATE} records/s p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms, max ${Math.max(...latencies)} ms (${latencies.length})`,
      )
    } finally {
      probing = false
      await Promise.all([plain.close(), compressed.close(), probes.close()].map((p) => p.catch(() => undefined)))
    }
  })
})
