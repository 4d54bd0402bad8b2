/**
 * The dashboard in a real Chromium against a live serving layer and Redis: signing in (the
 * bootstrap token's link; a named clinician through the form for the README picture), the grid,
 * live charts, alerts and acknowledgements, the daily panel and its batch run, a narrow window, a
 * reconnect, and hostile text. serving/identity-page.int.test.ts covers roles and sessions.
 *
 * The README's picture comes from here: 'a ward of eight patients' saves a 1280x800 screenshot
 * (device scale factor 1) of a populated dashboard to test-artifacts/dashboard.png (gitignored),
 * or to docs/dashboard.png, the file README.md shows, when VIGIL_UPDATE_SCREENSHOT=1:
 *
 *   VIGIL_UPDATE_SCREENSHOT=1 npx vitest run serving/browser.int.test.ts
 *
 * Its other screenshots go to test-artifacts/ only ('an honest NEWS2' saves dashboard-news2.png).
 */
import { mkdir, stat } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { createTestEnv, launchChromium, collectErrors, submitSignIn, type TestEnv } from '../test/support.ts'
import type { Config } from '../lib/config.ts'
import type { AlertEvent, PatientState } from '../lib/contract/views.ts'
import { OPERATOR } from '../test/security/sign-in.ts'
import { openRegistry, type Registry } from '../lib/identity/registry.ts'
import { connectRedis, type RedisClient } from '../lib/redis.ts'
import { redisKeys, type RedisKeys } from '../lib/contract/keys.ts'
import { createLogger } from '../lib/log.ts'
import { generateLake } from '../batch-layer/synthetic.ts'
import { start, servingOptions, type Serving } from './index.ts'
import { runBatchJob } from '../batch-layer/job.ts'
import { dailyRow, freePort, writeAlert, writeBatchView, type TestReading } from '../test/view-fixtures.ts'
import { news2Of, writeOpenAlert, writeReadings } from './state-fixtures.ts'

const TOKEN = 'browser-test-token-0123456789'
const HOSTILE = '<img src=x onerror=alert(1)>'
const ARTIFACTS = 'test-artifacts'
/** Where the ward's screenshot goes: the README's picture when asked for, else beside the other artifacts. */
const SCREENSHOT = fileURLToPath(
  new URL(process.env.VIGIL_UPDATE_SCREENSHOT === '1' ? '../docs/dashboard.png' : `../${ARTIFACTS}/dashboard.png`, import.meta.url),
)

let env: TestEnv
let config: Config
let serving: Serving
let redis: RedisClient
let keys: RedisKeys
let browser: Browser
let page: Page
const dialogs: string[] = []
const pageErrors: string[] = []
/** Console errors, CSP violations included. */
const consoleErrors: string[] = []

function vitalsAt(i: number, base: TestReading['vitals']): TestReading['vitals'] {
  const wobble = Math.sin(i / 5)
  const out: TestReading['vitals'] = {}
  for (const [k, v] of Object.entries(base))
    out[k as keyof typeof base] = Math.min(k === 'spo2' ? 100 : Infinity, Math.round((v + wobble * (k === 'temperature' ? 0.2 : 3)) * 10) / 10)
  return out
}

