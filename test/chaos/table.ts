/** The plain-text tables the chaos and scale reports print: a header, a rule, one row per line. */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |\n`
  return line(head) + line(widths.map((w) => '-'.repeat(w))) + rows.map(line).join('')
}
