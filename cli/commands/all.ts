import type { Command } from 'commander'
import { notImplemented } from '../command.ts'

export function register(program: Command): void {
  program
    .command('all')
    .description('every long-running layer in one process (gateway, speed, archiver, serving, simulator): the demo')
    .option('--no-edge', 'do not start the simulator')
    .action(notImplemented('all'))
}
