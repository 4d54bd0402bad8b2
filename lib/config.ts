/**
 * The one configuration of Vigil (docs/CONTRACT.md, Configuration): parsed once from command-line
 * flags, then `VIGIL_*` environment variables, then defaults; validated with zod and frozen.
 * No other module reads `process.env` (lib/config.test.ts checks it): one setting alone is
 * `loadSetting`, the benchmarks' `VIGIL_BENCH_*` are `loadBenchConfig`, a child process's
 * environment is `childEnv`.
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
    .transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x.length > 0),
    )
    .pipe(z.array(item).min(1, { error: `expected a comma-separated list of ${what}` }))

const logLevel = z.enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(', ')}` })

/** A switch variable: on when it is exactly "1" (any other value, or none, is off). */
const onSwitch = z
  .string()
  .optional()
  .transform((v) => v === '1')

/** Space-separated words, e.g. extra command-line arguments. */
const words = z.string().transform((s) => s.split(' ').filter((a) => a !== ''))

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
    schema: logLevel,
    default: 'info',
    describe: 'log level',
  }),

  /** Prints a VigilError's cause under its one sentence (cli/command.ts), for a bug report. */
  debug: field({
    env: 'VIGIL_DEBUG',
    schema: onSwitch,
    describe: "1: print the cause under an error's one sentence",
  }),
  /** `vigil stack up` never tries Docker (the chaos suite's private stack runs natively). */
  stackNoDocker: field({
    env: 'VIGIL_STACK_NO_DOCKER',
    schema: onSwitch,
    describe: '1: `vigil stack up` runs Kafka and Redis natively even when a Docker engine answers',
  }),
  /** The stack and the test setup name a missing package instead of installing it with apt. */
  noInstall: field({
    env: 'VIGIL_NO_INSTALL',
    schema: onSwitch,
    describe: '1: never install a missing redis-server, Java, Maven or Chromium with apt',
  }),
} as const

/** The benchmarks' own settings (bench/), apart from the config every command shares. */
export const BENCH_FIELDS = {
  /** Log level of the layers a benchmark runs as child processes. */
  benchLogLevel: field({
    env: 'VIGIL_BENCH_LOG_LEVEL',
    schema: logLevel,
    default: 'warn',
    describe: 'log level of the layers a benchmark starts',
  }),
  /** A folder: the speed, archive and serve processes of a benchmark write V8 CPU profiles there. */
  benchCpuProf: field({
    env: 'VIGIL_BENCH_CPU_PROF',
    schema: z.string().optional(),
    describe: 'folder for V8 CPU profiles of the layers a benchmark starts',
  }),
  /** Extra node flags of the speed benchmark's process (e.g. --max-semi-space-size=64). */
  benchNodeArgs: field({
    env: 'VIGIL_BENCH_NODE_ARGS',
    schema: words,
    default: '',
    describe: "extra node flags of the speed benchmark's process, space-separated",
  }),
  /** Extra `vigil speed` flags of the speed benchmark (e.g. --max-batch-readings 20000). */
  benchSpeedArgs: field({
    env: 'VIGIL_BENCH_SPEED_ARGS',
    schema: words,
    default: '',
    describe: 'extra `vigil speed` flags of the speed benchmark, space-separated',
  }),
} as const

type AnyFields = Record<string, Field<unknown>>
type Values<F extends AnyFields> = Readonly<{ [K in keyof F]: F[K] extends Field<infer T> ? T : never }>
type Fields = typeof CONFIG_FIELDS
export type Config = Values<Fields>
export type BenchConfig = Values<typeof BENCH_FIELDS>

/** The flag's long name without its argument, e.g. `--brokers`. */
function flagName(flag: string): string {
  return flag.split(/\s+/)[0] ?? flag
}

/** The first issue of a failed zod parse, as the end of a sentence. */
export function zodReason(error: z.ZodError): string {
  const issue = error.issues[0]
  return issue === undefined ? 'invalid value' : issue.message
}

/** One field's value: its flag, else its variable (unless empty), else its default; parsed by its schema. */
function resolveField(key: string, f: Field<unknown>, flags: Record<string, unknown>, env: NodeJS.ProcessEnv): unknown {
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
  return parsed.data
}

function loadFields<F extends AnyFields>(fields: F, flags: Record<string, unknown>, env: NodeJS.ProcessEnv): Values<F> {
  const out: Record<string, unknown> = {}
  for (const [key, f] of Object.entries(fields)) out[key] = resolveField(key, f, flags, env)
  return Object.freeze(out) as Values<F>
}

/**
 * Builds the frozen configuration. `flags` holds commander's parsed options (camelCase keys,
 * absent when the user did not pass the flag); `env` defaults to the process environment.
 * Throws a `VigilError` whose message names the flag or variable and what it accepts.
 */
export function loadConfig(flags: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = process.env): Config {
  return loadFields(CONFIG_FIELDS, flags, env)
}

/**
 * One setting of the config, read when asked, for code that runs outside a command's config: the
 * error handler (a bad config is the error it reports) and the stack's helpers (the chaos suite
 * sets VIGIL_STACK_NO_DOCKER in its own process before it starts the stack).
 */
export function loadSetting<K extends keyof Fields>(key: K, env: NodeJS.ProcessEnv = process.env): Config[K] {
  return resolveField(key, CONFIG_FIELDS[key], {}, env) as Config[K]
}

/** The benchmarks' settings (`VIGIL_BENCH_*`), frozen. */
export function loadBenchConfig(env: NodeJS.ProcessEnv = process.env): BenchConfig {
  return loadFields(BENCH_FIELDS, {}, env)
}

/**
 * The environment of a child process: this process's, with `extra` over it. Layers a benchmark
 * or the stack starts read their own configuration from it.
 */
export function childEnv(extra: Record<string, string> = {}, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, ...extra }
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
