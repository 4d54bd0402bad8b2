import type { Command } from 'commander'
import { notImplemented } from '../command.ts'

export function register(program: Command): void {
  program
    .command('edge')
    .description('simulated wearables and bedside devices, or a CSV replay, publishing readings')
    .option('--patients <n>', 'number of simulated patients', '20')
    .option('--rate <readings/s>', 'total readings per second (omit for the devices\' own cadences)')
    .option('--duration <s>', 'stop after this many seconds')
    .option('--count <n>', 'stop after this many readings')
    .option('--seed <n>', 'random seed: the same seed gives the same readings')
    .option('--faults <rate>', 'fraction of readings (0-1) replaced by injected sensor faults', '0')
    .option('--via <kafka|http>', 'send straight to Kafka or through the gateway', 'kafka')
    .option('--replay <file.csv>', 'stream readings from a CSV file instead of simulating')
    .action(notImplemented('edge'))
}
