import type { Command } from 'commander'
import { notImplemented } from '../command.ts'

export function register(program: Command): void {
  program
    .command('serve')
    .description('serving layer: HTTP API, Socket.io push and the dashboard')
    .option('--port <port>', 'TCP port (default: 3000, env VIGIL_PORT)')
    .action(notImplemented('serve'))
}
