import type { Command } from 'commander'
import { lazyBatchJob } from './batch.ts'
import { action, commandConfig, commandLogger, configOption, servicesUp } from '../command.ts'
import { schemaFlags } from '../options.ts'
import { stageLogger } from '../../lib/log.ts'
import { runUntilSignal } from '../../lib/shutdown.ts'
import { servingOptionsSchema } from '../../serving/config.ts'

const SERVING_FLAGS = schemaFlags(servingOptionsSchema, ['host', 'pushIntervalMs', 'sessionTtlMs', 'signInsPerMinute', 'tlsCert', 'tlsKey', 'trustProxy'])

export function register(program: Command): void {
  const cmd = program.command('serve').description('serving layer: HTTP API, Socket.io push and the dashboard').addOption(configOption('port'))
  SERVING_FLAGS.addTo(cmd).action(
    action(async (_opts: unknown, c: Command) => {
      const config = commandConfig(c)
      const log = stageLogger(commandLogger(config), 'serve')
      const options = SERVING_FLAGS.parse(c)
      // Redis holds the views and the sessions; Kafka the identity registry and the audit trail.
      if (!(await servicesUp(config, log, { redis: true, kafka: true }))) return 0
      const { start, signInHelp } = await import('../../serving/index.ts')
      const serving = await start({ ...config, serving: options }, { log, runBatchJob: lazyBatchJob })
      // Printed on stdout, not in the log: a generated token is the one way in.
      process.stdout.write(signInHelp(serving))
      return runUntilSignal([{ name: 'serve', stage: serving }], { log })
    }),
  )
}
