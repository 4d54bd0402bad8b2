/**
 * The identity registry on a real broker (docs/SECURITY.md, The identity registry): two registries
 * opened on the same topics, as the gateway and the CLI are, and one opened again after both
 * closed, as after a restart.
 */
import kafkajs from 'kafkajs'
import { afterEach, describe, expect, it } from 'vitest'
import { createTestEnv, freePort, type TestEnv } from '../../test/support.ts'
import { readTopic } from '../../test/read-topic.ts'
import { pollUntil } from '../backoff.ts'
import { identityTopics } from '../contract/topics.ts'
import { VigilError } from '../errors.ts'
import { createLogger } from '../log.ts'
import { readAudit } from './audit.ts'
import { type AuditEvent, type DeviceRecord, type Principal, patientAt } from './model.ts'
import { verifyPassword } from './passwords.ts'
import { publicDevice } from './records.ts'
import { openRegistry, type Registry } from './registry.ts'

const log = createLogger({ level: 'warn', pretty: false, destination: process.stderr })
const admin: Principal = { user: 'cli:nurse-admin@ward-3', role: 'admin', via: 'cli' }

let env: TestEnv | undefined
const open: Registry[] = []
afterEach(async () => {
  for (const r of open.splice(0)) await r.close()
  await env?.cleanup()
  env = undefined
})

async function registry(name: string): Promise<Registry> {
  env ??= await createTestEnv()
  const r = await openRegistry(env.config, { log, clientId: `test-registry-${name}` })
  open.push(r)
  return r
}

/** The VigilError code a promise rejects with. */
async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (error) {
    if (error instanceof VigilError) return error.code
    throw error
  }
  throw new Error('expected a VigilError, got none')
}

