/**
 * `vigil init`: resets Vigil to a clean state (docs/CONTRACT.md, Commands), and this file's own entry
 * point (`npx tsx scripts/init.ts --yes`) for those who run the reset as a script.
 *
 * - Kafka: deletes and recreates the topics with their configured partitions (three replicas and
 *   min.insync.replicas 2 on a cluster of three brokers or more, lib/contract/topics.ts), and
 *   deletes the consumer groups (so their offsets go too). The identity topics (`vitals.registry`,
 *   `vitals.audit`: docs/SECURITY.md) are kept: registered devices, users and the audit trail are
 *   not test data. `--with-identity` deletes and recreates them too.
 * - Redis: deletes every key under the prefix with SCAN + UNLINK. Never FLUSHALL or FLUSHDB:
 *   another application's keys in the same Redis survive.
 * - The data lake: empties the folder and keeps it.
 */
import { mkdir, readdir, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import { createInterface } from 'node:readline/promises'
import { fileURLToPath } from 'node:url'
import type { Config } from '../lib/config.ts'
import { VigilError, describeError } from '../lib/errors.ts'
import { createAdmin, ensureTopics, kafkaAnswers, kafkaUnreachable, liveBrokers, type TopicSpec } from '../lib/kafka.ts'
import type { Admin } from '@platformatic/kafka'
import { redisKeys } from '../lib/contract/keys.ts'
import { connectRedis, deleteKeys } from '../lib/redis.ts'
import { pollUntil } from '../lib/backoff.ts'
import { consumerGroups, identityTopics, topicNames, topicReplication, topicSpecs } from '../lib/contract/topics.ts'

export interface ResetOptions {
  /** Also delete (and recreate empty) the identity topics: every device, user and audit event goes. */
  withIdentity?: boolean
}

export interface ResetSummary {
  topicsRecreated: string[]
  /** The identity topics left as they were (none with `withIdentity`). */
  identityTopicsKept: string[]
  groupsDeleted: string[]
  redisKeysDeleted: number
  lakeFilesDeleted: number
  lakeDir: string
}

/** Waits this long for the broker to finish deleting a topic before recreating it. */
const TOPIC_DELETE_TIMEOUT_MS = 30_000

export async function reset(config: Config, say: (line: string) => void = () => undefined, options: ResetOptions = {}): Promise<ResetSummary> {
  if (!(await kafkaAnswers(config))) throw kafkaUnreachable(config)
  const admin = createAdmin(config, 'vigil-init')
  const summary: ResetSummary = {
    topicsRecreated: [],
    identityTopicsKept: [],
    groupsDeleted: [],
    redisKeysDeleted: 0,
    lakeFilesDeleted: 0,
    lakeDir: path.resolve(config.datalakeDir),
  }
  const identity = Object.values(identityTopics(config.topicPrefix))
  try {
    // Consumer groups first: a group with live members means a layer is still running.
    summary.groupsDeleted = await deleteIdleGroups(admin, Object.values(consumerGroups(config.topicPrefix)))
    summary.topicsRecreated = await recreateTopics(admin, [...topicSpecs(config.topicPrefix), ...(options.withIdentity === true ? identity : [])])
    say(`topics recreated: ${summary.topicsRecreated.join(', ')}`)
    if (options.withIdentity !== true) {
      summary.identityTopicsKept = identity.map((t) => t.name)
      say(`identity topics kept (devices, users, audit trail): ${summary.identityTopicsKept.join(', ')}; pass --with-identity to delete them too`)
    }
    say(`consumer groups deleted: ${summary.groupsDeleted.length === 0 ? 'none existed' : summary.groupsDeleted.join(', ')}`)
  } finally {
    await admin.close()
  }

  const redis = await connectRedis(config)
  try {
    summary.redisKeysDeleted = await deleteKeys(redis, redisKeys(config.redisPrefix).everything)
  } finally {
    redis.destroy()
  }
  say(`Redis keys deleted under "${config.redisPrefix}": ${summary.redisKeysDeleted}`)

  summary.lakeFilesDeleted = await emptyFolder(summary.lakeDir)
  say(`data lake emptied: ${summary.lakeFilesDeleted} files deleted in ${summary.lakeDir}`)
  return summary
}

/** Deletes Vigil's consumer groups that exist; refuses while one still has running members. Returns those deleted. */
async function deleteIdleGroups(admin: Admin, groups: string[]): Promise<string[]> {
  const existing = await admin.listGroups()
  const ours = groups.filter((g) => existing.has(g))
  if (ours.length === 0) return []
  const described = await admin.describeGroups({ groups: ours })
  const busy = [...described.values()].filter((g) => g.members.size > 0).map((g) => g.id)
  if (busy.length > 0) {
    throw new VigilError(
      'STAGE_FAILED',
      `consumer group${busy.length > 1 ? 's' : ''} ${busy.join(', ')} still ha${busy.length > 1 ? 've' : 's'} running members: stop the running layers (vigil speed, archive, serve, all) before \`vigil init\`.`,
    )
  }
  await admin.deleteGroups({ groups: ours })
  return ours
}

/** Deletes these topics, waits until the broker has, and creates them again (with their configs, if any). Returns them with their partitions. */
async function recreateTopics(admin: Admin, specs: readonly TopicSpec[]): Promise<string[]> {
  const names = specs.map((s) => s.name)
  const present = (await admin.listTopics()).filter((t) => names.includes(t))
  if (present.length > 0) {
    await admin.deleteTopics({ topics: present })
    await pollUntil(async () => !(await admin.listTopics()).some((t) => present.includes(t)), {
      timeoutMs: TOPIC_DELETE_TIMEOUT_MS,
      intervalMs: 200,
      what: `the broker to delete ${present.join(', ')}`,
    })
  }
  // A deleted topic can linger briefly in the controller: retry creation until it is accepted.
  const create = async () => {
    await ensureTopics(admin, specs)
    return true
  }
  await pollUntil(create, { timeoutMs: TOPIC_DELETE_TIMEOUT_MS, intervalMs: 250, what: 'the topics to be created' })
  // ensureTopics replicates as the cluster allows (lib/contract/topics.ts topicReplication): say how.
  const { replicas, configs } = topicReplication(await liveBrokers(admin))
  const copies = `${replicas} replica${replicas === 1 ? '' : 's'}${configs.map((c) => `, ${c.name} ${c.value}`).join('')}`
  return specs.map((s) => `${s.name} (${s.partitions} partition${s.partitions === 1 ? '' : 's'}, ${copies})`)
}

/** Deletes everything inside `dir` but the folder itself (and its README); returns the number of files deleted. */
async function emptyFolder(dir: string): Promise<number> {
  await mkdir(dir, { recursive: true })
  let files = 0
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name === 'README.md') continue
    const full = path.join(dir, entry.name)
    files += entry.isDirectory() ? await countFiles(full) : 1
    await rm(full, { recursive: true, force: true })
  }
  return files
}

