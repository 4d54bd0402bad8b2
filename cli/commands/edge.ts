import type { Command } from 'commander'
import { parseOptions, kebabFlag } from '../../lib/config.ts'
import { onSignal } from '../../lib/shutdown.ts'
import { stageLogger } from '../../lib/log.ts'
import { action, commandConfig, commandLogger } from '../command.ts'
import { edgeOptionsSchema, formatSummary, start } from '../../edge/index.ts'

export function register(program: Command): void {
  program
    .command('edge')
    .description('simulated wearables and bedside devices, or a CSV replay, publishing readings')
    .option('--patients <n>', 'number of simulated patients (p-0001..., personas in a cycle)', '20')
    .option('--rate <readings/s|max>', 'total readings per second, paced precisely; "max": as fast as the broker takes them (default: the devices\' own cadences)')
    .option('--speedup <factor>', 'physiology runs this many times faster than the wall clock, without --rate (60: an hour a minute); readings are stamped with the wall-clock time they leave', '1')
    .option('--duration <s>', 'stop after this many seconds (default: run until stopped)')
    .option('--count <n>', 'stop after exactly this many records (default: run until stopped)')
    .option('--seed <n>', 'random seed, 0-4294967295: same seed and --start, same bytes (default: random, printed)')
    .option('--start <time>', 'event time of the first instant, ISO 8601 or epoch ms (default: now)')
    .option('--faults <rate>', 'fraction of readings (0-1) turned into injected sensor faults', '0')
    .option('--via <kafka|http>', 'send straight to Kafka or through the gateway', 'kafka')
    .option('--gateway-url <url>', 'gateway base URL for --via http (default: http://127.0.0.1:<VIGIL_INGEST_PORT>); token: first of VIGIL_DEVICE_TOKENS')
    .option('--http-batch <n>', 'readings per NDJSON request with --via http', '500')
    .option('--http-lanes <n>', 'parallel requests with --via http (each owns a share of the patients)', '4')
    .option('--replay <file.csv>', 'stream readings from a CSV file instead of simulating')
    .option('--loop', 'with --replay: start again at the end, shifting time forward', false)
    .option('--realtime', 'with --replay: keep the file\'s own timing (divided by --speedup)', false)
    .option('--columns <field=column,...>', 'with --replay: explicit column mapping (fields: patientId, deviceId, ts, seq, heartRate, spo2, glucose, systolic, diastolic, respRate, temperature)')
    .option('--timezone <tz>', 'with --replay: IANA zone of timestamps without an offset', 'UTC')
    .option('--no-progress', 'no progress line (default: shown when stderr is a TTY)')
    .option('--json', 'print the summary as JSON', false)
    .action(
      action(async (opts: Record<string, unknown>, cmd: Command) => {
        const config = commandConfig(cmd)
        const { json, progress, ...flags } = opts
        const edge = parseOptions(edgeOptionsSchema, { ...flags, progress: progress === false ? false : undefined }, kebabFlag)
        const log = stageLogger(commandLogger(config), 'edge')
        const showProgress = edge.progress ?? process.stderr.isTTY === true
        const run = await start({ ...config, edge }, { log, progress: showProgress ? process.stderr : undefined })
        const dispose = onSignal(() => void run.stop())
        try {
          const summary = await run.done
          process.stdout.write(json === true ? JSON.stringify(summary) + '\n' : formatSummary(summary))
          return summary.unacknowledged > 0 ? 1 : 0
        } finally {
          dispose()
        }
      }),
    )
}
