import { type Command, InvalidArgumentError, Option } from 'commander'
import { action, commandConfig } from '../command.ts'
import * as stack from '../../stack/index.ts'
import { CONTROLLER_MODES, type ControllerMode } from '../../stack/kafka-cluster.ts'
import { REDIS_CLUSTER_PORTS, upRedisCluster, type RedisClusterUp } from '../../stack/redis-cluster.ts'

const say = (line: string) => process.stderr.write(`vigil stack: ${line}\n`)

function describe(s: stack.ServiceStatus): string {
  if (!s.up) return 'down'
  switch (s.owner) {
    case 'native':
      return `up, started by vigil (native, pid ${s.pid})`
    case 'docker':
      return 'up, started by vigil (docker compose)'
    default:
      return 'up, not started by vigil (left alone by `vigil stack down`)'
  }
}

function table(rows: stack.ServiceStatus[]): string {
  const width = Math.max(16, ...rows.map((s) => s.address.length))
  return `${rows.map((s) => `${s.service.padEnd(6)} ${s.address.padEnd(width)} ${describe(s)}`).join('\n')}\n`
}

/** `--kafka-nodes`: a whole number of brokers, 1 or more. */
function kafkaNodes(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of brokers, 1 or more.')
  return n
}

/** The line that tells the user how to point every layer at all of a cluster's brokers. */
function bootstrapHint(results: stack.UpResult[]): string {
  const brokers = results.filter((r) => r.service === 'kafka' && !r.address.endsWith('(controller)')).map((r) => r.address)
  return brokers.length > 1 ? `every layer takes all the brokers: export VIGIL_KAFKA_BROKERS=${brokers.join(',')}\n` : ''
}

/** `--redis-cluster`'s nodes as rows of the table `up` prints. */
function redisClusterResults(cluster: RedisClusterUp | undefined): stack.UpResult[] {
  return (cluster?.nodes ?? []).map((n) => ({
    service: 'redis',
    address: `127.0.0.1:${n.port} (cluster ${n.role ?? 'node'})`,
    up: n.up,
    ...(n.pid === undefined ? { owner: 'external' } : { owner: 'native', pid: n.pid }),
    action: cluster?.action ?? 'reused',
    ms: cluster?.ms ?? 0,
  }))
}

/** The line that tells the user how to point every layer at the Redis Cluster. */
function redisClusterHint(cluster: RedisClusterUp | undefined): string {
  return cluster === undefined ? '' : `to use the Redis Cluster: export VIGIL_REDIS_URL=${cluster.url}\n`
}

export function register(program: Command): void {
  const cmd = program.command('stack').description('start, stop or show the local Kafka broker (KRaft) and Redis server')

  cmd
    .command('up')
    .description('start Kafka and Redis unless they already answer (docker compose if a Docker engine answers, else native)')
    .option(
      '--kafka-nodes <n>',
      'brokers to run: above 1, a KRaft cluster on the addresses of --brokers, or on ports counting up from its one address (default: 1)',
      kafkaNodes,
    )
    .addOption(
      new Option(
        '--kafka-controllers <mode>',
        "a cluster's controller quorum: inside the first three brokers, or three processes of its own (default: combined)",
      ).choices(CONTROLLER_MODES),
    )
    .option(
      '--redis-cluster',
      `also a Redis Cluster of 3 masters and a replica each on 127.0.0.1:${REDIS_CLUSTER_PORTS[0]}-${REDIS_CLUSTER_PORTS.at(-1)}, unless it answers; it prints the VIGIL_REDIS_URL that names it`,
    )
    .action(
      action(async (opts: { kafkaNodes?: number; kafkaControllers?: ControllerMode; redisCluster?: boolean }, c: Command) => {
        const config = commandConfig(c)
        const t0 = Date.now()
        // The cluster first: when VIGIL_REDIS_URL names it, the Redis below is the cluster, reused.
        const cluster = opts.redisCluster === true ? await upRedisCluster(say) : undefined
        const results = [
          ...(await stack.up(config, say, { kafkaNodes: opts.kafkaNodes, kafkaControllers: opts.kafkaControllers })),
          ...redisClusterResults(cluster),
        ]
        const width = Math.max(16, ...results.map((r) => r.address.length))
        for (const r of results) {
          const what = r.action === 'reused' ? 'already running, reused' : `started in ${(r.ms / 1000).toFixed(1)} s`
          process.stdout.write(`${r.service.padEnd(6)} ${r.address.padEnd(width)} ${what}${r.pid === undefined ? '' : ` (pid ${r.pid})`}\n`)
        }
        process.stdout.write(bootstrapHint(results))
        process.stdout.write(redisClusterHint(cluster))
        process.stdout.write(`stack ready in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`)
      }),
    )

  cmd
    .command('down')
    .description('stop what `vigil stack up` started (never a service it did not start)')
    .action(
      action(async () => {
        const stopped = await stack.down(say)
        process.stdout.write(stopped.length === 0 ? 'nothing to stop: vigil started no service\n' : `stopped ${stopped.join(', ')}\n`)
      }),
    )

  cmd
    .command('status')
    .description('show whether Kafka and Redis answer, where, and who started them (exit 3 when one is down)')
    .action(
      action(async (_opts: unknown, c: Command) => {
        const rows = await stack.status(commandConfig(c))
        process.stdout.write(table(rows))
        return rows.every((r) => r.up) ? 0 : 3
      }),
    )
}
