/**
 * Documentation references point somewhere. Over every text file git knows (tracked, or new and not
 * ignored; package-lock.json and edge/fixtures left out):
 *
 * - a mention of a Markdown file (`docs/CONTRACT.md`, `docs/CONVENTIONS.md`) names a file of
 *   the repository, resolved from the repository root or from the mentioning file's folder;
 * - a mention followed by a comma (`docs/CONTRACT.md, Redis`), or by a space and a capital
 *   (`docs/CONTRACT.md Redis`), names a heading of that file: the longest heading the text starts
 *   with, ending at a word boundary; `, Other` or `and Other` right after names another one;
 * - in Markdown files, a link (`[text](path)`, `[text](path#anchor)`, `[text](#anchor)`)
 *   resolves from the linking file to a file or folder of the repository, and an anchor to a
 *   heading of its target; a repository path written out (`speed-layer/view.ts`) exists.
 *
 * The checker is a pure function over an in-memory repository, so it is first run on a sample with
 * broken references to show that it reports them.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

/** A repository as the checker sees it: path (posix, relative to the root) -> text. */
export type RepoFiles = ReadonlyMap<string, string>

export interface DocProblem {
  file: string
  line: number
  ref: string
  problem: string
}

interface Heading {
  text: string
  slug: string
}

/** Extensions of repository paths written out in Markdown that must exist. */
const PATH_EXTENSIONS = 'ts|js|mjs|cjs|lua|json|ya?ml|properties|xml|csv|sh|html|css|sql'

const MD_MENTION = /(?<![\w./-])((?:\.{1,2}\/)*(?:[\w.-]+\/)*[\w-][\w.-]*\.md)(?![\w-])/g
const MD_LINK = /!?\[(?:[^\]\\\n]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)/g
const URL_LIKE = /\b[a-z][a-z0-9+.-]*:\/\/[^\s)>\]'"`]*/gi
/** After a heading: another section named right away (`, Daily statistics`, ` and Serving`). */
const MORE_SECTIONS = /^(?:,\s*and\s+|,\s*|\s+and\s+)(?=\p{Lu})/u
/** A line break inside a comment, with the next line's comment marker. */
const COMMENT_BREAK = /[ \t]*\r?\n[ \t]*(?:\*(?!\/)|\/\/+|--+|#+)?[ \t]*/g

/** GitHub's anchor of a heading: lower case, punctuation dropped, each space a hyphen. */
export function slugOf(text: string): string {
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-')
}

/** The ATX headings of a Markdown text, outside fenced code blocks, with GitHub's anchors. */
export function headingsOf(markdown: string): Heading[] {
  const out: Heading[] = []
  const seen = new Map<string, number>()
  let fence: string | undefined
  for (const line of markdown.split('\n')) {
    const f = /^ {0,3}(`{3,}|~{3,})/.exec(line)
    if (f !== null) {
      const marker = f[1] as string
      if (fence === undefined) fence = marker[0]
      else if (marker[0] === fence) fence = undefined
      continue
    }
    if (fence !== undefined) continue
    const h = /^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/.exec(line)
    if (h === null) continue
    const text = (h[1] as string).trim()
    const base = slugOf(text)
    const n = seen.get(base) ?? 0
    seen.set(base, n + 1)
    out.push({ text, slug: n === 0 ? base : `${base}-${n}` })
  }
  return out
}

/** `text` with every match of `re` replaced by spaces (same length, so offsets and lines hold). */
function blank(text: string, re: RegExp): string {
  return text.replace(re, (m) => m.replace(/[^\n]/g, ' '))
}

/** Fenced code blocks and inline code spans blanked out: what Markdown renders as links. */
function proseOf(markdown: string): string {
  let fence: string | undefined
  const lines = markdown.split('\n').map((line) => {
    const f = /^ {0,3}(`{3,}|~{3,})/.exec(line)
    if (f !== null) {
      const marker = (f[1] as string)[0]
      if (fence === undefined) fence = marker
      else if (marker === fence) fence = undefined
      return ''.padEnd(line.length)
    }
    return fence === undefined ? line : ''.padEnd(line.length)
  })
  return blank(lines.join('\n'), /(`+)[^`\n]+?\1/g)
}

function lineAt(text: string, index: number): number {
  let line = 1
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) line++
  return line
}

/**
 * Checks every reference in `scan` (paths into `files`) and returns what points nowhere. `files`
 * is the whole repository: what a reference may point at.
 */