describe('the identity registry', () => {
  it('a write on one registry is seen by another, and a registry opened again after both closed has every record', async () => {
    const a = await registry('a')
    const b = await registry('b')
    const { device, credential } = await a.addDevice({ id: 'wear-7', kind: 'wearable', patientId: 'p-12' }, admin, 'admitted to bay 3')
    expect(device.assignments).toEqual([{ patientId: 'p-12', from: device.createdAt, to: null }])
    expect(credential).toMatch(/^vgd_[A-Za-z0-9_-]{43}$/)
    expect(JSON.stringify(device)).not.toContain(credential)
    await a.addUser({ username: 'dr.okafor', role: 'clinician', password: 'a long enough passphrase' }, admin)

    await pollUntil(async () => b.device('wear-7') !== undefined && b.user('dr.okafor') !== undefined, {
      timeoutMs: 10_000,
      intervalMs: 20,
      what: 'B to see A’s writes',
    })
    expect(b.deviceByCredential(credential)?.id).toBe('wear-7')
    expect(b.deviceByCredential(`${credential}x`)).toBeUndefined()

    for (const r of open.splice(0)) await r.close()
    const c = await registry('c')
    expect(c.devices().map((d) => [d.id, d.kind, d.revokedAt])).toEqual([['wear-7', 'wearable', null]])
    expect(c.deviceByCredential(credential)?.id).toBe('wear-7')
    const user = c.user('dr.okafor')
    expect(user).toMatchObject({ role: 'clinician', disabled: false, credentialVersion: 1 })
    expect(await verifyPassword('a long enough passphrase', user!.passwordHash)).toBe(true)
  })

  it('keeps the assignment history: an assignment ends where the next begins, and patientAt answers for any time', async () => {
    const r = await registry('history')
    const t0 = Date.UTC(2026, 10, 1, 8)
    const hour = 3_600_000
    await r.addDevice({ id: 'cuff-1', kind: 'cuff', patientId: 'p-1', from: t0 }, admin)
    await r.assignDevice('cuff-1', 'p-2', t0 + 2 * hour, admin, 'moved to bed 4')
    const d = await r.assignDevice('cuff-1', null, t0 + 5 * hour, admin, 'p-2 discharged')
    expect(d.assignments).toEqual([
      { patientId: 'p-1', from: t0, to: t0 + 2 * hour },
      { patientId: 'p-2', from: t0 + 2 * hour, to: t0 + 5 * hour },
    ])
    expect(patientAt(d, t0 - 1)).toBeNull()
    expect(patientAt(d, t0)).toBe('p-1')
    expect(patientAt(d, t0 + 2 * hour - 1)).toBe('p-1')
    expect(patientAt(d, t0 + 2 * hour)).toBe('p-2')
    expect(patientAt(d, t0 + 5 * hour)).toBeNull()

    // Assignments never overlap: a start before the last one ended is refused, nothing changes.
    expect(await codeOf(r.assignDevice('cuff-1', 'p-3', t0 + 4 * hour, admin))).toBe('INPUT_INVALID')
    const again = await r.assignDevice('cuff-1', 'p-3', t0 + 6 * hour, admin)
    expect(again.assignments.at(-1)).toEqual({ patientId: 'p-3', from: t0 + 6 * hour, to: null })
    expect(await codeOf(r.assignDevice('cuff-1', 'p-4', t0 + 5 * hour, admin))).toBe('INPUT_INVALID')
    expect(r.device('cuff-1')?.assignments).toHaveLength(3)
  })

  it('a revoked device stays registered, cannot be assigned, and its revocation reaches another registry', async () => {
    const a = await registry('revoke-a')
    const b = await registry('revoke-b')
    const { credential } = await a.addDevice({ id: 'cgm-3', kind: 'cgm', patientId: 'p-9', from: Date.now() - 60_000 }, admin)
    await pollUntil(async () => b.device('cgm-3') !== undefined, { timeoutMs: 10_000, intervalMs: 5, what: 'B to see the device' })

    const revoked = await a.revokeDevice('cgm-3', admin, 'reported lost')
    const resolvedAt = performance.now()
    await pollUntil(async () => b.deviceByCredential(credential)?.revokedAt != null, { timeoutMs: 10_000, intervalMs: 1, what: 'B to see the revocation' })
    const followMs = performance.now() - resolvedAt
    // The follow latency (docs/SECURITY.md): measured and printed, not asserted (no timed assertions).
    console.log(`registry follow latency: ${followMs.toFixed(1)} ms from revokeDevice resolving on A to B seeing it`)

    expect(revoked.revokedAt).not.toBeNull()
    // Revoking ends the open assignment at the revocation.
    expect(revoked.assignments.at(-1)?.to).toBe(revoked.revokedAt)
    expect(b.device('cgm-3')?.revokedAt).toBe(revoked.revokedAt)
    expect(await codeOf(a.assignDevice('cgm-3', 'p-10', Date.now(), admin))).toBe('CONFLICT')
    expect(await codeOf(a.revokeDevice('cgm-3', admin, 'twice'))).toBe('CONFLICT')
    expect(await codeOf(a.revokeDevice('cgm-4', admin, ''))).toBe('INPUT_INVALID')
  })

  it('refuses duplicates, unknown devices and users, and bad input, naming the problem', async () => {
    const a = await registry('conflict-a')
    const b = await registry('conflict-b')
    await a.addDevice({ id: 'bed-1', kind: 'bedside' }, admin)
    await a.addUser({ username: 'sam', role: 'viewer', password: 'correct horse battery' }, admin)
    // B has not necessarily followed A yet: a write catches up first, so the duplicate is refused there too.
    expect(await codeOf(b.addDevice({ id: 'bed-1', kind: 'cuff' }, admin))).toBe('CONFLICT')
    expect(await codeOf(b.addUser({ username: 'sam', role: 'admin', password: 'another long password' }, admin))).toBe('CONFLICT')
    expect(await codeOf(a.assignDevice('bed-9', 'p-1', Date.now(), admin))).toBe('NOT_FOUND')
    expect(await codeOf(a.revokeDevice('bed-9', admin, 'gone'))).toBe('NOT_FOUND')
    expect(await codeOf(a.setRole('nobody', 'admin', admin))).toBe('NOT_FOUND')
    expect(await codeOf(a.setPassword('nobody', 'a long enough passphrase', admin))).toBe('NOT_FOUND')
    expect(await codeOf(a.disableUser('nobody', admin))).toBe('NOT_FOUND')

    const bad: Array<[string, Promise<unknown>]> = [
      ['device id', a.addDevice({ id: 'bed 2', kind: 'bedside' }, admin)],
      ['kind', a.addDevice({ id: 'bed-2', kind: 'toaster' as 'cuff' }, admin)],
      ['patient id', a.addDevice({ id: 'bed-2', kind: 'bedside', patientId: '../p' }, admin)],
      ['user name', a.addUser({ username: ' padded', role: 'viewer', password: 'a long enough passphrase' }, admin)],
      ['role', a.addUser({ username: 'kim', role: 'root' as 'admin', password: 'a long enough passphrase' }, admin)],
      ['password', a.addUser({ username: 'kim', role: 'viewer', password: 'short' }, admin)],
      ['new password', a.setPassword('sam', 'short', admin)],
      ['reason length', a.addDevice({ id: 'bed-3', kind: 'bedside' }, admin, 'x'.repeat(501))],
    ]
    for (const [what, p] of bad) expect([what, await codeOf(p)]).toEqual([what, 'INPUT_INVALID'])
    expect(a.devices().map((d) => d.id)).toEqual(['bed-1'])
    expect(a.users().map((u) => u.username)).toEqual(['sam'])
  })

  it('a password change and a disable move credentialVersion on; a role change keeps it', async () => {
    const r = await registry('users')
    const added = await r.addUser({ username: 'lee', role: 'viewer', password: 'first long password' }, admin)
    const promoted = await r.setRole('lee', 'clinician', admin, 'joined the rapid response team')
    const changed = await r.setPassword('lee', 'second long password', admin)
    const off = await r.disableUser('lee', admin, 'left the trust')
    expect([added, promoted, changed, off].map((u) => [u.role, u.credentialVersion, u.disabled])).toEqual([
      ['viewer', 1, false],
      ['clinician', 1, false],
      ['clinician', 2, false],
      ['clinician', 3, true],
    ])
    expect(await verifyPassword('second long password', changed.passwordHash)).toBe(true)
    expect(await verifyPassword('first long password', changed.passwordHash)).toBe(false)
    expect(await codeOf(r.disableUser('lee', admin))).toBe('CONFLICT')
  })

  it('writes one audit event per change and patient, with the actor, patient, before, after and reason, and never a secret', async () => {
    const r = await registry('audit')
    const t0 = Date.UTC(2026, 10, 2, 9)
    const { credential, device } = await r.addDevice({ id: 'wear-1', kind: 'wearable', patientId: 'p-1', from: t0 }, admin, 'admission')
    await r.assignDevice('wear-1', 'p-2', t0 + 1_000, admin, 'swapped beds')
    await r.revokeDevice('wear-1', admin, 'cracked case')
    const user = await r.addUser({ username: 'ana', role: 'viewer', password: 'a long enough passphrase' }, admin)
    await r.setPassword('ana', 'a second long passphrase', admin)

    const events = await readAudit(env!.config, {})
    const brief = (e: AuditEvent) => [e.action, e.patientId, e.subject, e.reason, e.actor.user]
    expect(events.map(brief)).toEqual([
      ['device.add', 'p-1', 'wear-1', 'admission', admin.user],
      // A move is in both patients' trails: the one the device leaves, then the one it joins.
      ['device.assign', 'p-1', 'wear-1', 'swapped beds', admin.user],
      ['device.assign', 'p-2', 'wear-1', 'swapped beds', admin.user],
      ['device.revoke', 'p-2', 'wear-1', 'cracked case', admin.user],
      ['user.add', null, 'ana', null, admin.user],
      ['user.password', null, 'ana', null, admin.user],
    ])
    const [leaves, joins] = [events[1]!, events[2]!]
    expect(leaves.before).toMatchObject({ assignments: [{ patientId: 'p-1', from: t0, to: null }] })
    expect(leaves.after).toMatchObject({
      assignments: [
        { patientId: 'p-1', to: t0 + 1_000 },
        { patientId: 'p-2', to: null },
      ],
    })
    expect([joins.before, joins.after, joins.at]).toEqual([leaves.before, leaves.after, leaves.at])
    expect(joins.id).not.toBe(leaves.id)
    expect(events[5]!.before).toMatchObject({ credentialVersion: 1 })
    expect(events[5]!.after).toMatchObject({ credentialVersion: 2 })
    expect((await readAudit(env!.config, { patientId: 'p-1' })).map((e) => e.action)).toEqual(['device.add', 'device.assign'])
    expect((await readAudit(env!.config, { patientId: 'p-2' })).map((e) => e.action)).toEqual(['device.assign', 'device.revoke'])
    expect((await readAudit(env!.config, { limit: 2 })).map((e) => e.action)).toEqual(['user.add', 'user.password'])

    // The raw topic, read by a client that is not the one under test: no credential, no hash, anywhere.
    const raw = await readTopic(env!.config, identityTopics(env!.config.topicPrefix).audit.name, 6)
    const text = raw.map((m) => `${m.key} ${m.value.toString()}`).join('\n')
    expect(raw.map((m) => m.key)).toEqual(['p-1', 'p-1', 'p-2', 'p-2', 'ana', 'ana'])
    for (const secret of [credential, device.credentialHash, user.passwordHash, 'credentialHash', 'passwordHash', 'passphrase'])
      expect(text).not.toContain(secret)
  })

  it('a device sent to no patient is in the trail of the one it leaves; one assigned from no patient, in its new patient’s only', async () => {
    const r = await registry('audit-none')
    const t0 = Date.UTC(2026, 10, 3, 9)
    await r.addDevice({ id: 'cuff-5', kind: 'cuff', patientId: 'p-5', from: t0 }, admin)
    await r.assignDevice('cuff-5', null, t0 + 1_000, admin, 'p-5 discharged')
    await r.assignDevice('cuff-5', 'p-6', t0 + 2_000, admin, 'admitted')
    const brief = (e: AuditEvent) => [e.action, e.patientId, e.reason]
    expect((await readAudit(env!.config, {})).map(brief)).toEqual([
      ['device.add', 'p-5', null],
      ['device.assign', 'p-5', 'p-5 discharged'],
      ['device.assign', 'p-6', 'admitted'],
    ])
  })

  it('opens with vitals.registry alone and no Redis; the first write creates vitals.audit, both with their configs', async () => {
    const reader = await registry('configs')
    const topics = identityTopics(env!.config.topicPrefix)
    const k = new kafkajs.Kafka({ clientId: 'vigil-identity-test', brokers: [...env!.config.kafkaBrokers], logLevel: kafkajs.logLevel.NOTHING }).admin()
    await k.connect()
    try {
      // A reader (the gateway) needs neither the audit topic nor a producer nor Redis.
      const listed = await k.listTopics()
      expect([listed.includes(topics.registry.name), listed.includes(topics.audit.name)]).toEqual([true, false])
      expect(reader.devices()).toEqual([])
      const noRedis = await openRegistry({ ...env!.config, redisUrl: `redis://127.0.0.1:${await freePort()}` }, { log, clientId: 'test-registry-no-redis' })
      open.push(noRedis)
      expect(noRedis.devices()).toEqual([])
      // Its first write needs Redis for the lock, and says so.
      expect(await codeOf(noRedis.addDevice({ id: 'bed-7', kind: 'bedside' }, admin))).toBe('REDIS_UNREACHABLE')

      await reader.addDevice({ id: 'bed-8', kind: 'bedside' }, admin)
      const described = await k.describeConfigs({
        resources: [topics.registry.name, topics.audit.name].map((name) => ({
          type: kafkajs.ConfigResourceTypes.TOPIC,
          name,
          configNames: ['cleanup.policy', 'retention.ms'],
        })),
        includeSynonyms: false,
      })
      const configs = Object.fromEntries(
        described.resources.map((res) => [res.resourceName, Object.fromEntries(res.configEntries.map((c) => [c.configName, c.configValue]))]),
      )
      expect(configs[topics.registry.name]?.['cleanup.policy']).toBe('compact')
      expect(configs[topics.audit.name]).toEqual({ 'cleanup.policy': 'delete', 'retention.ms': '-1' })
      const meta = await k.fetchTopicMetadata({ topics: [topics.registry.name, topics.audit.name] })
      expect(meta.topics.map((t) => t.partitions.length)).toEqual([1, 1])
    } finally {
      await k.disconnect()
    }
  })
})

