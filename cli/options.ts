/**
 * Command-line flags generated from a stage's option schema (zod, in its `config.ts`), so that a
 * flag's help, unit and default are written once, in the schema (docs/CONVENTIONS.md,
 * Configuration). A field `holdDownMs: z.coerce.number().default(60_000).describe('...').meta({ unit: 'ms' })`
 * becomes `--hold-down-ms <ms>` with the help `... (default: 60000 ms)`; the values the user typed
 * are parsed back through the same schema, so a bad one fails with one sentence (exit code 2).
 */
import { Option, type Command } from 'commander'
import type { z } from 'zod'
import { kebabFlag, parseOptions } from '../lib/config.ts'

/** What a schema field carries for its flag, through zod's `.describe()` and `.meta()`. */
export interface FlagMeta {
  /** The flag's help, without its default. */
  description?: string
  /** Unit of the value (`ms`, `s`, `bytes`): shown after the default, and the placeholder for `ms` and `s`. */
  unit?: string
  /** The placeholder when neither the unit nor the type says it, e.g. `address` for `<address>`. */
  arg?: string
  /** What an optional field without a default means when the flag is absent, e.g. `run until stopped`. */
  unset?: string
  /** A boolean that the user turns off with `--no-<name>`; absent, the field is left to its schema. */
  negate?: boolean
}

/** What the generator needs to know of one field, read from its zod wrappers. */
export interface FieldInfo {
  meta: FlagMeta
  /** The base type: `number`, `string`, `boolean`, `enum`, `union`, ... */
  type: string
  hasDefault: boolean
  defaultValue?: unknown
  /** The values of an enum field. */
  values?: readonly string[]
}

interface ZodDef {
  type: string
  innerType?: z.ZodType
  in?: z.ZodType
  defaultValue?: unknown
  entries?: Record<string, string>
}

const defOf = (s: z.ZodType): ZodDef => (s as unknown as { _zod: { def: ZodDef } })._zod.def

/** Walks a field's wrappers (default, optional, pipe), outermost first, collecting its meta and default. */
export function fieldInfo(field: z.ZodType): FieldInfo {
  const info: FieldInfo = { meta: {}, type: 'unknown', hasDefault: false }
  let s: z.ZodType | undefined = field
  while (s !== undefined) {
    // An outer wrapper's meta wins over an inner one's.
    info.meta = { ...((s.meta() ?? {}) as FlagMeta), ...info.meta }
    const def = defOf(s)
    // A prefault is a default given as input (parsed through the field like a typed value): the help shows it as typed.
    if ((def.type === 'default' || def.type === 'prefault') && !info.hasDefault) {
      info.hasDefault = true
      info.defaultValue = def.defaultValue
    }
    if (def.type === 'default' || def.type === 'optional' || def.type === 'nullable' || def.type === 'prefault') s = def.innerType
    else if (def.type === 'pipe') s = def.in
    else {
      info.type = def.type
      if (def.type === 'enum' && def.entries !== undefined) info.values = Object.values(def.entries)
      s = undefined
    }
  }
  return info
}

/** The flag's placeholder: the meta's `arg`, a time unit, the enum's values, or `n` for a number. */
function placeholder(info: FieldInfo): string {
  if (info.meta.arg !== undefined) return info.meta.arg
  if (info.meta.unit === 'ms' || info.meta.unit === 's') return info.meta.unit
  if (info.values !== undefined) return info.values.join('|')
  return info.type === 'number' ? 'n' : 'value'
}

function formatDefault(value: unknown, unit: string | undefined): string {
  const text = value === '' ? '""' : String(value)
  return unit === undefined ? text : `${text} ${unit}`
}

/** The help of a field's flag: its description, then `(default: x unit)` or `(default: <unset text>)`. */
export function flagHelp(info: FieldInfo): string {
  const dflt = info.hasDefault ? formatDefault(info.defaultValue, info.meta.unit) : info.meta.unset
  const text = info.meta.description ?? ''
  return dflt === undefined ? text : `${text} (default: ${dflt})`
}

/** The commander option of one field: `--kebab-case <placeholder>`, `--flag` or `--no-flag` for a boolean. */
export function fieldOption(key: string, field: z.ZodType): Option {
  const info = fieldInfo(field)
  if (info.type === 'boolean') {
    const name = info.meta.negate === true ? `--no-${kebabFlag(key).slice(2)}` : kebabFlag(key)
    return new Option(name, flagHelp(info))
  }
  return new Option(`${kebabFlag(key)} <${placeholder(info)}>`, flagHelp(info))
}

type Shape<S extends z.ZodObject> = S['shape']
type Key<S extends z.ZodObject> = Extract<keyof Shape<S>, string>

/**
 * Some fields of an option schema as flags of a command. `keys` names the fields the command
 * offers (a schema may hold knobs with no flag), in the order `--help` lists them.
 */
export class SchemaFlags<S extends z.ZodObject> {
  constructor(
    readonly schema: S,
    readonly keys: readonly Key<S>[],
  ) {}

  /** The options, one per key, with help and default from the schema. */
  options(): Option[] {
    const shape = this.schema.shape as Record<string, z.ZodType>
    return this.keys.map((key) => fieldOption(key, shape[key] as z.ZodType))
  }

  /** Adds the options to `cmd`; returns it for chaining. */
  addTo(cmd: Command): Command {
    for (const option of this.options()) cmd.addOption(option)
    return cmd
  }

  /**
   * The values the user typed (commander's defaults, such as the `true` of a `--no-` flag, are
   * left out so the schema's apply), with `extra` over them, parsed through the schema and frozen.
   */
  parse(cmd: Command, extra: Partial<Record<Key<S>, unknown>> = {}): Readonly<z.infer<S>> {
    const typed: Record<string, unknown> = {}
    for (const key of this.keys) {
      if (cmd.getOptionValueSource(key) === 'cli') typed[key] = cmd.getOptionValue(key)
    }
    return parseOptions(this.schema, { ...typed, ...extra }, kebabFlag)
  }
}

export function schemaFlags<S extends z.ZodObject>(schema: S, keys: readonly Key<S>[]): SchemaFlags<S> {
  return new SchemaFlags(schema, keys)
}
