import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { childEnv, loadBenchConfig, loadConfig, loadSetting, parseOptions, kebabFlag } from './config.ts'
import { VigilError } from './errors.ts'
import { z } from 'zod'

describe('loadConfig', () => {
  it('uses the documented defaults when nothing is set', () => {
    const c = loadConfig({}, {})
    expect(c.kafkaBrokers).toEqual(['127.0.0.1:9092'])
    expect(c.redisUrl).toBe('redis://127.0.0.1:6379')
    expect(c.datalakeDir).toBe('./datalake')
    expect(c.topicPrefix).toBe('')
    expect(c.redisPrefix).toBe('vigil:')
    expect(c.port).toBe(3000)
    expect(c.ingestPort).toBe(8080)
    expect(c.token).toBeUndefined()
    expect(c.deviceTokens).toBeUndefined()
    expect(c.logLevel).toBe('info')
  })

  it('takes VIGIL_* variables over defaults and flags over variables', () => {
    const env = { VIGIL_KAFKA_BROKERS: 'a:1, b:2', VIGIL_PORT: '4000', VIGIL_DEVICE_TOKENS: 'device-token-1,device-token-2' }
    const fromEnv = loadConfig({}, env)
    expect(fromEnv.kafkaBrokers).toEqual(['a:1', 'b:2'])
    expect(fromEnv.port).toBe(4000)
    expect(fromEnv.deviceTokens).toEqual(['device-token-1', 'device-token-2'])
    const fromFlag = loadConfig({ port: '5000', kafkaBrokers: 'c:3' }, env)
    expect(fromFlag.port).toBe(5000)
    expect(fromFlag.kafkaBrokers).toEqual(['c:3'])
  })

  it('is frozen', () => {
    const c = loadConfig({}, {})
    expect(Object.isFrozen(c)).toBe(true)
    expect(() => {
      ;(c as { port: number }).port = 1
    }).toThrow(TypeError)
  })

  it('names the variable and what it accepts when an environment value is bad', () => {
    expect(() => loadConfig({}, { VIGIL_PORT: 'abc' })).toThrow('VIGIL_PORT="abc" is not valid: expected a TCP port number.')
    expect(() => loadConfig({}, { VIGIL_PORT: '70000' })).toThrow('VIGIL_PORT="70000" is not valid: expected a TCP port from 1 to 65535.')
    expect(() => loadConfig({}, { VIGIL_REDIS_URL: 'localhost:6379' })).toThrow(
      'VIGIL_REDIS_URL="localhost:6379" is not valid: expected a redis:// or rediss:// URL.',
    )
    expect(() => loadConfig({}, { VIGIL_LOG_LEVEL: 'loud' })).toThrow(/VIGIL_LOG_LEVEL="loud" is not valid: expected one of fatal, error/)
  })

  it('names the flag when a flag value is bad, with exit code 2', () => {
    let error: unknown
    try {
      loadConfig({ kafkaBrokers: 'no-port' }, {})
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(VigilError)
    expect((error as VigilError).message).toBe('--brokers "no-port" is not valid: expected host:port.')
    expect((error as VigilError).exitCode).toBe(2)
  })
})

describe('parseOptions', () => {
  const schema = z.object({ ratePerSecond: z.coerce.number().positive({ error: 'expected a number above 0' }) })

  it("parses and freezes a stage's options", () => {
    const o = parseOptions(schema, { ratePerSecond: '12.5' }, kebabFlag)
    expect(o.ratePerSecond).toBe(12.5)
    expect(Object.isFrozen(o)).toBe(true)
  })

  it('names the flag the user typed when a value is bad', () => {
    expect(() => parseOptions(schema, { ratePerSecond: '-1' }, kebabFlag)).toThrow('--rate-per-second "-1" is not valid: expected a number above 0.')
  })
})

describe('switches and benchmark settings', () => {
  it('turns a switch on only for exactly "1"', () => {
    expect(loadConfig({}, {}).debug).toBe(false)
    expect(loadConfig({}, { VIGIL_DEBUG: '1' }).debug).toBe(true)
    expect(loadSetting('stackNoDocker', { VIGIL_STACK_NO_DOCKER: '1' })).toBe(true)
    expect(loadSetting('stackNoDocker', { VIGIL_STACK_NO_DOCKER: 'yes' })).toBe(false)
    expect(loadSetting('noInstall', { VIGIL_NO_INSTALL: '1' })).toBe(true)
    expect(loadSetting('noInstall', { VIGIL_NO_INSTALL: '0' })).toBe(false)
  })

  it('reads one setting without failing on another bad variable', () => {
    expect(loadSetting('debug', { VIGIL_DEBUG: '1', VIGIL_PORT: 'abc' })).toBe(true)
  })

  it('reads VIGIL_BENCH_* with their defaults, the argument lists split on spaces', () => {
    expect(loadBenchConfig({})).toEqual({ benchLogLevel: 'warn', benchCpuProf: undefined, benchNodeArgs: [], benchSpeedArgs: [] })
    const b = loadBenchConfig({ VIGIL_BENCH_LOG_LEVEL: 'debug', VIGIL_BENCH_CPU_PROF: '/tmp/p', VIGIL_BENCH_SPEED_ARGS: '--max-batch-readings  20000' })
    expect(b).toEqual({ benchLogLevel: 'debug', benchCpuProf: '/tmp/p', benchNodeArgs: [], benchSpeedArgs: ['--max-batch-readings', '20000'] })
    expect(() => loadBenchConfig({ VIGIL_BENCH_LOG_LEVEL: 'loud' })).toThrow(/VIGIL_BENCH_LOG_LEVEL="loud" is not valid/)
  })

  it('gives a child process this environment with the extra variables over it', () => {
    expect(childEnv({ B: '3', C: '4' }, { A: '1', B: '2' })).toEqual({ A: '1', B: '3', C: '4' })
  })
})

/** Repo-relative paths of the non-test TypeScript files, other than lib/config.ts, that mention process.env. */
function envReaders(files: ReadonlyMap<string, string>): string[] {
  const isTest = (f: string) => f.endsWith('.test.ts') || f.startsWith('test/')
  return [...files].filter(([f, src]) => f.endsWith('.ts') && !isTest(f) && f !== 'lib/config.ts' && /process\.env\b/.test(src)).map(([f]) => f)
}

describe('the environment', () => {
  it('finds a reader of process.env in a sample (the checker can fail)', () => {
    const sample = new Map([
      ['stack/index.ts', "if (process.env.VIGIL_STACK_NO_DOCKER === '1') return false"],
      ['lib/config.ts', 'export function loadConfig(env = process.env) {}'],
      ['cli/run.int.test.ts', 'const env = { ...process.env }'],
      ['test/chaos/cluster.ts', "process.env.VIGIL_STACK_NO_DOCKER = '1'"],
      ['bench/speed.ts', "spawn('node', [], { env: { ...process.env } })"],
    ])
    expect(envReaders(sample)).toEqual(['stack/index.ts', 'bench/speed.ts'])
  })

  it('is read only by lib/config.ts: every other module gets its settings from loadConfig', () => {
    const root = path.resolve(import.meta.dirname, '..')
    const listed = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.ts'], { cwd: root, encoding: 'utf8' })
    const files = new Map<string, string>()
    for (const f of listed.split('\n').filter((x) => x !== '')) {
      try {
        files.set(f, readFileSync(path.join(root, f), 'utf8'))
      } catch {
        // Listed by git but deleted in the work tree: nothing to check.
      }
    }
    expect(files.size).toBeGreaterThan(50)
    expect(envReaders(files)).toEqual([])
  })
})