/** The median of some durations, in ms, for the printed figures. */
function median(xs: number[]): number {
  const sorted = [...xs].sort((x, y) => x - y)
  return sorted[Math.floor(sorted.length / 2)]!
}

/** Runs `fn`, with how long it took to settle, in ms. */
async function timed<T>(fn: () => Promise<T>): Promise<{ result: PromiseSettledResult<T>; ms: number }> {
  const started = performance.now()
  const [result] = await Promise.allSettled([fn()])
  return { result: result!, ms: performance.now() - started }
}

/** Starts both at once (`secondFirst`: the second one first), and gives their results in the order given. */
function startBoth<A, B>(first: () => Promise<A>, second: () => Promise<B>, secondFirst: boolean): Promise<[A, B]> {
  if (!secondFirst) return Promise.all([first(), second()])
  const b = second()
  return Promise.all([first(), b])
}

/** The VigilError code of a rejected result, or 'fulfilled'. */
function outcome(r: PromiseSettledResult<unknown>): string {
  if (r.status === 'fulfilled') return 'fulfilled'
  if (r.reason instanceof VigilError) return r.reason.code
  throw r.reason
}

describe('two processes changing one record at once', () => {
  const ROUNDS = 10

  it('a revocation racing an assignment on another registry always ends revoked; the assignment ran before it or was refused', async () => {
    const a = await registry('race-a')
    const b = await registry('race-b')
    const seen = { before: 0, refused: 0 }
    const fast: number[] = []
    const slow: number[] = []
    for (let i = 0; i < ROUNDS; i++) {
      const id = `race-${i}`
      await a.addDevice({ id, kind: 'cuff', patientId: 'PA', from: Date.now() - 60_000 }, admin)
      await b.sync()
      // Each starts first in turn, so that each wins the lock some of the time.
      const revoking = () => timed(() => a.revokeDevice(id, admin, 'stolen'))
      const assigning = () => timed(() => b.assignDevice(id, 'PB', Date.now(), admin))
      const [revoke, assign] = await startBoth(revoking, assigning, i % 2 === 1)
      fast.push(Math.min(revoke.ms, assign.ms))
      slow.push(Math.max(revoke.ms, assign.ms))
      expect(revoke.result.status).toBe('fulfilled')
      const revoked = (revoke.result as PromiseFulfilledResult<DeviceRecord>).value
      await Promise.all([a.sync(), b.sync()])
      expect([a.device(id)?.revokedAt, b.device(id)?.revokedAt]).toEqual([revoked.revokedAt, revoked.revokedAt])
      expect(revoked.revokedAt).toEqual(expect.any(Number))
      if (assign.result.status === 'fulfilled') {
        // It ran first: the revocation was built on the assigned record, so nothing of it is lost.
        const [revokeEvent] = (await readAudit(env!.config, { patientId: 'PB' })).filter((e) => e.subject === id && e.action === 'device.revoke')
        expect(revokeEvent?.before).toEqual(publicDevice(assign.result.value))
        seen.before++
      } else {
        expect(outcome(assign.result)).toBe('CONFLICT')
        seen.refused++
      }
    }
    console.log(
      `registry race, ${ROUNDS} rounds: the assignment ran first ${seen.before}, was refused ${seen.refused}; the first write to finish took ${median(fast).toFixed(1)} ms (median), the second ${median(slow).toFixed(1)} ms (it waited for the lock)`,
    )
  })

  it('a disable racing a role change on another registry always ends disabled, and the role change is kept or refused', async () => {
    const a = await registry('race-users-a')
    const b = await registry('race-users-b')
    for (let i = 0; i < ROUNDS; i++) {
      const name = `nurse-${i}`
      await a.addUser({ username: name, role: 'viewer', password: 'a long enough passphrase' }, admin)
      await b.sync()
      const disabling = () => timed(() => a.disableUser(name, admin, 'left'))
      const promoting = () => timed(() => b.setRole(name, 'admin', admin))
      const [{ result: disable }, { result: promote }] = await startBoth(disabling, promoting, i % 2 === 1)
      expect(disable.status).toBe('fulfilled')
      await Promise.all([a.sync(), b.sync()])
      const [onA, onB] = [a.user(name), b.user(name)]
      expect(onB).toEqual(onA)
      expect(onA).toMatchObject({ disabled: true, credentialVersion: 2 })
      // The role change, when it was accepted, is not lost either.
      if (promote.status === 'fulfilled') expect(onA?.role).toBe('admin')
      else expect([outcome(promote), onA?.role]).toEqual(['CONFLICT', 'viewer'])
    }
  })
})
