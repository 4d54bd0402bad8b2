/**
 * Creating the identity topics (`vitals.registry`, `vitals.audit`, with their own topic configs:
 * lib/contract/topics.ts) and writing to them: one idempotent producer with acks=all, whose one
 * `send` carries a registry record and the audit events that explain it.
 */
import { Producer, stringSerializers } from '@platformatic/kafka'
import type { Config } from '../config.ts'
import type { IdentityTopicSpec } from '../contract/topics.ts'
import { describeError } from '../errors.ts'
import { createAdmin, ensureTopics, kafkaBaseOptions, kafkaUnreachable } from '../kafka.ts'
import type { Logger } from '../log.ts'

/**
 * Creates the topics that do not exist yet, with their configs (`ensureTopics` in lib/kafka.ts,
 * on an admin client of its own). An existing topic is left as it is.
 */
export async function ensureIdentityTopics(config: Pick<Config, 'kafkaBrokers'>, specs: readonly IdentityTopicSpec[], clientId: string): Promise<void> {
  const admin = createAdmin(config, `${clientId}-admin`)
  try {
    await ensureTopics(admin, specs)
  } catch (error) {
    throw kafkaUnreachable(config, error)
  } finally {
    await admin.close().catch(() => undefined)
  }
}

export interface IdentityMessage {
  topic: string
  key: string
  value: string
}

/**
 * The writer of the identity topics. One send at a time: concurrent sends on one idempotent
 * producer were measured to lose records (bench/audit-scan.ts: of 1,000 audit events recorded at
 * once, every call resolved and one record reached the topic: platformatic/kafka issue 326,
 * reported on its 2.1), so sends wait for the one before.
 */
export class IdentityWriter {
  readonly #config: Pick<Config, 'kafkaBrokers'>
  readonly #clientId: string
  readonly #log: Logger | undefined
  #producer: Producer<string, string, string, string>
  /** The send in flight (settled or not): the next one starts after it. */
  #tail: Promise<unknown> = Promise.resolve()

  constructor(config: Pick<Config, 'kafkaBrokers'>, clientId: string, log?: Logger) {
    this.#config = config
    this.#clientId = clientId
    this.#log = log
    this.#producer = this.#newProducer()
  }

  #newProducer(): Producer<string, string, string, string> {
    const producer = new Producer<string, string, string, string>({
      ...kafkaBaseOptions(this.#config, this.#clientId),
      idempotent: true,
      acks: -1,
      serializers: stringSerializers,
    })
    producer.on('error', (error: unknown) => this.#log?.debug({ err: describeError(error) }, 'kafka producer error'))
    return producer
  }

  /**
   * Writes the messages in one produce call and resolves, once every one is acknowledged by all
   * in-sync replicas, with the offset of each topic's first message (the topics have one partition).
   * Rejects with KAFKA_UNREACHABLE when Kafka does not acknowledge.
   */
  send(messages: readonly IdentityMessage[]): Promise<Map<string, bigint>> {
    const sent = this.#tail.then(() => this.#sendNow(messages))
    this.#tail = sent.catch(() => undefined)
    return sent
  }

  async #sendNow(messages: readonly IdentityMessage[]): Promise<Map<string, bigint>> {
    try {
      const result = await this.#producer.send({ messages: messages.map((m) => ({ topic: m.topic, key: m.key, value: m.value, partition: 0 })) })
      return new Map((result.offsets ?? []).map((o) => [o.topic, o.offset]))
    } catch (error) {
      // A new producer id: the failed call may have been written, and its sequence numbers must
      // not be reused for other records (the reason lib/producer.ts replaces its producer too).
      const old = this.#producer
      this.#producer = this.#newProducer()
      void old.close().catch(() => undefined)
      throw kafkaUnreachable(this.#config, error)
    }
  }

  async close(): Promise<void> {
    await this.#tail
    await this.#producer.close().catch(() => undefined)
  }
}