/** Seeds a few patients with the last 90 s of readings, as the speed layer would have written them. */
async function seed(now: number): Promise<void> {
  const patients: Array<[string, TestReading['vitals'], number]> = [
    ['bed-01-Ana-Ruiz', { heartRate: 72, spo2: 98, glucose: 110, systolic: 122, diastolic: 78, respRate: 14, temperature: 36.8 }, 0],
    ['bed-02-Tom-Berg', { heartRate: 118, spo2: 94, glucose: 190, systolic: 104, diastolic: 66, respRate: 22, temperature: 38.4 }, 6],
    ['bed-03-Li-Wei', { heartRate: 136, spo2: 89, glucose: 48, systolic: 88, diastolic: 52, respRate: 27, temperature: 39.4 }, 11],
    ['bed-04-Sara-Novak', { heartRate: 64, spo2: 97, glucose: 95, systolic: 118, diastolic: 74, respRate: 13, temperature: 36.5 }, 0],
    [HOSTILE, { heartRate: 88, spo2: 95, respRate: 19, temperature: 37.1 }, 1],
  ]
  for (const [id, base, news2] of patients) {
    const readings = Array.from({ length: 90 }, (_, i) => ({ patientId: id, ts: now - (89 - i) * 1000, seq: i, vitals: vitalsAt(i, base) }))
    await writeReadings(redis, keys, readings, { news2, publish: false })
  }
  // A patient whose raw readings of today are in the lake, for the batch job.
  await writeReadings(
    redis,
    keys,
    Array.from({ length: 30 }, (_, i) => ({
      patientId: 'p-0001',
      ts: now - (29 - i) * 1000,
      seq: i,
      vitals: vitalsAt(i, { heartRate: 76, spo2: 97, respRate: 15 }),
    })),
    { publish: false },
  )
  // A patient whose device fell silent two minutes ago.
  await writeReadings(redis, keys, [{ patientId: 'bed-05-Omar-Haddad', ts: now - 120_000, seq: 1, vitals: { heartRate: 80, spo2: 96 } }], { publish: false })
  await writeAlert(
    redis,
    keys,
    {
      id: 'a-1',
      patientId: 'bed-03-Li-Wei',
      vital: 'spo2',
      kind: 'raised',
      level: 'CRITICAL_LOW',
      value: 89,
      ts: now - 40_000,
      message: 'SpO₂ 89 % is critically low',
    },
    false,
  )
  await writeAlert(
    redis,
    keys,
    {
      id: 'a-2',
      patientId: 'bed-02-Tom-Berg',
      vital: 'heartRate',
      kind: 'raised',
      level: 'WARNING',
      value: 118,
      ts: now - 30_000,
      message: 'Heart rate 118 bpm is above 110',
    },
    false,
  )
  const day = new Date(now).toISOString().slice(0, 10)
  const cutoff = now - 60_000
  await writeBatchView(
    redis,
    keys,
    [
      dailyRow(day, 'bed-01-Ana-Ruiz', 'heartRate', { count: 28_800, mean: 73.2, min: 58, max: 104 }),
      dailyRow(day, 'bed-01-Ana-Ruiz', 'spo2', { count: 28_800, mean: 97.4, min: 93, max: 100 }),
      dailyRow(day, 'bed-01-Ana-Ruiz', 'glucose', { count: 96, mean: 128.5, min: 62, max: 214, tir: [0.01, 0.04, 0.78, 0.14, 0.03] }),
      dailyRow(day, 'bed-01-Ana-Ruiz', 'temperature', { count: 480, mean: 36.9, min: 36.4, max: 37.6 }),
    ],
    { runId: 'run-seed', cutoffTs: cutoff, startedAt: cutoff, finishedAt: cutoff + 4_000, dates: [day], rows: 4 },
  )
}

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true })
  env = await createTestEnv()
  config = Object.freeze({ ...env.config, port: await freePort(), token: TOKEN })
  keys = redisKeys(config.redisPrefix)
  redis = await connectRedis(config)
  const now = Date.now()
  await seed(now)
  await generateLake(env.config.datalakeDir, 20_000, { days: 1, patients: 4, startDay: new Date(now).toISOString().slice(0, 10) })
  serving = await start({ ...config, serving: servingOptions() }, { runBatchJob, log: createLogger({ level: 'silent' }) })
  browser = await launchChromium()
  page = await browser.newPage({ viewport: { width: 1440, height: 1000 } })
  page.on('dialog', (d) => {
    dialogs.push(d.message())
    void d.dismiss()
  })
  page.on('pageerror', (e) => pageErrors.push(e.message))
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text())
  })
})

afterAll(async () => {
  await browser?.close()
  await serving?.stop()
  redis?.destroy()
  await env?.cleanup()
})

