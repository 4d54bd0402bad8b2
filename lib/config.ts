/**
 * The one configuration of Vigil (docs/CONTRACT.md, Configuration): parsed once from command-line
 * flags, then `VIGIL_*` environment variables, then defaults; validated with zod and frozen.
 * No other module reads `process.env`.
 */
import { z } from 'zod'
import { VigilError } from './errors.ts'

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

const hostPort = /^[A-Za-z0-9.\-_]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/

const port = z.coerce
  .number({ error: 'expected a TCP port number' })
  .int({ error: 'expected a whole TCP port number' })
  .min(1, { error: 'expected a TCP port from 1 to 65535' })
  .max(65535, { error: 'expected a TCP port from 1 to 65535' })

const list = (item: z.ZodString, what: string) =>
  z
    .string()
    .transform((s) => s.split(',').map((x) => x.trim()).filter((x) => x.length > 0))
    .pipe(z.array(item).min(1, { error: `expected a comma-separated list of ${what}` }))

interface Field<T> {
  /** The environment variable that sets it. */
  env: string
  /** The command-line flag that sets it (commander's spelling), if any. */
  flag?: string
  schema: z.ZodType<T>
  /** The default as a raw string, parsed by `schema` like any user value. */
  default?: string
  describe: string
}

function field<T>(f: Field<T>): Field<T> {
  return f
}

