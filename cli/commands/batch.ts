import type { Command } from 'commander'
import { notImplemented } from '../command.ts'

export function register(program: Command): void {
  program
    .command('batch')
    .description('batch job: daily statistics from the data lake with DuckDB')
    .option('--date <YYYY-MM-DD>', 'one day of event time (default: today, UTC)')
    .option('--from <YYYY-MM-DD>', 'first day of a range')
    .option('--to <YYYY-MM-DD>', 'last day of a range (inclusive)')
    .action(notImplemented('batch'))
}
