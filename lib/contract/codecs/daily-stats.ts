/**
 * The codec of the `batch:daily:<date>` hashes (docs/CONTRACT.md, Redis, and Daily statistics): one
 * hash per day, field patientId, value a JSON array of that patient's `DailyStatsRow`s (camelCase).
 * The patient-day's assessment counts (`nOnOxygen`, `nOnAir`, `nAcvpuA` .. `nAcvpuU`) ride on each
 * row; a row written before they existed has none, and decodes without them (unknown, not zero).
 * So do a vital's left-out values (`nRefused`, `nNoSignal`): absent from a row written before the
 * batch job judged values as the speed layer.
 */
import type { DailyStatsRow } from '../views.ts'

/** One day's rows as hash fields, one per patient, rows in their given order. */
export function encodeDailyDay(rows: readonly DailyStatsRow[]): Record<string, string> {
  const byPatient = new Map<string, DailyStatsRow[]>()
  for (const r of rows) {
    const list = byPatient.get(r.patientId)
    if (list === undefined) byPatient.set(r.patientId, [r])
    else list.push(r)
  }
  return Object.fromEntries([...byPatient].map(([p, list]) => [p, JSON.stringify(list)]))
}

/** The rows of the given hash values (missing ones skipped), in order. */
export function decodeDailyValues(values: ReadonlyArray<string | null | undefined>): DailyStatsRow[] {
  const rows: DailyStatsRow[] = []
  for (const v of values) {
    if (typeof v !== 'string') continue
    try {
      const parsed: unknown = JSON.parse(v)
      if (Array.isArray(parsed)) rows.push(...(parsed as DailyStatsRow[]))
    } catch {
      // A malformed value is the writer's bug; the API shows what it can read.
    }
  }
  return rows
}
