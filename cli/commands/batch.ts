import path from 'node:path'
import type { Command } from 'commander'
import { stageLogger } from '../../lib/log.ts'
import { batchOptionsSchema, DEFAULT_SPARK_MASTER } from '../../batch-layer/config.ts'
import type { BatchProgress, RunBatchJob } from '../../lib/contract/batch.ts'
import type { SparkEngine } from '../../batch-layer/spark.ts'
import { PYSPARK_VERSION } from '../../stack/spark.ts'
import { quarantineRoot } from '../../batch-layer/lake.ts'
import { action, commandConfig, commandLogger } from '../command.ts'
import { schemaFlags } from '../options.ts'

const BATCH_FLAGS = schemaFlags(batchOptionsSchema, ['date', 'from', 'to', 'full', 'strict', 'engine', 'sparkMaster'])

/**
 * The batch job as the serving layer receives it: loaded on the first run, so DuckDB stays out of
 * a serving process until someone asks for a batch.
 */
export const lazyBatchJob: RunBatchJob = async (config, options, deps) => (await import('../../batch-layer/job.ts')).runBatchJob(config, options, deps)

/** Exit status of a run that computed its days but quarantined bad lake files (a warning, not a failure). */
export const EXIT_QUARANTINED = 3

export function register(program: Command): void {
  const cmd = program.command('batch').description('batch job: daily statistics from the data lake with DuckDB (or Apache Spark: --engine spark)')
  BATCH_FLAGS.addTo(cmd)
    .addHelpText(
      'after',
      `
Bad raw files (empty, truncated, not Parquet, corrupt, or with other columns than the lake's) are
moved to <lake>/quarantine/<their path under the lake>, logged in <lake>/quarantine/_log.ndjson,
listed in the summary, and left out; the rest is computed.

--engine spark computes the same statistics with Apache Spark (PySpark ${PYSPARK_VERSION}), driven from this
machine: the first use installs PySpark from PyPI into .stack/spark (~455 MB; python3 with venv and
Java 17+ are installed with apt on Debian or Ubuntu run as root when missing). --spark-master is
passed to Spark as it is (default ${DEFAULT_SPARK_MASTER}); a cluster's executors must read the lake at the
same path.

Exit status: 0 computed (or nothing changed); ${EXIT_QUARANTINED} computed, but bad files were quarantined;
1 failed (nothing published for the days not yet written); 2 bad flag.`,
    )
    .action(
      action(async (_opts: unknown, cmd: Command) => {
        const config = commandConfig(cmd)
        const o = BATCH_FLAGS.parse(cmd)
        const log = stageLogger(commandLogger(config), 'batch')
        const bar = process.stderr.isTTY === true ? progressBar(process.stderr) : undefined
        const spark = o.engine === 'spark' ? await sparkEngine(o.sparkMaster ?? DEFAULT_SPARK_MASTER, (line) => log.info(line)) : undefined
        const { runBatchJob } = await import('../../batch-layer/job.ts')
        const result = await runBatchJob(
          config,
          {
            dates: o.date === undefined ? undefined : [o.date],
            from: o.from,
            to: o.to,
            full: o.full,
            strict: o.strict,
            onProgress: bar?.update,
            ...(spark === undefined ? {} : { spark }),
          },
          { log },
        ).finally(() => bar?.done())
        if (result.dates.length === 0) {
          process.stdout.write('nothing changed since the last run; use --full to recompute\n')
          return 0
        }
        const table = [
          ['days', result.dates.join(', ')],
          [
            'engine',
            result.spark === undefined
              ? 'duckdb'
              : `spark ${result.spark.version} (${spark?.master}, ${result.spark.parallelism} cores, started in ${result.spark.startSeconds.toFixed(1)} s)`,
          ],
          ['patients', String(result.patients)],
          ['readings', String(result.readings)],
          ['statistics rows', String(result.rows)],
          ['seconds', result.seconds.toFixed(2)],
          ...(result.quarantined.length > 0
            ? [['quarantined files', `${result.quarantined.length} (log: ${path.join(quarantineRoot(config.datalakeDir), '_log.ndjson')})`]]
            : []),
        ]
        const width = Math.max(...table.map((r) => (r[0] ?? '').length))
        process.stdout.write(`${table.map(([k, v]) => `${(k ?? '').padEnd(width)}  ${v}`).join('\n')}\n`)
        if (result.quarantined.length === 0) return 0
        const kindWidth = Math.max(...result.quarantined.map((q) => q.kind.length))
        // Paths relative to the lake; a moved file keeps its path under <lake>/quarantine/.
        const lines = result.quarantined.map((q) => `  ${q.kind.padEnd(kindWidth)}  ${path.relative(config.datalakeDir, q.file)}: ${q.detail}`)
        process.stdout.write(
          `quarantined (left out of the statistics; moved under ${quarantineRoot(config.datalakeDir)} unless the line says it was left in place):\n${lines.join('\n')}\n`,
        )
        return EXIT_QUARANTINED
      }),
    )
}

/** The Spark engine: PySpark installed on first use (stack/spark.ts), with the master asked for. */
async function sparkEngine(master: string, log: (line: string) => void): Promise<SparkEngine> {
  const { ensureSpark } = await import('../../stack/spark.ts')
  const runtime = await ensureSpark(log)
  return { python: runtime.python, version: runtime.version, master }
}

/** A one-line progress bar on a TTY: phase, bar, percentage, and what is being worked on. */
function progressBar(out: NodeJS.WriteStream): { update: (p: BatchProgress) => void; done: () => void } {
  const width = 30
  let shown = false
  return {
    update(p) {
      const frac = p.total > 0 ? Math.min(1, p.done / p.total) : 0
      const filled = Math.round(frac * width)
      const line = `${p.phase.padEnd(7)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round(frac * 100)).padStart(3)}% ${p.message ?? ''}`
      out.write(`\r${line.slice(0, (out.columns ?? 80) - 1).padEnd(Math.min(79, (out.columns ?? 80) - 1))}`)
      shown = true
    },
    done() {
      if (shown) out.write('\n')
    },
  }
}
