/**
 * What every `vigil` command shares: the global flags, the config built from them, the logger,
 * and the error handling that turns a VigilError into one sentence and an exit code.
 */
import { Command, Option } from 'commander'
import { configFlagHelp, loadConfig, CONFIG_FIELDS, type Config } from '../lib/config.ts'
import { VigilError, describeError, isVigilError } from '../lib/errors.ts'
import { createLogger, type Logger } from '../lib/log.ts'

/** Config fields settable by a flag on every command (others, like --port, belong to one command). */
const GLOBAL_FIELDS = ['kafkaBrokers', 'redisUrl', 'topicPrefix', 'redisPrefix', 'datalakeDir', 'logLevel'] as const

/** Adds the global flags to the root program. */
export function addGlobalOptions(program: Command): Command {
  for (const key of GLOBAL_FIELDS) {
    const f: { flag?: string } = CONFIG_FIELDS[key]
    // attributeName maps e.g. --brokers to the config key kafkaBrokers.
    const opt = new Option(f.flag ?? '', configFlagHelp(key))
    program.addOption(opt)
  }
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

/**
 * Wraps a command action: a VigilError prints its one sentence (no stack trace) and sets the
 * exit code; anything else is a bug and prints its stack.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      const code = await fn(...args)
      process.exitCode = code ?? 0
    } catch (error) {
      if (isVigilError(error)) {
        process.stderr.write(`vigil: ${error.message}\n`)
        if (process.env.VIGIL_DEBUG === '1' && error.cause !== undefined) process.stderr.write(`cause: ${describeError(error.cause)}\n`)
        process.exitCode = error.exitCode
      } else {
        process.stderr.write(`vigil: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
        process.exitCode = 1
      }
    }
  }
}

/** The action of a command whose stage is not built yet. */
export function notImplemented(name: string): () => Promise<void> {
  return action(async () => {
    throw new VigilError('NOT_IMPLEMENTED', `\`vigil ${name}\` is not implemented yet.`)
  })
}
