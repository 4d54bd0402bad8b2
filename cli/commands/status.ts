import type { Command } from 'commander'
import { consumerGroups, topicNames } from '../../lib/contract/topics.ts'
import { withTimeout } from '../../lib/backoff.ts'
import type { Config } from '../../lib/config.ts'
import { describeError } from '../../lib/errors.ts'
import { createAdmin, kafkaAnswers, kafkaUnreachable } from '../../lib/kafka.ts'
import { committedLag, worstPartition, type GroupLag } from '../../lib/lag.ts'
import { action, commandConfig } from '../command.ts'

/** How long the lag query may take once the broker has answered a probe. */
const QUERY_TIMEOUT_MS = 10_000

/** The lag of the groups that read one topic. */
export interface TopicStatus {
  topic: string
  /** False before `vigil init` or the first layer creates the topic: there is no lag to report. */
  exists: boolean
  groups: GroupLag[]
}

/** `vitals.readings` (speed layer and archiver) at the top level, and `vitals.events` (the archiver's events consumer). */
export interface StatusReport extends TopicStatus {
  events: TopicStatus
}

const NOTE = 'lag = end (high watermark) - committed offset of the group; "-": nothing committed there, counted from the log start offset'

/** The text of one topic: per group, one row per partition and a total line. */
function formatTopic(r: TopicStatus): string[] {
  if (!r.exists) return [`topic ${r.topic} does not exist yet: \`vigil init\` or the first layer to start creates it`]
  const cols = (...cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(12) : c.padStart(12))).join('')
  const out: string[] = [`topic ${r.topic}, ${r.groups[0]?.partitions.length ?? 0} partitions`]
  for (const g of r.groups) {
    const worst = worstPartition(g)
    out.push('', `group ${g.group}`, `  ${cols('partition', 'end', 'committed', 'lag')}`)
    for (const p of g.partitions) out.push(`  ${cols(String(p.partition), String(p.end), p.committed === null ? '-' : String(p.committed), String(p.lag))}`)
    out.push(`  ${cols('total', '', '', String(g.total))}${worst === undefined ? '' : `   (furthest behind: partition ${worst.partition}, ${worst.lag})`}`)
  }
  return out
}

/** The text table: the readings topic's groups, then the events topic's. */
export function formatStatus(r: StatusReport): string {
  return `${[...formatTopic(r), '', ...formatTopic(r.events), '', NOTE].join('\n')}\n`
}

/** The committed-offset lag of every Vigil consumer group: on the readings topic, and the archiver's on the events topic. */
export async function readStatus(config: Pick<Config, 'kafkaBrokers' | 'topicPrefix'>): Promise<StatusReport> {
  const topics = topicNames(config.topicPrefix)
  const groups = consumerGroups(config.topicPrefix)
  const admin = createAdmin(config, 'vigil-status')
  try {
    const [readings, events] = await withTimeout(
      Promise.all([
        committedLag(admin, { groups: [groups.speed, groups.archiver], topic: topics.readings }),
        committedLag(admin, { groups: [groups.eventArchiver], topic: topics.events }),
      ]),
      QUERY_TIMEOUT_MS,
      `Kafka did not answer within ${QUERY_TIMEOUT_MS / 1000} s`,
    )
    return {
      topic: topics.readings,
      exists: readings !== null,
      groups: readings ?? [],
      events: { topic: topics.events, exists: events !== null, groups: events ?? [] },
    }
  } finally {
    await admin.close().catch(() => undefined)
  }
}

export function register(program: Command): void {
  program
    .command('status')
    .description(
      'consumer lag of each Vigil group, per partition: end offset, committed offset, lag; on the readings topic, then the events topic (exit 3 when Kafka does not answer)',
    )
    .option(
      '--json',
      'print the report as JSON: {topic, exists, groups: [{group, topic, total, partitions: [{partition, start, end, committed, lag}]}], events: {topic, exists, groups}}',
      false,
    )
    .action(
      action(async (opts: { json: boolean }, c: Command) => {
        const config = commandConfig(c)
        // A short probe first: a client aimed at a dead broker would retry for much longer.
        if (!(await kafkaAnswers(config))) {
          process.stderr.write(`vigil status: ${kafkaUnreachable(config).message}\n`)
          return 3
        }
        let report: StatusReport
        try {
          report = await readStatus(config)
        } catch (error) {
          process.stderr.write(
            `vigil status: Kafka at ${config.kafkaBrokers.join(',')} answered but did not report the group offsets (${describeError(error)}); check it with \`npx vigil stack status\` and run this again.\n`,
          )
          return 3
        }
        process.stdout.write(opts.json ? `${JSON.stringify(report)}\n` : formatStatus(report))
        return 0
      }),
    )
}
