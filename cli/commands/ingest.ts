import type { Command } from 'commander'
import { kebabFlag, parseOptions } from '../../lib/config.ts'
import { runUntilSignal } from '../../lib/shutdown.ts'
import { stageLogger } from '../../lib/log.ts'
import { action, commandConfig, commandLogger } from '../command.ts'
import { kafkaUnreachable } from '../../lib/kafka.ts'
import { gatewayOptionsSchema } from '../../ingestion/config.ts'

export function register(program: Command): void {
  program
    .command('ingest')
    .description('HTTP gateway for devices: JSON, NDJSON and FHIR R4 Observation/Bundle into Kafka')
    .option('--port <port>', 'TCP port (default: 8080, env VIGIL_INGEST_PORT)')
    .option('--host <address>', 'interface to listen on', '0.0.0.0')
    .option('--body-limit-bytes <n>', 'largest request body, in bytes', String(4 * 1024 * 1024))
    .option('--max-batch-records <n>', 'largest produce request, in records (shared by concurrent requests)', '10000')
    .option('--max-buffered-records <n>', 'records waiting for Kafka before requests wait too', '100000')
    .option('--retry-after-s <s>', 'Retry-After sent with 503 while the broker is unreachable, in seconds', '5')
    .addHelpText('after', '\nDevice tokens: VIGIL_DEVICE_TOKENS (comma-separated). When unset, one is generated at start and printed.')
    .action(
      action(async (opts: Record<string, unknown>, cmd: Command) => {
        const { port, ...flags } = opts
        const config = commandConfig(cmd, port === undefined ? {} : { ingestPort: port })
        const options = parseOptions(gatewayOptionsSchema, flags, kebabFlag)
        const root = commandLogger(config)
        const log = stageLogger(root, 'ingest')
        const { startGateway } = await import('../../ingestion/gateway.ts')
        const gateway = await startGateway(config, options, { log })
        // The gateway listens without Kafka (devices get 503 and retry); say what to do about it.
        if (gateway.producer.unreachable) log.warn(`${kafkaUnreachable(config).message} Devices get 503 until it answers; retrying.`)
        if (gateway.generatedToken) process.stdout.write(`device token: ${gateway.deviceTokens[0]}\n`)
        return runUntilSignal([{ name: 'ingest', stage: gateway }], { log })
      }),
    )
}
