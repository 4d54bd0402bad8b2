/** Small process helpers for the native stack: run a tool, find it on PATH, track a pid file. */
import { spawn, execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { readFile, rm } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'

const execFileP = promisify(execFile)

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

/** Runs a command to completion; never throws for a non-zero exit (ENOENT gives code 127). */
export async function run(cmd: string, args: string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  try {
    const { stdout, stderr } = await execFileP(cmd, args, { cwd: options.cwd, timeout: options.timeoutMs ?? 0, maxBuffer: 64 * 1024 * 1024 })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { code?: number | string; stdout?: string; stderr?: string }
    if (e.code === 'ENOENT') return { code: 127, stdout: '', stderr: `${cmd}: not found` }
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? e.message }
  }
}

/** Starts a long-running process detached from this one (it outlives `vigil stack up`). */
export function spawnDetached(cmd: string, args: string[], options: { cwd: string; stdout: number | 'ignore' }): number {
  const child = spawn(cmd, args, { cwd: options.cwd, detached: true, stdio: ['ignore', options.stdout, options.stdout] })
  child.on('error', () => undefined)
  if (child.pid === undefined) throw new Error(`could not start ${cmd}`)
  child.unref()
  return child.pid
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The pid recorded in `file` if that process is alive and its command line contains `marker` (guards against pid reuse). */
export async function livePid(file: string, marker: string): Promise<number | undefined> {
  let pid: number
  try {
    pid = Number.parseInt((await readFile(file, 'utf8')).trim(), 10)
  } catch {
    return undefined
  }
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined
  try {
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replaceAll('\0', ' ')
    if (!cmdline.includes(marker)) return undefined
  } catch {
    // No /proc (macOS): trust the pid file.
  }
  return pid
}

/** SIGTERM, wait up to `graceMs` for exit, then SIGKILL. Removes the pid file. */
export async function stopPid(pid: number, pidFile: string, graceMs: number): Promise<'stopped' | 'killed'> {
  try {
    process.kill(pid, 'SIGTERM')
  } catch {
    // Already gone.
  }
  const deadline = Date.now() + graceMs
  while (Date.now() < deadline) {
    if (!isAlive(pid)) {
      await rm(pidFile, { force: true })
      return 'stopped'
    }
    await sleep(100)
  }
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    // Exited just now.
  }
  await rm(pidFile, { force: true })
  return 'killed'
}

/** The last `n` lines of a log file, for error messages. */
export async function tail(file: string, n = 5): Promise<string> {
  try {
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n')
    return lines.slice(-n).join('\n')
  } catch {
    return ''
  }
}
