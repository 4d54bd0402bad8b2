/**
 * Options of the device gateway (`vigil ingest`), each default written once with its unit.
 * The port and the device tokens are in the global config (VIGIL_INGEST_PORT, VIGIL_DEVICE_TOKENS).
 * Each flag's help is the field's `.describe()` and `.meta()` (cli/options.ts makes the flags).
 */
import { z } from 'zod'

export const gatewayOptionsSchema = z.object({
  /** Interface to listen on. @defaultValue 0.0.0.0: devices are on the network; every request but /healthz needs a token */
  host: z.string().min(1).default('0.0.0.0').describe('interface to listen on').meta({ arg: 'address' }),
  /** TCP port, overriding VIGIL_INGEST_PORT; 0 picks a free one (tests). */
  port: z.coerce.number().int().min(0).max(65535).optional(),
  /** Largest request body, in bytes. @defaultValue 4 MiB: an NDJSON batch of 10 000 readings is about 1.7 MB */
  bodyLimitBytes: z.coerce
    .number()
    .int()
    .positive()
    .default(4 * 1024 * 1024)
    .describe('largest request body')
    .meta({ unit: 'bytes' }),
  /** Largest produce request, in records; concurrent HTTP requests share produce requests up to this size. @defaultValue 10 000 */
  maxBatchRecords: z.coerce
    .number()
    .int()
    .positive()
    .default(10_000)
    .describe('largest produce request (shared by concurrent requests)')
    .meta({ unit: 'records' }),
  /** Records waiting for Kafka before new requests wait too. @defaultValue 100 000 */
  maxBufferedRecords: z.coerce
    .number()
    .int()
    .positive()
    .default(100_000)
    .describe('records waiting for Kafka before requests wait too')
    .meta({ unit: 'records' }),
  /** Seconds a device is told to wait (Retry-After) while the broker is unreachable. @defaultValue 5 s */
  retryAfterS: z.coerce.number().int().positive().default(5).describe('Retry-After sent with 503 while the broker is unreachable').meta({ unit: 's' }),
  /**
   * A registered device's reading timed further ahead of the gateway's clock is refused (403, `clock`).
   * @defaultValue 300 000 ms: five minutes, the speed layer's maxClockSkewMs, so that what the gateway
   * takes is not then set aside as FUTURE_TS (the broker stamps a record after the gateway checked it)
   */
  maxClockAheadMs: z.coerce
    .number()
    .int()
    .nonnegative()
    .default(5 * 60_000)
    .describe("how far ahead of the gateway's clock a device's reading may be timed")
    .meta({ unit: 'ms' }),
  /**
   * How long after a device's assignment ended it may still send readings for that patient (timed
   * within the assignment): the buffer it uploads after the handover. Later, 403 `not-assigned`.
   * @defaultValue 86 400 000 ms: 24 hours, a device off the network for a day still delivers its buffer
   */
  reassignedUploadGraceMs: z.coerce
    .number()
    .int()
    .nonnegative()
    .default(24 * 3_600_000)
    .describe("how long after a reassignment a device may still upload its previous patient's readings")
    .meta({ unit: 'ms' }),
})

export type GatewayOptions = Readonly<z.infer<typeof gatewayOptionsSchema>>
export type GatewayOptionsInput = z.input<typeof gatewayOptionsSchema>

export function gatewayOptions(input: GatewayOptionsInput = {}): GatewayOptions {
  return Object.freeze(gatewayOptionsSchema.parse(input))
}
