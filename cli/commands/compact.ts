import path from 'node:path'
import type { Command } from 'commander'
import { stageLogger } from '../../lib/log.ts'
import { compactOptionsSchema, daysBetween } from '../../batch-layer/config.ts'
import { action, commandConfig, commandLogger } from '../command.ts'
import { schemaFlags } from '../options.ts'

const COMPACT_FLAGS = schemaFlags(compactOptionsSchema, ['date', 'from', 'to', 'maxRowsPerFile'])

/** Exit status of a run that compacted what it could but left folders with unreadable files. */
export const EXIT_SKIPPED = 3

export function register(program: Command): void {
  const cmd = program.command('compact').description("rewrite the data lake's small files into few large ones, every offset still exactly once")
  COMPACT_FLAGS.addTo(cmd)
    .addHelpText(
      'after',
      `
Per day, kind (readings, rejected) and Kafka partition, the archiver's files are rewritten in
offset order into files of at most --max-rows-per-file rows, named
<topic>-p<partition>-<first>-<last>-compacted.parquet. Safe beside a running archiver and a
batch job, and safe to kill: the next run finishes or removes what a killed one left. A day
already compacted is left alone. A running archiver does this itself every
--compact-interval-ms (default 1 hour); run this by hand, or from cron when that is 0.

Exit status: 0 done; ${EXIT_SKIPPED} done, but folders holding an unreadable file were left as they are
(\`vigil batch\` quarantines such files); 1 failed; 2 bad flag.`,
    )
    .action(
      action(async (_opts: unknown, cmd: Command) => {
        const config = commandConfig(cmd)
        const o = COMPACT_FLAGS.parse(cmd)
        const log = stageLogger(commandLogger(config), 'compact')
        const dates = o.date !== undefined ? [o.date] : o.from !== undefined && o.to !== undefined ? daysBetween(o.from, o.to) : undefined
        const { compactLake } = await import('../../batch-layer/compact.ts')
        const r = await compactLake(config, { dates, maxRowsPerFile: o.maxRowsPerFile }, { log })
        const table = [
          [
            'days',
            r.days.length === 0
              ? '(none in the lake)'
              : r.days.length <= 3
                ? r.days.join(', ')
                : `${r.days[0]} to ${r.days[r.days.length - 1]} (${r.days.length})`,
          ],
          ['files before', String(r.filesBefore)],
          ['files after', String(r.filesAfter)],
          ['compacted files written', String(r.written)],
          ['rows rewritten', String(r.rows)],
          ['leftovers removed', String(r.cleaned)],
          ['seconds', r.seconds.toFixed(2)],
        ]
        const width = Math.max(...table.map((row) => (row[0] ?? '').length))
        process.stdout.write(`${table.map(([k, v]) => `${(k ?? '').padEnd(width)}  ${v}`).join('\n')}\n`)
        if (r.skipped.length === 0) return 0
        const lines = r.skipped.map((s) => `  ${path.join(s.dir)} partition ${s.partition}: ${s.reason}`)
        process.stdout.write(`left as they are:\n${lines.join('\n')}\n`)
        return EXIT_SKIPPED
      }),
    )
}
