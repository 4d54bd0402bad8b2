/**
 * What every `vigil` command shares: the global flags, the config built from them, the logger,
 * and the error handling that turns a VigilError into one sentence and an exit code.
 */
import { type Command, Option } from 'commander'
import { configFlagHelp, loadConfig, loadSetting, CONFIG_FIELDS, type Config } from '../lib/config.ts'
import { describeError, isVigilError } from '../lib/errors.ts'
import { createLogger, type Logger } from '../lib/log.ts'
import { retry } from '../lib/backoff.ts'
import { kafkaAnswers, kafkaUnreachable } from '../lib/kafka.ts'
import { redisAnswers, redisUnreachable } from '../lib/redis.ts'
import { onSignal } from '../lib/shutdown.ts'

/** Config fields settable by a flag on every command (others, like --port, belong to one command). */
const GLOBAL_FIELDS = ['kafkaBrokers', 'redisUrl', 'topicPrefix', 'redisPrefix', 'datalakeDir', 'logLevel'] as const

/**
 * A config field's flag, its help (what, default, variable) from CONFIG_FIELDS. `flag` renames it
 * for one command (`vigil ingest --port` sets the gateway's port, VIGIL_INGEST_PORT).
 */
export function configOption(key: keyof typeof CONFIG_FIELDS, flag?: string): Option {
  const f: { flag?: string } = CONFIG_FIELDS[key]
  return new Option(flag ?? f.flag ?? '', configFlagHelp(key))
}

/** Adds the global flags to the root program. */
export function addGlobalOptions(program: Command): Command {
  for (const key of GLOBAL_FIELDS) program.addOption(configOption(key))
  return program
}

/** commander's option names for the global flags differ from config keys in one case. */
function toConfigFlags(opts: Record<string, unknown>): Record<string, unknown> {
  const { brokers, ...rest } = opts
  return brokers === undefined ? rest : { ...rest, kafkaBrokers: brokers }
}

/** The frozen config of a command: its flags and the global ones, then VIGIL_*, then defaults. */
export function commandConfig(cmd: Command, extra: Record<string, unknown> = {}): Config {
  return loadConfig({ ...toConfigFlags(cmd.optsWithGlobals()), ...extra })
}

export function commandLogger(config: Config): Logger {
  return createLogger({ level: config.logLevel, destination: process.stderr, pretty: process.stderr.isTTY === true })
}

/** How long a finished command may wait for open connections to close before it exits anyway. */
const LINGER_AFTER_DONE_MS = 2_000

/**
 * Wraps a command action: a VigilError prints its one sentence (no stack trace) and sets the
 * exit code; anything else is a bug and prints its stack.
 */
// biome-ignore lint/suspicious/noConfusingVoidType: an action returns an exit code, or nothing for exit 0
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      const code = await fn(...args)
      process.exitCode = code ?? 0
    } catch (error) {
      if (isVigilError(error)) {
        process.stderr.write(`vigil: ${error.message}\n`)
        if (loadSetting('debug') && error.cause !== undefined) process.stderr.write(`cause: ${describeError(error.cause)}\n`)
        process.exitCode = error.exitCode
      } else {
        process.stderr.write(`vigil: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
        process.exitCode = 1
      }
    }
    // The command is done, but a client may still hold a socket open while it retries (a Kafka
    // close given up on waits out its request timeout): that must never hold the exit, which a
    // supervisor waits for. Unref'd, so a process with nothing left open exits at once.
    setTimeout(() => process.exit(), LINGER_AFTER_DONE_MS).unref()
  }
}

/** Which services a command cannot start without. */
export interface Needs {
  kafka?: boolean
  redis?: boolean
}

/**
 * Waits for Kafka and Redis (those in `needs`) with a clear line while they are not up yet, so
 * that the layers can be started in any order.
 */
export async function waitForServices(config: Config, log: Logger, signal: AbortSignal, needs: Needs = { kafka: true, redis: true }): Promise<void> {
  await retry(
    async () => {
      if (needs.kafka === true && !(await kafkaAnswers(config))) throw kafkaUnreachable(config)
      if (needs.redis === true && !(await redisAnswers(config))) throw redisUnreachable(config)
    },
    { initialDelayMs: 500, maxDelayMs: 5_000, signal, onRetry: (attempt, error) => log.warn(`${(error as Error).message} Waiting (attempt ${attempt}).`) },
  )
}

/**
 * `waitForServices` for a command that runs one stage: Ctrl-C or SIGTERM while waiting is a
 * normal stop. Resolves false when a signal came first (the command then exits 0).
 */
export async function servicesUp(config: Config, log: Logger, needs: Needs): Promise<boolean> {
  const aborter = new AbortController()
  const dispose = onSignal((signal) => {
    log.info(`${signal} received while waiting: stopping`)
    aborter.abort()
  })
  try {
    await waitForServices(config, log, aborter.signal, needs)
    return true
  } catch (error) {
    if (aborter.signal.aborted) return false
    throw error
  } finally {
    dispose()
  }
}
