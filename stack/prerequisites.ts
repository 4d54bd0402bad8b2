/**
 * Native programs Vigil needs that no npm package provides: `redis-server`, Java 17+ and Maven
 * (to fetch and run the Kafka broker), and Chromium (the browser tests). On Debian or Ubuntu
 * run as root, a missing one is installed with apt after one line that says what and why; anywhere
 * else the error names the exact command to run. `VIGIL_NO_INSTALL=1` turns the install off.
 */
import { spawn } from 'node:child_process'
import { childEnv, loadSetting } from '../lib/config.ts'
import { VigilError, type VigilErrorCode } from '../lib/errors.ts'
import { run } from './process.ts'

type Log = (line: string) => void

export interface Prerequisite {
  /** What the user knows it by, e.g. `redis-server`. */
  name: string
  /** Why Vigil needs it, in a few words: "to run Redis natively". */
  why: string
  /** Debian packages that provide it. */
  debian: string[]
  /** The same for Homebrew, in the error when it cannot be installed here. */
  brew: string
  /** Resolves true when the program is there and good enough. */
  present(): Promise<boolean>
  code: VigilErrorCode
  /** How to do without it: "or start Redis yourself and set VIGIL_REDIS_URL". */
  otherwise: string
}

const answers = async (cmd: string, args: string[]): Promise<boolean> => (await run(cmd, args, { timeoutMs: 30_000 })).code === 0

export async function javaMajor(): Promise<number | undefined> {
  const r = await run('java', ['-version'])
  if (r.code !== 0) return undefined
  const m = /version "(\d+)(?:\.(\d+))?/.exec(r.stderr + r.stdout)
  if (m === null) return undefined
  const major = Number(m[1])
  return major === 1 ? Number(m[2]) : major
}

export const REDIS: Prerequisite = {
  name: 'redis-server',
  why: 'to run Redis on this machine',
  debian: ['redis-server'],
  brew: 'redis',
  present: () => answers('redis-server', ['--version']),
  code: 'STACK_REDIS_MISSING',
  otherwise: 'or start Redis yourself and set VIGIL_REDIS_URL',
}

export const JAVA: Prerequisite = {
  name: 'Java 17+',
  why: 'to run the Kafka broker on this machine',
  debian: ['openjdk-17-jre-headless'],
  brew: 'openjdk@17',
  present: async () => ((await javaMajor()) ?? 0) >= 17,
  code: 'STACK_JAVA_MISSING',
  otherwise: 'or start Kafka yourself and set VIGIL_KAFKA_BROKERS',
}

export const MAVEN: Prerequisite = {
  name: 'Maven',
  why: 'to fetch the Kafka broker from Maven Central once',
  debian: ['maven'],
  brew: 'maven',
  present: () => answers('mvn', ['--version']),
  code: 'STACK_MAVEN_MISSING',
  otherwise: 'or start Kafka yourself and set VIGIL_KAFKA_BROKERS',
}

export const CHROMIUM: Prerequisite = {
  name: 'chromium',
  why: 'for the browser tests',
  debian: ['chromium'],
  brew: '--cask chromium',
  present: () => answers('chromium', ['--version']),
  code: 'STACK_CHROMIUM_MISSING',
  otherwise: 'or put a Chromium named `chromium` on PATH',
}

/** True when this process may install Debian packages itself: Linux, root, apt-get present. */
async function canApt(env: NodeJS.ProcessEnv | undefined): Promise<boolean> {
  if (loadSetting('noInstall', env)) return false
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false
  return answers('apt-get', ['--version'])
}

/** The one sentence a user reads when a prerequisite is missing and Vigil may not install it. */
export function missingMessage(missing: readonly Prerequisite[], platform: NodeJS.Platform = process.platform): string {
  const names = missing.map((p) => p.name).join(' and ')
  const why = missing.map((p) => p.why).join(', ')
  const cmd =
    platform === 'darwin'
      ? missing.map((p) => `brew install ${p.brew}`).join(' && ')
      : `sudo apt-get update && sudo apt-get install -y ${missing.flatMap((p) => p.debian).join(' ')}`
  return `${names} not found (needed ${why}): install ${missing.length === 1 ? 'it' : 'them'} with \`${cmd}\`, ${missing[0]!.otherwise}.`
}

let aptUpdated = false

/** Runs apt-get with its progress on this process's stderr; resolves its exit code. */
function apt(args: string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn('apt-get', ['-o', 'DPkg::Lock::Timeout=300', ...args], {
      stdio: ['ignore', process.stderr, process.stderr],
      env: childEnv({ DEBIAN_FRONTEND: 'noninteractive' }),
    })
    child.on('error', () => resolve(127))
    child.on('close', (code) => resolve(code ?? 1))
  })
}

/**
 * Makes sure every prerequisite is present: installs the missing ones with apt where this process
 * may (root on Debian/Ubuntu), else throws one VigilError naming the command to run.
 */
export async function ensurePrerequisites(wanted: readonly Prerequisite[], log: Log, env?: NodeJS.ProcessEnv): Promise<void> {
  const found = await Promise.all(wanted.map((p) => p.present()))
  const missing = wanted.filter((_, i) => !found[i])
  if (missing.length === 0) return
  if (!(await canApt(env))) throw new VigilError(missing[0]!.code, missingMessage(missing))
  const packages = missing.flatMap((p) => p.debian)
  log(
    `installing ${packages.join(', ')} from Debian's packages (${missing.map((p) => `${p.name} ${p.why}`).join('; ')}); set VIGIL_NO_INSTALL=1 to do it yourself`,
  )
  const t0 = Date.now()
  if (!aptUpdated) {
    if ((await apt(['update'])) !== 0)
      throw new VigilError(
        missing[0]!.code,
        `apt-get update failed (see above): fix the package sources, then run the install yourself: ${missingMessage(missing)}`,
      )
    aptUpdated = true
  }
  // Service packages (redis-server) must not start a system-wide service of their own: Vigil runs
  // its own processes. --no-install-recommends keeps the install to what is named.
  if ((await apt(['install', '-y', '--no-install-recommends', ...packages])) !== 0) {
    throw new VigilError(missing[0]!.code, `apt-get install ${packages.join(' ')} failed (see above): ${missingMessage(missing)}`)
  }
  const still = []
  for (const p of missing) if (!(await p.present())) still.push(p)
  if (still.length > 0)
    throw new VigilError(
      still[0]!.code,
      `installed ${packages.join(' ')}, yet ${still.map((p) => p.name).join(' and ')} still does not answer: ${missingMessage(still)}`,
    )
  log(`installed ${packages.join(', ')} in ${((Date.now() - t0) / 1000).toFixed(0)} s`)
}
