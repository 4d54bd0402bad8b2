/**
 * Integration tests run against a real Kafka broker and a real Redis server. This brings the
 * stack up before the first test file (reusing whatever already answers, e.g. in CI where
 * .ci/run started it) and, at the end, stops only what it started itself.
 */
import { loadConfig } from '../lib/config.ts'
import * as stack from '../stack/index.ts'

let startedHere = false

export async function setup(): Promise<void> {
  const config = loadConfig({})
  const results = await stack.up(config, (line) => process.stderr.write(`[stack] ${line}\n`))
  startedHere = results.some((r) => r.action === 'started')
}

export async function teardown(): Promise<void> {
  if (startedHere) await stack.down((line) => process.stderr.write(`[stack] ${line}\n`))
}
