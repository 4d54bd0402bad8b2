/**
 * Socket.io on the HTTP server, behind the same sign-in as the API (serving/auth.ts): the server
 * with its limits, a same-origin check on the handshake, the credential check in front of
 * Socket.io's own path and in its namespace, and the end of a connection whose session ends.
 */
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { Server } from 'socket.io'
import { roleAllows, type Principal } from '../lib/identity/model.ts'
import type { Logger } from '../lib/log.ts'
import { describeError } from '../lib/errors.ts'
import type { Auth } from './auth.ts'
import { fromOwnPage } from './http.ts'
import type { ServingOptions } from './config.ts'
import type { SessionEndReason } from './events.ts'
import type { VigilServer, VigilSocket } from './push.ts'
import { TooManyTokenGuesses, clientAddress } from './token-guesses.ts'

/** Milliseconds an engine.io connection may stay open without joining the namespace (Socket.io's default is 45 s). */
const SOCKET_CONNECT_TIMEOUT_MS = 10_000

export interface SocketServer {
  io: VigilServer
  /** Tells the connections of a session why it ended, then disconnects them. */
  endSession(handle: string, reason: SessionEndReason): void
  /** Stops the session checks (the caller closes the server). */
  stop(): void
}

/** The Socket.io server of `server`, guarded (see guardSocketIo), its connections checked against their sessions. */
export function createSocketServer(server: HttpServer, options: ServingOptions, auth: Auth, log: Logger): SocketServer {
  const io: VigilServer = new Server(server, {
    serveClient: true,
    maxHttpBufferSize: options.bodyLimitBytes,
    // A connection that has not asked for the namespace (and so shown no credential) within this is closed.
    connectTimeout: SOCKET_CONNECT_TIMEOUT_MS,
    // A same-origin page (the API's rule and its reading of the host, serving/http.ts): a WebSocket
    // from another site's page, or from a sibling origin of this site, is refused even if a cookie rode along.
    allowRequest: (req, callback) => callback(null, fromOwnPage(req.headers)),
  })
  guardSocketIo(server, io, auth, options.trustProxy)
  const endSession = (handle: string, reason: SessionEndReason) => {
    for (const socket of io.sockets.sockets.values()) if (socket.data.session === handle) endConnection(socket, reason)
  }
  const timer = setInterval(() => {
    checkSessions(io, auth).catch((error: unknown) => log.warn(`could not check the sessions of open connections: ${describeError(error)}`))
  }, options.sessionCheckIntervalMs)
  timer.unref()
  return { io, endSession, stop: () => clearInterval(timer) }
}

/** Sends `session:end` to a connection, then disconnects it (the page then shows why, and does not reconnect). */
function endConnection(socket: VigilSocket, reason: SessionEndReason): void {
  socket.emit('session:end', { reason })
  socket.disconnect(true)
}

/**
 * One check of every connection opened with a session (one Redis round trip): a session gone
 * from Redis has expired; one whose user may no longer act was revoked. The others take the
 * user's current role.
 */
async function checkSessions(io: VigilServer, auth: Auth): Promise<void> {
  const handles = new Set<string>()
  for (const socket of io.sockets.sockets.values()) if (socket.data.session !== null) handles.add(socket.data.session)
  if (handles.size === 0) return
  const sessions = await auth.sessions.readMany([...handles])
  const principals = new Map<string, Principal | null>()
  for (const handle of handles) {
    const session = sessions.get(handle)
    principals.set(handle, session === undefined ? null : auth.principalOf(session))
  }
  // One pass over the connections, however many sessions they share.
  for (const socket of io.sockets.sockets.values()) {
    const handle = socket.data.session
    const principal = handle === null ? undefined : principals.get(handle)
    // Connected since the read, with a session not read: the next check sees it.
    if (handle === null || principal === undefined) continue
    if (principal !== null) socket.data.principal = principal
    else endConnection(socket, sessions.has(handle) ? 'revoked' : 'expired')
  }
}

/**
 * The credential check for Socket.io, in two places. Socket.io answers its own path (/socket.io/:
 * the client bundle and the transports) before fastify sees a request, so a guard in front of it
 * answers a bare 401 (plain requests and WebSocket upgrades alike) to: the client bundle without
 * a valid credential; a transport request whose headers carry a credential that is not valid;
 * and a request for an engine.io session opened with a credential in its headers that no longer
 * carries one (a leaked session id is no way in). A transport request with no credential in its
 * headers goes on, because the token may come in the handshake `auth` payload, which only the
 * namespace sees: the namespace middleware lets a connection in by its handshake headers or that
 * payload (`Auth.identify`), at least a viewer, and refuses the rest with one `connect_error`
 * ("unauthorized"), sends them no event and closes their connection, so each connection gets
 * one try. A session cookie is looked up in Redis, so both checks are asynchronous: the raw
 * request waits, unread, until its check answers. A wrong token counts against the client's
 * address here as on the API; past the limit a raw request carrying a token gets a bare 429, and
 * a handshake with one is refused as a wrong one is.
 */
