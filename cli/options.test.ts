import { Command, type Option } from 'commander'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { VigilError } from '../lib/errors.ts'
import { DEFAULT_SPEED_OPTIONS } from '../speed-layer/config.ts'
import { EDGE_FLAGS, SIMULATOR_FLAGS } from './commands/edge.ts'
import { fieldInfo, schemaFlags } from './options.ts'

const schema = z.object({
  holdDownMs: z.coerce.number({ error: 'expected milliseconds' }).int().min(0).default(60_000).describe('how long a vital stays normal').meta({ unit: 'ms' }),
  patients: z.coerce.number().int().positive().default(20).describe('simulated patients'),
  via: z.enum(['kafka', 'http']).default('kafka').describe('where readings go'),
  seed: z.coerce.number().int().optional().meta({ description: 'random seed', unset: 'random, printed' }),
  host: z.string().default('0.0.0.0').describe('interface to listen on').meta({ arg: 'address' }),
  loop: z.boolean().default(false).describe('start again at the end'),
  progress: z.boolean().optional().meta({ description: 'no progress line', negate: true, unset: 'shown on a TTY' }),
  noFlag: z.coerce.number().default(7),
})

const ALL = ['holdDownMs', 'patients', 'via', 'seed', 'host', 'loop', 'progress'] as const

/** A command with the flags, parsed from argv as commander does for `vigil <cmd> ...argv`. */
function parsed(argv: string[]) {
  const flags = schemaFlags(schema, ALL)
  const cmd = flags.addTo(new Command('t').exitOverride())
  cmd.parse(argv, { from: 'user' })
  return flags.parse(cmd)
}

const help = (flags: { options(): Option[] } = schemaFlags(schema, ALL)) => Object.fromEntries(flags.options().map((o) => [o.flags, o.description]))

describe('flags generated from an option schema', () => {
  it('names each flag in kebab-case with a placeholder from its unit, enum or meta', () => {
    expect(Object.keys(help())).toEqual([
      '--hold-down-ms <ms>',
      '--patients <n>',
      '--via <kafka|http>',
      '--seed <n>',
      '--host <address>',
      '--loop',
      '--no-progress',
    ])
  })

  it("writes the schema's default, with its unit, into the help", () => {
    expect(help()).toMatchObject({
      '--hold-down-ms <ms>': 'how long a vital stays normal (default: 60000 ms)',
      '--patients <n>': 'simulated patients (default: 20)',
      '--via <kafka|http>': 'where readings go (default: kafka)',
      '--seed <n>': 'random seed (default: random, printed)',
      '--host <address>': 'interface to listen on (default: 0.0.0.0)',
      '--loop': 'start again at the end (default: false)',
      '--no-progress': 'no progress line (default: shown on a TTY)',
    })
  })

  it('follows a changed default: the help has no copy of its own', () => {
    const other = z.object({ holdDownMs: z.coerce.number().default(1_234).describe('hold-down').meta({ unit: 'ms' }) })
    expect(help(schemaFlags(other, ['holdDownMs']))).toEqual({ '--hold-down-ms <ms>': 'hold-down (default: 1234 ms)' })
    const speed = help(schemaFlags(z.object({ holdDownMs: schema.shape.holdDownMs.default(90_000) }), ['holdDownMs']))
    expect(speed['--hold-down-ms <ms>']).toBe('how long a vital stays normal (default: 90000 ms)')
  })

  it('reads the default and meta through optional, default and pipe wrappers', () => {
    const info = fieldInfo(z.string().transform(Number).optional().meta({ unit: 's' }).default(3))
    expect(info).toMatchObject({ hasDefault: true, defaultValue: 3, type: 'string', meta: { unit: 's' } })
  })

  it('parses the typed values back through the schema, the defaults applying to the others', () => {
    expect(parsed(['--hold-down-ms', '250', '--via', 'http', '--loop'])).toEqual({
      holdDownMs: 250,
      patients: 20,
      via: 'http',
      host: '0.0.0.0',
      loop: true,
      noFlag: 7,
    })
  })

  it('leaves a --no- flag to the schema unless it is given', () => {
    expect(parsed([]).progress).toBeUndefined()
    expect(parsed(['--no-progress']).progress).toBe(false)
  })

  it('refuses a bad value with one sentence naming the flag, and exit code 2', () => {
    let error: unknown
    try {
      parsed(['--hold-down-ms', 'soon'])
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(VigilError)
    expect((error as VigilError).message).toBe('--hold-down-ms "soon" is not valid: expected milliseconds.')
    expect((error as VigilError).exitCode).toBe(2)
    expect(() => parsed(['--via', 'pigeon'])).toThrow(/^--via "pigeon" is not valid: /)
  })
})

describe('the stages’ flags', () => {
  it('vigil all offers the simulator flags with the same help as vigil edge', () => {
    const edge = help(EDGE_FLAGS)
    for (const [flag, text] of Object.entries(help(SIMULATOR_FLAGS))) expect(edge[flag]).toBe(text)
    expect(Object.keys(help(SIMULATOR_FLAGS))).toEqual(['--patients <n>', '--speedup <factor>', '--rate <readings/s|max>', '--faults <rate>', '--seed <n>'])
  })

  it("vigil speed's help gives the speed layer's defaults", async () => {
    const { SPEED_FLAGS } = await import('./commands/speed.ts')
    expect(help(SPEED_FLAGS)['--hold-down-ms <ms>']).toContain(`(default: ${DEFAULT_SPEED_OPTIONS.holdDownMs} ms)`)
  })
})
