// Vigil sign-in page. Plain ES module, loaded from its own file: the CSP forbids inline scripts.
// POST /login with the user name and password as JSON; the server answers 200 and sets the
// HttpOnly session cookie, 401 for a wrong name or password, 429 with Retry-After when rate
// limited. On success the browser goes to `next` when it is a path of this site, else to `/`.
// The dashboard's other tabs are told of the sign-in (app.js): it replaces the session they use.

const form = /** @type {HTMLFormElement} */ (document.getElementById('login-form'))
const username = /** @type {HTMLInputElement} */ (document.getElementById('username'))
const password = /** @type {HTMLInputElement} */ (document.getElementById('password'))
const button = /** @type {HTMLButtonElement} */ (document.getElementById('sign-in'))
const errorBox = /** @type {HTMLElement} */ (document.getElementById('login-error'))

/**
 * Where to go once signed in: `next` when it is a path on this origin (never `//host`, `\`, or
 * another scheme: an open redirect would make a convincing phishing link), else the dashboard.
 */
function nextPath() {
  const next = new URLSearchParams(location.search).get('next')
  if (next === null || !next.startsWith('/') || next.startsWith('//') || next.includes('\\')) return '/'
  let url
  try {
    url = new URL(next, location.origin)
  } catch {
    return '/'
  }
  // The parser drops tabs and newlines, so "/\t/host" becomes "//host": check what it made of it.
  if (url.origin !== location.origin || url.pathname === '/login') return '/'
  return `${url.pathname}${url.search}${url.hash}`
}

/**
 * The dashboard's tabs listen here: a sign-in ends the browser's previous session (the server
 * tells their sockets at once) and its new cookie lands a moment later, so they wait for
 * 'signed-in' or 'sign-in-failed' before they ask whether a session is left.
 */
const signInChannel = typeof BroadcastChannel === 'function' ? new BroadcastChannel('vigil-session') : null
const tell = (/** @type {'signing-in' | 'signed-in' | 'sign-in-failed'} */ type) => signInChannel?.postMessage({ type })

function showError(/** @type {string} */ text) {
  errorBox.textContent = text
  errorBox.hidden = false
}

/** Seconds until the server takes another attempt (429 Retry-After); 0 when it would now. */
let retryLeft = 0
let retryTimer = 0
/** 429: the button waits out Retry-After, and the message counts down with it. */
function waitBeforeRetry(/** @type {number} */ seconds) {
  retryLeft = seconds
  showError(`Too many attempts: try again in ${retryLeft} s.`)
  clearInterval(retryTimer)
  retryTimer = window.setInterval(() => {
    retryLeft -= 1
    if (retryLeft > 0) {
      showError(`Too many attempts: try again in ${retryLeft} s.`)
      return
    }
    clearInterval(retryTimer)
    button.disabled = false
    errorBox.hidden = true
  }, 1000)
}

/** Seconds from a Retry-After header (delta-seconds or an HTTP date), at least 1. */
function retryAfterSeconds(/** @type {string | null} */ header) {
  if (header === null) return 60
  const n = Number(header)
  if (Number.isFinite(n)) return Math.max(1, Math.ceil(n))
  const at = Date.parse(header)
  return Number.isFinite(at) ? Math.max(1, Math.ceil((at - Date.now()) / 1000)) : 60
}

async function signIn() {
  tell('signing-in')
  const res = await send()
  tell(res?.ok ? 'signed-in' : 'sign-in-failed')
  if (res === null) return
  if (res.ok) location.assign(nextPath())
  else await showRefusal(res)
}

/** POST /login with the form's fields; null when the server could not be reached (the error is shown). */
async function send() {
  try {
    return await fetch('/login', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: username.value, password: password.value }),
    })
  } catch {
    showError('The server is unreachable: check the network connection and try again.')
    return null
  }
}

/** What a refused sign-in shows: the server's reason in words, or a countdown when rate limited. */
async function showRefusal(/** @type {Response} */ res) {
  password.value = ''
  if (res.status === 401) {
    showError('Wrong user name or password.')
    password.focus()
  } else if (res.status === 429) {
    waitBeforeRetry(retryAfterSeconds(res.headers.get('retry-after')))
  } else {
    const body = await res.json().catch(() => null)
    showError(typeof body?.message === 'string' ? body.message : `Sign-in failed (HTTP ${res.status}): try again.`)
  }
}

form.addEventListener('submit', (event) => {
  event.preventDefault()
  if (button.disabled) return
  errorBox.hidden = true
  button.disabled = true
  signIn().finally(() => {
    button.disabled = retryLeft > 0
  })
})

username.focus()
