/**
 * Integration tests run against a real Kafka broker, a real Redis server and Debian's Chromium.
 * This installs what a fresh machine lacks (stack/prerequisites.ts: apt as root on Debian, else
 * one sentence naming the command), brings the stack up before the first test file (reusing
 * whatever already answers) and, at the end, stops only what it started itself.
 */
import { loadConfig } from '../lib/config.ts'
import * as stack from '../stack/index.ts'
import { CHROMIUM, ensurePrerequisites } from '../stack/prerequisites.ts'

let startedHere = false

export async function setup(): Promise<void> {
  const config = loadConfig({})
  const log = (line: string) => process.stderr.write(`[stack] ${line}\n`)
  await ensurePrerequisites([CHROMIUM], log)
  const results = await stack.up(config, log)
  startedHere = results.some((r) => r.action === 'started')
}

export async function teardown(): Promise<void> {
  if (startedHere) await stack.down((line) => process.stderr.write(`[stack] ${line}\n`))
}
