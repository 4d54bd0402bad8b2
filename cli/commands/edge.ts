import type { Command } from 'commander'
import { onSignal } from '../../lib/shutdown.ts'
import { stageLogger } from '../../lib/log.ts'
import { action, commandConfig, commandLogger } from '../command.ts'
import { edgeOptionsSchema } from '../../edge/config.ts'
import { schemaFlags } from '../options.ts'

/** Every edge option is a flag of `vigil edge`, in this order. */
export const EDGE_FLAGS = schemaFlags(edgeOptionsSchema, [
  'patients',
  'rate',
  'speedup',
  'duration',
  'count',
  'seed',
  'start',
  'faults',
  'via',
  'gatewayUrl',
  'httpBatch',
  'httpLanes',
  'replay',
  'loop',
  'realtime',
  'columns',
  'timezone',
  'label',
  'labelKind',
  'episodes',
  'progress',
])

/** The simulator's flags `vigil all` offers too: the same help and defaults as `vigil edge`'s. */
export const SIMULATOR_FLAGS = schemaFlags(edgeOptionsSchema, ['patients', 'speedup', 'rate', 'faults', 'seed'])

export function register(program: Command): void {
  const cmd = program.command('edge').description('simulated wearables and bedside devices, or a CSV replay, publishing readings')
  EDGE_FLAGS.addTo(cmd)
    .option('--json', 'print the summary as JSON', false)
    .action(
      action(async ({ json }: { json: boolean }, cmd: Command) => {
        const config = commandConfig(cmd)
        const edge = EDGE_FLAGS.parse(cmd)
        const { formatSummary, start } = await import('../../edge/index.ts')
        const log = stageLogger(commandLogger(config), 'edge')
        const showProgress = edge.progress ?? process.stderr.isTTY === true
        const run = await start({ ...config, edge }, { log, progress: showProgress ? process.stderr : undefined })
        const dispose = onSignal(() => void run.stop())
        try {
          const summary = await run.done
          process.stdout.write(json === true ? `${JSON.stringify(summary)}\n` : formatSummary(summary))
          return summary.unacknowledged > 0 ? 1 : 0
        } finally {
          dispose()
        }
      }),
    )
}
