// The dashboard's session: who is signed in, signing out, and the end of the session announced
// (the banner before it, the signed-out state after it) and survived when the user signs in again
// in another tab. Plain ES module, imported by public/app.js; it imports nothing of app.js; what
// it needs from the dashboard comes in as hooks (SessionHooks), given once to startSession.
//
// The interface, as app.js uses it:
//   startSession(hooks)  wires the sign-out button, the banner's clock, its sign-in link and the
//                        other tabs' sign-ins; once, at start.
//   loadMe()             reads GET /api/me and shows the user (at start, after a 403, a reconnect).
//   checkSession(reason) something says the session may be over (a 401, 'session:end', a refused
//                        handshake): carry on with a newer session the browser holds, or end it.
//   currentUser()        who is signed in, null until GET /api/me answered.
//   isSignedOut()        the session ended: nothing is shown or fetched any more.
//   isSigningOut()       the user pressed Sign out: the socket's close that follows is no news.
//   isCheckingSession()  a checkSession is under way (it reconnects the socket itself if it can).

import { ROLE_TEXT, sessionEndText, sessionWarning, signInAgainWay } from '/page-rules.js'

/** @typedef {{ user: string, role: string, via: string, expiresAt: number | null }} Me who is signed in (GET /api/me; no expiry for a bearer token) */

/**
 * What the session needs from the dashboard (public/app.js).
 * @typedef {object} SessionHooks
 * @property {(path: string) => Promise<any>} api GETs a JSON API path; on a 401 it calls checkSession('unauthorized') and rejects
 * @property {() => number} serverNow the server's clock (ms), which judges a session's end
 * @property {(ts: number) => string} fmtDateTime a date and time as the rest of the page writes them
 * @property {(error: unknown) => void} showError tells the user what went wrong
 * @property {(me: Me) => void} onUser a user was read (at start, re-read, a new session): show what their role may do
 * @property {() => void} reconnect opens the socket again if it is closed (the handshake carries the browser's newest cookie)
 * @property {() => void} disconnect closes the socket for good and shows the connection as signed out
 * @property {() => void} clearPatientData takes every patient's data off the screen
 */

/** @type {SessionHooks} the dashboard's hooks, set by startSession before anything here runs */
let app

const session = {
  /** @type {Me | null} */
  me: null,
  /** Set once the session ended: nothing is shown or fetched any more until the user signs in again. */
  signedOut: false,
}

/** Who is signed in; null until GET /api/me answered. */
export const currentUser = () => session.me
/** Whether the session ended (the page shows signed out until the user signs in again, a new page). */
export const isSignedOut = () => session.signedOut
/** Whether the user is signing out here: the server ends this page's socket too, and that is not news. */
export const isSigningOut = () => signingOut
/** Whether a session check is under way: it reconnects the socket itself if the browser holds a session. */
export const isCheckingSession = () => sessionCheck !== null

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id))
/** A time of day as a wall clock shows it, "19:42" (h23: never "24:05" after midnight). */
const fmtClock = (/** @type {number} */ ts) => new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })

/** Wires the session's controls and clocks to the page; called once, before the socket opens. */
export function startSession(/** @type {SessionHooks} */ hooks) {
  app = hooks
  setInterval(sessionTick, SESSION_TICK_MS)
  $('session-renew').addEventListener('click', () => {
    renewing = true
  })
  window.addEventListener('focus', afterRenewing)
  document.addEventListener('visibilitychange', afterRenewing)
  listenToSignIns()
  $('sign-out').addEventListener('click', signOut)
}

// ---------------------------------------------------------------- who is signed in

/** When GET /api/me was last answered (this page's clock): the banner re-reads it every minute. */
let meReadAt = 0

/** Reads who is signed in (GET /api/me) and shows it; rejects as the dashboard's api() does. */
export async function loadMe() {
  showMe(await app.api('/api/me'))
}

function showMe(/** @type {Me} */ me) {
  session.me = me
  meReadAt = Date.now()
  renderMe()
  app.onUser(me)
}

function renderMe() {
  const me = session.me
  $('me').hidden = me === null || session.signedOut
  renderSessionWarning()
  if (me === null) return
  $('me-name').textContent = me.user
  const until = typeof me.expiresAt === 'number' ? `, session until ${app.fmtDateTime(me.expiresAt)}` : ''
  $('me-name').setAttribute('title', `${me.via === 'token' ? 'signed in with VIGIL_TOKEN' : `signed in as ${me.user}`}${until}`)
  $('me-role').textContent = ROLE_TEXT[me.role] ?? me.role
  $('me-role').className = `role-badge role-${me.role}`
}