async function countFiles(dir: string): Promise<number> {
  let n = 0
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    n += entry.isDirectory() ? await countFiles(path.join(dir, entry.name)) : 1
  }
  return n
}

/**
 * Asks for confirmation on a TTY; refuses when not on one (a script must pass --yes).
 * Returns true to go on.
 */
export async function confirm(config: Config, yes: boolean, options: ResetOptions = {}): Promise<boolean> {
  if (yes) return true
  if (process.stdin.isTTY !== true) {
    throw new VigilError('USAGE', '`vigil init` deletes topics, Redis keys and the data lake and standard input is not a terminal: pass --yes to confirm.')
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr })
  try {
    const lake = path.resolve(config.datalakeDir)
    const exists = await stat(lake).then(
      () => true,
      () => false,
    )
    const identity = Object.values(identityTopics(config.topicPrefix)).map((t) => t.name)
    const topics = [...Object.values(topicNames(config.topicPrefix)), ...(options.withIdentity === true ? identity : [])]
    const kept =
      options.withIdentity === true
        ? ' Every registered device, user and audit event goes too.'
        : ` It keeps ${identity.join(' and ')} (devices, users, the audit trail).`
    const answer = await rl.question(
      `This deletes the topics ${topics.join(', ')} (recreated empty), ` +
        `every Redis key under "${config.redisPrefix}" at ${config.redisUrl}, and ${exists ? 'everything in' : 'the folder'} ${lake}.${kept} Go on? [y/N] `,
    )
    return /^y(es)?$/i.test(answer.trim())
  } finally {
    rl.close()
  }
}

// Run as a script: `npx tsx scripts/init.ts [--yes] [--with-identity]`, the same as `vigil init`.
if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { loadConfig } = await import('../lib/config.ts')
  try {
    const config = loadConfig({})
    const yes = process.argv.includes('--yes') || process.argv.includes('-y')
    const options = { withIdentity: process.argv.includes('--with-identity') }
    if (await confirm(config, yes, options)) await reset(config, (line) => process.stdout.write(`${line}\n`), options)
    else process.stdout.write('nothing changed\n')
  } catch (error) {
    process.stderr.write(`vigil init: ${error instanceof VigilError ? error.message : describeError(error)}\n`)
    process.exitCode = error instanceof VigilError ? error.exitCode : 1
  }
}
