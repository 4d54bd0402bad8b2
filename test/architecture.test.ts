/**
 * The dependency rules of docs/CONTRACT.md, Code layout, checked on every import of production
 * code: lib/ (the contract and shared machinery) imports no stage; a stage imports lib/ and its
 * own folder only; cli/ is the composition root and may import any stage (and the benchmarks,
 * for `vigil bench`); no production code imports tests; tests and benchmarks may import anything.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'

const ROOT = path.resolve(import.meta.dirname, '..')
const STAGES = ['edge', 'ingestion', 'speed-layer', 'batch-layer', 'serving', 'scripts', 'stack'] as const
const IMPORT = /(?:^|\s)(?:import|export)\s[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g

export interface Violation {
  file: string
  imports: string
  rule: string
}

const topFolder = (file: string) => file.split('/')[0] ?? ''
const isTestOrBench = (file: string) => /\.test\.ts$/.test(file) || file.startsWith('test/') || file.startsWith('bench/')

/** The rule an import from `file` (repo-relative) to `target` (repo-relative) breaks, if any. */
export function ruleBroken(file: string, target: string): string | undefined {
  if (isTestOrBench(file)) return undefined
  const from = topFolder(file)
  const to = topFolder(target)
  if (to === 'test') return 'production code never imports tests'
  if (to === 'bench' && from !== 'cli') return 'only the CLI (`vigil bench`) imports the benchmarks'
  if (from === 'lib' && to !== 'lib') return 'lib/ imports no stage'
  if ((STAGES as readonly string[]).includes(from) && to !== from && to !== 'lib')
    return `a stage imports lib/ and its own folder only (the composition root, cli/, wires ${from}/ to ${to}/)`
  return undefined
}

/** Every broken rule among `files` (repo-relative path -> source). */
export function violations(files: ReadonlyMap<string, string>): Violation[] {
  const found: Violation[] = []
  for (const [file, source] of files) {
    for (const m of source.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2]
      if (spec === undefined) continue
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec))
      const rule = ruleBroken(file, target)
      if (rule !== undefined) found.push({ file, imports: target, rule })
    }
  }
  return found
}

describe('code layout', () => {
  it('finds a broken rule in a sample (the checker can fail)', () => {
    const sample = new Map([
      ['lib/bands.ts', "import type { X } from '../speed-layer/alerts.ts'"],
      ['serving/index.ts', "const job = await import('../batch-layer/job.ts')"],
      ['edge/sinks.ts', "import { p } from '../lib/producer.ts'\nimport { q } from './pacer.ts'"],
      ['cli/commands/all.ts', "import { start } from '../../speed-layer/index.ts'"],
      ['serving/view.test.ts', "import { f } from '../test/view-fixtures.ts'"],
    ])
    expect(violations(sample).map((v) => `${v.file} -> ${v.imports}`)).toEqual([
      'lib/bands.ts -> speed-layer/alerts.ts',
      'serving/index.ts -> batch-layer/job.ts',
    ])
  })

  it('holds for every import of the tree', () => {
    const tracked = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.ts'], { cwd: ROOT, encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
    const files = new Map(tracked.map((f) => [f, readFileSync(path.join(ROOT, f), 'utf8')] as const))
    expect(violations(files)).toEqual([])
  })
})
