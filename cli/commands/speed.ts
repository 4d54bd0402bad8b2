import type { Command } from 'commander'
import { runUntilSignal } from '../../lib/shutdown.ts'
import { speedOptionsSchema } from '../../speed-layer/config.ts'
import { action, commandConfig, commandLogger, servicesUp } from '../command.ts'
import { schemaFlags } from '../options.ts'

/** The speed layer's flags; the other knobs of its schema have no flag. */
export const SPEED_FLAGS = schemaFlags(speedOptionsSchema, [
  'holdDownMs',
  'warningPersistenceMs',
  'criticalPersistenceMs',
  'noSignalPersistenceMs',
  'persistenceResetMs',
  'news2FreshnessMs',
  'outOfOrderToleranceMs',
  'staleMinMs',
  'seriesWindowMs',
  'maxBatchReadings',
  'maxBufferedRecords',
  'instanceId',
  'riskModel',
  'riskThreshold',
])

export function register(program: Command): void {
  const cmd = program.command('speed').description('speed layer: validate, classify, raise alerts and keep the real-time view in Redis')
  SPEED_FLAGS.addTo(cmd).action(
    action(async (_opts: unknown, cmd: Command) => {
      const config = commandConfig(cmd)
      const speed = SPEED_FLAGS.parse(cmd)
      const log = commandLogger(config)
      if (!(await servicesUp(config, log, { kafka: true, redis: true }))) return 0
      const { start } = await import('../../speed-layer/index.ts')
      const layer = await start({ ...config, speed }, { log })
      log.info(`speed layer running (group ${config.topicPrefix}vigil-speed, Redis prefix ${config.redisPrefix}); Ctrl-C to stop`)
      return runUntilSignal([{ name: 'speed', stage: layer }], { log })
    }),
  )
}