export function checkDocReferences(files: RepoFiles, scan: Iterable<string> = files.keys()): DocProblem[] {
  const dirs = new Set<string>([''])
  for (const f of files.keys()) {
    const parts = f.split('/')
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'))
  }
  const topDirs = [...dirs].filter((d) => d !== '' && !d.includes('/') && !d.startsWith('.'))
  const repoPath =
    topDirs.length === 0
      ? undefined
      : new RegExp(
          `(?<![\\w./-])((?:${topDirs.map((d) => d.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})/[\\w./-]*\\.(?:${PATH_EXTENSIONS}))(?![\\w/-])`,
          'g',
        )
  const headingCache = new Map<string, Heading[]>()
  const headings = (file: string) => {
    let h = headingCache.get(file)
    if (h === undefined) {
      h = headingsOf(files.get(file) ?? '')
      headingCache.set(file, h)
    }
    return h
  }
  /** Repository-relative form of a path, or undefined when it leaves the repository. */
  const inRepo = (p: string): string | undefined => {
    const n = path.posix.normalize(p).replace(/\/+$/, '')
    if (n === '..' || n.startsWith('../') || n.startsWith('/')) return undefined
    return n === '.' ? '' : n
  }
  const exists = (p: string | undefined) => p !== undefined && (files.has(p) || dirs.has(p))

  const problems: DocProblem[] = []
  for (const file of scan) {
    const raw = files.get(file)
    if (raw === undefined) continue
    const text = blank(raw, URL_LIKE)
    const here = path.posix.dirname(file)
    const report = (index: number, ref: string, problem: string) => problems.push({ file, line: lineAt(text, index), ref, problem })

    // Mentions of Markdown files, and the sections they name.
    for (const m of text.matchAll(MD_MENTION)) {
      const ref = m[1] as string
      const target = [inRepo(ref), inRepo(path.posix.join(here, ref))].find((p) => p !== undefined && files.has(p))
      if (target === undefined) {
        report(m.index, ref, "no such file (looked from the repository root and from this file's folder)")
        continue
      }
      const after = text.slice(m.index + ref.length, m.index + ref.length + 400)
      const form = /^,[ \t]*(?:\r?\n[ \t]*(?:\*(?!\/)|\/\/+|--+|#+)?[ \t]*)?/.exec(after) ?? /^[ \t]+(?=\p{Lu})/u.exec(after)
      if (form === null) continue
      let rest = after.slice(form[0].length).replace(COMMENT_BREAK, ' ')
      const names = headings(target).map((h) => h.text)
      for (;;) {
        const found = names
          .filter((h) => rest.startsWith(h) && (rest.length === h.length || !/[\p{L}\p{N}_]/u.test(rest[h.length] as string)))
          .sort((a, b) => b.length - a.length)[0]
        if (found === undefined) {
          const word = /^[^\s.,;:()]*/.exec(rest)?.[0] ?? ''
          report(m.index, `${ref}, ${word}`, `${target} has no section at "${rest.slice(0, 40)}" (its headings: ${names.join(' | ') || 'none'})`)
          break
        }
        rest = rest.slice(found.length)
        const more = MORE_SECTIONS.exec(rest)
        if (more === null) break
        rest = rest.slice(more[0].length)
      }
    }

    if (!file.endsWith('.md')) continue

    // Links, resolved from this file like a Markdown renderer does.
    const prose = proseOf(text)
    for (const m of prose.matchAll(MD_LINK)) {
      const ref = m[1] as string
      if (/^[a-z][a-z0-9+.-]*:/i.test(ref)) continue
      const hash = ref.indexOf('#')
      const target = hash < 0 ? ref : ref.slice(0, hash)
      const anchor = hash < 0 ? undefined : ref.slice(hash + 1)
      let resolved: string | undefined = file
      if (target !== '') {
        let decoded = target
        try {
          decoded = decodeURIComponent(target)
        } catch {
          // Left as written: a malformed escape is reported as a missing path below.
        }
        resolved = inRepo(decoded.startsWith('/') ? decoded.slice(1) : path.posix.join(here, decoded))
        if (!exists(resolved)) {
          report(m.index, ref, resolved === undefined ? 'the link leaves the repository' : `${resolved} does not exist`)
          continue
        }
      }
      if (anchor !== undefined && anchor !== '' && resolved?.endsWith('.md') && files.has(resolved)) {
        if (!headings(resolved).some((h) => h.slug === anchor)) report(m.index, ref, `${resolved} has no heading with the anchor #${anchor}`)
      }
    }

    // Repository paths written out.
    if (repoPath !== undefined) {
      for (const m of text.matchAll(repoPath)) {
        const ref = (m[1] as string).replace(/\.$/, '')
        if (!files.has(ref)) report(m.index, ref, 'no such file in the repository')
      }
    }
  }
  return problems
}

/** Files git knows in the working tree (tracked, or new and not ignored), as readable text. */
function repositoryFiles(): Map<string, string> {
  const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 })
    .toString('utf8')
    .split('\0')
    .filter((f) => f !== '')
  const files = new Map<string, string>()
  for (const f of new Set(listed)) {
    let size: number
    try {
      const s = statSync(path.join(ROOT, f))
      if (!s.isFile()) continue
      size = s.size
    } catch {
      // Deleted in the working tree but still in the index: not part of the tree being checked.
      continue
    }
    // Huge or binary files are still targets a reference may name; their text is not read.
    if (size > 4 * 1024 * 1024 || f === 'package-lock.json' || f.startsWith('edge/fixtures/')) {
      files.set(f, '')
      continue
    }
    const buf = readFileSync(path.join(ROOT, f))
    files.set(f, buf.subarray(0, 8000).includes(0) ? '' : buf.toString('utf8'))
  }
  return files
}

