/**
 * Apache Spark for `vigil batch --engine spark`: PySpark from PyPI, pinned, in a virtual
 * environment of the project's own (`.stack/spark/venv`), installed on the first use of the Spark
 * engine and never on any other path (a user who never asks for Spark downloads nothing).
 *
 * What it needs from the machine: Java 17+ (Spark 4 dropped 8 and 11) and a Python 3.10+ with the
 * `venv` module. On Debian or Ubuntu run as root a missing one is installed with apt
 * (stack/prerequisites.ts: `openjdk-17-jre-headless`, `python3` and `python3-venv`), saying so
 * first; elsewhere the error names the command to run. The venv is built under a temporary name
 * and renamed into place once PySpark imports at the pinned version, so an interrupted install
 * leaves nothing that looks installed, and two processes installing at once end with one venv.
 *
 * Why PySpark rather than a Spark distribution: it is Spark (the same jars, spark-submit inside)
 * on a package index with pinned versions and hashes, and the batch job's driver is a small
 * Python script (batch-layer/spark-job.py) that runs the SQL the TypeScript side generates.
 */
import { spawn } from 'node:child_process'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { childEnv } from '../lib/config.ts'
import { VigilError } from '../lib/errors.ts'
import { STACK_DIR } from './paths.ts'
import { ensurePrerequisites, javaMajor, type Prerequisite } from './prerequisites.ts'
import { run } from './process.ts'

type Log = (line: string) => void

/**
 * The PySpark release installed. 4.1 is the newest line whose requirements this project's
 * machines meet: Java 17 or 21 (4.x needs 17+), Python >= 3.10 (Debian 12 has 3.11, Ubuntu 22.04
 * 3.10); its only dependency is py4j. An sdist of ~455 MB built into a wheel by pip once.
 */
export const PYSPARK_VERSION = '4.1.4'

export const SPARK_DIR = path.join(STACK_DIR, 'spark')
export const SPARK_VENV = path.join(SPARK_DIR, 'venv')
/** Written into the venv last: the PySpark version it holds. */
const STAMP = '.vigil-pyspark-version'

/** The lowest Python PySpark 4.1 accepts (its `Requires-Python`). */
const MIN_PYTHON: readonly [number, number] = [3, 10]

export const SPARK_JAVA: Prerequisite = {
  name: 'Java 17+',
  why: 'to run Apache Spark (--engine spark)',
  debian: ['openjdk-17-jre-headless'],
  brew: 'openjdk@17',
  present: async () => ((await javaMajor()) ?? 0) >= 17,
  code: 'STACK_JAVA_MISSING',
  otherwise: 'or run the batch job with its default engine, DuckDB (no --engine spark)',
}

export const PYTHON_VENV: Prerequisite = {
  name: `python3 (${MIN_PYTHON.join('.')}+) with venv`,
  why: 'to install PySpark for --engine spark',
  debian: ['python3', 'python3-venv'],
  brew: 'python@3.11',
  present: async () =>
    (await run('python3', ['-c', `import sys, venv, ensurepip; sys.exit(0 if sys.version_info >= (${MIN_PYTHON.join(', ')}) else 1)`], { timeoutMs: 30_000 }))
      .code === 0,
  code: 'STACK_PYTHON_MISSING',
  otherwise: 'or run the batch job with its default engine, DuckDB (no --engine spark)',
}

/** A usable PySpark: the Python that imports it, and its version. */
export interface SparkRuntime {
  python: string
  version: string
}

function venvPython(venv: string): string {
  return path.join(venv, 'bin', 'python')
}

/** The PySpark version the venv holds, when it was installed completely. */
async function installedVersion(venv: string): Promise<string | undefined> {
  try {
    return (await readFile(path.join(venv, STAMP), 'utf8')).trim()
  } catch {
    return undefined
  }
}

/**
 * PySpark at PYSPARK_VERSION, installed on first use (with its lines on `log`); Java checked
 * every time, since a machine can lose it.
 */
export async function ensureSpark(log: Log, env?: NodeJS.ProcessEnv, dir: string = SPARK_DIR): Promise<SparkRuntime> {
  const venv = path.join(dir, 'venv')
  if ((await installedVersion(venv)) === PYSPARK_VERSION) {
    await ensurePrerequisites([SPARK_JAVA], log, env)
    return { python: venvPython(venv), version: PYSPARK_VERSION }
  }
  await ensurePrerequisites([SPARK_JAVA, PYTHON_VENV], log, env)
  await install(venv, log)
  return { python: venvPython(venv), version: PYSPARK_VERSION }
}

/** Builds the venv under a temporary name, installs and checks PySpark, then renames it into place. */
async function install(venv: string, log: Log): Promise<void> {
  const t0 = Date.now()
  const tmp = `${venv}.${process.pid}.tmp`
  log(`installing PySpark ${PYSPARK_VERSION} from PyPI into ${venv} (first use of --engine spark: ~455 MB, about a minute)`)
  await mkdir(path.dirname(venv), { recursive: true })
  await rm(tmp, { recursive: true, force: true })
  try {
    await step(log, 'python3', ['-m', 'venv', tmp], `python3 -m venv ${tmp}`)
    await step(
      log,
      venvPython(tmp),
      ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--progress-bar', 'off', `pyspark==${PYSPARK_VERSION}`],
      `pip install pyspark==${PYSPARK_VERSION}`,
    )
    const check = await run(venvPython(tmp), ['-c', 'import pyspark; print(pyspark.__version__)'])
    if (check.code !== 0 || check.stdout.trim() !== PYSPARK_VERSION) {
      throw new VigilError(
        'STACK_FETCH_FAILED',
        `PySpark was installed into ${tmp} but does not import as ${PYSPARK_VERSION} (${(check.stderr || check.stdout).trim().split('\n').pop()}); remove ${path.dirname(venv)} and run again.`,
      )
    }
    await writeFile(path.join(tmp, STAMP), `${PYSPARK_VERSION}\n`)
    // Another process may have finished the same install meanwhile: keep it (it may be running).
    if ((await installedVersion(venv)) === PYSPARK_VERSION) return
    await rm(venv, { recursive: true, force: true })
    await rename(tmp, venv).catch(async (error: unknown) => {
      // Another process renamed its own install into place first: keep that one.
      if ((await installedVersion(venv)) !== PYSPARK_VERSION) throw error
    })
  } finally {
    await rm(tmp, { recursive: true, force: true })
  }
  log(`installed PySpark ${PYSPARK_VERSION} in ${((Date.now() - t0) / 1000).toFixed(0)} s`)
}

/** Runs one install step with its output lines on `log`; throws one sentence naming the step when it fails. */
function step(log: Log, cmd: string, args: string[], what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv({ PIP_DISABLE_PIP_VERSION_CHECK: '1' }) })
    const tail: string[] = []
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        const text = line.trimEnd()
        if (text === '') continue
        log(`  ${text}`)
        tail.push(text)
        if (tail.length > 5) tail.shift()
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.on('error', (error) =>
      reject(new VigilError('STACK_FETCH_FAILED', `${what} could not start (${error.message}); install Python 3 with venv and run again.`, { cause: error })),
    )
    child.on('close', (code) => {
      if (code === 0) resolve()
      else
        reject(
          new VigilError(
            'STACK_FETCH_FAILED',
            `${what} failed with exit status ${code ?? 'none'} (${tail.join(' | ')}); check the network access to PyPI (pip's index settings apply) and run again.`,
          ),
        )
    })
  })
}
