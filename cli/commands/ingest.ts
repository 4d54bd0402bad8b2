import type { Command } from 'commander'
import { runUntilSignal } from '../../lib/shutdown.ts'
import { stageLogger } from '../../lib/log.ts'
import { action, commandConfig, commandLogger, configOption } from '../command.ts'
import { schemaFlags } from '../options.ts'
import { kafkaUnreachable } from '../../lib/kafka.ts'
import { gatewayOptionsSchema } from '../../ingestion/config.ts'

/** The gateway's flags; its port is the config's (`--port` here sets VIGIL_INGEST_PORT's value). */
const GATEWAY_FLAGS = schemaFlags(gatewayOptionsSchema, [
  'host',
  'bodyLimitBytes',
  'maxBatchRecords',
  'maxBufferedRecords',
  'retryAfterS',
  'maxClockAheadMs',
  'reassignedUploadGraceMs',
])

export function register(program: Command): void {
  const cmd = program
    .command('ingest')
    .description('HTTP gateway for devices: JSON, NDJSON and FHIR R4 Observation/Bundle into Kafka')
    .addOption(configOption('ingestPort', '--port <port>'))
  GATEWAY_FLAGS.addTo(cmd)
    .addHelpText(
      'after',
      '\nDevices: each registered with `vigil device add` sends its own credential and only its readings, for the patient it is assigned to (docs/SECURITY.md).\nDevelopment mode: VIGIL_DEVICE_TOKENS (comma-separated) are accepted too, for any device and patient. No token is generated.',
    )
    .action(
      action(async (opts: { port?: string }, cmd: Command) => {
        const config = commandConfig(cmd, opts.port === undefined ? {} : { ingestPort: opts.port })
        const options = GATEWAY_FLAGS.parse(cmd)
        const root = commandLogger(config)
        const log = stageLogger(root, 'ingest')
        const { start } = await import('../../ingestion/gateway.ts')
        const gateway = await start({ ...config, gateway: options }, { log })
        // The gateway listens without Kafka (devices get 503 and retry); say what to do about it.
        if (gateway.producer.unreachable) log.warn(`${kafkaUnreachable(config).message} Devices get 503 until it answers; retrying.`)
        return runUntilSignal([{ name: 'ingest', stage: gateway }], { log })
      }),
    )
}
