/**
 * Named users on the dashboard, in a real Chromium against a live serving layer, Redis and the
 * identity registry on Kafka (docs/SECURITY.md, Users, roles and sessions): signing in through
 * the form, acknowledging as oneself, a viewer who cannot acknowledge, a hostile user name shown
 * as text, a wrong password, signing out, a session that ends while the page is open, and the
 * warning before a session's end, with signing in again in another tab.
 *
 * Screenshots go to test-artifacts/ (gitignored): login-error.png, identity-clinician.png,
 * identity-viewer.png, identity-hostile.png, identity-signed-out.png, session-warning.png,
 * session-warning-urgent.png, session-renewed.png, session-warning-token.png.
 */
import { mkdir } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core'
import { createTestEnv, launchChromium, collectErrors, submitSignIn, type TestEnv } from '../test/support.ts'
import type { Config } from '../lib/config.ts'
import { connectRedis, type RedisClient } from '../lib/redis.ts'
import { redisKeys, type RedisKeys } from '../lib/contract/keys.ts'
import { createLogger } from '../lib/log.ts'
import { OPERATOR } from '../test/security/sign-in.ts'
import { openRegistry, type Registry } from '../lib/identity/registry.ts'
import { start, servingOptions, type Serving } from './index.ts'
import type { AlertView } from './events.ts'
import { freePort, writeAlert } from '../test/view-fixtures.ts'
import { writeReadings } from './state-fixtures.ts'

const TOKEN = 'identity-page-test-token-0123456789'
const ARTIFACTS = 'test-artifacts'
const PATIENT = 'bed-11-Ida-Holm'
/** The user-name policy (lib/identity/model.ts, usernameProblem) allows markup: the page must show it as text. */
const HOSTILE = '<img src=x onerror="window.__pwned=1">'
const USERS = {
  clinician: { username: 'Kim Larsen', role: 'clinician', password: 'correct horse battery staple' },
  viewer: { username: 'Vic Viewer', role: 'viewer', password: 'viewer passphrase 2024' },
  hostile: { username: HOSTILE, role: 'clinician', password: 'hostile passphrase 2024' },
  disabled: { username: 'Dana Later-Disabled', role: 'viewer', password: 'dana passphrase 2024' },
} as const

let env: TestEnv
let config: Config
let serving: Serving
let registry: Registry
let redis: RedisClient
let keys: RedisKeys
let browser: Browser
/** The viewer's window, kept open: it watches what others do (POST /login allows 10 sign-ins a minute per address). */
let viewer: { context: BrowserContext; page: Page; errors: string[] }

/** What a page did wrong, the browser's own "Failed to load resource" for an expected 401 aside. */
const watch = (page: Page): string[] => collectErrors(page, /Failed to load resource: the server responded with a status of 401/)

/** A critical heart rate alert of PATIENT, raised now and pushed to the open pages. */
async function raise(id: string, heartRate: number): Promise<string> {
  const message = `Heart rate ${heartRate} bpm is critically high`
  await writeAlert(redis, keys, {
    id,
    patientId: PATIENT,
    vital: 'heartRate',
    kind: 'raised',
    level: 'CRITICAL_HIGH',
    value: heartRate,
    ts: Date.now(),
    message,
  })
  return message
}

/** Signs `user` in through the form in a fresh context and waits for the live dashboard (of `url`, the serving layer's by default). */
async function signIn(user: { username: string; password: string }, url = serving.url): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 })
  const page = await context.newPage()
  const errors = watch(page)
  await page.goto(`${url}/login`)
  await submitSignIn(page, user)
  await page.waitForURL(`${url}/`)
  await page.locator('#conn-text', { hasText: 'Live' }).waitFor()
  return { context, page, errors }
}

/** The session's end as GET /api/me gives it to `context`, and as the page writes it ("19:42", the page's locale and time zone). */
async function sessionEnd(context: BrowserContext, page: Page, url: string): Promise<{ expiresAt: number; endsAt: string }> {
  const { expiresAt } = (await (await context.request.get(`${url}/api/me`)).json()) as { expiresAt: number }
  const endsAt = await page.evaluate((t) => new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }), expiresAt)
  return { expiresAt, endsAt }
}

