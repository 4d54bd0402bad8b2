/**
 * Socket.io on the HTTP server, behind the same token as the API: the server with its limits, a
 * same-origin check on the handshake, and the token check in front of Socket.io's own path and in
 * its namespace.
 */
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { Server } from 'socket.io'
import type { Auth } from './auth.ts'
import type { ServingOptions } from './config.ts'
import type { VigilServer } from './push.ts'

/** The Socket.io server of `server`, guarded (see guardSocketIo). */
export function createSocketServer(server: HttpServer, options: ServingOptions, auth: Auth): VigilServer {
  const io: VigilServer = new Server(server, {
    serveClient: true,
    maxHttpBufferSize: options.bodyLimitBytes,
    // A connection that has not asked for the namespace (and so shown no token) within this is closed.
    connectTimeout: SOCKET_CONNECT_TIMEOUT_MS,
    // A same-origin page: a WebSocket from another site's page is refused even if a cookie rode along.
    allowRequest: (req, callback) => callback(null, sameOrigin(req)),
  })
  guardSocketIo(server, io, auth)
  return io
}

/** True when the request has no Origin (not a browser) or comes from a page of this server. */
function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin
  if (origin === undefined) return true
  try {
    return new URL(origin).host === req.headers.host
  } catch {
    return false
  }
}

/** Milliseconds an engine.io connection may stay open without joining the namespace (Socket.io's default is 45 s). */
const SOCKET_CONNECT_TIMEOUT_MS = 10_000

/**
 * The token check for Socket.io, in two places. Socket.io answers its own path (/socket.io/: the
 * client bundle and the transports) before fastify sees a request, so a guard in front of it
 * answers a bare 401 (plain requests and WebSocket upgrades alike) to: the client bundle without
 * the token; a transport request whose headers carry a credential that is wrong; and a request
 * for a session opened with the token in its headers that no longer carries it (a leaked session
 * id is no way in). A transport request with no credential in its headers goes on, because the
 * token may come in the handshake `auth` payload, which only the namespace sees: the namespace
 * middleware lets a connection in by its handshake headers or that payload (`Auth.allowsHandshake`),
 * and refuses the rest with one `connect_error` ("unauthorized"), sends them no event and closes
 * their connection, so each connection gets one try.
 */
function guardSocketIo(server: HttpServer, io: VigilServer, auth: Auth): void {
  // Sessions whose handshake carried the (right) token in its headers: their later requests must carry it too.
  const headerBound = new Set<string>()
  io.engine.on('connection', (conn: { id: string; request: IncomingMessage; once(event: 'close', listener: () => void): void }) => {
    if (!auth.allows(conn.request.headers)) return
    headerBound.add(conn.id)
    conn.once('close', () => headerBound.delete(conn.id))
  })
  io.use((socket, next) => {
    if (auth.allowsHandshake(socket.handshake.headers, socket.handshake.auth)) return next()
    next(new Error('unauthorized'))
    // After the CONNECT_ERROR packet is queued (on the next tick); close() waits for it to drain.
    setImmediate(() => socket.conn.close())
  })

  // The raw URL, as engine.io matches it (a normalised path could let `/socket.io/../?sid=` past the guard).
  const refused = (req: IncomingMessage): boolean => {
    const raw = req.url ?? ''
    if (!raw.startsWith('/socket.io/')) return false
    const query = raw.indexOf('?')
    if ((query < 0 ? raw : raw.slice(0, query)) !== '/socket.io/') return !auth.allows(req.headers)
    if (auth.carriesCredential(req.headers)) return !auth.allows(req.headers)
    // Parsed as engine.io parses it, and every sid given: engine.io takes the last of repeated ones.
    return new URL(raw, 'https://socket.io').searchParams.getAll('sid').some((sid) => headerBound.has(sid))
  }
  const requestListeners = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>
  server.removeAllListeners('request')
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (refused(req)) {
      res.writeHead(401, { 'content-length': '0', connection: 'close' })
      res.end()
      return
    }
    for (const l of requestListeners) l.call(server, req, res)
  })
  const upgradeListeners = server.listeners('upgrade') as Array<(req: IncomingMessage, socket: Duplex, head: Buffer) => void>
  server.removeAllListeners('upgrade')
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (refused(req)) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      return
    }
    for (const l of upgradeListeners) l.call(server, req, socket, head)
  })
}
