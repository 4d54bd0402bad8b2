/**
 * The identity commands as an operator runs them (`node bin/vigil.js ...`, a real broker and
 * Redis): `vigil device`, `vigil user`, `vigil audit`, `vigil patient set --reason`, and what
 * `vigil init` keeps.
 */
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { createTestEnv, freePort, type TestEnv } from '../test/support.ts'
import { redisKeys } from '../lib/contract/keys.ts'
import { createAdmin } from '../lib/kafka.ts'
import { connectRedis } from '../lib/redis.ts'
import { createLogger } from '../lib/log.ts'
import { openRegistry } from '../lib/identity/registry.ts'
import { readAudit } from '../lib/identity/audit.ts'
import { identityTopics } from '../lib/contract/topics.ts'

const envs: TestEnv[] = []
afterEach(async () => {
  for (const e of envs.splice(0)) await e.cleanup()
})

async function testEnv(): Promise<TestEnv> {
  const e = await createTestEnv()
  envs.push(e)
  return e
}

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `vigil` with the test's prefixes; `input` is piped to its standard input (closed at once without). */
function vigil(e: TestEnv, args: string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<Run> {
  const child = spawn(process.execPath, ['bin/vigil.js', ...args], {
    env: {
      ...process.env,
      VIGIL_TOPIC_PREFIX: e.config.topicPrefix,
      VIGIL_REDIS_PREFIX: e.config.redisPrefix,
      VIGIL_DATALAKE_DIR: e.config.datalakeDir,
      VIGIL_LOG_LEVEL: 'warn',
      ...options.env,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  child.stdin.end(options.input ?? '')
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })))
}

const log = createLogger({ level: 'warn', pretty: false, destination: process.stderr })

describe('vigil device', () => {
  it('adds a device and shows its credential once, lists, assigns and revokes it, each change in the audit trail', async () => {
    const e = await testEnv()
    const added = await vigil(e, ['device', 'add', 'wear-1', '--kind', 'wearable', '--patient', 'p-1', '--reason', 'admitted'])
    expect(added).toMatchObject({ code: 0, stderr: '' })
    const credential = /^credential: (vgd_\S+)$/m.exec(added.stdout)?.[1]
    expect(credential).toBeDefined()
    expect(added.stdout).toContain('will not be shown again')

    const listed = await vigil(e, ['device', 'list'])
    expect(listed.stdout).toMatch(/^wear-1 +wearable +p-1 +\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ +-$/m)
    expect(listed.stdout).not.toContain(credential!)

    expect((await vigil(e, ['device', 'assign', 'wear-1', 'p-2', '--from', '2999-01-01T00:00Z'])).stdout).toContain('assigned to p-2 from 2999-01-01 00:00:00Z')
    const noReason = await vigil(e, ['device', 'revoke', 'wear-1'])
    expect(noReason.code).toBe(2)
    expect(noReason.stderr).toContain("required option '--reason <text>'")
    expect((await vigil(e, ['device', 'revoke', 'wear-1', '--reason', 'lost on the ward'])).code).toBe(0)

    const json = await vigil(e, ['device', 'list', '--json'])
    const [device] = JSON.parse(json.stdout) as Array<Record<string, unknown>>
    expect(device).toMatchObject({ id: 'wear-1', kind: 'wearable', patientId: null })
    expect(device).not.toHaveProperty('credentialHash')
    expect(device!.revokedAt).toEqual(expect.any(Number))

    // The registry a gateway opens sees it revoked, found by its credential.
    const registry = await openRegistry(e.config, { log, clientId: 'test-cli-registry' })
    try {
      expect(registry.deviceByCredential(credential!)?.revokedAt).toEqual(device!.revokedAt)
    } finally {
      await registry.close()
    }

    const duplicate = await vigil(e, ['device', 'add', 'wear-1', '--kind', 'cuff'])
    expect(duplicate).toMatchObject({ code: 1, stdout: '' })
    expect(duplicate.stderr).toBe('vigil: Device "wear-1" is already registered: choose another id, or move it with `vigil device assign`.\n')
    expect((await vigil(e, ['device', 'assign', 'nope', '--none'])).stderr).toContain('No device "nope" is registered')

    const audit = await vigil(e, ['audit', '--json'])
    const events = JSON.parse(audit.stdout) as Array<{ action: string; patientId: string | null; actor: { user: string; via: string }; reason: string | null }>
    expect(events.map((x) => [x.action, x.patientId, x.reason])).toEqual([
      ['device.add', 'p-1', 'admitted'],
      // The move is in the trail of the patient it leaves and of the one it joins.
      ['device.assign', 'p-1', null],
      ['device.assign', 'p-2', null],
      ['device.revoke', 'p-2', 'lost on the ward'],
    ])
    const left = JSON.parse((await vigil(e, ['audit', '--patient', 'p-1', '--json'])).stdout) as Array<{ action: string }>
    expect(left.map((x) => x.action)).toEqual(['device.add', 'device.assign'])
    expect(events[0]!.actor).toMatchObject({ user: expect.stringMatching(/^cli:.+@.+$/), role: 'admin', via: 'cli' })
    expect(audit.stdout).not.toContain(credential!)
  })
})

