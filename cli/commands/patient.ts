import type { Command } from 'commander'
import { notImplemented } from '../command.ts'

export function register(program: Command): void {
  const patient = program.command('patient').description('per-patient settings (band overrides)')
  patient
    .command('set <patientId>')
    .description('override a patient\'s classification bands')
    .option('--band <vital:spec...>', 'band override, e.g. heartRate:warning=40-50')
    .action(notImplemented('patient set'))
}