const format = (p: DocProblem) => `${p.file}:${p.line}: ${p.ref}: ${p.problem}`

describe('documentation references', () => {
  it('reports a missing file, a misspelt section, a broken link or anchor and a missing path in a sample', () => {
    // `@md` stands for the Markdown extension, so that this file's own text holds no broken reference.
    const md = (s: string) => s.replaceAll('@md', '.md')
    const files: RepoFiles = new Map([
      [md('docs/GUIDE@md'), '# Guide\n\n## Alpha\n\n## Alpha beta\n\n```\n## Not a heading\n```\n\n### Gamma\n'],
      [
        md('docs/OTHER@md'),
        md(
          'See [the guide](GUIDE@md#alpha-beta), [a folder](../src/) and `src/a.ts`.\n' +
            'Broken: [anchor](GUIDE@md#alpah), [file](../src/b.ts), [out](../../outside@md), [here](#nowhere), `src/missing.ts`.\n' +
            'Fine: [web](https://example.com/x@md), `[not a link](nowhere@md-ish)`.\n',
        ),
      ],
      [
        'src/a.ts',
        md(
          [
            '// docs/GUIDE@md, Alpha beta: the longest heading wins',
            '// docs/GUIDE@md Gamma and Alpha',
            '// docs/GUIDE@md, Alpha,',
            '// Gamma (a list across lines)',
            '// docs/GUIDE@md promises prose, not a section',
            '// docs/GUIDE@md, Alpah',
            '// docs/GUIDE@md Alphabet',
            '// docs/GUIDE@md, Alpha and Delta',
            '// docs/MISSING@md',
            '// GUIDE@md (resolved from neither the root nor src/)',
          ].join('\n'),
        ),
      ],
    ])
    const problems = checkDocReferences(files)
    const where = problems.map((p) => `${p.file}:${p.line} ${p.ref}`).sort()
    expect(where).toEqual(
      md(
        [
          'docs/OTHER@md:2 #nowhere',
          'docs/OTHER@md:2 ../../outside@md',
          'docs/OTHER@md:2 ../src/b.ts',
          'docs/OTHER@md:2 GUIDE@md#alpah',
          'docs/OTHER@md:2 src/missing.ts',
          'docs/OTHER@md:2 ../../outside@md',
          'src/a.ts:6 docs/GUIDE@md, Alpah',
          'src/a.ts:7 docs/GUIDE@md, Alphabet',
          'src/a.ts:8 docs/GUIDE@md, Delta',
          'src/a.ts:9 docs/MISSING@md',
          'src/a.ts:10 GUIDE@md',
        ].join('\n'),
      )
        .split('\n')
        .sort(),
    )
  })

  it('finds the headings and anchors GitHub renders', () => {
    expect(headingsOf('## The data lake\n## Kafka (`bench/clients.ts`)\n## Tests\n## Tests\n').map((h) => h.slug)).toEqual([
      'the-data-lake',
      'kafka-benchclientsts',
      'tests',
      'tests-1',
    ])
  })

  it('every reference in the repository points to a file, a section or a path that exists', () => {
    const files = repositoryFiles()
    expect(files.has('docs/CONTRACT.md')).toBe(true)
    expect(checkDocReferences(files).map(format)).toEqual([])
  })
})
