import type { Command } from 'commander'
import { action, commandConfig } from '../command.ts'
import { confirm, reset } from '../../scripts/init.ts'

export function register(program: Command): void {
  program
    .command('init')
    .description(
      "reset to a clean state: recreate topics, delete consumer groups, delete the prefix's Redis keys (never FLUSHALL), empty the data lake; keeps the identity registry and the audit trail",
    )
    .option('-y, --yes', 'do not ask for confirmation (required when not on a TTY)', false)
    .option('--with-identity', 'also delete vitals.registry and vitals.audit: every registered device, user and audit event', false)
    .action(
      action(async (opts: { yes: boolean; withIdentity: boolean }, c: Command) => {
        const config = commandConfig(c)
        const options = { withIdentity: opts.withIdentity }
        if (!(await confirm(config, opts.yes, options))) {
          process.stdout.write('nothing changed\n')
          return 1
        }
        await reset(config, (line) => process.stdout.write(`${line}\n`), options)
      }),
    )
}
