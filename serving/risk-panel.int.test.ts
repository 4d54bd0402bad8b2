/**
 * The experimental risk panel in a real Chromium against a live serving layer and Redis
 * (docs/CONTRACT.md, Serving): a patient's risk, its last hour, its three largest contributions and
 * the model's line while the speed layer serves a model (`risk:model` set), no panel at all without
 * one; a model dropped or loaded while the page is open reaches it; a RISK_HIGH alert in the feed is
 * labelled as the experimental model's, in its own calm colour. Saves the selected patient's page
 * to test-artifacts/dashboard-risk.png.
 */
import { mkdir } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import { collectErrors, createTestEnv, launchChromium, type TestEnv } from '../test/support.ts'
import type { Config } from '../lib/config.ts'
import type { PatientState, RiskModelInfo, RiskState } from '../lib/contract/views.ts'
import { encodeRiskModelInfo } from '../lib/contract/codecs/risk-model.ts'
import { connectRedis, type RedisClient } from '../lib/redis.ts'
import { redisKeys, type RedisKeys } from '../lib/contract/keys.ts'
import { createLogger } from '../lib/log.ts'
import { freePort, writeAlert, type TestReading } from '../test/view-fixtures.ts'
import { RISK_MODEL_POLL_MS } from './risk-model-watch.ts'
import { start, servingOptions, type Serving } from './index.ts'
import { writeOpenAlert, writeReadings } from './state-fixtures.ts'

const TOKEN = 'risk-panel-test-token-0123456789'
const ARTIFACTS = 'test-artifacts'
const MODEL: RiskModelInfo = {
  version: 'lr-3f9a0c12d4e7',
  cohort: 'simulator, 140 patients, 7 days',
  horizonMinutes: 60,
  testAuroc: 0.834,
  threshold: { raise: 0.3, clear: 0.2 },
}
const WITH_RISK = 'bed-11-Ida-Holm'
const WITHOUT_RISK = 'bed-12-Per-Lund'
/** The speed layer's text of a RISK_HIGH alert (speed-layer/alert-text.ts, riskText). */
const RISK_MESSAGE = `${WITH_RISK}: experimental risk 34 % (model ${MODEL.version}): SpO2 falling 2.0 %/10 min +0.8, Respiratory rate 15-min mean 24 /min +0.5, Heart rate 112 bpm +0.4, RISK_HIGH`
/** A change of the key reaches an open page within one poll of the serving layer, and a push. */
const NOTICE_MS = RISK_MODEL_POLL_MS + 5_000

let env: TestEnv
let serving: Serving
let redis: RedisClient
let keys: RedisKeys
let browser: Browser
let page: Page
let errors: string[]
let now = 0

/** An hour of risks, one a minute, rising from 8 % to a peak of 38 % and back to 34 % now. */
function lastHour(end: number): RiskState['recent'] {
  return Array.from({ length: 60 }, (_, i) => {
    const r = i < 55 ? 0.08 + (0.3 * i) / 54 : 0.38 - (0.04 * (i - 54)) / 5
    return [end - (59 - i) * 60_000, Math.round(r * 10_000) / 10_000] as const
  })
}

function riskOf(end: number): RiskState {
  return {
    risk: 0.34,
    ts: end,
    model: MODEL.version,
    top: [
      { feature: 'spo2.slope10', value: -2, contribution: 0.82, text: 'SpO2 falling 2.0 %/10 min' },
      { feature: 'respRate.mean15', value: 24, contribution: 0.51, text: 'Respiratory rate 15-min mean 24 /min' },
      { feature: 'heartRate.last', value: 112, contribution: 0.37, text: 'Heart rate 112 bpm' },
    ],
    recent: lastHour(end),
  }
}

