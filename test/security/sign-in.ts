/**
 * Named users for the integration tests of the serving layer: added (and disabled) with the
 * identity registry, as `vigil user add` does, then waited for until the running server has
 * read them from the registry topic; and signed in through POST /login, as the page does.
 */
import { expect } from 'vitest'
import type { Config } from '../../lib/config.ts'
import { pollUntil } from '../../lib/backoff.ts'
import type { Principal, Role } from '../../lib/identity/model.ts'
import { openRegistry, type Registry } from '../../lib/identity/registry.ts'
import { createLogger } from '../../lib/log.ts'

/** Every test user's password (12 characters or more: lib/identity/passwords.ts). */
export const PASSWORD = 'correct horse battery staple'

/** Who adds, disables and changes the test users: an operator at the CLI (docs/SECURITY.md: whoever reaches Kafka). */
export const OPERATOR: Principal = { user: 'cli:test@localhost', role: 'admin', via: 'cli' }

/** `vigil_session=<id>` out of a response's Set-Cookie, or '' when it sets none. */
export function sessionCookie(res: Response): string {
  const pair = (res.headers.get('set-cookie') ?? '').split(';')[0] ?? ''
  return pair.startsWith('vigil_session=') ? pair : ''
}

/** POST /login as JSON; the response. */
export function postLogin(base: string, username: string, password: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${base}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ username, password }),
    redirect: 'manual',
  })
}

/** Signs `username` in; the `vigil_session=<id>` pair to send as a Cookie header. */
export async function signIn(base: string, username: string, password = PASSWORD): Promise<string> {
  const res = await postLogin(base, username, password)
  expect(res.status, `sign-in of ${username}: ${await res.clone().text()}`).toBe(200)
  const cookie = sessionCookie(res)
  expect(cookie).toMatch(/^vigil_session=[\w-]{43}$/)
  return cookie
}

export interface TestUsers {
  registry: Registry
  /** Adds a user and waits until the server lists it. */
  add(username: string, role: Role): Promise<void>
  /** Disables a user and waits until the server lists it as disabled. */
  disable(username: string): Promise<void>
  close(): Promise<void>
}

/** The users of the server at `base`, whose bootstrap token is `token` (its admin API says what it has read). */
export async function testUsers(config: Config, base: () => string, token: string): Promise<TestUsers> {
  const registry = await openRegistry(config, { log: createLogger({ level: 'silent' }), clientId: 'vigil-test-users' })
  const seen = (username: string, disabled: boolean) =>
    pollUntil(
      async () => {
        const res = await fetch(`${base()}/api/admin/users`, { headers: { authorization: `Bearer ${token}` } })
        const users = (await res.json()) as Array<{ username: string; disabled: boolean }>
        return users.some((u) => u.username === username && u.disabled === disabled)
      },
      { timeoutMs: 15_000, intervalMs: 50, what: `the server to read user ${username}${disabled ? ' disabled' : ''}` },
    )
  return {
    registry,
    async add(username: string, role: Role) {
      await registry.addUser({ username, role, password: PASSWORD }, OPERATOR)
      await seen(username, false)
    },
    async disable(username: string) {
      await registry.disableUser(username, OPERATOR, 'left the ward')
      await seen(username, true)
    },
    close: () => registry.close(),
  }
}
