/**
 * `vigil all`: every long-running layer in one process, one log stream with each line tagged by
 * its stage: the device gateway, the speed layer, the archiver, the serving layer and (unless
 * --no-edge) the simulator. Stages start in data-flow order and stop on Ctrl-C or SIGTERM within
 * 10 s in two waves, each at once (lib/shutdown.ts stopAll): the gateway, the simulator (flushing
 * what it produced) and the serving layer, then the speed layer and the archiver (its open files
 * written, offsets committed). A stage that crashes is reported with its cause and the others
 * are stopped cleanly: no half-alive process (cli/supervisor.ts).
 */
import type { Command } from 'commander'
import { lazyBatchJob } from './batch.ts'
import type { Config } from '../../lib/config.ts'
import { stageLogger, type Logger } from '../../lib/log.ts'
import { createAdmin, ensureTopics } from '../../lib/kafka.ts'
import { onSignal } from '../../lib/shutdown.ts'
import { action, commandConfig, commandLogger, configOption, waitForServices } from '../command.ts'
import { Supervisor, type StageStart } from '../supervisor.ts'
import { SIMULATOR_FLAGS } from './edge.ts'
import type { EdgeOptions } from '../../edge/config.ts'
import { gatewayOptions } from '../../ingestion/config.ts'
import { archiverOptions } from '../../batch-layer/config.ts'
import { topicSpecs } from '../../lib/contract/topics.ts'
import { DEFAULT_SPEED_OPTIONS } from '../../speed-layer/config.ts'
import { servingOptions } from '../../serving/config.ts'

/** The whole shutdown must fit in this, as `vigil all` promises. */
const SHUTDOWN_TIMEOUT_MS = 10_000

export function register(program: Command): void {
  const cmd = program
    .command('all')
    .description('every long-running layer in one process (gateway, speed, archiver, serving, simulator): the demo')
    .addOption(configOption('port'))
    .addOption(configOption('ingestPort'))
    .option('--no-edge', 'do not start the simulator (real devices only)')
  SIMULATOR_FLAGS.addTo(cmd).action(action(runAll))
}

/** The whole command: the stages started, supervised until a signal or a crash; the exit code. */
async function runAll(opts: { edge: boolean }, cmd: Command): Promise<number> {
  // --port and --ingest-port are config flags: commandConfig reads them from the options.
  const config = commandConfig(cmd)
  const edgeOpts = opts.edge === false ? undefined : SIMULATOR_FLAGS.parse(cmd, { progress: false })
  const root = commandLogger(config)
  const log = stageLogger(root, 'all')
  const modules = await loadStages()
  const supervisor = new Supervisor(log, SHUTDOWN_TIMEOUT_MS)
  const dispose = onSignal((signal) => void supervisor.shutdown(`${signal} received`, 0))
  try {
    await waitForServices(config, log, supervisor.signal)
    await createTopics(config, log)
    const early = await supervisor.startInOrder(stageStarts({ config, root, log }, modules, edgeOpts))
    if (early !== undefined) return early
    log.info(`running: ${supervisor.names().join(', ')}; Ctrl-C stops every stage`)
    return await supervisor.supervise()
  } catch (error) {
    // Ctrl-C while waiting for the services or starting a stage is a normal stop.
    const requested = supervisor.requested()
    if (requested !== undefined) return await requested
    await supervisor.shutdown('start failed', 1)
    throw error
  } finally {
    dispose()
  }
}

/** The stages' modules, loaded here, not when the CLI starts: every other command starts faster. */
async function loadStages() {
  const [gateway, speed, archiver, serving, edge] = await Promise.all([
    import('../../ingestion/gateway.ts'),
    import('../../speed-layer/index.ts'),
    import('../../batch-layer/archiver.ts'),
    import('../../serving/index.ts'),
    import('../../edge/index.ts'),
  ])
  return { gateway, speed, archiver, serving, edge }
}

type StageModules = Awaited<ReturnType<typeof loadStages>>

async function createTopics(config: Config, log: Logger): Promise<void> {
  const admin = createAdmin(config)
  try {
    const created = await ensureTopics(admin, topicSpecs(config.topicPrefix))
    if (created.length > 0) log.info(`created topics ${created.join(', ')}`)
  } finally {
    await admin.close()
  }
}

interface Wiring {
  config: Config
  /** The root logger: each stage tags its lines with its own name. */
  root: Logger
  /** The lines of `vigil all` itself. */
  log: Logger
}

/** The stages in data-flow order: gateway, speed layer, archiver, serving layer, then the simulator when asked. */
function stageStarts({ config, root, log }: Wiring, m: StageModules, edgeOpts: EdgeOptions | undefined): StageStart[] {
  const starts: StageStart[] = [
    [
      'ingest',
      async () => {
        const g = await m.gateway.start({ ...config, gateway: gatewayOptions() }, { log: stageLogger(root, 'ingest') })
        return { name: 'ingest', stage: g, stopFirst: true }
      },
    ],
    ['speed', async () => ({ name: 'speed', stage: await m.speed.start({ ...config, speed: DEFAULT_SPEED_OPTIONS }, { log: root }) })],
    [
      'archive',
      async () => {
        const a = await m.archiver.start({ ...config, archiver: archiverOptions() }, { log: stageLogger(root, 'archive') })
        return { name: 'archive', stage: a, ended: a.failed }
      },
    ],
    [
      'serve',
      async () => {
        const s = await m.serving.start({ ...config, serving: servingOptions() }, { log: stageLogger(root, 'serve'), runBatchJob: lazyBatchJob })
        // The demo prints the bootstrap URL with its token, configured or generated, as it always has.
        process.stdout.write(`\n${m.serving.signInHelp(s, true)}\n`)
        return { name: 'serve', stage: s, stopFirst: true }
      },
    ],
  ]
  if (edgeOpts !== undefined) {
    starts.push([
      'edge',
      async () => {
        const e = await m.edge.start({ ...config, edge: edgeOpts }, { log: stageLogger(root, 'edge') })
        const ended = e.done.then((summary) => log.info(`simulator finished:\n${m.edge.formatSummary(summary)}`))
        return { name: 'edge', stage: e, ended, stopFirst: true }
      },
    ])
  }
  return starts
}
