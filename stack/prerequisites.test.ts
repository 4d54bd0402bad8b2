import { describe, expect, it } from 'vitest'
import { CHROMIUM, JAVA, MAVEN, REDIS, ensurePrerequisites, missingMessage, type Prerequisite } from './prerequisites.ts'
import { VigilError } from '../lib/errors.ts'

const fake = (present: boolean): Prerequisite => ({ ...REDIS, name: 'vigil-test-tool', debian: ['vigil-test-tool'], present: async () => present })

describe('prerequisites', () => {
  it('names the exact apt command for what is missing, and the way around it', () => {
    expect(missingMessage([REDIS], 'linux')).toBe(
      'redis-server not found (needed to run Redis on this machine): install it with `sudo apt-get update && sudo apt-get install -y redis-server`, or start Redis yourself and set VIGIL_REDIS_URL.',
    )
    expect(missingMessage([JAVA, MAVEN], 'linux')).toContain('`sudo apt-get update && sudo apt-get install -y openjdk-17-jre-headless maven`')
  })

  it('names Homebrew on macOS', () => {
    expect(missingMessage([CHROMIUM], 'darwin')).toContain('`brew install --cask chromium`')
  })

  it('does nothing when everything is present', async () => {
    const lines: string[] = []
    await ensurePrerequisites([fake(true)], (l) => lines.push(l), {})
    expect(lines).toEqual([])
  })

  it('refuses to install when VIGIL_NO_INSTALL=1 and says what to run', async () => {
    const lines: string[] = []
    const error = await ensurePrerequisites([fake(false)], (l) => lines.push(l), { VIGIL_NO_INSTALL: '1' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(VigilError)
    expect((error as VigilError).code).toBe('STACK_REDIS_MISSING')
    expect((error as VigilError).message).toContain('sudo apt-get install -y vigil-test-tool')
    expect(lines).toEqual([])
  })
})
