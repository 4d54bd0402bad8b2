import type { Command } from 'commander'
import { parseOptions, kebabFlag } from '../../lib/config.ts'
import { runUntilSignal } from '../../lib/shutdown.ts'
import { stageLogger } from '../../lib/log.ts'
import { archiverOptionsSchema } from '../../batch-layer/config.ts'
import { action, commandConfig, commandLogger, servicesUp } from '../command.ts'

export function register(program: Command): void {
  program
    .command('archive')
    .description('archiver: vitals.readings into the Parquet data lake, exactly once')
    .option('--flush-records <n>', 'write a partition\'s file when it holds this many records (default: 50000 records)')
    .option('--flush-interval-ms <ms>', '... or when its oldest record is this old (default: 10000 ms)')
    .addHelpText(
      'after',
      `
Each flush writes one file per partition, so a slow stream makes many small files (about 52,000
a day at 21 readings/s with the defaults): \`vigil compact\` rewrites them into few large ones,
beside a running archiver.`,
    )
    .action(
      action(async (opts: Record<string, unknown>, cmd: Command) => {
        const config = commandConfig(cmd)
        const options = parseOptions(archiverOptionsSchema, { flushRecords: opts.flushRecords, flushIntervalMs: opts.flushIntervalMs }, kebabFlag)
        const log = stageLogger(commandLogger(config), 'archive')
        if (!(await servicesUp(config, log, { kafka: true }))) return 0
        const { startArchiver } = await import('../../batch-layer/archiver.ts')
        const archiver = await startArchiver(config, { log, options })
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
