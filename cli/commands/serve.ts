import type { Command } from 'commander'
import { lazyBatchJob } from './batch.ts'
import { action, commandConfig, commandLogger, configOption, servicesUp } from '../command.ts'
import { schemaFlags } from '../options.ts'
import { stageLogger } from '../../lib/log.ts'
import { runUntilSignal } from '../../lib/shutdown.ts'
import { servingOptionsSchema } from '../../serving/config.ts'

const SERVING_FLAGS = schemaFlags(servingOptionsSchema, ['host', 'pushIntervalMs'])

export function register(program: Command): void {
  const cmd = program.command('serve').description('serving layer: HTTP API, Socket.io push and the dashboard').addOption(configOption('port'))
  SERVING_FLAGS.addTo(cmd).action(
    action(async (_opts: unknown, c: Command) => {
      const config = commandConfig(c)
      const log = stageLogger(commandLogger(config), 'serve')
      const options = SERVING_FLAGS.parse(c)
      if (!(await servicesUp(config, log, { redis: true }))) return 0
      const { start } = await import('../../serving/index.ts')
      const serving = await start({ ...config, serving: options }, { log, runBatchJob: lazyBatchJob })
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
