import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Producer, type MessageToProduce } from '@platformatic/kafka'
import { createTestEnv, type TestEnv } from '../test/support.ts'
import { HEART_RATE_MODEL } from '../test/risk-model-fixture.ts'
import { pollUntil } from '../lib/backoff.ts'
import { kafkaBaseOptions } from '../lib/kafka.ts'
import { redisKeys, type RedisKeys } from '../lib/contract/keys.ts'
import { createLogger } from '../lib/log.ts'
import { connectRedis, type RedisClient } from '../lib/redis.ts'
import { decodeLatest } from '../lib/contract/codecs/latest.ts'
import { decodeAlertState } from '../lib/contract/codecs/alerts.ts'
import { decodeRiskModelInfo } from '../lib/contract/codecs/risk-model.ts'
import type { AlertEvent } from '../lib/contract/views.ts'
import type { Reading } from '../lib/contract/schema.ts'
import { DEFAULT_SPEED_OPTIONS, start, type SpeedLayer, type SpeedOptions } from './index.ts'

type Out = MessageToProduce<Buffer, Buffer, Buffer, Buffer>

describe('the speed layer serving a risk model', () => {
  let env: TestEnv
  let redis: RedisClient
  let keys: RedisKeys
  let producer: Producer<Buffer, Buffer, Buffer, Buffer>
  const layers: SpeedLayer[] = []

  beforeEach(async () => {
    env = await createTestEnv()
    redis = await connectRedis(env.config)
    keys = redisKeys(env.config.redisPrefix)
    producer = new Producer({ ...kafkaBaseOptions(env.config, 'test-producer'), idempotent: true, acks: -1 })
  })
  afterEach(async () => {
    for (const l of layers.splice(0)) await l.stop()
    await producer.close()
    redis.destroy()
    await env.cleanup()
  })

  async function startLayer(options: Partial<SpeedOptions> = {}): Promise<SpeedLayer> {
    const log = createLogger({ level: 'error', pretty: false, destination: process.stderr })
    const layer = await start({ ...env.config, speed: { ...DEFAULT_SPEED_OPTIONS, housekeepingIntervalMs: 300, ...options } }, { log })
    layers.push(layer)
    return layer
  }

  /** A heart rate (and SpO2 97) every 10 s: `plan` is [minutes, bpm] from minute `fromMin` of `t0`. */
  function heartRates(t0: number, plan: ReadonlyArray<readonly [number, number]>, fromMin = 0): Out[] {
    const out: Out[] = []
    let minute = fromMin
    for (const [minutes, bpm] of plan) {
      for (let s = minute * 60; s < (minute + minutes) * 60; s += 10) {
        const r: Reading = { v: 1, patientId: 'p-risk', deviceId: 'wrist-1', ts: t0 + s * 1000, seq: s / 10, vitals: { heartRate: bpm, spo2: 97 } }
        out.push({ topic: env.topics.readings, key: Buffer.from(r.patientId), value: Buffer.from(JSON.stringify(r)) })
      }
      minute += minutes
    }
    return out
  }

  async function riskAlerts(): Promise<AlertEvent[]> {
    const entries = await redis.xRange(keys.alerts, '-', '+')
    return (entries ?? []).map((e) => JSON.parse(e.message.event as string) as AlertEvent).filter((a) => a.vital === 'risk')
  }

  it("serves the lake's model: risk:model set, the risk in {p}:latest, RISK_HIGH raised then, after a restart, cleared with hysteresis", async () => {
    await mkdir(path.join(env.config.datalakeDir, 'models'), { recursive: true })
    await writeFile(path.join(env.config.datalakeDir, 'models', 'latest.json'), JSON.stringify(HEART_RATE_MODEL))
    await startLayer()
    expect(decodeRiskModelInfo(await redis.get(keys.riskModel))).toEqual({
      version: 'lr-0123456789ab',
      cohort: 'simulator, 140 patients, 7 days',
      horizonMinutes: 60,
      testAuroc: 0.81,
      testAurocWithinPatients: null,
      threshold: { raise: 0.5, clear: 0.3 },
    })
    // A minute boundary half an hour ago: the minute closes fall on known event times.
    const t0 = Math.floor((Date.now() - 1_800_000) / 60_000) * 60_000
    // HR 80 (risk 0.05) for 2 min, then 130 (0.88) for 3 min: minute 2 closes at 2:50 at 0.88, a minute after minute 1's close: raised.
    await producer.send({
      messages: heartRates(t0, [
        [2, 80],
        [3, 130],
      ]),
    })
    await pollUntil(async () => (await riskAlerts()).length === 1, { timeoutMs: 30_000, what: 'the RISK_HIGH alert' })
    await pollUntil(async () => (await redis.hGet(keys.latest('p-risk'), 'ts')) === String(t0 + 290_000), {
      timeoutMs: 30_000,
      what: 'the first readings in the view',
    })
    const open = (await redis.hGetAll(keys.alertState('p-risk'))).risk
    expect(open === undefined ? undefined : decodeAlertState(open).level).toBe('RISK_HIGH')
    const latest = decodeLatest('p-risk', await redis.hGetAll(keys.latest('p-risk')))
    expect(latest?.risk?.risk).toBe(0.8808)
    expect(latest?.risk?.model).toBe('lr-0123456789ab')
    expect(latest?.risk?.ts).toBe(t0 + 290_000)
    expect(latest?.risk?.top).toEqual([{ feature: 'heartRate.last', value: 130, contribution: 5, text: 'Heart rate 130 bpm' }])
    // One point per closed minute (0-3), then the current minute's.
    expect(latest?.risk?.recent.map(([ts]) => ts - t0)).toEqual([50_000, 110_000, 170_000, 230_000, 290_000])

    // A restart: the next layer reloads the patient from Redis (features from the series, the minute points from riskRecent, the open alert).
    await layers.pop()?.stop()
    await startLayer()

    // HR 105 (0.38, between clear 0.3 and raise 0.5) for 3 min: the alert stays open; HR 85 (0.08) for 3 min: cleared a hold-down after the first minute below clear.
    await producer.send({
      messages: heartRates(
        t0,
        [
          [3, 105],
          [3, 85],
        ],
        5,
      ),
    })
    await pollUntil(async () => (await riskAlerts()).length === 2, { timeoutMs: 30_000, what: 'the RISK_HIGH alert to clear' })
    await pollUntil(async () => (await redis.hGet(keys.latest('p-risk'), 'ts')) === String(t0 + 650_000), {
      timeoutMs: 30_000,
      what: 'every reading in the view',
    })
    const alerts = await riskAlerts()
    expect(alerts.map((a) => [a.kind, a.level, a.ts - t0, a.value])).toEqual([
      ['raised', 'RISK_HIGH', 170_000, 0.8808],
      ['cleared', 'RISK_HIGH', 590_000, 0.0759],
    ])
    expect(alerts[0]?.message).toBe('p-risk: experimental risk 88 % (model lr-0123456789ab): Heart rate 130 bpm +5.0, RISK_HIGH')
    expect(alerts[1]?.message).toBe('p-risk: experimental risk 8 % (model lr-0123456789ab), below 30 % (alert RISK_HIGH cleared)')
    const hash = await redis.hGetAll(keys.latest('p-risk'))
    expect(hash).toMatchObject({ risk: '0.0759', 'risk:ts': String(t0 + 650_000), riskModel: 'lr-0123456789ab' })
    expect(JSON.parse(hash.riskTop ?? '')).toEqual([{ feature: 'heartRate.last', value: 85, contribution: 0.5, text: 'Heart rate 85 bpm' }])
    // Every minute's point, those from before the restart included.
    expect((JSON.parse(hash.riskRecent ?? '') as [number, number][]).map(([ts]) => (ts - t0) / 1000)).toEqual([
      50, 110, 170, 230, 290, 350, 410, 470, 530, 590, 650,
    ])
    // Neither an open risk alert nor a pending run is left.
    expect(Object.keys(await redis.hGetAll(keys.alertState('p-risk'))).filter((f) => f.startsWith('risk'))).toEqual([])
  })

  it('runs on without a model when the configured file is corrupt: no risk fields, risk:model deleted', async () => {
    await redis.set(keys.riskModel, '{"version":"lr-ffffffffffff"}')
    const file = path.join(env.config.datalakeDir, 'corrupt.json')
    await writeFile(file, '{"format":"vigil-risk-model",')
    await startLayer({ riskModel: file })
    expect(await redis.exists(keys.riskModel)).toBe(0)
    const t0 = Math.floor((Date.now() - 1_800_000) / 60_000) * 60_000
    await producer.send({ messages: heartRates(t0, [[3, 130]]) })
    await pollUntil(async () => (await redis.hGet(keys.latest('p-risk'), 'ts')) === String(t0 + 170_000), {
      timeoutMs: 30_000,
      what: 'the readings in the view',
    })
    expect(await redis.hGetAll(keys.latest('p-risk'))).toMatchObject({ heartRate: '130', risk: '', riskModel: '', riskTop: '', riskRecent: '' })
    expect(await riskAlerts()).toEqual([])
  })
})
