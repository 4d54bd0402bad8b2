import { writeFile } from 'node:fs/promises'
import type { Command } from 'commander'
import { VigilError } from '../../lib/errors.ts'
import { BENCH_STAGES, type BenchStage } from '../../bench/stages.ts'
import { action, commandConfig, commandLogger, servicesUp } from '../command.ts'
import { stageLogger } from '../../lib/log.ts'

function stagesOf(list: string | undefined): BenchStage[] | undefined {
  if (list === undefined) return undefined
  const names = list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
  const unknown = names.filter((n) => !(BENCH_STAGES as readonly string[]).includes(n))
  if (unknown.length > 0 || names.length === 0) {
    throw new VigilError(
      'INPUT_INVALID',
      `--only ${list}: ${unknown.join(', ') || 'nothing'} is not a benchmark; use a comma-separated list of ${BENCH_STAGES.join(', ')}.`,
    )
  }
  return names as BenchStage[]
}

export function register(program: Command): void {
  program
    .command('bench')
    .description('run the benchmarks and print one table (and JSON with --out)')
    .option('--out <file.json>', 'write the results as JSON')
    .option('--only <stages>', `comma-separated stages to run (default: all of ${BENCH_STAGES.join(',')})`)
    .option('--quick', 'shorter runs: a smoke test more than a measurement')
    .action(
      action(async (opts: { out?: string; only?: string; quick?: boolean }, cmd: Command) => {
        const only = stagesOf(opts.only)
        const config = commandConfig(cmd)
        const log = stageLogger(commandLogger(config), 'bench')
        if (!(await servicesUp(config, log, { kafka: true, redis: true }))) return 0
        const { formatBench, runBench } = await import('../../bench/index.ts')
        const report = await runBench({ config, only, quick: opts.quick === true, progress: (line) => process.stderr.write(`bench: ${line}\n`) })
        process.stdout.write(formatBench(report))
        if (opts.out !== undefined) {
          await writeFile(opts.out, `${JSON.stringify(report, null, 2)}\n`)
          process.stdout.write(`results written to ${opts.out}\n`)
        }
        return Object.keys(report.errors).length > 0 ? 1 : 0
      }),
    )
}
