import { describe, expect, it } from 'vitest'
import { bootstrapList, clusterLayout, nodeProperties } from './kafka-cluster.ts'

const props = (text: string) =>
  new Map(
    text
      .split('\n')
      .filter((l) => l.includes('=') && !l.startsWith('#'))
      .map((l) => l.split('=', 2) as [string, string]),
  )

describe('a Kafka cluster layout', () => {
  it('counts the brokers up from the one address given, the first three also the controller quorum on port + 100', () => {
    const layout = clusterLayout(['127.0.0.1:29092'], 3)
    expect(layout.nodes).toEqual([
      { id: 1, roles: 'broker,controller', host: '127.0.0.1', port: 29092, controllerPort: 29192 },
      { id: 2, roles: 'broker,controller', host: '127.0.0.1', port: 29093, controllerPort: 29193 },
      { id: 3, roles: 'broker,controller', host: '127.0.0.1', port: 29094, controllerPort: 29194 },
    ])
    expect(bootstrapList(layout)).toEqual(['127.0.0.1:29092', '127.0.0.1:29093', '127.0.0.1:29094'])
  })

  it('takes every address when VIGIL_KAFKA_BROKERS names one per broker', () => {
    expect(bootstrapList(clusterLayout(['127.0.0.1:9092', '127.0.0.1:9292', 'localhost:9492'], 3))).toEqual([
      '127.0.0.1:9092',
      '127.0.0.1:9292',
      'localhost:9492',
    ])
  })

  it('runs three controller-only nodes (ids 101-103) beside the brokers in separate mode', () => {
    const layout = clusterLayout(['127.0.0.1:29092'], 3, 'separate')
    expect(layout.nodes.map((n) => [n.id, n.roles, n.port, n.controllerPort])).toEqual([
      [1, 'broker', 29092, undefined],
      [2, 'broker', 29093, undefined],
      [3, 'broker', 29094, undefined],
      [101, 'controller', undefined, 29192],
      [102, 'controller', undefined, 29193],
      [103, 'controller', undefined, 29194],
    ])
  })

  it('keeps three voters in a cluster of five brokers', () => {
    const layout = clusterLayout(['127.0.0.1:29092'], 5)
    expect(layout.nodes.filter((n) => n.controllerPort !== undefined).map((n) => n.id)).toEqual([1, 2, 3])
  })

  it.each([
    [['127.0.0.1:9092', '127.0.0.1:9093'], 3, /needs 3 broker addresses, or one to count up from/],
    [['10.0.0.5:9092'], 3, /runs on this machine only, and 10\.0\.0\.5:9092 is not on it/],
    [['127.0.0.1:9092', '127.0.0.1:9192', '127.0.0.1:9292'], 3, /overlap/],
    [['127.0.0.1:65534'], 3, /pass 65535/],
    [['127.0.0.1:9092'], 1, /expected a whole number of at least 2/],
  ])('refuses %j for %i brokers with one sentence naming the fix', (brokers, count, message) => {
    expect(() => clusterLayout(brokers, count)).toThrow(message)
  })
})

describe("a cluster node's server.properties", () => {
  it('names every voter, its own listeners and three replicas of the internal topics', () => {
    const layout = clusterLayout(['127.0.0.1:29092'], 3)
    const p = props(nodeProperties(layout, layout.nodes[1]!, '/data/2'))
    expect(p.get('process.roles')).toBe('broker,controller')
    expect(p.get('node.id')).toBe('2')
    expect(p.get('controller.quorum.voters')).toBe('1@127.0.0.1:29192,2@127.0.0.1:29193,3@127.0.0.1:29194')
    expect(p.get('listeners')).toBe('PLAINTEXT://127.0.0.1:29093,CONTROLLER://127.0.0.1:29193')
    expect(p.get('advertised.listeners')).toBe('PLAINTEXT://127.0.0.1:29093')
    expect(p.get('log.dirs')).toBe('/data/2')
    expect(p.get('offsets.topic.replication.factor')).toBe('3')
    expect(p.get('transaction.state.log.min.isr')).toBe('2')
    expect(p.get('auto.create.topics.enable')).toBe('false')
  })

  it('gives a controller-only node no client listener, and a broker-only node no controller listener', () => {
    const layout = clusterLayout(['127.0.0.1:29092'], 3, 'separate')
    const controller = props(nodeProperties(layout, layout.nodes[3]!, '/data/101'))
    expect(controller.get('process.roles')).toBe('controller')
    expect(controller.get('listeners')).toBe('CONTROLLER://127.0.0.1:29192')
    expect(controller.has('advertised.listeners')).toBe(false)
    expect(controller.get('controller.quorum.voters')).toBe('101@127.0.0.1:29192,102@127.0.0.1:29193,103@127.0.0.1:29194')
    const broker = props(nodeProperties(layout, layout.nodes[0]!, '/data/1'))
    expect(broker.get('process.roles')).toBe('broker')
    expect(broker.get('listeners')).toBe('PLAINTEXT://127.0.0.1:29092')
  })

  it('replicates the internal topics twice on two brokers', () => {
    const layout = clusterLayout(['127.0.0.1:29092'], 2)
    const p = props(nodeProperties(layout, layout.nodes[0]!, '/d'))
    expect(p.get('offsets.topic.replication.factor')).toBe('2')
    expect(p.get('controller.quorum.voters')).toBe('1@127.0.0.1:29192,2@127.0.0.1:29193')
  })
})
