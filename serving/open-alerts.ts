/**
 * A patient's open alerts as the API answers them (docs/CONTRACT.md, Serving): the `{p}:alerts`
 * hash (docs/CONTRACT.md, Redis) holds one open alert per subject (field: a vital, `news2` or
 * `glucoseForecast`, `risk`; value an `OpenAlertState` JSON) beside the speed layer's pending-persistence
 * fields (`<subject>:pending`), which are not alerts. Pure: the View reads the hash.
 */
import { decodeAlertState } from '../lib/contract/codecs/alerts.ts'
import type { AlertLevel, AlertSubject, OpenAlertState } from '../lib/contract/views.ts'

/** An open alert and what it is about. */
export type OpenAlertView = OpenAlertState & { subject: AlertSubject }

/**
 * Most urgent first. NEWS2 ≥ 7 leads: the RCP's emergency-response threshold (Royal College of
 * Physicians, "National Early Warning Score (NEWS) 2", 2017, "Clinical response to NEWS2 trigger thresholds") asks more than any single
 * vital's critical band; then a vital in its critical band, the NEWS2 urgent-response threshold
 * (5-6), a predicted urgent low, a single parameter scoring 3, a warning; then the experimental
 * risk model's alert, below every rule of the bands and NEWS2 (a model under evaluation, never
 * their replacement: docs/CLINICAL.md, Early-warning risk model); the technical alarms (no
 * signal, no data) last, since they say nothing about the patient's condition.
 */
export const ALERT_URGENCY: readonly AlertLevel[] = [
  'NEWS2_HIGH',
  'CRITICAL_LOW',
  'CRITICAL_HIGH',
  'NEWS2_MEDIUM',
  'URGENT_LOW_SOON',
  'NEWS2_SINGLE_3',
  'WARNING',
  'RISK_HIGH',
  'NO_SIGNAL',
  'STALE',
]

/** The rank of a level in ALERT_URGENCY (0 the most urgent); an unknown level ranks last. */
export function urgencyRank(level: string): number {
  const i = ALERT_URGENCY.indexOf(level as AlertLevel)
  return i === -1 ? ALERT_URGENCY.length : i
}

/** Whether a field of the `{p}:alerts` hash is an open alert (not a `<subject>:pending` persistence record). */
export function isOpenAlertField(field: string): boolean {
  return !field.includes(':')
}

/** The open alerts of a `{p}:alerts` hash, most urgent first (then newest raise first); an unreadable value is left out. */
export function openAlertsOf(hash: Readonly<Record<string, string>>): OpenAlertView[] {
  const out: OpenAlertView[] = []
  for (const [field, value] of Object.entries(hash)) {
    if (!isOpenAlertField(field)) continue
    try {
      const state = decodeAlertState(value)
      // A state written before alerts carried their text has no message: still an open alert.
      if (typeof state?.level === 'string')
        out.push({ subject: field as AlertSubject, ...state, message: typeof state.message === 'string' ? state.message : '' })
    } catch {
      // Only the speed layer writes this hash; a value it did not write is not shown as an alert.
    }
  }
  return out.sort((a, b) => urgencyRank(a.level) - urgencyRank(b.level) || b.raisedTs - a.raisedTs || (a.subject < b.subject ? -1 : 1))
}