// ---------------------------------------------------------------- the end of the session, announced

/** How often the banner is brought up to date: its minutes change within this. */
const SESSION_TICK_MS = 5_000
/** While the banner shows, GET /api/me is read again this often, to see a sign-in made in another tab. */
const SESSION_REREAD_MS = 60_000

/** "until 19:42" next to the user, with the day when the end is more than a day away. */
function untilText(/** @type {number} */ expiresAt) {
  if (expiresAt - app.serverNow() < 86_400_000) return `until ${fmtClock(expiresAt)}`
  return `until ${new Date(expiresAt).toLocaleDateString([], { weekday: 'short', day: 'numeric', month: 'short' })} ${fmtClock(expiresAt)}`
}

/**
 * A session ends at a fixed time whatever the page does (docs/SECURITY.md, Users, roles and
 * sessions): the end shows next to the user, and from 30 minutes before it a banner across the
 * header says when, with the way to sign in again (page-rules.js, sessionWarning).
 */
function renderSessionWarning() {
  const me = session.signedOut ? null : session.me
  const expiresAt = typeof me?.expiresAt === 'number' ? me.expiresAt : null
  const way = signInAgainWay(me?.user)
  const warning = expiresAt === null ? null : sessionWarning(expiresAt, app.serverNow(), fmtClock(expiresAt), way)
  const expiry = $('me-expiry')
  expiry.hidden = expiresAt === null
  if (expiresAt !== null) {
    setText(expiry, untilText(expiresAt))
    const then = way === 'token-link' ? 'then reopen the token link' : 'then sign in again'
    expiry.setAttribute('title', `The session ends at ${app.fmtDateTime(expiresAt)}: ${then}.`)
    expiry.classList.toggle('is-soon', warning !== null)
    expiry.dataset.expiresAt = String(expiresAt)
  }
  const banner = $('session-warning')
  banner.hidden = warning === null
  if (warning === null) return
  banner.className = `session-warning${warning.urgent ? ' is-urgent' : ''}`
  // The last minutes interrupt a screen reader; before that it waits for a pause.
  banner.setAttribute('aria-live', warning.urgent ? 'assertive' : 'polite')
  setText($('session-warning-text'), warning.text)
  // The token link's user has no name and password for the sign-in form the button opens: the text says what to do instead.
  $('session-renew').hidden = way === 'token-link'
  $('session-renew').setAttribute('href', loginHref())
}

/** Writes a text only when it changed, so a screen reader does not hear the same words again. */
function setText(/** @type {HTMLElement} */ node, /** @type {string} */ text) {
  if (node.textContent !== text) node.textContent = text
}

/** Every SESSION_TICK_MS: the banner's minutes, and the end itself once it has passed. */
function sessionTick() {
  if (session.signedOut || session.me === null) return
  renderSessionWarning()
  if ($('session-warning').hidden) return
  // Past its end: the server refuses it now; say so at once rather than at the next request.
  if (typeof session.me.expiresAt === 'number' && session.me.expiresAt <= app.serverNow()) checkSession('expired')
  else if (Date.now() - meReadAt >= SESSION_REREAD_MS) loadMe().catch(quietly)
}

/** A background re-read that failed: the connection badge already says the server is out of reach, and the next tick asks again. */
function quietly(/** @type {unknown} */ error) {
  if (!(error instanceof TypeError)) app.showError(error)
}

// The banner's link opens the sign-in in a new tab, so this one keeps watching meanwhile; back here, see what it did.
let renewing = false
function afterRenewing() {
  if (!renewing || session.signedOut || document.visibilityState !== 'visible') return
  loadMe()
    .then(() => {
      renewing = !$('session-warning').hidden
    })
    .catch(quietly)
}

/**
 * Sign-ins in the other tabs of this browser, as the sign-in page tells them (public/login.js):
 * 'signing-in' when it sends the form, then 'signed-in' or 'sign-in-failed'. A sign-in ends the
 * session the browser held (serving/routes-session.ts), so this page hears 'session:end' a moment
 * before the browser holds the new cookie: it waits for the sign-in to finish before it asks.
 */
const SIGN_IN_CHANNEL = 'vigil-session'
/** Longest wait for a sign-in in another tab to finish (scrypt takes about 100 ms; a slow server more). */
const SIGN_IN_WAIT_MS = 10_000
let signInElsewhereSince = 0
/** @type {Array<() => void>} */
let signInWaiters = []