/** Two minutes of readings ending now, one a second, with `extra` in the patient's state. */
async function seedPatient(patientId: string, vitals: TestReading['vitals'], extra: Partial<PatientState>): Promise<void> {
  const readings = Array.from({ length: 120 }, (_, i) => ({ patientId, ts: now - (119 - i) * 1000, seq: i, vitals }))
  const observed = { onOxygen: { value: false, ts: now - 20 * 60_000 }, consciousness: { value: 'A' as const, ts: now - 20 * 60_000 } }
  await writeReadings(redis, keys, readings, { publish: false, extra: { ...observed, ...extra } })
}

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true })
  env = await createTestEnv()
  const config: Config = Object.freeze({ ...env.config, port: await freePort(), token: TOKEN })
  keys = redisKeys(config.redisPrefix)
  redis = await connectRedis(config)
  now = Date.now()
  await seedPatient(WITH_RISK, { heartRate: 112, spo2: 93, respRate: 24, systolic: 108, diastolic: 68, temperature: 37.9 }, { risk: riskOf(now) })
  await seedPatient(WITHOUT_RISK, { heartRate: 76, spo2: 97, respRate: 15, systolic: 124, diastolic: 78, temperature: 36.8 }, {})
  await redis.set(keys.riskModel, encodeRiskModelInfo(MODEL))
  await writeAlert(
    redis,
    keys,
    {
      id: 'r-1',
      patientId: WITH_RISK,
      vital: 'risk',
      kind: 'raised',
      level: 'RISK_HIGH',
      value: 0.34,
      ts: now - 5 * 60_000,
      message: RISK_MESSAGE,
    },
    false,
  )
  await writeOpenAlert(redis, keys, WITH_RISK, 'risk', {
    level: 'RISK_HIGH',
    raisedTs: now - 5 * 60_000,
    normalSince: null,
    value: 0.34,
    ts: now,
    message: RISK_MESSAGE,
  })
  serving = await start({ ...config, serving: servingOptions() }, { log: createLogger({ level: 'silent' }) })
  browser = await launchChromium()
  page = await browser.newPage({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 })
  errors = collectErrors(page)
  await page.goto(`${serving.url}/login?token=${TOKEN}`)
  await page.locator('#conn-text', { hasText: 'Live' }).waitFor()
})

afterAll(async () => {
  await browser?.close()
  await serving?.stop()
  redis?.destroy()
  await env?.cleanup()
})

const panel = () => page.locator('#risk')
const select = async (id: string) => {
  await page.locator('.tile-id', { hasText: id }).click()
  await page.locator('#detail-title', { hasText: id }).waitFor()
}
/** The sparkline's points, in percent (Chart.js on #risk-chart). */
const sparkline = () =>
  page.evaluate(() => {
    const chart = (
      globalThis as unknown as { Chart: { getChart(c: Element | null): { data: { datasets: Array<{ data: Array<{ y: number }> }> } } | undefined } }
    ).Chart.getChart(document.querySelector('#risk-chart'))
    return chart?.data.datasets[0]?.data.map((p) => p.y) ?? []
  })

