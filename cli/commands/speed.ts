import type { Command } from 'commander'
import { kebabFlag, parseOptions } from '../../lib/config.ts'
import { runUntilSignal } from '../../lib/shutdown.ts'
import { speedOptionsSchema } from '../../speed-layer/config.ts'
import { action, commandConfig, commandLogger, servicesUp } from '../command.ts'

export function register(program: Command): void {
  program
    .command('speed')
    .description('speed layer: validate, classify, raise alerts and keep the real-time view in Redis')
    .option('--hold-down-ms <ms>', 'how long a vital must stay normal before its alert clears (default 60000)')
    .option('--out-of-order-tolerance-ms <ms>', 'readings this much older than the newest are placed in order (default 5000)')
    .option('--stale-min-ms <ms>', 'a device is stale after 3 cadences, never less than this (default 120000)')
    .option('--series-window-ms <ms>', 'event-time span of each patient\'s series in Redis (default 900000)')
    .option('--max-batch-readings <n>', 'readings per batch: one Redis round trip and one commit (default 5000)')
    .option('--max-buffered-records <n>', 'bound of the records fetched ahead of processing (default 10000)')
    .option('--instance-id <id>', 'static group membership: a restart with the same id takes its partitions back at once instead of after the session timeout; one id per running instance (default: none)')
    .action(
      action(async (opts: Record<string, unknown>, cmd: Command) => {
        const config = commandConfig(cmd)
        const speed = parseOptions(speedOptionsSchema, opts, kebabFlag)
        const log = commandLogger(config)
        if (!(await servicesUp(config, log, { kafka: true, redis: true }))) return 0
        const { start } = await import('../../speed-layer/index.ts')
        const layer = await start({ ...config, speed }, { log })
        log.info(`speed layer running (group ${config.topicPrefix}vigil-speed, Redis prefix ${config.redisPrefix}); Ctrl-C to stop`)
        return runUntilSignal([{ name: 'speed', stage: layer }], { log })
      }),
    )
}
