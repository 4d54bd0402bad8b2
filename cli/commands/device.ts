import { type Command, Option } from 'commander'
import type { Config } from '../../lib/config.ts'
import { VigilError } from '../../lib/errors.ts'
import { DEVICE_KINDS, type DeviceKind, type DeviceRecord, currentPatient } from '../../lib/identity/model.ts'
import type { Registry } from '../../lib/identity/registry.ts'
import { action, commandConfig, commandLogger } from '../command.ts'
import { formatTable, parseInstant, shortTime } from './audit.ts'

/**
 * Opens the identity registry (read to its end), runs `fn` with it and the CLI's principal, and
 * closes it. Loaded on demand: `vigil --help` does not pay for the Kafka client.
 */
export async function withRegistry<T>(
  config: Config,
  fn: (registry: Registry, actor: import('../../lib/identity/model.ts').Principal) => Promise<T>,
): Promise<T> {
  const [{ openRegistry }, { cliPrincipal }] = await Promise.all([import('../../lib/identity/registry.ts'), import('../../lib/identity/cli-principal.ts')])
  const registry = await openRegistry(config, { log: commandLogger(config), clientId: 'vigil-cli' })
  try {
    return await fn(registry, cliPrincipal())
  } finally {
    await registry.close()
  }
}

/** A device as `device list --json` prints it: no credential hash, its patient now. */
function deviceJson(d: DeviceRecord) {
  const { credentialHash: _secret, ...rest } = d
  return { ...rest, patientId: currentPatient(d) }
}

/** Since when the device has been with its patient now, or without one (the end of its last assignment). */
function since(d: DeviceRecord): number | null {
  const last = d.assignments.at(-1)
  return last === undefined ? null : (last.to ?? last.from)
}

export function formatDevices(devices: readonly DeviceRecord[]): string {
  if (devices.length === 0) return 'no devices registered: add one with `vigil device add <deviceId> --kind <kind>`\n'
  return formatTable(
    ['device', 'kind', 'patient', 'since', 'revoked'],
    devices.map((d) => {
      const s = since(d)
      return [d.id, d.kind, currentPatient(d) ?? '-', s === null ? '-' : shortTime(s), d.revokedAt === null ? '-' : shortTime(d.revokedAt)]
    }),
  )
}

function describeAssignment(d: DeviceRecord): string {
  const p = currentPatient(d)
  return p === null ? 'assigned to no patient' : `assigned to ${p} from ${shortTime(d.assignments.at(-1)!.from)}`
}

export function register(program: Command): void {
  const device = program
    .command('device')
    .description('registered devices: each with its own credential, bound to the patient it is assigned to (docs/SECURITY.md)')
  device
    .command('add <deviceId>')
    .description('register a device and print its credential, once (only its hash is kept)')
    .addOption(new Option('--kind <kind>', 'what the device is').choices(DEVICE_KINDS).makeOptionMandatory())
    .option('--patient <id>', 'assign it to this patient at once')
    .option('--from <time>', 'with --patient: the assignment starts at this ISO 8601 time (default: now)')
    .option('--reason <text>', 'why, for the audit trail')
    .option('--json', 'print {device, credential} as JSON', false)
    .action(
      action(async (deviceId: string, opts: { kind: DeviceKind; patient?: string; from?: string; reason?: string; json: boolean }, cmd: Command) => {
        if (opts.from !== undefined && opts.patient === undefined) throw new VigilError('USAGE', '--from starts an assignment: pass --patient <id> with it.')
        const from = opts.from === undefined ? undefined : parseInstant(opts.from, '--from')
        const { device: d, credential } = await withRegistry(commandConfig(cmd), (r, actor) =>
          r.addDevice({ id: deviceId, kind: opts.kind, patientId: opts.patient ?? null, ...(from === undefined ? {} : { from }) }, actor, opts.reason),
        )
        if (opts.json) {
          process.stdout.write(`${JSON.stringify({ device: deviceJson(d), credential }, null, 2)}\n`)
          return
        }
        process.stdout.write(`device ${d.id} registered (${d.kind}), ${describeAssignment(d)}\n`)
        process.stdout.write(`credential: ${credential}\n`)
        process.stdout.write(
          'This credential will not be shown again (only its hash is kept): put it on the device now; if it is lost, revoke the device and add a new one.\n',
        )
      }),
    )
  device
    .command('list')
    .description('every registered device: kind, patient now and since when, revoked or not')
    .option('--json', 'print the devices as JSON (without credential hashes)', false)
    .action(
      action(async (opts: { json: boolean }, cmd: Command) => {
        const devices = await withRegistry(commandConfig(cmd), async (r) => r.devices())
        process.stdout.write(opts.json ? `${JSON.stringify(devices.map(deviceJson), null, 2)}\n` : formatDevices(devices))
      }),
    )
  device
    .command('revoke <deviceId>')
    .description('refuse the device from now on (it stays registered; its assignment ends now)')
    .requiredOption('--reason <text>', 'why, for the audit trail (required)')
    .action(
      action(async (deviceId: string, opts: { reason: string }, cmd: Command) => {
        const d = await withRegistry(commandConfig(cmd), (r, actor) => r.revokeDevice(deviceId, actor, opts.reason))
        process.stdout.write(`device ${d.id} revoked at ${shortTime(d.revokedAt!)}: its readings are refused from now on\n`)
      }),
    )
  device
    .command('assign <deviceId> [patientId]')
    .description('assign the device to a patient (its current assignment ends then), or with --none end its assignment')
    .option('--none', 'assign it to no patient')
    .option('--from <time>', 'the change takes effect at this ISO 8601 time (default: now)')
    .option('--reason <text>', 'why, for the audit trail')
    .action(
      action(async (deviceId: string, patientId: string | undefined, opts: { none?: boolean; from?: string; reason?: string }, cmd: Command) => {
        if (patientId !== undefined && opts.none === true) throw new VigilError('USAGE', 'Pass a patient or --none, not both.')
        if (patientId === undefined && opts.none !== true)
          throw new VigilError('USAGE', 'Name the patient (`vigil device assign <deviceId> <patientId>`), or pass --none to end its assignment.')
        const from = opts.from === undefined ? Date.now() : parseInstant(opts.from, '--from')
        const d = await withRegistry(commandConfig(cmd), (r, actor) => r.assignDevice(deviceId, patientId ?? null, from, actor, opts.reason))
        process.stdout.write(`device ${d.id} ${patientId === undefined ? `assigned to no patient from ${shortTime(from)}` : describeAssignment(d)}\n`)
      }),
    )
}
