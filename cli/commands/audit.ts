import type { Command } from 'commander'
import { VigilError } from '../../lib/errors.ts'
import { patientIdSchema } from '../../lib/contract/schema.ts'
import type { Config } from '../../lib/config.ts'
import type { AuditInput } from '../../lib/identity/audit.ts'
import type { AuditEvent } from '../../lib/identity/model.ts'
import { action, commandConfig, commandLogger } from '../command.ts'

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/

/**
 * An instant from a flag: an ISO 8601 date-time with its offset (`2026-11-22T08:00Z`,
 * `2026-11-22T08:00+01:00`) or a date alone (midnight UTC). A time without an offset is refused:
 * the operator's zone and the ward's may differ, and the audit trail must not guess.
 */
export function parseInstant(text: string, flag: string): number {
  const ms = ISO_INSTANT.test(text) ? Date.parse(text) : Number.NaN
  if (Number.isNaN(ms))
    throw new VigilError('USAGE', `${flag} "${text}" is not an ISO 8601 time with its offset: write e.g. 2026-11-22T08:00Z or 2026-11-22T08:00+01:00.`)
  return ms
}

/**
 * Records one event in the audit trail as the CLI's principal, before the change it explains
 * (docs/SECURITY.md, The audit trail): when Kafka does not acknowledge it, this throws and the
 * caller changes nothing. Loaded on demand: `vigil --help` does not pay for the Kafka client.
 */
export async function recordCliAudit(config: Config, input: Omit<AuditInput, 'actor'>): Promise<void> {
  const [{ openAuditLog }, { cliPrincipal }] = await Promise.all([import('../../lib/identity/audit.ts'), import('../../lib/identity/cli-principal.ts')])
  const audit = await openAuditLog(config, { log: commandLogger(config), clientId: 'vigil-cli-audit' })
  try {
    await audit.record({ actor: cliPrincipal(), ...input })
  } finally {
    await audit.close()
  }
}

/** A cell's text with control characters (a terminal escape in a reason, say) shown as `\u001b`, never acted on. */
export function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is replaced here
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** Rows as a table: columns padded to their widest cell, the last one left as it is; every cell printable. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows].map((r) => r.map(printable))
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)))
  return `${all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n')}\n`
}

/** An instant as the tables show it: UTC to the second. */
export function shortTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')}Z`
}

/** Fields a change's summary leaves out: they name the subject or move with every change. */
const QUIET_FIELDS = new Set(['type', 'id', 'username', 'createdAt', 'updatedAt'])
const TIME_FIELDS = new Set(['at', 'from', 'to', 'revokedAt'])

function isAssignment(x: unknown): x is { patientId: string; from: number; to: number | null } {
  return typeof x === 'object' && x !== null && 'patientId' in x && 'from' in x
}

/** A band as `patient.bands` records it (`{max, maxInclusive, status, score}`). */
function isBand(x: unknown): x is { max: number | null; maxInclusive: boolean; status: string; score: number | null } {
  return typeof x === 'object' && x !== null && 'max' in x && 'status' in x
}

/** A band as `vigil patient show` writes it: `<=83 CRITICAL_LOW (3)`, the open top one `rest`. */
function showBand(b: { max: number | null; maxInclusive: boolean; status: string; score: number | null }): string {
  return `${b.max === null ? 'rest' : `${b.maxInclusive ? '<=' : '<'}${b.max}`} ${b.status}${b.score === null ? '' : ` (${b.score})`}`
}

/** A value in a change's summary: times as UTC, assignments as `p-1 [from..to]`, null as `-`. */
function show(value: unknown, field = ''): string {
  if (value === null || value === undefined) return '-'
  if (typeof value === 'number' && TIME_FIELDS.has(field)) return shortTime(value)
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]'
    if (value.every(isAssignment)) return value.map((a) => `${a.patientId} [${shortTime(a.from)}..${a.to === null ? '' : shortTime(a.to)}]`).join(', ')
    if (value.every(isBand)) return value.map(showBand).join(' | ')
    return JSON.stringify(value)
  }
  if (typeof value === 'object') {
    const fields = Object.entries(value).filter(([k]) => !QUIET_FIELDS.has(k))
    return `{${fields.map(([k, v]) => `${k}: ${show(v, k)}`).join(', ')}}`
  }
  return String(value)
}

/**
 * "before -> after" in a line: for two records, only the fields that changed
 * (`role: viewer -> clinician`); for a creation, what was created.
 */
export function describeChange(before: unknown, after: unknown): string {
  const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)
  if (isRecord(before) && isRecord(after)) {
    const fields = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter(
      (k) => !QUIET_FIELDS.has(k) && JSON.stringify(before[k]) !== JSON.stringify(after[k]),
    )
    if (fields.length === 0) return 'no change'
    return fields.map((k) => `${k}: ${show(before[k], k)} -> ${show(after[k], k)}`).join('; ')
  }
  if (before === null || before === undefined) return `created ${show(after)}`
  return `${show(before)} -> ${show(after)}`
}

export function formatAudit(events: readonly AuditEvent[]): string {
  if (events.length === 0) return 'no audit events match\n'
  return formatTable(
    ['time', 'user', 'action', 'patient', 'subject', 'before -> after', 'reason'],
    events.map((e) => [shortTime(e.at), e.actor.user, e.action, e.patientId ?? '-', e.subject, describeChange(e.before, e.after), e.reason ?? '-']),
  )
}

interface AuditOptions {
  patient?: string
  since?: string
  limit?: string
  json: boolean
}

export function register(program: Command): void {
  program
    .command('audit')
    .description(
      'the audit trail (vitals.audit), oldest first: who acknowledged, changed bands, added, assigned or revoked devices, changed users, when, before and after, and why',
    )
    .option('--patient <id>', "only this patient's events")
    .option('--since <time>', 'only events at or after this ISO 8601 time (e.g. 2026-11-22T08:00Z; a date alone is midnight UTC)')
    .option('--limit <n>', 'only the newest n events that match')
    .option('--json', 'print the events as JSON, one array of audit events (docs/CONTRACT.md, Topics)', false)
    .action(
      action(async (opts: AuditOptions, cmd: Command) => {
        const filter = parseFilter(opts)
        const config = commandConfig(cmd)
        const { readAudit } = await import('../../lib/identity/audit.ts')
        const events = await readAudit(config, filter)
        process.stdout.write(opts.json ? `${JSON.stringify(events, null, 2)}\n` : formatAudit(events))
      }),
    )
}

function parseFilter(opts: AuditOptions): { patientId?: string; since?: number; limit?: number } {
  const filter: { patientId?: string; since?: number; limit?: number } = {}
  if (opts.patient !== undefined) {
    const id = patientIdSchema.safeParse(opts.patient)
    if (!id.success) throw new VigilError('USAGE', `--patient "${opts.patient}" is not a valid patient id: ${id.error.issues[0]?.message ?? 'invalid'}.`)
    filter.patientId = id.data
  }
  if (opts.since !== undefined) filter.since = parseInstant(opts.since, '--since')
  if (opts.limit !== undefined) {
    if (!/^[1-9]\d{0,8}$/.test(opts.limit)) throw new VigilError('USAGE', `--limit "${opts.limit}" is not a whole number above 0: write e.g. --limit 50.`)
    filter.limit = Number(opts.limit)
  }
  return filter
}
