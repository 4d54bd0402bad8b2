/**
 * The CSV replay's spellings of the two NEWS2 assessments (docs/ARCHITECTURE.md, CSV replay):
 * supplemental oxygen (reading `onOxygen`) and ACVPU (reading `consciousness`). Case, spaces,
 * `_` and `-` are ignored. A cell that is empty or `NA`/`NaN`/`null`/`none`/`-` is "not recorded";
 * any other spelling not listed here is left out of the row's reading with its reason, never
 * guessed at (a level of consciousness read wrong would hide or invent a NEWS2 3); the row's other
 * fields still go out (csv.ts).
 */
import type { Consciousness } from '../lib/contract/schema.ts'

/** Spellings of "on supplemental oxygen" (normalised), true, and of "breathing air", false. */
export const ON_OXYGEN_SPELLINGS: Readonly<Record<string, boolean>> = {
  true: true,
  yes: true,
  y: true,
  '1': true,
  o2: true,
  oxygen: true,
  false: false,
  no: false,
  n: false,
  '0': false,
  air: false,
  roomair: false,
  ra: false,
}

/**
 * Spellings of the ACVPU levels (RCP NEWS2 2017, Chart 1): the letters, and the words of the
 * scale (with "confused"/"new confusion", "verbal" and "painful", as AVPU charts also write them).
 */
export const CONSCIOUSNESS_SPELLINGS: Readonly<Record<string, Consciousness>> = {
  a: 'A',
  alert: 'A',
  c: 'C',
  confusion: 'C',
  confused: 'C',
  newconfusion: 'C',
  v: 'V',
  voice: 'V',
  verbal: 'V',
  p: 'P',
  pain: 'P',
  painful: 'P',
  u: 'U',
  unresponsive: 'U',
}

/** A cell that holds nothing recorded. */
export function isBlankCell(text: string): boolean {
  return text === '' || /^(na|nan|null|none|-)$/i.test(text)
}

function normalise(text: string): string {
  return text.toLowerCase().replace(/[\s_-]/g, '')
}

export type CellValue<T> = { ok: true; value: T | undefined } | { ok: false; reason: string }

/** The onOxygen a cell holds (undefined when blank), or why it is not one; `column` names the column. */
export function parseOnOxygen(text: string, column: string): CellValue<boolean> {
  const t = text.trim()
  if (isBlankCell(t)) return { ok: true, value: undefined }
  const value = ON_OXYGEN_SPELLINGS[normalise(t)]
  if (value !== undefined) return { ok: true, value }
  return { ok: false, reason: `${column} "${t}" is not one of true/false, yes/no, 1/0, O2/air` }
}

/** The ACVPU level a cell holds (undefined when blank), or why it is not one; `column` names the column. */
export function parseConsciousness(text: string, column: string): CellValue<Consciousness> {
  const t = text.trim()
  if (isBlankCell(t)) return { ok: true, value: undefined }
  const value = CONSCIOUSNESS_SPELLINGS[normalise(t)]
  if (value !== undefined) return { ok: true, value }
  return { ok: false, reason: `${column} "${t}" is not an ACVPU level: A, C, V, P, U or Alert, Confusion, Voice, Pain, Unresponsive` }
}
