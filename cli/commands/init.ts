import type { Command } from 'commander'
import { notImplemented } from '../command.ts'

export function register(program: Command): void {
  program
    .command('init')
    .description('reset to a clean state: recreate topics, reset consumer groups, delete the prefix\'s Redis keys, empty the data lake')
    .option('-y, --yes', 'do not ask for confirmation (required when not on a TTY)', false)
    .action(notImplemented('init'))
}
