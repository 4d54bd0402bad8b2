import type { Command } from 'commander'
import { action, commandConfig } from '../command.ts'
import * as stack from '../../stack/index.ts'

const say = (line: string) => process.stderr.write(`vigil stack: ${line}\n`)

function describe(s: stack.ServiceStatus): string {
  if (!s.up) return 'down'
  switch (s.owner) {
    case 'native':
      return `up, started by vigil (native, pid ${s.pid})`
    case 'docker':
      return 'up, started by vigil (docker compose)'
    default:
      return 'up, not started by vigil (left alone by `vigil stack down`)'
  }
}

function table(rows: stack.ServiceStatus[]): string {
  return `${rows.map((s) => `${s.service.padEnd(6)} ${s.address.padEnd(16)} ${describe(s)}`).join('\n')}\n`
}

export function register(program: Command): void {
  const cmd = program.command('stack').description('start, stop or show the local Kafka broker (KRaft) and Redis server')

  cmd
    .command('up')
    .description('start Kafka and Redis unless they already answer (docker compose if a Docker engine answers, else native)')
    .action(
      action(async (_opts: unknown, c: Command) => {
        const config = commandConfig(c)
        const t0 = Date.now()
        const results = await stack.up(config, say)
        for (const r of results) {
          const what = r.action === 'reused' ? 'already running, reused' : `started in ${(r.ms / 1000).toFixed(1)} s`
          process.stdout.write(`${r.service.padEnd(6)} ${r.address.padEnd(16)} ${what}${r.pid === undefined ? '' : ` (pid ${r.pid})`}\n`)
        }
        process.stdout.write(`stack ready in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`)
      }),
    )

  cmd
    .command('down')
    .description('stop what `vigil stack up` started (never a service it did not start)')
    .action(
      action(async () => {
        const stopped = await stack.down(say)
        process.stdout.write(stopped.length === 0 ? 'nothing to stop: vigil started no service\n' : `stopped ${stopped.join(', ')}\n`)
      }),
    )

  cmd
    .command('status')
    .description('show whether Kafka and Redis answer, where, and who started them (exit 3 when one is down)')
    .action(
      action(async (_opts: unknown, c: Command) => {
        const rows = await stack.status(commandConfig(c))
        process.stdout.write(table(rows))
        return rows.every((r) => r.up) ? 0 : 3
      }),
    )
}
