import os from 'node:os'
import type { Command } from 'commander'
import { runUntilSignal } from '../../lib/shutdown.ts'
import { stageLogger } from '../../lib/log.ts'
import { archiverOptionsSchema } from '../../batch-layer/config.ts'
import { action, commandConfig, commandLogger, servicesUp } from '../command.ts'
import { schemaFlags } from '../options.ts'

const ARCHIVER_FLAGS = schemaFlags(archiverOptionsSchema, ['flushRecords', 'flushIntervalMs', 'compactIntervalMs', 'instanceId'])

export function register(program: Command): void {
  const cmd = program.command('archive').description('archiver: vitals.readings and vitals.events into the Parquet data lake, exactly once')
  ARCHIVER_FLAGS.addTo(cmd)
    .addHelpText(
      'after',
      `
Each flush writes one file per partition, so a slow stream makes many small files (about 52,000
a day at 21 readings/s with the defaults). Every --compact-interval-ms the archiver rewrites the
days holding them into few large ones, as \`vigil compact\` does (one file per day, kind and
partition); with --compact-interval-ms 0, schedule \`vigil compact\` instead.`,
    )
    .action(
      action(async (_opts: unknown, cmd: Command) => {
        const config = commandConfig(cmd)
        const options = ARCHIVER_FLAGS.parse(cmd)
        const log = stageLogger(commandLogger(config), 'archive')
        if (!(await servicesUp(config, log, { kafka: true }))) return 0
        // Below normal priority: on a machine it shares with the speed layer, the real-time path gets
        // the CPU first and the archiver's flushes wait (bench/e2e.ts, 5,000 readings/s of 5,000
        // patients on 2 cores: produce -> Redis p99 266 ms, 183 ms with the archiver at nice 10).
        // Its own process only: `vigil all` runs every stage in one.
        os.setPriority(os.constants.priority.PRIORITY_BELOW_NORMAL)
        const { start } = await import('../../batch-layer/archiver.ts')
        const archiver = await start({ ...config, archiver: options }, { log })
        const stages = [{ name: 'archive', stage: archiver }]
        return Promise.race([
          runUntilSignal(stages, { log }),
          archiver.failed.catch(async (error: unknown) => {
            await archiver.stop().catch(() => undefined)
            throw error
          }),
        ])
      }),
    )
}