/** Whether the element is what the page shows at its centre: nothing (the session banner, a toast) lies over it. */
async function uncovered(target: Locator): Promise<boolean> {
  return target.evaluate((node) => {
    const r = node.getBoundingClientRect()
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2)
    return hit !== null && node.contains(hit)
  })
}

/** The alert as the API holds it (read with the bootstrap token). */
async function alertOf(id: string): Promise<AlertView | undefined> {
  const res = await fetch(`${serving.url}/api/alerts?patientId=${PATIENT}`, { headers: { authorization: `Bearer ${TOKEN}` } })
  const alerts = (await res.json()) as AlertView[]
  return alerts.find((a) => a.id === id)
}

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true })
  env = await createTestEnv()
  config = Object.freeze({ ...env.config, port: await freePort(), token: TOKEN })
  keys = redisKeys(config.redisPrefix)
  redis = await connectRedis(config)
  const now = Date.now()
  await writeReadings(
    redis,
    keys,
    Array.from({ length: 30 }, (_, i) => ({ patientId: PATIENT, ts: now - (29 - i) * 1000, seq: i, vitals: { heartRate: 120 + i, spo2: 95 } })),
    { publish: false },
  )
  registry = await openRegistry(config, { log: createLogger({ level: 'silent' }), clientId: 'identity-page-test' })
  for (const u of Object.values(USERS)) await registry.addUser(u, OPERATOR)
  serving = await start({ ...config, serving: servingOptions() }, { log: createLogger({ level: 'silent' }) })
  browser = await launchChromium()
})

afterAll(async () => {
  await viewer?.context.close()
  await browser?.close()
  await serving?.stop()
  await registry?.close()
  redis?.destroy()
  await env?.cleanup()
})

describe('signing in as a named user', () => {
  it('a wrong password shows the error, stays on the sign-in page and opens no session; a next link to another site is not followed', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    const errors = watch(page)
    // The dashboard's own page is where a session opens: without a session, it sends the browser to sign in.
    await page.goto(`${serving.url}/`)
    expect(new URL(page.url()).pathname).toBe('/login')
    await page.goto(`${serving.url}/login?next=${encodeURIComponent('//example.org/')}`)
    await page.getByLabel('User name').fill(USERS.clinician.username)
    await page.getByLabel('Password').fill('not the password at all')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('alert').filter({ hasText: 'Wrong user name or password.' }).waitFor()
    expect(new URL(page.url()).pathname).toBe('/login')
    expect(await page.getByLabel('Password').inputValue()).toBe('')
    expect((await context.request.get(`${serving.url}/api/me`)).status()).toBe(401)
    await page.screenshot({ path: `${ARTIFACTS}/login-error.png` })
    // `next` may only name a path of this site: "//example.org/" would be another site.
    await page.getByLabel('Password').fill(USERS.clinician.password)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL(`${serving.url}/`)
    await page.locator('#me-name', { hasText: USERS.clinician.username }).waitFor()
    expect(errors).toEqual([])
    await context.close()
  })

  it('a clinician signs in through the form, sees their name and role, and acknowledges an alert as themselves', async () => {
    const message = await raise('c-1', 142)
    const { context, page, errors } = await signIn(USERS.clinician)
    expect(await page.locator('#me-name').textContent()).toBe('Kim Larsen')
    expect(await page.locator('#me-role').textContent()).toBe('Clinician')
    expect(await page.locator('#ack-hint').isHidden()).toBe(true)
    const item = page.locator('#alert-feed li', { hasText: message })
    await item.locator('button.ack').click()
    await item.locator('.acked', { hasText: 'Kim Larsen' }).waitFor()
    // The server recorded the signed-in user, not a name the page sent.
    expect((await alertOf('c-1'))?.ack?.by).toBe('Kim Larsen')
    expect(errors).toEqual([])
    await page.screenshot({ path: `${ARTIFACTS}/identity-clinician.png` })
    await context.close()
  })

  it('a viewer sees the alert without an acknowledge button, is told why, and is refused by the API', async () => {
    const message = await raise('v-1', 139)
    viewer = await signIn(USERS.viewer)
    const { context, page, errors } = viewer
    expect(await page.locator('#me-role').textContent()).toBe('Viewer')
    await page.locator('#alert-feed li', { hasText: message }).waitFor()
    expect(await page.locator('#alert-feed button.ack').count()).toBe(0)
    expect(await page.locator('#ack-hint').textContent()).toBe('Viewers cannot acknowledge alerts.')
    expect(await page.locator('#ack-hint').isVisible()).toBe(true)
    expect(await page.locator('#run-batch').isHidden()).toBe(true)
    // The button's absence is a courtesy; the server is what refuses.
    const res = await context.request.post(`${serving.url}/api/alerts/v-1/ack`, { data: {} })
    expect(res.status()).toBe(403)
    expect(((await res.json()) as { error: string }).error).toBe('Forbidden')
    expect((await alertOf('v-1'))?.ack).toBeUndefined()
    expect(errors).toEqual([])
    await page.screenshot({ path: `${ARTIFACTS}/identity-viewer.png` })
  })

  it('a hostile user name shows as text in the header and as the acknowledger, and runs nothing', async () => {
    const message = await raise('h-1', 150)
    const { context, page, errors } = await signIn(USERS.hostile)
    expect(await page.locator('#me-name').textContent()).toBe(HOSTILE)
    expect(await page.locator('#me-name').isVisible()).toBe(true)
    const item = page.locator('#alert-feed li', { hasText: message })
    await item.locator('button.ack').click()
    const acked = item.locator('.acked')
    await acked.filter({ hasText: HOSTILE }).waitFor()
    expect(await acked.textContent()).toContain(`✓ ${HOSTILE} · `)
    expect((await alertOf('h-1'))?.ack?.by).toBe(HOSTILE)
    // Shown on the other pages open too: the viewer's gets the acknowledgement pushed.
    await viewer.page.locator('#alert-feed li', { hasText: message }).locator('.acked', { hasText: HOSTILE }).waitFor()
    for (const p of [page, viewer.page]) {
      expect(await p.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined()
      expect(await p.locator('img').count()).toBe(0)
    }
    expect(errors).toEqual([])
    expect(viewer.errors).toEqual([])
    await page.screenshot({ path: `${ARTIFACTS}/identity-hostile.png` })
    await context.close()
  })
})