describe('vigil user', () => {
  it('adds a user with a password from standard input, changes the role and password, disables, and never prints a hash', async () => {
    const e = await testEnv()
    expect(await vigil(e, ['user', 'add', 'dr.ade', '--role', 'clinician', '--password-stdin'], { input: 'a long enough passphrase\n' })).toMatchObject({
      code: 0,
      stdout: 'user dr.ade added as clinician\n',
    })
    const noTty = await vigil(e, ['user', 'add', 'kim', '--role', 'viewer'])
    expect(noTty.code).toBe(2)
    expect(noTty.stderr).toContain('pass --password-stdin')
    const short = await vigil(e, ['user', 'add', 'kim', '--role', 'viewer', '--password-stdin'], { input: 'short\n' })
    expect(short).toMatchObject({ code: 1, stderr: 'vigil: A password has at least 12 characters; got 5.\n' })
    expect((await vigil(e, ['user', 'role', 'dr.ade', 'owner'])).code).toBe(2)
    expect((await vigil(e, ['user', 'role', 'dr.ade', 'admin', '--reason', 'ward manager'])).stdout).toBe('user dr.ade is now admin\n')
    expect((await vigil(e, ['user', 'passwd', 'dr.ade', '--password-stdin'], { input: 'a second long passphrase' })).code).toBe(0)
    expect((await vigil(e, ['user', 'disable', 'dr.ade', '--reason', 'left'])).code).toBe(0)

    const list = await vigil(e, ['user', 'list'])
    expect(list.stdout).toMatch(/^dr\.ade +admin +disabled /m)
    const [user] = JSON.parse((await vigil(e, ['user', 'list', '--json'])).stdout) as Array<Record<string, unknown>>
    expect(user).toMatchObject({ username: 'dr.ade', role: 'admin', disabled: true, credentialVersion: 3 })
    expect(user).not.toHaveProperty('passwordHash')

    const table = (await vigil(e, ['audit'])).stdout
    expect(table.split('\n')[0]).toMatch(/^time +user +action +patient +subject +before -> after +reason$/)
    expect(table).toMatch(/user\.role +- +dr\.ade +role: clinician -> admin +ward manager/)
    expect(table).toMatch(/user\.password +- +dr\.ade +credentialVersion: 1 -> 2 +-/)
    expect(table).not.toMatch(/scrypt|passphrase/)
  })

  it('unlocks a user locked out by failed sign-ins: clears the count the serving layer keeps, recorded in the audit trail first', async () => {
    const e = await testEnv()
    expect((await vigil(e, ['user', 'add', 'kim', '--role', 'clinician', '--password-stdin'], { input: 'a long enough passphrase' })).code).toBe(0)
    // The count as serving/routes-session.ts keeps it: by the SHA-256 (hex) of the name, for its window.
    const counter = redisKeys(e.config.redisPrefix).loginFailures(createHash('sha256').update('kim').digest('hex'))
    const redis = await connectRedis(e.config)
    try {
      await redis.set(counter, '6', { expiration: { type: 'PX', value: 15 * 60_000 } })

      // Kafka unreachable: nothing can be recorded, so the count stays.
      const down = await vigil(e, ['user', 'unlock', 'kim'], { env: { VIGIL_KAFKA_BROKERS: `127.0.0.1:${await freePort()}` } })
      expect(down.code).toBe(1)
      expect(await redis.get(counter)).toBe('6')

      const unknown = await vigil(e, ['user', 'unlock', 'kym'])
      expect(unknown).toMatchObject({ code: 1, stderr: 'vigil: No user "kym" exists: check the name with `vigil user list`.\n' })

      expect(await vigil(e, ['user', 'unlock', 'kim', '--reason', 'locked out by a guesser'])).toMatchObject({
        code: 0,
        stdout: '6 sign-in attempts counted against kim cleared; they may sign in again\n',
      })
      expect(await redis.exists(counter)).toBe(0)
      expect((await vigil(e, ['user', 'unlock', 'kim'])).stdout).toBe('user kim has no sign-in attempts counted: nothing to clear\n')
    } finally {
      redis.destroy()
    }

    const unlocks = (await readAudit(e.config, {})).filter((x) => x.action === 'user.unlock')
    expect(unlocks).toHaveLength(1)
    expect(unlocks[0]).toMatchObject({
      subject: 'kim',
      patientId: null,
      before: { signInAttempts: 6 },
      after: { signInAttempts: 0 },
      reason: 'locked out by a guesser',
      actor: { role: 'admin', via: 'cli' },
    })
    expect((await vigil(e, ['audit'])).stdout).toMatch(/user\.unlock +- +kim +signInAttempts: 6 -> 0 +locked out by a guesser/)
  })
})