/** Every setting, its sources and its default (written once, here). */
export const CONFIG_FIELDS = {
  /** Kafka bootstrap brokers, `host:port`, comma-separated. */
  kafkaBrokers: field({
    env: 'VIGIL_KAFKA_BROKERS',
    flag: '--brokers <list>',
    schema: list(z.string().regex(hostPort, { error: 'expected host:port' }), 'host:port brokers'),
    default: '127.0.0.1:9092',
    describe: 'Kafka bootstrap brokers, comma-separated host:port',
  }),
  /** Redis server URL (`redis://` or `rediss://`). */
  redisUrl: field({
    env: 'VIGIL_REDIS_URL',
    flag: '--redis-url <url>',
    schema: z.string().regex(/^rediss?:\/\/\S+$/, { error: 'expected a redis:// or rediss:// URL' }),
    default: 'redis://127.0.0.1:6379',
    describe: 'Redis server URL',
  }),
  /** Root folder of the Parquet data lake. */
  datalakeDir: field({
    env: 'VIGIL_DATALAKE_DIR',
    flag: '--datalake-dir <dir>',
    schema: z.string().min(1, { error: 'expected a folder path' }),
    default: './datalake',
    describe: 'data lake folder',
  }),
  /** Prepended to every topic and consumer-group name; tests use a random one for isolation. */
  topicPrefix: field({
    env: 'VIGIL_TOPIC_PREFIX',
    flag: '--topic-prefix <prefix>',
    schema: z.string().regex(/^[A-Za-z0-9._-]*$/, { error: 'expected letters, digits, ".", "_" or "-"' }),
    default: '',
    describe: 'prefix of every Kafka topic and consumer group',
  }),
  /** Prefix of every Redis key and channel; `vigil init` deletes only keys under it. */
  redisPrefix: field({
    env: 'VIGIL_REDIS_PREFIX',
    flag: '--redis-prefix <prefix>',
    schema: z.string().regex(/^[^\s{}*?[\]]+$/, { error: 'expected a non-empty prefix without spaces, braces or glob characters' }),
    default: 'vigil:',
    describe: 'prefix of every Redis key and channel',
  }),
  /** TCP port of the serving layer (HTTP API, Socket.io, dashboard). */
  port: field({
    env: 'VIGIL_PORT',
    flag: '--port <port>',
    schema: port,
    default: '3000',
    describe: 'TCP port of the dashboard and API',
  }),
  /** TCP port of the device gateway. */
  ingestPort: field({
    env: 'VIGIL_INGEST_PORT',
    flag: '--ingest-port <port>',
    schema: port,
    default: '8080',
    describe: 'TCP port of the device gateway',
  }),
  /** Dashboard/API secret; when unset the serving layer generates one and prints the login URL. */
  token: field({
    env: 'VIGIL_TOKEN',
    schema: z.string().min(16, { error: 'expected a secret of at least 16 characters' }).optional(),
    describe: 'dashboard and API token',
  }),
  /** Bearer tokens the device gateway accepts, comma-separated. */
  deviceTokens: field({
    env: 'VIGIL_DEVICE_TOKENS',
    schema: list(z.string().min(8, { error: 'expected tokens of at least 8 characters' }), 'tokens').optional(),
    describe: 'bearer tokens the gateway accepts, comma-separated',
  }),
  /** pino log level. */
  logLevel: field({
    env: 'VIGIL_LOG_LEVEL',
    flag: '--log-level <level>',
    schema: z.enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(', ')}` }),
    default: 'info',
    describe: 'log level',
  }),
} as const

type Fields = typeof CONFIG_FIELDS
export type Config = Readonly<{ [K in keyof Fields]: Fields[K] extends Field<infer T> ? T : never }>

/** The flag's long name without its argument, e.g. `--brokers`. */
function flagName(flag: string): string {
  return flag.split(/\s+/)[0] ?? flag
}

/** The first issue of a failed zod parse, as the end of a sentence. */
export function zodReason(error: z.ZodError): string {
  const issue = error.issues[0]
  return issue === undefined ? 'invalid value' : issue.message
}

/**
 * Builds the frozen configuration. `flags` holds commander's parsed options (camelCase keys,
 * absent when the user did not pass the flag); `env` defaults to the process environment.
 * Throws a `VigilError` whose message names the flag or variable and what it accepts.
 */
export function loadConfig(flags: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const out: Record<string, unknown> = {}
  for (const [key, f] of Object.entries(CONFIG_FIELDS) as [keyof Fields, Field<unknown>][]) {
    const fromFlag = f.flag === undefined ? undefined : flags[key]
    const fromEnv = env[f.env]
    let raw: unknown
    let source: string
    if (fromFlag !== undefined) {
      raw = fromFlag
      source = `${flagName(f.flag ?? key)} ${JSON.stringify(String(fromFlag))}`
    } else if (fromEnv !== undefined && fromEnv !== '') {
      raw = fromEnv
      source = `${f.env}=${JSON.stringify(fromEnv)}`
    } else {
      raw = f.default
      source = `the default of ${f.env}`
    }
    const parsed = f.schema.safeParse(raw)
    if (!parsed.success) {
      throw new VigilError('CONFIG_INVALID', `${source} is not valid: ${zodReason(parsed.error)}.`, { cause: parsed.error })
    }
    out[key] = parsed.data
  }
  return Object.freeze(out) as Config
}

/** Help text for a config field's flag: what it is, its default and its environment variable. */
export function configFlagHelp(key: keyof Fields): string {
  const f: Field<unknown> = CONFIG_FIELDS[key]
  const dflt = f.default === undefined ? '' : `default: ${f.default === '' ? '""' : f.default}, `
  return `${f.describe} (${dflt}env ${f.env})`
}

/**
 * Parses a stage's own options (its `config.ts` schema) from commander's flags and freezes them.
 * `flagOf` maps an option key to the flag the user typed, so an error can name it.
 */
export function parseOptions<S extends z.ZodType>(schema: S, flags: Record<string, unknown>, flagOf: (key: string) => string): Readonly<z.infer<S>> {
  const parsed = schema.safeParse(flags)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const key = issue?.path[0]
    const name = typeof key === 'string' ? flagOf(key) : 'an option'
    const value = typeof key === 'string' && flags[key] !== undefined ? ` ${JSON.stringify(String(flags[key]))}` : ''
    throw new VigilError('CONFIG_INVALID', `${name}${value} is not valid: ${issue?.message ?? 'invalid value'}.`, { cause: parsed.error })
  }
  return Object.freeze(parsed.data) as Readonly<z.infer<S>>
}

/** commander's camelCase option key back to its `--kebab-case` flag. */
export function kebabFlag(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`
}
