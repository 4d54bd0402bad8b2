/**
 * Logging (pino). Structured JSON lines when stdout is not a TTY (for collectors), readable
 * coloured lines on a TTY. Every line carries the stage that wrote it. Hot paths log nothing per
 * message: stages print a periodic status line instead.
 */
import { pino, type Logger } from 'pino'
import pretty from 'pino-pretty'
import type { LogLevel } from './config.ts'

export type { Logger } from 'pino'

export interface LoggerOptions {
  level: LogLevel
  /** Force pretty (true) or JSON (false) output; defaults to pretty on a TTY. */
  pretty?: boolean
  destination?: NodeJS.WritableStream
}

export function createLogger(options: LoggerOptions): Logger {
  const destination = options.destination ?? process.stdout
  const usePretty = options.pretty ?? (destination as NodeJS.WriteStream).isTTY === true
  if (usePretty) {
    const stream = pretty({
      colorize: true,
      sync: true,
      destination: destination as NodeJS.WritableStream & { fd?: number },
      translateTime: 'HH:MM:ss.l',
      ignore: 'pid,hostname,stage',
      messageFormat: '{if stage}[{stage}] {end}{msg}',
    })
    return pino({ level: options.level, base: undefined }, stream)
  }
  return pino({ level: options.level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, destination)
}

/** A child logger whose lines are tagged with the stage (`speed`, `archive`, ...). */
export function stageLogger(root: Logger, stage: string): Logger {
  return root.child({ stage })
}
