/**
 * What every native Kafka process of the stack shares, the single broker (stack/index.ts) and each
 * node of a cluster (stack/kafka-cluster.ts): the jars from Maven Central, the JVM's arguments,
 * the KRaft cluster id, formatting a node's storage, and the one reason read from a broker's log
 * when it did not start.
 */
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile, readdir, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { VigilError } from '../lib/errors.ts'
import * as P from './paths.ts'
import { run, tail } from './process.ts'
import { ensurePrerequisites, MAVEN } from './prerequisites.ts'

type Log = (line: string) => void

/** Fetches the broker's jars from Maven Central into .stack/kafka/libs, once per version of the pom. */
export async function ensureKafkaLibs(log: Log, S: P.StackPaths): Promise<void> {
  // A separate state folder takes the cached jars as they are: it must never refetch (and so
  // delete) the jars under a broker that `.stack/` may be running from.
  if (S.stackDir !== P.STACK_DIR && existsSync(P.KAFKA_LIBS) && (await readdir(P.KAFKA_LIBS)).some((j) => /^kafka_2\.13-.*\.jar$/.test(j))) return
  const pom = path.join(P.STACK_SOURCES, 'pom.xml')
  const stamp = createHash('sha256')
    .update(await readFile(pom))
    .digest('hex')
  const have = existsSync(P.KAFKA_LIBS_STAMP) ? (await readFile(P.KAFKA_LIBS_STAMP, 'utf8')).trim() : ''
  if (have === stamp) return
  await ensurePrerequisites([MAVEN], log)
  log('fetching Apache Kafka from Maven Central (once; cached in .stack/kafka/libs)')
  await rm(P.KAFKA_LIBS, { recursive: true, force: true })
  const r = await run('mvn', ['-q', '-B', '-f', pom, 'dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${P.KAFKA_LIBS}`], {
    cwd: P.PROJECT_ROOT,
  })
  if (r.code !== 0) {
    throw new VigilError(
      'STACK_FETCH_FAILED',
      `Maven could not fetch the Kafka jars (${lastLine(r.stdout + r.stderr)}): check that this machine reaches Maven Central, then run \`vigil stack up\` again.`,
    )
  }
  await writeFile(P.KAFKA_LIBS_STAMP, `${stamp}\n`)
}

/** The Kafka version of the cached jars, e.g. `4.4.0` (`?` when unknown). */
export async function kafkaVersion(): Promise<string> {
  const jars = await readdir(P.KAFKA_LIBS)
  return jars.find((j) => /^kafka_2\.13-.*\.jar$/.test(j))?.replace(/^kafka_2\.13-|\.jar$/g, '') ?? '?'
}

/**
 * The JVM's arguments before the main class. A development broker on a small machine: G1 with
 * short pauses, the heap given (the single broker and a cluster's brokers: 256 MiB to 1 GiB),
 * logging to stdout, which the stack sends to the process's log file in `logsDir`.
 */
export function kafkaJvmArgs(logsDir: string, heap: { minMb: number; maxMb: number } = { minMb: 256, maxMb: 1024 }): string[] {
  return [
    `-Xms${heap.minMb}m`,
    heap.maxMb % 1024 === 0 ? `-Xmx${heap.maxMb / 1024}g` : `-Xmx${heap.maxMb}m`,
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${path.join(P.STACK_SOURCES, 'log4j2.properties')}`,
    `-Dkafka.logs.dir=${logsDir}`,
    '-cp',
    `${P.KAFKA_LIBS}/*`,
  ]
}

/**
 * A KRaft cluster id: 16 random bytes, base64url without padding, never starting with '-' (as
 * Kafka's own Uuid.randomUuid does): the storage tool would read such an id as an option and fail
 * with "argument --cluster-id/-t: expected one argument", one run in 64.
 */
export function kraftClusterId(random: (n: number) => Buffer = randomBytes): string {
  for (;;) {
    const id = random(16).toString('base64url')
    if (!id.startsWith('-')) return id
  }
}

/** Formats one node's storage for `clusterId` (KRaft needs it on disk before the first start); throws one sentence naming `fix`. */
export async function formatStorage(propsFile: string, clusterId: string, logsDir: string, fix: string): Promise<void> {
  const r = await run('java', [...kafkaJvmArgs(logsDir), 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', propsFile])
  if (r.code !== 0) {
    throw new VigilError('STACK_START_FAILED', `Kafka storage could not be formatted (${lastLine(r.stdout + r.stderr)}): ${fix}.`)
  }
}

/**
 * Why a broker did not start, from its log: a port in use, else its last ERROR or FATAL line with
 * the exception under it (e.g. "... Address already in use"), else `fallback`; at most 300 characters.
 */
export async function brokerFailureReason(logFile: string, fallback: string): Promise<string> {
  const lines = (await tail(logFile, 400)).split('\n')
  const at = lines.findLastIndex((l) => / (ERROR|FATAL) /.test(l))
  const cause = at < 0 ? undefined : lines.slice(at + 1).find((l) => /Exception: /.test(l))
  const bind = lines.find((l) => /Address already in use/.test(l))
  const why =
    bind !== undefined
      ? bind.replace(/^\S*Exception: /, '')
      : at < 0
        ? fallback
        : `${lines[at]!.replace(/^\[[^\]]*\] /, '')}${cause === undefined ? '' : `: ${cause.replace(/^\S*Exception: /, '')}`}`
  return why.slice(0, 300)
}

export const lastLine = (s: string) => s.trim().split('\n').pop() ?? ''
