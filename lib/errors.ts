/**
 * The one error catalogue of Vigil. Every error that reaches a user carries a code from this
 * closed union and a message that is one sentence naming the fix; `cause` keeps the original.
 */
export type VigilErrorCode =
  | 'CONFIG_INVALID'
  | 'USAGE'
  | 'KAFKA_UNREACHABLE'
  | 'REDIS_UNREACHABLE'
  | 'STACK_JAVA_MISSING'
  | 'STACK_MAVEN_MISSING'
  | 'STACK_REDIS_MISSING'
  | 'STACK_CHROMIUM_MISSING'
  | 'STACK_PYTHON_MISSING'
  | 'STACK_FETCH_FAILED'
  | 'STACK_START_FAILED'
  | 'STACK_NOT_LOCAL'
  | 'STACK_PORT_BUSY'
  | 'INPUT_INVALID'
  /** What was asked for does not exist (a device or user unknown to the identity registry). */
  | 'NOT_FOUND'
  /** The request clashes with what exists (a device or user already registered, a revoked device assigned). */
  | 'CONFLICT'
  | 'STAGE_FAILED'

/** Exit codes by error code: 2 for usage (a bad flag or configuration), 1 for everything else. */
const USAGE_CODES: ReadonlySet<VigilErrorCode> = new Set(['CONFIG_INVALID', 'USAGE'])

export class VigilError extends Error {
  override readonly name = 'VigilError'
  readonly code: VigilErrorCode

  constructor(code: VigilErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, { cause: options.cause })
    this.code = code
  }

  get exitCode(): number {
    return USAGE_CODES.has(this.code) ? 2 : 1
  }
}

export function isVigilError(error: unknown): error is VigilError {
  return error instanceof VigilError
}

/** The message of any thrown value, for logs and `cause` chains. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause === undefined ? '' : ` (cause: ${describeError(error.cause)})`
    return `${error.message}${cause}`
  }
  return String(error)
}