describe('the dashboard in Chromium', () => {
  it('without signing in, the dashboard sends the browser to the sign-in page and its files are refused', async () => {
    const res = await page.request.get(serving.url, { maxRedirects: 0 })
    expect(res.status()).toBe(302)
    expect(res.headers().location).toBe('/login')
    const script = await page.request.get(`${serving.url}/app.js`)
    expect(script.status()).toBe(401)
    expect(await script.text()).toBe('')
  })

  it('signs in with the bootstrap link as VIGIL_TOKEN, an admin, shows the grid worst first and goes live', async () => {
    await page.goto(`${serving.url}/login?token=${TOKEN}`)
    expect(new URL(page.url()).pathname).toBe('/')
    await page.locator('#conn-text', { hasText: 'Live' }).waitFor()
    await page.locator('#me-name', { hasText: 'VIGIL_TOKEN' }).waitFor()
    expect(await page.locator('#me-role').textContent()).toBe('Admin')
    await page.locator('.tile').nth(5).waitFor()
    const ids = await page.locator('.tile-id').allTextContents()
    expect(ids[0]).toBe('bed-03-Li-Wei')
    expect(await page.locator('.tile', { hasText: 'bed-05-Omar-Haddad' }).locator('.stale-badge').isVisible()).toBe(true)
  })

  it('shows a hostile patient id as text and runs nothing', async () => {
    const tile = page.locator('.tile-id', { hasText: HOSTILE })
    await tile.waitFor()
    expect(await tile.textContent()).toBe(HOSTILE)
    // Written straight to Redis: the id policy (lib/contract/schema.ts) keeps markup out of every id
    // the pipeline writes, and the API refuses it, so the grid is where such an id can still show.
    expect(await page.locator('img').count()).toBe(0)
    expect(dialogs).toEqual([])
    expect(pageErrors).toEqual([])
    expect(consoleErrors).toEqual([])
  })

  it("draws a reading produced now into the selected patient's chart", async () => {
    await page.locator('.tile-id', { hasText: 'bed-03-Li-Wei' }).click()
    await page.locator('#detail-title', { hasText: 'bed-03-Li-Wei' }).waitFor()
    await page.locator('.chart-card canvas').first().waitFor()
    const lastHr = () =>
      page.evaluate(() => {
        const canvas = document.querySelector('.chart-card canvas')
        const chart = (
          globalThis as unknown as { Chart: { getChart(c: Element | null): { data: { datasets: Array<{ data: Array<{ y: number }> }> } } | undefined } }
        ).Chart.getChart(canvas)
        return chart?.data.datasets[0]?.data.at(-1)?.y ?? null
      })
    await expect.poll(lastHr, { timeout: 5_000 }).not.toBeNull()
    await writeReadings(redis, keys, [{ patientId: 'bed-03-Li-Wei', ts: Date.now(), seq: 1_000, vitals: { heartRate: 151, spo2: 87 } }], { news2: 12 })
    await expect.poll(lastHr, { timeout: 3_000 }).toBe(151)
    await page.locator('.vital.status-critical', { hasText: '151' }).waitFor()
  })

  it('shows a new alert at the top of the feed and records the acknowledgement', async () => {
    await writeAlert(redis, keys, {
      id: 'a-live',
      patientId: 'bed-03-Li-Wei',
      vital: 'heartRate',
      kind: 'escalated',
      level: 'CRITICAL_HIGH',
      value: 151,
      ts: Date.now(),
      message: 'Heart rate 151 bpm is critically high',
    })
    const first = page.locator('#alert-feed li').first()
    await expect.poll(() => first.textContent(), { timeout: 3_000 }).toContain('Heart rate 151 bpm is critically high')
    await first.locator('button.ack').click()
    // Who acknowledged is who is signed in: here the bootstrap token.
    await first.locator('.acked', { hasText: 'VIGIL_TOKEN' }).waitFor()
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-ack.png`, fullPage: true })
  })

  it("shows the day's merged statistics with the glucose time in range", async () => {
    await page.locator('.tile-id', { hasText: 'bed-01-Ana-Ruiz' }).click()
    await page.locator('#daily-body tr').first().waitFor()
    const text = await page.locator('#daily-sources').textContent()
    expect(text).toContain('Batch')
    expect(text).toContain('Live')
    expect(await page.locator('#tir-bar .tir-seg').count()).toBe(5)
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-daily.png`, fullPage: true })
  })

  it('runs the batch job from the button, shows its progress and then the batch statistics', async () => {
    await page.locator('.tile-id', { hasText: 'p-0001' }).click()
    await page.locator('#detail-title', { hasText: 'p-0001' }).waitFor()
    await page.locator('#daily-body tr').first().waitFor()
    expect(await page.locator('#daily-body .chip-batch').first().textContent()).toBe('batch 0')
    await page.click('#run-batch')
    await page.locator('#batch-text', { hasText: 'Batch job finished' }).waitFor({ timeout: 60_000 })
    await expect.poll(() => page.locator('#daily-body .chip-batch').first().textContent(), { timeout: 5_000 }).toMatch(/^batch [1-9][\d,]*$/)
    // The lake holds no glucose for this patient: no time-in-range bar.
    expect(await page.locator('#tir').isHidden()).toBe(true)
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-batch.png`, fullPage: true })
  })

  it('stays usable in a narrow window', async () => {
    await page.setViewportSize({ width: 700, height: 1100 })
    await page.locator('.tile').first().waitFor()
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
    expect(overflow).toBeLessThanOrEqual(0)
    expect(consoleErrors).toEqual([])
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-narrow.png`, fullPage: true })
  })

  it('says when it is reconnecting, and is whole again after the server comes back', async () => {
    await serving.stop()
    await page.locator('#conn-text', { hasText: /Reconnecting… since \d\d:\d\d:\d\d/ }).waitFor({ timeout: 10_000 })
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-reconnecting.png` })
    // Written while the page is cut off: only the snapshot on reconnect can bring it.
    await writeReadings(redis, keys, [{ patientId: 'bed-06-New-Arrival', ts: Date.now(), seq: 1, vitals: { heartRate: 99, spo2: 95 } }], { publish: false })
    serving = await start({ ...config, serving: servingOptions() }, { runBatchJob, log: createLogger({ level: 'silent' }) })
    await page.locator('#conn-text', { hasText: 'Live' }).waitFor({ timeout: 20_000 })
    await page.locator('.tile-id', { hasText: 'bed-06-New-Arrival' }).waitFor({ timeout: 5_000 })
  })
})

describe('a ward of eight patients (the README picture)', () => {
  type Tile = 'critical' | 'warning' | 'normal'
  /** Each patient's vitals for the last two minutes, the reading that arrives live, and the tile it must get. */
  /** A nurse's observation of air or oxygen and ACVPU (NEWS2 counts it for 4 hours). */
  const observed: Partial<PatientState> = {
    onOxygen: { value: false, ts: Date.now() - 30 * 60_000 },
    consciousness: { value: 'A', ts: Date.now() - 30 * 60_000 },
  }
  /**
   * Each patient's NEWS2 is the RCP chart's score of its values (state-fixtures.ts, news2FromState):
   * complete where a nurse observed air/oxygen and ACVPU (`extra`) and every vital is monitored,
   * partial otherwise.
   */
  const WARD: Array<{ id: string; base: TestReading['vitals']; live: TestReading['vitals'] | null; extra?: Partial<PatientState>; tile: Tile }> = [
    // Sepsis picture: SpO2 89 % and respiratory rate 26 are NEWS2 3 each (RCP 2017); NEWS2 13, complete.
    {
      id: 'bed-03-Li-Wei',
      base: { heartRate: 124, spo2: 91, glucose: 184, systolic: 96, diastolic: 58, respRate: 25, temperature: 39.2 },
      live: { heartRate: 132, spo2: 89, glucose: 196, systolic: 94, diastolic: 56, respRate: 26, temperature: 39.3 },
      extra: observed,
      tile: 'critical',
    },
    // CGM: glucose 52 mg/dL is below 54, critically low (Battelino 2019), and falling. No cuff, no
    // ACVPU, no oxygen record: the NEWS2 is partial.
    {
      id: 'bed-07-Jon-Meyer',
      base: { heartRate: 88, spo2: 97, glucose: 64, respRate: 16, temperature: 36.7 },
      live: { heartRate: 94, glucose: 52 },
      extra: { glucoseTrend: { rate: -2.2, arrow: '↓', ts: Date.now() } },
      tile: 'critical',
    },
    {
      id: 'bed-02-Tom-Berg',
      base: { heartRate: 104, spo2: 95, systolic: 118, diastolic: 74, respRate: 21, temperature: 38.2 },
      live: { heartRate: 108, spo2: 95, respRate: 22, temperature: 38.4 },
      extra: observed,
      tile: 'warning',
    },
    {
      id: 'bed-06-Maria-Costa',
      base: { heartRate: 82, spo2: 96, glucose: 188, systolic: 132, diastolic: 84, respRate: 17, temperature: 37.2 },
      live: { glucose: 204, spo2: 94 },
      extra: observed,
      tile: 'warning',
    },
    {
      id: 'bed-01-Ana-Ruiz',
      base: { heartRate: 72, spo2: 98, glucose: 110, systolic: 122, diastolic: 78, respRate: 14, temperature: 36.8 },
      live: { heartRate: 74, spo2: 98 },
      extra: observed,
      tile: 'normal',
    },
    {
      id: 'bed-04-Sara-Novak',
      base: { heartRate: 64, spo2: 97, systolic: 118, diastolic: 74, respRate: 13, temperature: 36.5 },
      live: { heartRate: 66, spo2: 97, respRate: 14 },
      extra: observed,
      tile: 'normal',
    },
    {
      id: 'bed-08-Eva-Lind',
      base: { heartRate: 78, spo2: 99, systolic: 126, diastolic: 80, respRate: 15, temperature: 36.9 },
      live: { heartRate: 77, spo2: 99 },
      extra: observed,
      tile: 'normal',
    },
    // A wrist device that fell silent three minutes ago: no live reading. Pulse and SpO2 only: partial.
    { id: 'bed-05-Omar-Haddad', base: { heartRate: 80, spo2: 96 }, live: null, tile: 'normal' },
  ]
  const SELECTED = 'bed-03-Li-Wei'
  /** The nurse on the README's picture: a named clinician who signs in through the form. */
  const NURSE = { username: 'Kim Larsen', role: 'clinician', password: 'correct horse battery staple' } as const
  let wardEnv: TestEnv
  let wardRegistry: Registry
  let ward: Serving
  let wardRedis: RedisClient
  let wardKeys: RedisKeys
  let context: BrowserContext
  let now = 0

  beforeAll(async () => {
    wardEnv = await createTestEnv()
    const wardConfig: Config = Object.freeze({ ...wardEnv.config, port: await freePort(), token: TOKEN })
    wardKeys = redisKeys(wardConfig.redisPrefix)
    wardRedis = await connectRedis(wardConfig)
    now = Date.now()
    for (const [n, p] of WARD.entries()) {
      const end = p.live === null ? now - 180_000 : now - 2_000
      const readings = Array.from({ length: 120 }, (_, i) => ({ patientId: p.id, ts: end - (119 - i) * 1000, seq: i, vitals: vitalsAt(i + n * 7, p.base) }))
      await writeReadings(wardRedis, wardKeys, readings, { extra: p.extra, publish: false })
    }
    const alert = (
      id: string,
      patientId: string,
      vital: 'spo2' | 'heartRate' | 'respRate' | 'glucose' | 'temperature',
      level: 'WARNING' | 'CRITICAL_LOW' | 'CRITICAL_HIGH',
      value: number,
      ago: number,
      message: string,
    ) => writeAlert(wardRedis, wardKeys, { id, patientId, vital, kind: 'raised', level, value, ts: now - ago, message }, false)
    await alert('w-1', 'bed-02-Tom-Berg', 'temperature', 'WARNING', 38.2, 95_000, 'Temperature 38.2 °C is above 38.0')
    await alert('w-2', 'bed-03-Li-Wei', 'respRate', 'CRITICAL_HIGH', 25, 80_000, 'Respiratory rate 25 /min is critically high')
    await alert('w-3', 'bed-06-Maria-Costa', 'glucose', 'WARNING', 188, 60_000, 'Glucose 188 mg/dL is above 180')
    await alert('w-4', 'bed-03-Li-Wei', 'spo2', 'CRITICAL_LOW', 91, 45_000, 'SpO₂ 91 % is critically low')
    await writeAlert(
      wardRedis,
      wardKeys,
      {
        id: 'w-5',
        patientId: 'bed-02-Tom-Berg',
        vital: 'news2',
        kind: 'raised',
        level: 'NEWS2_MEDIUM',
        value: 5,
        score: 5,
        ts: now - 30_000,
        message: 'NEWS2 5 (medium): urgent response: inform the medical team at once; urgent assessment by a clinician competent in acute illness',
      },
      false,
    )
    wardRegistry = await openRegistry(wardConfig, { log: createLogger({ level: 'silent' }), clientId: 'browser-test-registry' })
    await wardRegistry.addUser(NURSE, OPERATOR)
    ward = await start({ ...wardConfig, serving: servingOptions() }, { runBatchJob, log: createLogger({ level: 'silent' }) })
    context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 })
  })

  afterAll(async () => {
    await context?.close()
    await ward?.stop()
    await wardRegistry?.close()
    wardRedis?.destroy()
    await wardEnv?.cleanup()
  })

  it('shows every patient worst first with its status, draws the live readings of the selected one, and puts a live alert on top of the feed', async () => {
    const wardPage = await context.newPage()
    const errors = collectErrors(wardPage)
    await wardPage.goto(`${ward.url}/login`)
    await submitSignIn(wardPage, NURSE)
    await wardPage.locator('#conn-text', { hasText: 'Live' }).waitFor()
    expect(await wardPage.locator('#me-name').textContent()).toBe(NURSE.username)
    await wardPage
      .locator('.tile')
      .nth(WARD.length - 1)
      .waitFor()
    await wardPage.locator('.tile-id', { hasText: SELECTED }).click()
    await wardPage.locator('#detail-title', { hasText: SELECTED }).waitFor()
    await wardPage.locator('.chart-card canvas').first().waitFor()

    // Readings arrive over the socket while the page is open, then a new alert.
    const t = Date.now()
    for (const p of WARD) {
      if (p.live !== null) await writeReadings(wardRedis, wardKeys, [{ patientId: p.id, ts: t, seq: 1_000, vitals: p.live }], { extra: p.extra })
    }
    await writeAlert(wardRedis, wardKeys, {
      id: 'w-live',
      patientId: 'bed-07-Jon-Meyer',
      vital: 'glucose',
      kind: 'raised',
      level: 'CRITICAL_LOW',
      value: 52,
      ts: t,
      message: 'Glucose 52 mg/dL is critically low',
    })

    // The selected patient's charts end at the live reading.
    const lastPoints = () =>
      wardPage.evaluate(() =>
        [...document.querySelectorAll('.chart-card canvas')].map((canvas) => {
          const chart = (
            globalThis as unknown as { Chart: { getChart(c: Element): { data: { datasets: Array<{ data: Array<{ y: number }> }> } } | undefined } }
          ).Chart.getChart(canvas)
          return { points: chart?.data.datasets[0]?.data.length ?? 0, last: chart?.data.datasets[0]?.data.at(-1)?.y ?? null }
        }),
      )
    const live = WARD[0]!.live!
    await expect.poll(async () => (await lastPoints())[0]?.last, { timeout: 5_000 }).toBe(live.heartRate)
    const charts = await lastPoints()
    expect(charts.length).toBeGreaterThanOrEqual(5)
    // Every chart of a vital the patient has is drawn from the last minute of readings, not a single point.
    for (const c of charts.filter((x) => x.last !== null)) expect(c.points).toBeGreaterThan(30)
    await wardPage.locator('.vital.status-critical', { hasText: String(live.spo2) }).waitFor()

    // The grid: worst first, each tile coloured by the patient's status, the silent device marked stale.
    const tileOf = async (id: string): Promise<string> => (await wardPage.locator('.tile', { hasText: id }).getAttribute('class')) ?? ''
    await expect.poll(() => tileOf('bed-07-Jon-Meyer'), { timeout: 5_000 }).toContain('status-critical')
    await expect
      .poll(async () => (await wardPage.locator('.tile-id').allTextContents()).slice(0, 2).sort(), { timeout: 5_000 })
      .toEqual(['bed-03-Li-Wei', 'bed-07-Jon-Meyer'])
    const ids = await wardPage.locator('.tile-id').allTextContents()
    expect([...ids].sort()).toEqual(WARD.map((p) => p.id).sort())
    const rank: Record<Tile, number> = { critical: 0, warning: 1, normal: 2 }
    const tiles: Array<{ id: string; tile: Tile }> = []
    for (const id of ids) {
      const cls = await tileOf(id)
      const tile = (['critical', 'warning', 'normal'] as const).find((k) => cls.includes(`status-${k}`))
      tiles.push({ id, tile: tile ?? 'normal' })
    }
    expect(tiles).toEqual(WARD.map((p) => ({ id: p.id, tile: p.tile })).sort((a, b) => ids.indexOf(a.id) - ids.indexOf(b.id)))
    expect(tiles.map((x) => rank[x.tile])).toEqual([...tiles.map((x) => rank[x.tile])].sort((a, b) => a - b))
    expect(await wardPage.locator('.tile', { hasText: 'bed-05-Omar-Haddad' }).locator('.stale-badge').isVisible()).toBe(true)

    // The feed: the live alert on top, newest first after it; acknowledging one records the signed-in nurse.
    const feed = wardPage.locator('#alert-feed li')
    await expect.poll(() => feed.first().textContent(), { timeout: 5_000 }).toContain('Glucose 52 mg/dL is critically low')
    expect(await feed.count()).toBe(6)
    const spo2Alert = feed.filter({ hasText: 'SpO₂ 91 % is critically low' })
    await spo2Alert.locator('button.ack').click()
    await spo2Alert.locator('.acked', { hasText: NURSE.username }).waitFor()
    expect(errors).toEqual([])

    await mkdir(new URL(`../${ARTIFACTS}/`, import.meta.url), { recursive: true })
    const png = await wardPage.screenshot({ path: SCREENSHOT })
    // PNG header: width and height at bytes 16 and 20. Small enough to sit in the repository.
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([1280, 800])
    expect((await stat(SCREENSHOT)).size).toBeLessThan(300 * 1024)
  })
})

describe('an honest NEWS2 on the page (docs/CLINICAL.md, The page)', () => {
  const H = 3_600_000
  let nEnv: TestEnv
  let nServing: Serving
  let nRedis: RedisClient
  let nKeys: RedisKeys
  let context: BrowserContext
  let now = 0

  /** A minute of readings ending now, one a second. */
  const minute = (patientId: string, vitals: TestReading['vitals'], seq0 = 0): TestReading[] =>
    Array.from({ length: 60 }, (_, i) => ({ patientId, ts: now - (59 - i) * 1000, seq: seq0 + i, vitals }))

  async function seedHonest(): Promise<void> {
    const w = (readings: TestReading[], options: Parameters<typeof writeReadings>[3]) => writeReadings(nRedis, nKeys, readings, { publish: false, ...options })
    // The wearable: heart rate 115 and SpO2 95 only. Was "NEWS2 3 · low risk".
    await w(minute('bed-21-Wrist-Only', { heartRate: 115, spo2: 95 }), { news2: news2Of({ heartRate: 2, spo2: 1 }) })
    // A cuff and a respiratory rate six hours old, everything else fresh: old values are not counted.
    await w([{ patientId: 'bed-22-Old-Cuff', ts: now - 6 * H, seq: 1, deviceId: 'cuff-22', vitals: { systolic: 88, diastolic: 60, respRate: 26 } }], {})
    await w(minute('bed-22-Old-Cuff', { heartRate: 92, spo2: 96, temperature: 37, glucose: 82 }, 10), {
      news2: news2Of({ spo2: 0, onOxygen: 0, heartRate: 1, consciousness: 0, temperature: 0 }, { old: ['respRate', 'systolic'] }),
      extra: {
        onOxygen: { value: false, ts: now - 20 * 60_000 },
        consciousness: { value: 'A', ts: now - 20 * 60_000 },
        glucoseTrend: { rate: -2.4, arrow: '↓', ts: now },
      },
    })
    // Five warnings adding up to NEWS2 7, complete: more urgent than one critical vital.
    const seven = { heartRate: 112, respRate: 22, spo2: 94, systolic: 105, diastolic: 70, temperature: 38.5 }
    const sevenScores = { respRate: 2, spo2: 1, onOxygen: 0, systolic: 1, heartRate: 2, consciousness: 0, temperature: 1 }
    const assessed = { onOxygen: { value: false, ts: now - 10 * 60_000 }, consciousness: { value: 'A' as const, ts: now - 10 * 60_000 } }
    await w(minute('bed-23-Aggregate', seven), { news2: news2Of(sevenScores), extra: assessed })
    const low = { heartRate: 80, respRate: 16, spo2: 91, systolic: 122, diastolic: 80, temperature: 36.8 }
    await w(minute('bed-24-Low-Sat', low), {
      news2: news2Of({ respRate: 0, spo2: 3, onOxygen: 0, systolic: 0, heartRate: 0, consciousness: 0, temperature: 0 }),
      extra: assessed,
    })
    // The aggregate: heart rate 105, respiration 22, SpO2 94, systolic 105, temperature 38.5 is NEWS2 6, complete.
    const six = { heartRate: 105, respRate: 22, spo2: 94, systolic: 105, diastolic: 70, temperature: 38.5 }
    await w(minute('bed-25-Medium', six), { news2: news2Of({ ...sevenScores, heartRate: 1 }), extra: assessed })
    const alert = (a: Omit<AlertEvent, 'kind'>) => writeAlert(nRedis, nKeys, { kind: 'raised', ...a }, false)
    await alert({
      id: 'n-1',
      patientId: 'bed-23-Aggregate',
      vital: 'news2',
      level: 'NEWS2_HIGH',
      value: 7,
      score: 7,
      ts: now - 20_000,
      message: 'bed-23-Aggregate: NEWS2 7 (high): emergency response: inform the medical team at once, emergency assessment, continuous monitoring',
    })
    await alert({
      id: 'n-2',
      patientId: 'bed-21-Wrist-Only',
      vital: 'device',
      level: 'NO_SIGNAL',
      deviceId: 'wrist-21',
      ts: now - 10_000,
      message: 'bed-21-Wrist-Only: no signal from wrist-21: check the sensor',
    })
    await writeOpenAlert(nRedis, nKeys, 'bed-22-Old-Cuff', 'glucoseForecast', {
      level: 'URGENT_LOW_SOON',
      raisedTs: now - 5 * 60_000,
      normalSince: null,
      value: 34,
      ts: now,
      message: 'bed-22-Old-Cuff: glucose 82 mg/dL falling 2.4 mg/dL/min, predicted 34 mg/dL in 20 min: urgent low soon',
    })
  }

  beforeAll(async () => {
    nEnv = await createTestEnv()
    const nConfig: Config = Object.freeze({ ...nEnv.config, port: await freePort(), token: TOKEN })
    nKeys = redisKeys(nConfig.redisPrefix)
    nRedis = await connectRedis(nConfig)
    now = Date.now()
    await seedHonest()
    nServing = await start({ ...nConfig, serving: servingOptions() }, { runBatchJob, log: createLogger({ level: 'silent' }) })
    context = await browser.newContext({ viewport: { width: 1440, height: 1000 }, deviceScaleFactor: 1 })
  })

  afterAll(async () => {
    await context?.close()
    await nServing?.stop()
    nRedis?.destroy()
    await nEnv?.cleanup()
  })

  it('labels a partial score partial (never low risk), a complete one with its risk, and puts NEWS2 7 first', async () => {
    const api = await fetch(`${nServing.url}/api/patients/bed-21-Wrist-Only`, { headers: { authorization: `Bearer ${TOKEN}` } })
    const body = (await api.json()) as PatientState
    expect(body.news2).toMatchObject({ score: 3, risk: null, complete: false, counted: ['spo2', 'heartRate'] })

    const p = await context.newPage()
    const errors = collectErrors(p)
    await p.goto(`${nServing.url}/login?token=${TOKEN}`)
    await p.locator('.tile').nth(4).waitFor()
    const news = (id: string) => p.locator('.tile', { hasText: id }).locator('.tile-news').textContent()
    expect(await news('bed-21-Wrist-Only')).toBe('NEWS2 ≥ 3 · partial: 2 of 7')
    expect(await news('bed-21-Wrist-Only')).not.toContain('low risk')
    expect(await news('bed-25-Medium')).toBe('NEWS2 6 · medium risk')
    expect(await news('bed-23-Aggregate')).toBe('NEWS2 7 · high risk')
    expect(await news('bed-22-Old-Cuff')).toBe('NEWS2 ≥ 1 · partial: 5 of 7')
    const ids = await p.locator('.tile-id').allTextContents()
    expect(ids.slice(0, 2)).toEqual(['bed-23-Aggregate', 'bed-24-Low-Sat'])
    expect(await p.locator('.tile', { hasText: 'bed-23-Aggregate' }).getAttribute('class')).toContain('status-critical')

    // The feed: the NEWS2 alert with its response, red; no signal a technical alarm, not red.
    const high = p.locator('#alert-feed li', { hasText: 'NEWS2 7 (high)' })
    expect(await high.getAttribute('class')).toContain('level-critical')
    expect(await high.textContent()).toContain('emergency assessment')
    const signal = p.locator('#alert-feed li', { hasText: 'no signal from wrist-21' })
    expect(await signal.getAttribute('class')).toContain('level-technical')
    expect(await signal.locator('.alert-level').textContent()).toBe('No signal')

    // The detail: what is missing, old values dimmed with their age, Air/O2, ACVPU, the trend, the open alert's text.
    await p.locator('.tile-id', { hasText: 'bed-22-Old-Cuff' }).click()
    await p.locator('#detail-news', { hasText: 'partial: 5 of 7' }).waitFor()
    expect(await p.locator('#detail-missing').textContent()).toBe('Missing: Resp. rate (old), Systolic BP (old)')
    const card = (key: string) => p.locator(`.vital[data-vital="${key}"]`)
    expect(await card('systolic').getAttribute('class')).toContain('is-old')
    expect(await card('systolic').locator('.old-tag').textContent()).toBe('old · 6 h ago')
    expect(await card('respRate').locator('.old-tag').textContent()).toBe('old · 6 h ago')
    expect(await card('diastolic').getAttribute('class')).toContain('is-old')
    expect(await card('heartRate').getAttribute('class')).not.toContain('is-old')
    expect(await card('onOxygen').locator('.vital-value').textContent()).toBe('Air')
    expect(await card('consciousness').locator('.vital-value').textContent()).toBe('A')
    expect(await card('glucose').locator('.vital-trend').textContent()).toBe('↓\u00a0−2.4 mg/dL/min')
    await p.locator('#open-alerts li', { hasText: 'predicted 34 mg/dL in 20 min' }).waitFor()
    expect(errors).toEqual([])
    await p.screenshot({ path: `${ARTIFACTS}/dashboard-news2.png` })
    await p.close()
  })
})
