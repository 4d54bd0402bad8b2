/**
 * The admin API (docs/SECURITY.md): devices (list, add, assign, revoke) and users (list, add,
 * change role or password, disable), over the identity registry. The registry records each change
 * in the audit trail itself, before applying it, so these handlers record nothing; its refusals
 * (VigilError NOT_FOUND, CONFLICT, INPUT_INVALID, KAFKA_UNREACHABLE) become 404, 409, 400 and 503
 * in routes.ts. No answer holds a credential hash or a password hash: the views below pick their
 * fields; a new device's credential is answered once, at its creation.
 */
import type { FastifyPluginAsync, FastifyReply } from 'fastify'
import { currentPatient, usernameProblem, type DeviceKind, type DeviceRecord, type Role, type UserRecord } from '../lib/identity/model.ts'
import { principalOf } from './principal.ts'
import type { RouteDeps } from './routes.ts'
import {
  addDeviceBody,
  addUserBody,
  assignDeviceBody,
  deviceAdded,
  deviceIdParams,
  deviceView,
  patchUserBody,
  problem,
  revokeDeviceBody,
  userView,
  usernameParams,
} from './schemas.ts'

/** A device as the admin API shows it: never its credential hash; `patientId` is its patient now. */
function deviceAnswer(d: DeviceRecord) {
  return { id: d.id, kind: d.kind, createdAt: d.createdAt, revokedAt: d.revokedAt, assignments: d.assignments, patientId: currentPatient(d) }
}

/** A user as the admin API shows it: never the password hash. */
function userAnswer(u: UserRecord) {
  return { username: u.username, role: u.role, disabled: u.disabled, createdAt: u.createdAt, updatedAt: u.updatedAt }
}

/** A reason as given (the schema has checked it), trimmed; null when none was given. */
function reasonOf(body: { reason?: string }): string | null {
  return body.reason?.trim() ?? null
}

type DeviceParams = { Params: { deviceId: string } }
type UserPatch = { role?: Role; password?: string; disabled?: true; reason?: string }

const ADMIN = { role: 'admin' } as const
const refusals = { 400: problem, 404: problem, 409: problem, 503: problem } as const

export function adminRoutes(deps: RouteDeps): FastifyPluginAsync {
  const { registry } = deps

  const badRequest = (reply: FastifyReply, message: string) => reply.code(400).send({ error: 'Bad Request', message })

  return async (app) => {
    app.get('/api/admin/devices', { config: ADMIN, schema: { response: { 200: { type: 'array', items: deviceView } } } }, async () =>
      registry
        .devices()
        .sort((a, b) => (a.id < b.id ? -1 : 1))
        .map(deviceAnswer),
    )

    app.post<{ Body: { id: string; kind: DeviceKind; patientId?: string | null; reason?: string } }>(
      '/api/admin/devices',
      { config: ADMIN, schema: { body: addDeviceBody, response: { 201: deviceAdded, ...refusals } } },
      async (request, reply) => {
        const { id, kind, patientId } = request.body
        const added = await registry.addDevice({ id, kind, patientId: patientId ?? null }, principalOf(request), reasonOf(request.body))
        return reply.code(201).send({ device: deviceAnswer(added.device), credential: added.credential })
      },
    )

    app.post<DeviceParams & { Body: { patientId: string | null; from?: number; reason?: string } }>(
      '/api/admin/devices/:deviceId/assign',
      { config: ADMIN, schema: { params: deviceIdParams, body: assignDeviceBody, response: { 200: deviceView, ...refusals } } },
      async (request) => {
        const { patientId, from } = request.body
        const device = await registry.assignDevice(request.params.deviceId, patientId, from ?? Date.now(), principalOf(request), reasonOf(request.body))
        return deviceAnswer(device)
      },
    )

    app.post<DeviceParams & { Body: { reason: string } }>(
      '/api/admin/devices/:deviceId/revoke',
      { config: ADMIN, schema: { params: deviceIdParams, body: revokeDeviceBody, response: { 200: deviceView, ...refusals } } },
      async (request) => deviceAnswer(await registry.revokeDevice(request.params.deviceId, principalOf(request), request.body.reason.trim())),
    )

    app.get('/api/admin/users', { config: ADMIN, schema: { response: { 200: { type: 'array', items: userView } } } }, async () =>
      registry
        .users()
        .sort((a, b) => (a.username < b.username ? -1 : 1))
        .map(userAnswer),
    )

    app.post<{ Body: { username: string; role: Role; password: string } }>(
      '/api/admin/users',
      { config: ADMIN, schema: { body: addUserBody, response: { 201: userView, ...refusals } } },
      async (request, reply) => {
        const problemText = usernameProblem(request.body.username)
        if (problemText !== undefined) return badRequest(reply, problemText)
        const user = await registry.addUser(request.body, principalOf(request))
        return reply.code(201).send(userAnswer(user))
      },
    )

    // Each change is its own registry write and audit event, in this order; one refused (an
    // unknown user: 404) stops the ones after it.
    app.patch<{ Params: { username: string }; Body: UserPatch }>(
      '/api/admin/users/:username',
      { config: ADMIN, schema: { params: usernameParams, body: patchUserBody, response: { 200: userView, ...refusals } } },
      async (request, reply) => {
        const { role, password, disabled } = request.body
        if (role === undefined && password === undefined && disabled === undefined) return badRequest(reply, 'give role, password or disabled: true')
        const { username } = request.params
        const actor = principalOf(request)
        const reason = reasonOf(request.body)
        let user: UserRecord | undefined
        if (role !== undefined) user = await registry.setRole(username, role, actor, reason)
        if (password !== undefined) user = await registry.setPassword(username, password, actor)
        if (disabled === true) user = await registry.disableUser(username, actor, reason)
        return userAnswer(user!)
      },
    )
  }
}
