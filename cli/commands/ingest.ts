import type { Command } from 'commander'
import { notImplemented } from '../command.ts'

export function register(program: Command): void {
  program
    .command('ingest')
    .description('HTTP gateway for devices: JSON, NDJSON and FHIR R4 Observation/Bundle into Kafka')
    .option('--port <port>', 'TCP port (default: 8080, env VIGIL_INGEST_PORT)')
    .action(notImplemented('ingest'))
}
