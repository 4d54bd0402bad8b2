import type { Command } from 'commander'
import { notImplemented } from '../command.ts'

export function register(program: Command): void {
  program
    .command('archive')
    .description('archiver: vitals.readings into the Parquet data lake, exactly once')
    .action(notImplemented('archive'))
}