function listenToSignIns() {
  const signInChannel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(SIGN_IN_CHANNEL) : null
  signInChannel?.addEventListener('message', (event) => {
    const type = event.data?.type
    if (type === 'signing-in') {
      signInElsewhereSince = Date.now()
      return
    }
    if (type !== 'signed-in' && type !== 'sign-in-failed') return
    signInElsewhereSince = 0
    for (const wake of signInWaiters) wake()
    signInWaiters = []
    // The new session's end replaces the old one at once: the banner goes.
    if (type === 'signed-in' && !session.signedOut) loadMe().catch(app.showError)
  })
}

/** Resolves once no sign-in is running in another tab (or it has run longer than SIGN_IN_WAIT_MS). */
function signInElsewhereDone() {
  const left = signInElsewhereSince + SIGN_IN_WAIT_MS - Date.now()
  if (signInElsewhereSince === 0 || left <= 0) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, left)
    signInWaiters.push(() => {
      clearTimeout(timer)
      resolve(undefined)
    })
  })
}

/** @type {Promise<void> | null} the session check under way */
let sessionCheck = null

/**
 * Something says this page's session may be over: a 'session:end', an API answer 401, a refused
 * handshake, or its end has passed. The browser may hold a newer session by now (signed in again
 * in another tab: the cookie is shared), so ask GET /api/me, once any sign-in elsewhere has
 * finished: a session there means the page carries on with it (and its new end); none, the page
 * shows signed out. `endUnlessAccepted` false: only a 401 ends it, as a refused handshake may be
 * the network or a server that is starting.
 */
export function checkSession(/** @type {unknown} */ reason, endUnlessAccepted = true) {
  if (session.signedOut || signingOut || sessionCheck !== null) return
  sessionCheck = (async () => {
    await signInElsewhereDone()
    const res = await fetch('/api/me', { credentials: 'same-origin' }).catch(() => null)
    const me = res?.ok ? await res.json().catch(() => null) : null
    if (me !== null) return adoptSession(me)
    if (res?.status === 401 || endUnlessAccepted) endSession(reason === 'unauthorized' && sessionPassed() ? 'expired' : reason)
  })().finally(() => {
    sessionCheck = null
  })
}

/** Whether this page's session has reached its end (the server's clock). */
function sessionPassed() {
  return typeof session.me?.expiresAt === 'number' && session.me.expiresAt <= app.serverNow()
}

/** The browser holds a session (perhaps a new one, perhaps another user's): show it, and open the socket again with it. */
function adoptSession(/** @type {Me} */ me) {
  if (session.signedOut || signingOut) return
  showMe(me)
  // The server closed this page's socket with the old session; the handshake carries the new cookie.
  app.reconnect()
}

/** Where "sign in again" leads: the login page, then back to this page and patient. */
function loginHref() {
  return `/login?next=${encodeURIComponent(`${location.pathname}${location.hash}`)}`
}

let signingOut = false
/** The Sign out button: POST /logout, then the sign-in page. */
async function signOut() {
  const btn = /** @type {HTMLButtonElement} */ ($('sign-out'))
  btn.disabled = true
  // The server ends this page's socket too ('session:end'): that is this sign-out, not news.
  signingOut = true
  try {
    const res = await fetch('/logout', { method: 'POST', credentials: 'same-origin' })
    // 401: the session had already ended; either way it is over.
    if (!res.ok && res.status !== 401) throw new Error(`Could not sign out (HTTP ${res.status}): try again.`)
    location.assign('/login')
  } catch (error) {
    signingOut = false
    btn.disabled = false
    app.showError(error instanceof TypeError ? new Error('Could not sign out: the server is unreachable. Try again.') : error)
  }
}

/**
 * The session is over (signed out elsewhere, expired, the user disabled, any 401): say so, stop
 * the socket, and take every patient's data off the screen. Values that no longer update must
 * not stay on a monitor looking live; the next sign-in brings them back.
 */
function endSession(/** @type {unknown} */ reason) {
  if (session.signedOut || signingOut) return
  session.signedOut = true
  app.disconnect()
  $('sign-in-again').setAttribute('href', loginHref())
  $('signed-out-detail').textContent = sessionEndText(reason)
  $('signed-out').hidden = false
  $('dashboard').hidden = true
  renderMe()
  app.clearPatientData()
  // The way back is the one thing left to do on this page.
  $('sign-in-again').focus()
}
