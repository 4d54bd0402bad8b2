import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'

/**
 * Starts `vigil <command>` with the given environment, waits for its first "Waiting" line on
 * stderr, sends SIGTERM and resolves with that line and the exit code.
 */
async function waitThenStop(args: string[], env: Record<string, string>): Promise<{ line: string; code: number | null; signal: string | null }> {
  const child = spawn(process.execPath, ['bin/vigil.js', ...args], {
    env: { ...process.env, VIGIL_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  const line = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
      const found = stderr.split('\n').find((l) => l.includes('Waiting (attempt'))
      if (found !== undefined) resolve(found)
    })
    child.once('exit', (code) => reject(new Error(`exited with ${code} before waiting: ${stderr}`)))
  })
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const [code, signal] = (await exited) as [number | null, string | null]
  return { line, code, signal }
}

describe('a layer started before its services are up', () => {
  it('`vigil archive` with an unreachable broker says how to fix it, keeps waiting, and exits 0 on SIGTERM', async () => {
    const lake = await mkdtemp(path.join(tmpdir(), 'vigil-waiting-'))
    try {
      const r = await waitThenStop(['archive'], { VIGIL_KAFKA_BROKERS: '127.0.0.1:1', VIGIL_DATALAKE_DIR: lake })
      expect(r.line).toContain('Kafka is not reachable at 127.0.0.1:1')
      expect(r.line).toContain('VIGIL_KAFKA_BROKERS')
      expect(r.signal).toBeNull()
      expect(r.code).toBe(0)
    } finally {
      await rm(lake, { recursive: true, force: true })
    }
  })

  it('`vigil serve` with an unreachable Redis says how to fix it, keeps waiting, and exits 0 on SIGTERM', async () => {
    const r = await waitThenStop(['serve', '--port', '38127'], { VIGIL_REDIS_URL: 'redis://127.0.0.1:1' })
    expect(r.line).toContain('redis://127.0.0.1:1')
    expect(r.signal).toBeNull()
    expect(r.code).toBe(0)
  })
})
