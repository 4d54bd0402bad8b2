/**
 * The audit trail on a real broker (docs/SECURITY.md, The audit trail): what `record` writes is
 * read back by `readAudit`, filtered, from a topic that outlives the process that wrote it.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createTestEnv, freePort, type TestEnv } from '../../test/support.ts'
import { readTopic } from '../../test/read-topic.ts'
import { loadConfig } from '../config.ts'
import { identityTopics } from '../contract/topics.ts'
import { VigilError } from '../errors.ts'
import { createLogger } from '../log.ts'
import { openAuditLog, readAudit } from './audit.ts'
import type { Principal } from './model.ts'

const log = createLogger({ level: 'warn', pretty: false, destination: process.stderr })
const nurse: Principal = { user: 'nurse.jo', role: 'clinician', via: 'session' }

let env: TestEnv | undefined
afterEach(async () => {
  await env?.cleanup()
  env = undefined
})

describe('the audit trail', () => {
  it('records events keyed by patient (else subject), and a later reader gets them back in order, filtered', async () => {
    env = await createTestEnv()
    const t0 = Date.UTC(2026, 10, 3, 14)
    const first = await openAuditLog(env.config, { log, clientId: 'test-audit-a' })
    const ack = await first.record({
      actor: nurse,
      action: 'alert.acknowledge',
      patientId: 'p-4',
      subject: 'alert-17',
      before: { state: 'active' },
      after: { state: 'acknowledged' },
      reason: null,
      at: t0,
    })
    await first.record({
      actor: nurse,
      action: 'patient.bands',
      patientId: 'p-5',
      subject: 'p-5',
      before: {},
      after: { spo2: 'news2-scale2' },
      reason: 'COPD',
      at: t0 + 10,
    })
    await first.close()
    const second = await openAuditLog(env.config, { log, clientId: 'test-audit-b' })
    await second.record({
      actor: nurse,
      action: 'user.password',
      patientId: null,
      subject: 'nurse.jo',
      before: { credentialVersion: 1, passwordHash: 'scrypt$x' },
      after: { credentialVersion: 2, nested: [{ credential: 'vgd_x' }] },
      reason: ' ',
      at: t0 + 20,
    })
    await second.close()

    expect(ack).toMatchObject({ v: 1, at: t0, actor: nurse, action: 'alert.acknowledge', patientId: 'p-4', subject: 'alert-17', reason: null })
    expect(ack.id).toMatch(/^[0-9a-f-]{36}$/)
    const all = await readAudit(env.config, {})
    expect(all.map((e) => [e.action, e.at])).toEqual([
      ['alert.acknowledge', t0],
      ['patient.bands', t0 + 10],
      ['user.password', t0 + 20],
    ])
    expect(all[0]).toEqual(ack)
    // Secrets are left out at any depth; an empty reason is none.
    expect(all[2]).toMatchObject({ before: { credentialVersion: 1 }, after: { credentialVersion: 2, nested: [{}] }, reason: null })
    expect(JSON.stringify(all[2])).not.toMatch(/passwordHash|credential"|vgd_x|scrypt/)

    expect((await readAudit(env.config, { patientId: 'p-5' })).map((e) => e.reason)).toEqual(['COPD'])
    expect((await readAudit(env.config, { since: t0 + 10 })).map((e) => e.action)).toEqual(['patient.bands', 'user.password'])
    expect((await readAudit(env.config, { limit: 1 })).map((e) => e.action)).toEqual(['user.password'])
    expect(await readAudit(env.config, { patientId: 'p-404' })).toEqual([])

    const raw = await readTopic(env.config, identityTopics(env.config.topicPrefix).audit.name, 3)
    expect(raw.map((m) => m.key)).toEqual(['p-4', 'p-5', 'nurse.jo'])
  })

  it('keeps every event recorded at once (nurses acknowledging together): one event per call, each at its own offset', async () => {
    env = await createTestEnv()
    const audit = await openAuditLog(env.config, { log, clientId: 'test-audit-burst' })
    const subjects = Array.from({ length: 50 }, (_, i) => `p-7:heartRate:${i}`)
    try {
      await Promise.all(
        subjects.map((subject) =>
          audit.record({ actor: nurse, action: 'alert.acknowledge', patientId: 'p-7', subject, before: null, after: null, reason: null }),
        ),
      )
    } finally {
      await audit.close()
    }
    const read = await readAudit(env.config, { patientId: 'p-7' })
    expect(read.map((e) => e.subject).sort()).toEqual([...subjects].sort())
  })

  it('refuses a limit that is not a whole number above 0', async () => {
    env = await createTestEnv()
    await expect(readAudit(env.config, { limit: 0 })).rejects.toMatchObject({ code: 'INPUT_INVALID' })
  })

  it('rejects with KAFKA_UNREACHABLE when no broker answers, so that the action it records can be refused', async () => {
    const config = loadConfig({ kafkaBrokers: `127.0.0.1:${await freePort()}`, topicPrefix: 'unreachable.' }, {})
    const error = await openAuditLog(config, { log, clientId: 'test-audit-down' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(VigilError)
    expect((error as VigilError).code).toBe('KAFKA_UNREACHABLE')
  })
})