describe('the end of a session', () => {
  it('signing out returns to the sign-in page, and the API answers 401 afterwards, even to the old cookie', async () => {
    const { context, page, errors } = await signIn(USERS.clinician)
    const cookie = (await context.cookies()).find((c) => c.name === 'vigil_session')
    expect(cookie?.httpOnly).toBe(true)
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.waitForURL(`${serving.url}/login`)
    await page.getByRole('button', { name: 'Sign in' }).waitFor()
    expect((await context.request.get(`${serving.url}/api/me`)).status()).toBe(401)
    // Ended on the server, not only forgotten by the browser.
    const replay = await fetch(`${serving.url}/api/me`, { headers: { cookie: `vigil_session=${cookie?.value}` } })
    expect(replay.status).toBe(401)
    expect(errors).toEqual([])
    await context.close()
  })

  it('a page whose session was signed out elsewhere says signed out, not live, and shows no patient data', async () => {
    const { context, page, errors } = await signIn(USERS.clinician)
    await page.locator('.tile-id', { hasText: PATIENT }).waitFor()
    // A second window of the same session signs out.
    const second = await context.newPage()
    await second.goto(`${serving.url}/`)
    await second.locator('#conn-text', { hasText: 'Live' }).waitFor()
    await second.getByRole('button', { name: 'Sign out' }).click()
    await second.waitForURL(`${serving.url}/login`)
    await page.locator('#signed-out').waitFor()
    expect(await page.locator('#signed-out-title').textContent()).toBe('Signed out: session ended — sign in again')
    expect(await page.getByRole('link', { name: 'sign in again' }).getAttribute('href')).toBe('/login?next=%2F')
    expect(await page.locator('#conn-text').textContent()).toBe('Signed out')
    expect(await page.locator('#conn').getAttribute('class')).toContain('conn-signedout')
    expect(await page.locator('#dashboard').isHidden()).toBe(true)
    expect(await page.locator('.tile').count()).toBe(0)
    expect(await page.locator('#alert-feed li').count()).toBe(0)
    expect(await page.locator('#me').isHidden()).toBe(true)
    await page.screenshot({ path: `${ARTIFACTS}/identity-signed-out.png` })
    // The link signs in again and comes back.
    await page.getByRole('link', { name: 'sign in again' }).click()
    await submitSignIn(page, USERS.clinician)
    await page.waitForURL(`${serving.url}/`)
    await page.locator('#conn-text', { hasText: 'Live' }).waitFor()
    await page.locator('.tile-id', { hasText: PATIENT }).waitFor()
    expect(errors).toEqual([])
    await context.close()
  })

  it('a page of a user who was disabled shows signed out at its next request (any 401), and hides the data', async () => {
    const { context, page, errors } = await signIn(USERS.disabled)
    await page.locator('.tile-id', { hasText: PATIENT }).waitFor()
    await registry.disableUser(USERS.disabled.username, OPERATOR, 'left the ward')
    // Once the serving layer's registry has the change, the session's requests are refused.
    await expect.poll(async () => (await context.request.get(`${serving.url}/api/me`)).status(), { timeout: 10_000 }).toBe(401)
    // Selecting a patient asks the API for its series: the 401 ends the page's session.
    await page.locator('.tile-id', { hasText: PATIENT }).click()
    await page.locator('#signed-out').waitFor()
    expect(await page.locator('#conn-text').textContent()).toBe('Signed out')
    expect(await page.locator('.tile').count()).toBe(0)
    expect(await page.locator('#detail-title').textContent()).toBe('Select a patient')
    expect(errors).toEqual([])
    await context.close()
  })
})

