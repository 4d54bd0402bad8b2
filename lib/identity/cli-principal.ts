/**
 * Who acts at the CLI (docs/SECURITY.md, The audit trail): whoever can reach Kafka and Redis is an
 * operator, so the CLI acts as an admin, named by the operating-system account and host it runs
 * on, which is what the audit trail can truthfully say about them.
 */
import { hostname, userInfo } from 'node:os'
import type { Principal } from './model.ts'

/** `{ user: 'cli:<os user>@<host>', role: 'admin', via: 'cli' }`. */
export function cliPrincipal(): Principal {
  return { user: `cli:${osUser()}@${hostname()}`, role: 'admin', via: 'cli' }
}

function osUser(): string {
  try {
    return userInfo().username
  } catch {
    // A uid with no passwd entry (some containers): userInfo throws; the uid is still who it is.
    return `uid-${process.getuid?.() ?? 'unknown'}`
  }
}
