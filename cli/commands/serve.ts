import type { Command } from 'commander'
import { lazyBatchJob } from './batch.ts'
import { action, commandConfig, commandLogger, servicesUp } from '../command.ts'
import { stageLogger } from '../../lib/log.ts'
import { runUntilSignal } from '../../lib/shutdown.ts'
import { servingOptions } from '../../serving/config.ts'

export function register(program: Command): void {
  program
    .command('serve')
    .description('serving layer: HTTP API, Socket.io push and the dashboard')
    .option('--port <port>', 'TCP port (default: 3000, env VIGIL_PORT)')
    .option('--host <address>', 'address to listen on (default: 127.0.0.1; 0.0.0.0 for every interface)')
    .option('--push-interval-ms <ms>', 'interval of live pushes to each page, in milliseconds (default: 100)')
    .action(
      action(async (opts: { host?: string; pushIntervalMs?: string }, c: Command) => {
        const config = commandConfig(c)
        const log = stageLogger(commandLogger(config), 'serve')
        const options = servingOptions({ host: opts.host, pushIntervalMs: opts.pushIntervalMs })
        if (!(await servicesUp(config, log, { redis: true }))) return 0
        const { start } = await import('../../serving/index.ts')
        const serving = await start(config, { log, options, runBatchJob: lazyBatchJob })
        if (serving.tokenGenerated) {
          // Printed on stdout, not in the log: it is the one way in when VIGIL_TOKEN is unset.
          process.stdout.write(`Dashboard: ${serving.loginUrl}\n(VIGIL_TOKEN is unset: this token was generated for this run)\n`)
        } else {
          process.stdout.write(`Dashboard: ${serving.url}/login?token=<VIGIL_TOKEN>\n`)
        }
        return runUntilSignal([{ name: 'serve', stage: serving }], { log })
      }),
    )
}