describe('vigil patient set', () => {
  it('needs a reason, and records the change in the audit trail before it writes the bands', async () => {
    const e = await testEnv()
    const keys = redisKeys(e.config.redisPrefix)
    const redis = await connectRedis(e.config)
    try {
      const noReason = await vigil(e, ['patient', 'set', 'p-7', '--band', 'spo2:news2-scale2'])
      expect(noReason.code).toBe(2)
      expect(await redis.exists(keys.bands('p-7'))).toBe(0)

      // Kafka unreachable: the audit event cannot be written, so the bands are not either.
      const down = await vigil(e, ['patient', 'set', 'p-7', '--band', 'spo2:news2-scale2', '--reason', 'COPD'], {
        env: { VIGIL_KAFKA_BROKERS: `127.0.0.1:${await freePort()}` },
      })
      expect(down.code).toBe(1)
      expect(down.stderr).toContain('Kafka is not reachable')
      expect(await redis.exists(keys.bands('p-7'))).toBe(0)

      const ok = await vigil(e, ['patient', 'set', 'p-7', '--band', 'spo2:news2-scale2', '--reason', 'COPD, target 88-92 %'])
      expect(ok.code).toBe(0)
      expect(await redis.exists(keys.bands('p-7'))).toBe(1)
      const [event] = await readAudit(e.config, { patientId: 'p-7' })
      expect(event).toMatchObject({ action: 'patient.bands', subject: 'p-7', before: {}, reason: 'COPD, target 88-92 %', actor: { via: 'cli' } })
      expect(event!.after).toMatchObject({ spo2: [{ max: 83, status: 'CRITICAL_LOW', score: 3 }, {}, {}, { max: null, status: 'NORMAL' }] })
      expect((await vigil(e, ['audit', '--patient', 'p-7'])).stdout).toContain(
        'spo2: - -> <=83 CRITICAL_LOW (3) | <=85 WARNING (2) | <=87 WARNING (1) | rest NORMAL (0)',
      )
    } finally {
      redis.destroy()
    }
  })
})

describe('vigil audit', () => {
  it('refuses a time without its offset and a limit that is not a number, naming the form to use', async () => {
    const e = await testEnv()
    const since = await vigil(e, ['audit', '--since', '2026-11-22T08:00'])
    expect(since).toMatchObject({ code: 2 })
    expect(since.stderr).toContain('write e.g. 2026-11-22T08:00Z')
    expect((await vigil(e, ['audit', '--limit', 'ten'])).code).toBe(2)
    expect((await vigil(e, ['audit'])).stdout).toBe('no audit events match\n')
  })
})

describe('vigil init and the identity topics', () => {
  it('keeps the registry and the audit trail, and says so; --with-identity deletes them', async () => {
    const e = await testEnv()
    await vigil(e, ['device', 'add', 'cuff-1', '--kind', 'cuff'])
    const kept = await vigil(e, ['init', '--yes'])
    expect(kept.code).toBe(0)
    const topics = identityTopics(e.config.topicPrefix)
    expect(kept.stdout).toContain(`identity topics kept (devices, users, audit trail): ${topics.registry.name}, ${topics.audit.name}`)
    expect((await vigil(e, ['device', 'list'])).stdout).toMatch(/^cuff-1 +cuff /m)
    expect((await readAudit(e.config, {})).map((x) => x.action)).toEqual(['device.add'])

    const wiped = await vigil(e, ['init', '--yes', '--with-identity'])
    expect(wiped.code).toBe(0)
    expect(wiped.stdout).toContain(`${topics.registry.name} (1 partition, 1 replica)`)
    expect(wiped.stdout).not.toContain('identity topics kept')
    const admin = createAdmin(e.config)
    try {
      expect(await admin.listTopics()).toEqual(expect.arrayContaining([topics.registry.name, topics.audit.name]))
    } finally {
      await admin.close()
    }
    expect((await vigil(e, ['device', 'list'])).stdout).toContain('no devices registered')
    expect(await readAudit(e.config, {})).toEqual([])
  })
})
