import { describe, expect, it } from 'vitest'
import { loadConfig, parseOptions, kebabFlag } from './config.ts'
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
    expect(() => loadConfig({}, { VIGIL_REDIS_URL: 'localhost:6379' })).toThrow('VIGIL_REDIS_URL="localhost:6379" is not valid: expected a redis:// or rediss:// URL.')
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

  it('parses and freezes a stage\'s options', () => {
    const o = parseOptions(schema, { ratePerSecond: '12.5' }, kebabFlag)
    expect(o.ratePerSecond).toBe(12.5)
    expect(Object.isFrozen(o)).toBe(true)
  })

  it('names the flag the user typed when a value is bad', () => {
    expect(() => parseOptions(schema, { ratePerSecond: '-1' }, kebabFlag)).toThrow('--rate-per-second "-1" is not valid: expected a number above 0.')
  })
})
