/**
 * The `vigil` command line (docs/CONTRACT.md, Commands). Each command lives in `cli/commands/<name>.ts`
 * and only wires a stage's `start(config, deps)` to flags; the stages hold the logic.
 */
import { Command, CommanderError } from 'commander'
import { addGlobalOptions } from './command.ts'
import { registerCommands } from './commands/index.ts'

const program = new Command('vigil')
  .description('Real-time patient vital-sign monitoring: Kafka -> speed layer -> Redis, Parquet lake + DuckDB, live dashboard.')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .configureHelp({ showGlobalOptions: true })
  .exitOverride()

addGlobalOptions(program)
registerCommands(program)

try {
  await program.parseAsync(process.argv)
} catch (error) {
  if (error instanceof CommanderError) {
    // commander has printed its message already; help and version exit 0, usage errors 2.
    process.exitCode = error.exitCode === 0 ? 0 : 2
  } else {
    throw error
  }
}
