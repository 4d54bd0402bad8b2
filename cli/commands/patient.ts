import type { Command } from 'commander'
import { applyBandSpecs, overridesJson, BAND_PRESETS, type BandOverrides, type BandSpec, BandSpecError, describeBands, parseBandSpec } from '../../lib/bands.ts'
import { readPatientBands, writePatientBands } from '../../lib/band-store.ts'
import type { Config } from '../../lib/config.ts'
import { VigilError } from '../../lib/errors.ts'
import { redisKeys } from '../../lib/contract/keys.ts'
import { connectRedis } from '../../lib/redis.ts'
import { VITALS, patientIdSchema } from '../../lib/contract/schema.ts'
import { action, commandConfig } from '../command.ts'
import { recordCliAudit } from './audit.ts'

const SPEC_HELP = `band override, repeatable: <vital>:<status>=<min>-<max> (e.g. heartRate:normal=40-90), <vital>:default, or a preset (${Object.entries(
  BAND_PRESETS,
)
  .map(([name, p]) => `${p.vital}:${name}`)
  .join(', ')})`

export function register(program: Command): void {
  const patient = program.command('patient').description('per-patient settings (band overrides)')
  patient
    .command('set <patientId>')
    .description(
      "override a patient's classification bands (applied by the speed layer from the patient's next reading); recorded in the audit trail first, with the reason",
    )
    .option('--band <spec...>', SPEC_HELP)
    .requiredOption('--reason <text>', 'why, for the audit trail (required), e.g. "COPD, target 88-92 %"')
    .action(
      action(async (patientId: string, opts: { band?: string[]; reason: string }, cmd: Command) => {
        const id = patientIdSchema.safeParse(patientId)
        if (!id.success) throw new VigilError('USAGE', `"${patientId}" is not a valid patient id: ${id.error.issues[0]?.message ?? 'invalid'}.`)
        if (opts.band === undefined || opts.band.length === 0)
          throw new VigilError('USAGE', 'Pass at least one --band, e.g. --band heartRate:normal=40-90 or --band spo2:news2-scale2.')
        let specs: BandSpec[]
        try {
          specs = opts.band.map(parseBandSpec)
        } catch (error) {
          if (error instanceof BandSpecError) throw new VigilError('USAGE', `--band ${error.message}.`, { cause: error })
          throw error
        }
        const config = commandConfig(cmd)
        const { checkReason } = await import('../../lib/identity/records.ts')
        const reason = checkReason(opts.reason, true)
        const keys = redisKeys(config.redisPrefix)
        const redis = await connectRedis(config)
        try {
          await recordBandChange(config, id.data, specs, reason, (await readPatientBands(redis, keys, id.data)).overrides)
          const { overrides, table } = await writePatientBands(redis, keys, id.data, specs)
          for (const v of VITALS) {
            const mark = overrides[v] === undefined ? ' ' : '*'
            process.stdout.write(`${mark} ${v.padEnd(12)} ${describeBands(table[v])}\n`)
          }
          process.stdout.write(`(* overridden for ${id.data}; the others are the defaults)\n`)
        } finally {
          redis.destroy()
        }
      }),
    )
  patient
    .command('show <patientId>')
    .description("print a patient's bands (defaults and overrides)")
    .action(
      action(async (patientId: string, _opts: unknown, cmd: Command) => {
        const config = commandConfig(cmd)
        const redis = await connectRedis(config)
        try {
          const { overrides, table } = await readPatientBands(redis, redisKeys(config.redisPrefix), patientId)
          for (const v of VITALS) process.stdout.write(`${overrides[v] === undefined ? ' ' : '*'} ${v.padEnd(12)} ${describeBands(table[v])}\n`)
        } finally {
          redis.destroy()
        }
      }),
    )
}

/**
 * Records the change in the audit trail before anything is written (docs/SECURITY.md, The audit
 * trail): when Kafka does not acknowledge it, this throws and the bands stay as they were.
 */
async function recordBandChange(config: Config, patientId: string, specs: readonly BandSpec[], reason: string | null, before: BandOverrides): Promise<void> {
  await recordCliAudit(config, {
    action: 'patient.bands',
    patientId,
    subject: patientId,
    before: overridesJson(before),
    after: overridesJson(applyBandSpecs(before, specs)),
    reason,
  })
}