describe('the experimental risk panel', () => {
  it("answers the patient's risk in the API and the model in the snapshot's place", async () => {
    const res = await fetch(`${serving.url}/api/patients/${WITH_RISK}`, { headers: { authorization: `Bearer ${TOKEN}` } })
    const body = (await res.json()) as PatientState
    expect(body.risk?.risk).toBe(0.34)
    expect(body.risk?.model).toBe(MODEL.version)
    expect(body.risk?.top.map((c) => c.text)).toEqual(['SpO2 falling 2.0 %/10 min', 'Respiratory rate 15-min mean 24 /min', 'Heart rate 112 bpm'])
    expect(body.risk?.recent).toHaveLength(60)
  })

  it('shows the risk, its last hour, the three largest contributions and the model, marked experimental', async () => {
    await select(WITH_RISK)
    await panel().waitFor()
    await page.locator('#open-alerts li').first().waitFor()
    expect(await page.locator('#risk-value').textContent()).toBe('34 %')
    expect(await page.locator('#risk-meaning').textContent()).toBe('Risk of an episode within 60 min')
    expect(await page.locator('#risk-threshold').textContent()).toBe('At or above the alert threshold (30 %)')
    expect(await page.locator('#risk-top li').allTextContents()).toEqual([
      'SpO2 falling 2.0 %/10 min: +0.8',
      'Respiratory rate 15-min mean 24 /min: +0.5',
      'Heart rate 112 bpm: +0.4',
    ])
    expect(await page.locator('#risk-model').textContent()).toBe(`Model ${MODEL.version} · trained on ${MODEL.cohort} · test AUROC 0.83`)
    expect(await panel().locator('.risk-panel-badge').textContent()).toBe('Experimental')
    expect(await panel().locator('.risk-panel-note').textContent()).toContain('NEWS2 and the vital bands remain the primary signal')
    expect(await page.locator('#risk-trend').textContent()).toBe('Last hour: 8 % → 34 % (highest 38 %)')
    const points = await sparkline()
    expect(points).toHaveLength(60)
    expect(points.at(-1)).toBeCloseTo(34, 5)
    // Not a NEWS2 score: the header's NEWS2 line stays what it was, and the panel never says NEWS2 of its own.
    expect(await page.locator('#detail-news').textContent()).toMatch(/^NEWS2 /)
    expect(await page.locator('#risk-value').textContent()).not.toContain('NEWS2')
    expect(errors).toEqual([])
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-risk.png` })
  })

  it('labels a RISK_HIGH alert as the experimental model’s, in its own colour, never as a critical value', async () => {
    const alert = page.locator('#alert-feed li', { hasText: 'experimental risk 34 %' })
    expect(await alert.getAttribute('class')).toContain('level-risk')
    expect(await alert.getAttribute('class')).not.toContain('level-critical')
    expect(await alert.locator('.alert-level').textContent()).toBe('Risk (experimental)')
    expect(await alert.locator('.alert-meta').textContent()).toBe('Early-warning risk 34 %')
    const open = page.locator('#open-alerts li', { hasText: 'experimental risk 34 %' })
    expect(await open.getAttribute('class')).toContain('level-risk')
    expect(await open.locator('.alert-level').textContent()).toBe('Risk (experimental)')
  })

  it('fits a narrow window: the panel wraps, nothing scrolls sideways', async () => {
    await page.setViewportSize({ width: 700, height: 1100 })
    await page.locator('#risk-top li').first().waitFor()
    // The vital charts' canvases follow the new width on Chart.js's resize observer, a frame or more later.
    const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
    await expect.poll(overflow, { timeout: 5_000 }).toBeLessThanOrEqual(0)
    const box = await panel().boundingBox()
    const detail = await page.locator('.panel.detail').boundingBox()
    expect(box!.x + box!.width).toBeLessThanOrEqual(detail!.x + detail!.width)
    await page.locator('#risk').screenshot({ path: `${ARTIFACTS}/dashboard-risk-narrow.png` })
    await page.setViewportSize({ width: 1280, height: 900 })
  })

  it('shows no panel for a patient without a risk', async () => {
    await select(WITHOUT_RISK)
    await page.locator('#current .vital').first().waitFor()
    expect(await panel().isHidden()).toBe(true)
  })

  it('takes the panel away when the model is dropped, and brings it back when one is loaded, while the page is open', async () => {
    await select(WITH_RISK)
    await panel().waitFor()
    await redis.del(keys.riskModel)
    await panel().waitFor({ state: 'hidden', timeout: NOTICE_MS })
    // The patient's risk is still in Redis: without a served model it is not shown.
    expect(await page.locator('#risk-value').isVisible()).toBe(false)
    await redis.set(keys.riskModel, encodeRiskModelInfo({ ...MODEL, testAuroc: null }))
    await panel().waitFor({ timeout: NOTICE_MS })
    expect(await page.locator('#risk-model').textContent()).toContain('test AUROC not computed')
  })

  it('shows no panel at all on a page opened while no model is served', async () => {
    await redis.del(keys.riskModel)
    const fresh = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    const freshErrors = collectErrors(fresh)
    await fresh.goto(`${serving.url}/login?token=${TOKEN}`)
    await fresh.locator('#conn-text', { hasText: 'Live' }).waitFor()
    await fresh.locator('.tile-id', { hasText: WITH_RISK }).click()
    await fresh.locator('#current .vital').first().waitFor()
    // The snapshot (which says there is no model) has come: the feed's alerts come only with it.
    await fresh.locator('#alert-feed li', { hasText: 'experimental risk 34 %' }).waitFor()
    expect(await fresh.locator('#risk').isHidden()).toBe(true)
    expect(await fresh.locator('.risk-panel:visible').count()).toBe(0)
    expect(freshErrors).toEqual([])
    await fresh.close()
  })
})