describe('the end of a session, announced before it comes', () => {
  const MIN = 60_000
  /** A serving layer whose sessions last the shortest the options allow (serving/config.ts, sessionTtlMs: 1 min): always in their last minutes. */
  let short: Serving

  beforeAll(async () => {
    short = await start({ ...config, port: await freePort(), serving: servingOptions({ sessionTtlMs: 60_000 }) }, { log: createLogger({ level: 'silent' }) })
  })

  afterAll(async () => {
    await short?.stop()
  })

  it('a shift-long session shows its end next to the user and no banner; from 30 min before it a banner in the header, louder in the last 5', async () => {
    // The viewer's window, signed in above: a 12 h session. Its page clock is moved; the server's session is not.
    const { context, page, errors } = viewer
    const { expiresAt, endsAt } = await sessionEnd(context, page, serving.url)
    expect(expiresAt - Date.now()).toBeGreaterThan(11 * 60 * MIN)
    expect(await page.locator('#me-expiry').textContent()).toBe(`until ${endsAt}`)
    expect(await page.locator('#session-warning').isHidden()).toBe(true)

    await page.clock.install()
    // Half a minute into the minute, so that the page's clock skew (milliseconds) cannot change the count.
    await page.clock.setSystemTime(expiresAt - 20 * MIN + 30_000)
    const text = page.locator('#session-warning-text')
    await text.filter({ hasText: '(in 20 min)' }).waitFor()
    expect(await text.textContent()).toBe(`Your session ends at ${endsAt} (in 20 min): sign in again to keep watching`)
    expect(await page.locator('#session-warning').getAttribute('class')).toBe('session-warning')
    expect(await page.locator('header #session-warning').isVisible()).toBe(true)
    expect(await page.getByRole('link', { name: 'Sign in again' }).getAttribute('href')).toBe('/login?next=%2F')
    await page.screenshot({ path: `${ARTIFACTS}/session-warning.png` })

    await page.clock.setSystemTime(expiresAt - 4 * MIN + 30_000)
    await text.filter({ hasText: '(in 4 min)' }).waitFor()
    expect(await page.locator('#session-warning').getAttribute('class')).toBe('session-warning is-urgent')
    const alerts = page.locator('#alert-feed li')
    expect(await alerts.count()).toBeGreaterThan(0)
    for (const target of [alerts.first(), page.locator('.tile').first()]) {
      expect(await target.isVisible()).toBe(true)
      expect(await uncovered(target)).toBe(true)
    }
    await page.screenshot({ path: `${ARTIFACTS}/session-warning-urgent.png` })

    // More than 30 min left again (the clock back to now): the banner goes.
    await page.clock.setSystemTime(Date.now())
    await page.locator('#session-warning').waitFor({ state: 'hidden' })
    expect(await page.locator('#me-expiry').textContent()).toBe(`until ${endsAt}`)
    expect(errors).toEqual([])
  })

  it('a session in its last minute warns with its end; signing in again in the tab the banner opens keeps the page live, with the new end', async () => {
    const { context, page, errors } = await signIn(USERS.clinician, short.url)
    const first = await sessionEnd(context, page, short.url)
    const text = page.locator('#session-warning-text')
    // The page judges time by the server's clock as its pushes tell it, a few milliseconds behind: at the
    // instant of a sign-in it can count "in 2 min" until its next update (every 5 s).
    await expect.poll(() => text.textContent(), { timeout: 10_000 }).toBe(`Your session ends at ${first.endsAt} (in 1 min): sign in again to keep watching`)
    expect(await page.locator('#session-warning').getAttribute('class')).toBe('session-warning is-urgent')
    expect(await page.locator('#me-expiry').textContent()).toBe(`until ${first.endsAt}`)
    // The alerts and the patients stay in view below the header.
    const message = await raise('s-1', 146)
    const alert = page.locator('#alert-feed li', { hasText: message })
    await alert.waitFor()
    for (const target of [alert, page.locator('.tile', { hasText: PATIENT })]) {
      expect(await target.isVisible()).toBe(true)
      expect(await uncovered(target)).toBe(true)
    }

    // The link opens the sign-in in a new tab: this one keeps watching meanwhile.
    const [signInTab] = await Promise.all([context.waitForEvent('page'), page.getByRole('link', { name: 'Sign in again' }).click()])
    await signInTab.waitForURL(`${short.url}/login?next=%2F`)
    await submitSignIn(signInTab, USERS.clinician)
    await signInTab.waitForURL(`${short.url}/`)
    const second = await sessionEnd(context, signInTab, short.url)
    expect(second.expiresAt).toBeGreaterThan(first.expiresAt)
    // The sign-in ended the first session on the server: this page took up the new one instead of going dark.
    await expect.poll(() => page.locator('#me-expiry').getAttribute('data-expires-at'), { timeout: 10_000 }).toBe(String(second.expiresAt))
    await signInTab.close()
    // Its socket runs on the new session: a new alert arrives.
    const next = await raise('s-2', 151)
    await page.locator('#alert-feed li', { hasText: next }).waitFor()
    expect(await page.locator('#conn-text').textContent()).toBe('Live')
    expect(await page.locator('#signed-out').isHidden()).toBe(true)
    expect(await alert.isVisible()).toBe(true)
    await expect.poll(() => text.textContent(), { timeout: 10_000 }).toBe(`Your session ends at ${second.endsAt} (in 1 min): sign in again to keep watching`)
    await page.screenshot({ path: `${ARTIFACTS}/session-renewed.png` })
    expect(errors).toEqual([])
    await context.close()
  })

  it('a session opened with the token link warns its user (VIGIL_TOKEN) to reopen that link, with no button to the sign-in form it cannot use', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 })
    const page = await context.newPage()
    const errors = watch(page)
    await page.goto(`${short.url}/login?token=${TOKEN}`)
    await page.waitForURL(`${short.url}/`)
    await page.locator('#conn-text', { hasText: 'Live' }).waitFor()
    expect(await page.locator('#me-name').textContent()).toBe('VIGIL_TOKEN')
    const { endsAt } = await sessionEnd(context, page, short.url)
    const text = page.locator('#session-warning-text')
    await expect
      .poll(() => text.textContent(), { timeout: 10_000 })
      .toBe(`Your session ends at ${endsAt} (in 1 min): reopen the token link (/login?token=…) to keep watching`)
    expect(await page.locator('#session-warning').isVisible()).toBe(true)
    expect(await page.locator('#session-renew').isHidden()).toBe(true)
    expect(await page.locator('#me-expiry').getAttribute('title')).toMatch(/: then reopen the token link\.$/)
    await page.screenshot({ path: `${ARTIFACTS}/session-warning-token.png` })
    expect(errors).toEqual([])
    await context.close()
  })
})
