/**
 * `vigil all`: every long-running layer in one process, one log stream with each line tagged by
 * its stage: the device gateway, the speed layer, the archiver, the serving layer and (unless
 * --no-edge) the simulator. Stages start in data-flow order and stop in reverse on Ctrl-C or
 * SIGTERM, within 10 s: the simulator stops producing first, the archiver flushes its open
 * files, offsets are committed. A stage that crashes is reported with its cause and the others
 * are stopped cleanly: no half-alive process.
 */
import type { Command } from 'commander'
import { lazyBatchJob } from './batch.ts'
import { VigilError, describeError } from '../../lib/errors.ts'
import { stageLogger } from '../../lib/log.ts'
import { createAdmin, ensureTopics } from '../../lib/kafka.ts'
import { onSignal, stopAll, stopAllWithin, type Stoppable } from '../../lib/shutdown.ts'
import { action, commandConfig, commandLogger, configOption, waitForServices } from '../command.ts'
import { SIMULATOR_FLAGS } from './edge.ts'
import { gatewayOptions } from '../../ingestion/config.ts'
import { topicSpecs } from '../../lib/contract/topics.ts'
import { DEFAULT_SPEED_OPTIONS } from '../../speed-layer/config.ts'
import { servingOptions } from '../../serving/config.ts'

/** The whole shutdown must fit in this, as `vigil all` promises. */
const SHUTDOWN_TIMEOUT_MS = 10_000

interface Running {
  name: string
  stage: Stoppable
  /** Settles when the stage ends on its own; rejects when it crashed. */
  ended?: Promise<unknown>
}

export function register(program: Command): void {
  const cmd = program
    .command('all')
    .description('every long-running layer in one process (gateway, speed, archiver, serving, simulator): the demo')
    .addOption(configOption('port'))
    .addOption(configOption('ingestPort'))
    .option('--no-edge', 'do not start the simulator (real devices only)')
  SIMULATOR_FLAGS.addTo(cmd).action(
    action(async (opts: { edge: boolean }, cmd: Command) => {
      // --port and --ingest-port are config flags: commandConfig reads them from the options.
      const config = commandConfig(cmd)
      const edgeOpts = opts.edge === false ? undefined : SIMULATOR_FLAGS.parse(cmd, { progress: false })
      const root = commandLogger(config)
      const log = stageLogger(root, 'all')

      // The stages are loaded here, not when the CLI starts: every other command starts faster.
      const [{ startGateway }, { start: startSpeed }, { startArchiver }, { start: startServing }, { formatSummary, start: startEdge }] = await Promise.all([
        import('../../ingestion/gateway.ts'),
        import('../../speed-layer/index.ts'),
        import('../../batch-layer/archiver.ts'),
        import('../../serving/index.ts'),
        import('../../edge/index.ts'),
      ])
      const aborter = new AbortController()
      const running: Running[] = []
      let stopping: Promise<number> | undefined
      const shutdown = (reason: string, code: number): Promise<number> => {
        stopping ??= (async () => {
          aborter.abort()
          log.info(
            `${reason}: stopping ${
              running
                .map((r) => r.name)
                .reverse()
                .join(', ') || 'nothing'
            }`,
          )
          return (await stopAllWithin(running, log, SHUTDOWN_TIMEOUT_MS)) ? code : 1
        })()
        return stopping
      }
      const dispose = onSignal((signal) => void shutdown(`${signal} received`, 0))

      try {
        await waitForServices(config, log, aborter.signal)
        const admin = createAdmin(config)
        try {
          const created = await ensureTopics(admin, topicSpecs(config.topicPrefix))
          if (created.length > 0) log.info(`created topics ${created.join(', ')}`)
        } finally {
          await admin.close()
        }
        const starts: Array<[string, () => Promise<Running>]> = [
          [
            'ingest',
            async () => {
              const g = await startGateway(config, gatewayOptions(), { log: stageLogger(root, 'ingest') })
              if (g.generatedToken) log.info(`device gateway: ${g.url} (device token for this run: ${g.deviceTokens[0]})`)
              return { name: 'ingest', stage: g }
            },
          ],
          ['speed', async () => ({ name: 'speed', stage: await startSpeed({ ...config, speed: DEFAULT_SPEED_OPTIONS }, { log: root }) })],
          [
            'archive',
            async () => {
              const a = await startArchiver(config, { log: stageLogger(root, 'archive') })
              return { name: 'archive', stage: a, ended: a.failed }
            },
          ],
          [
            'serve',
            async () => {
              const s = await startServing(config, { log: stageLogger(root, 'serve'), options: servingOptions(), runBatchJob: lazyBatchJob })
              process.stdout.write(`\nDashboard: ${s.loginUrl}\n${s.tokenGenerated ? '(VIGIL_TOKEN is unset: this token was generated for this run)\n' : ''}\n`)
              return { name: 'serve', stage: s }
            },
          ],
        ]
        if (edgeOpts !== undefined) {
          starts.push([
            'edge',
            async () => {
              const e = await startEdge({ ...config, edge: edgeOpts }, { log: stageLogger(root, 'edge') })
              const ended = e.done.then((summary) => log.info(`simulator finished:\n${formatSummary(summary)}`))
              return { name: 'edge', stage: e, ended }
            },
          ])
        }
        for (const [name, startStage] of starts) {
          if (aborter.signal.aborted) break
          let started: Running
          try {
            started = await startStage()
          } catch (error) {
            throw new VigilError('STAGE_FAILED', `${name} could not start: ${describeError(error)}`, { cause: error })
          }
          running.push(started)
          // A signal that came while this stage was starting stopped only the stages before it
          // (and the abort has fired already, so nothing below would ever see it).
          if (stopping !== undefined) {
            const clean = await stopAll([started], log)
            const code = await stopping
            return clean ? code : 1
          }
        }
        log.info(`running: ${running.map((r) => r.name).join(', ')}; Ctrl-C stops every stage`)

        // Whichever comes first: a signal, or a stage crashing (a simulator that finished is fine).
        const crashed = new Promise<number>((resolve) => {
          for (const r of running) {
            r.ended?.catch((error: unknown) => {
              log.error(`${r.name} crashed: ${describeError(error)}`)
              resolve(shutdown(`${r.name} crashed`, 1))
            })
          }
        })
        const signalled = new Promise<number>((resolve) => {
          // `shutdown` aborts before `stopping` is assigned: look it up a microtask later.
          aborter.signal.addEventListener('abort', () => queueMicrotask(() => void stopping?.then(resolve)))
        })
        return await Promise.race([crashed, signalled])
      } catch (error) {
        // Ctrl-C while waiting for the services or starting a stage is a normal stop.
        if (stopping !== undefined) return await stopping
        await shutdown('start failed', 1)
        throw error
      } finally {
        dispose()
      }
    }),
  )
}
