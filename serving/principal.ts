/**
 * What every request of the serving layer carries once the guard (serving/http.ts) has run: the
 * principal it acts as, or null, and its session; and what every route declares: the role it requires
 * (docs/SECURITY.md, Every route's role).
 */
import type { Principal, Requirement } from '../lib/identity/model.ts'
import type { Identity } from './auth.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the request acts as (null: no valid credential). Set before any route runs. */
    principal: Principal | null
    /** The session the request came with (its handle and expiry), or null: set by the guard with the principal. */
    sessionRef: Identity['session']
  }
  interface FastifyContextConfig {
    /** The least role a route requires, or `public`. Every route must declare one. */
    role?: Requirement
  }
}

/** The principal of a request that passed the role guard (a non-public route always has one). */
export function principalOf(request: { principal: Principal | null }): Principal {
  if (request.principal === null) throw new Error('no principal: the route is missing from the role guard')
  return request.principal
}
