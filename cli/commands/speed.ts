import type { Command } from 'commander'
import { notImplemented } from '../command.ts'

export function register(program: Command): void {
  program
    .command('speed')
    .description('speed layer: validate, classify, raise alerts and keep the real-time view in Redis')
    .action(notImplemented('speed'))
}
