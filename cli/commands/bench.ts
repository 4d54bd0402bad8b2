import type { Command } from 'commander'
import { notImplemented } from '../command.ts'

export function register(program: Command): void {
  program
    .command('bench')
    .description('run the benchmarks and print one table (and JSON with --out)')
    .option('--out <file.json>', 'write the results as JSON')
    .action(notImplemented('bench'))
}