function guardSocketIo(server: HttpServer, io: VigilServer, auth: Auth, trustProxy: boolean): void {
  // Engine.io sessions whose handshake carried a credential in its headers (checked by `refused`
  // before engine.io saw it): their later requests must carry a valid one too.
  const headerBound = new Set<string>()
  io.engine.on('connection', (conn: { id: string; request: IncomingMessage; once(event: 'close', listener: () => void): void }) => {
    if (!auth.carriesCredential(conn.request.headers)) return
    headerBound.add(conn.id)
    conn.once('close', () => headerBound.delete(conn.id))
  })
  io.use((socket, next) => {
    auth.identify(socket.handshake.headers, { address: clientAddress(socket.request, trustProxy), payload: socket.handshake.auth }).then(
      (identity) => {
        if (identity === null || !roleAllows(identity.principal.role, 'viewer')) return refuse(socket, next, 'unauthorized')
        socket.data.principal = identity.principal
        socket.data.session = identity.session?.handle ?? null
        next()
      },
      // Past the address's limit of wrong tokens: refused as a wrong token is, so that it tells nothing.
      // Else Redis did not answer: the page may try again; it was not told its credential is wrong.
      (error: unknown) => refuse(socket, next, error instanceof TooManyTokenGuesses ? 'unauthorized' : 'unavailable'),
    )
  })

  const valid = async (req: IncomingMessage) => (await auth.identify(req.headers, { address: clientAddress(req, trustProxy) })) !== null
  // The raw URL, as engine.io matches it (a normalised path could let `/socket.io/../?sid=` past the guard).
  const refused = async (req: IncomingMessage): Promise<boolean> => {
    const raw = req.url ?? ''
    const query = raw.indexOf('?')
    if ((query < 0 ? raw : raw.slice(0, query)) !== '/socket.io/') return !(await valid(req))
    if (auth.carriesCredential(req.headers)) return !(await valid(req))
    // Parsed as engine.io parses it, and every sid given: engine.io takes the last of repeated ones.
    return new URL(raw, 'https://socket.io').searchParams.getAll('sid').some((sid) => headerBound.has(sid))
  }
  intercept<[ServerResponse]>(server, 'request', refused, (status, res) => answer(res, status))
  // A WebSocket client sends nothing before the 101 answer (RFC 6455, 4.1), so nothing is lost while the check awaits.
  intercept<[Duplex, Buffer]>(server, 'upgrade', refused, (status, socket) =>
    socket.end(`HTTP/1.1 ${status} ${REASON[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`),
  )
}

/** What the guard answers: a credential refused, an address past its limit of wrong tokens, or Redis not answering. */
type Refusal = 401 | 429 | 503
const REASON: Record<Refusal, string> = { 401: 'Unauthorized', 429: 'Too Many Requests', 503: 'Service Unavailable' }

/**
 * Takes over `server`'s `event` listeners: a Socket.io request is handed on to them only once
 * `refused` has said no, and otherwise `deny` answers it; any other request is handed on at once.
 */
function intercept<Rest extends unknown[]>(
  server: HttpServer,
  event: 'request' | 'upgrade',
  refused: (req: IncomingMessage) => Promise<boolean>,
  deny: (status: Refusal, ...rest: Rest) => void,
): void {
  const listeners = server.listeners(event) as Array<(req: IncomingMessage, ...rest: Rest) => void>
  server.removeAllListeners(event)
  server.on(event, (req: IncomingMessage, ...rest: Rest) => {
    const handOn = () => {
      for (const l of listeners) l.call(server, req, ...rest)
    }
    if (!(req.url ?? '').startsWith('/socket.io/')) return handOn()
    refused(req).then(
      (no) => (no ? deny(401, ...rest) : handOn()),
      (error: unknown) => deny(error instanceof TooManyTokenGuesses ? 429 : 503, ...rest),
    )
  })
}

/** A bare answer, and the connection closed (a body still coming is never read). */
function answer(res: ServerResponse, status: number): void {
  res.writeHead(status, { 'content-length': '0', connection: 'close' })
  res.end()
}

/** Refuses a namespace connection with one `connect_error` and closes it. */
function refuse(socket: VigilSocket, next: (error?: Error) => void, message: string): void {
  next(new Error(message))
  // After the CONNECT_ERROR packet is queued (on the next tick); close() waits for it to drain.
  setImmediate(() => socket.conn.close())
}
