/**
 * The codec of the `{p}:latest` hash (docs/CONTRACT.md, Redis): a patient's newest state as flat
 * string fields. For each vital present `<vital>` (value), `<vital>:status`, `<vital>:ts` (event
 * time, ms); and `status` (the worst), `news2` (aggregate score), `news2Risk`, `ts` (newest event
 * time, ms). The one TypeScript module that spells these field names: the speed layer hands the
 * encoded pairs to write-batch.lua as arguments, the serving layer and the tests decode with it.
 */
import { STATUSES } from '../../bands.ts'
import { VITALS, type Vital } from '../schema.ts'
import { NEWS2_RISKS, type PatientState, type VitalState } from '../views.ts'
import { num, oneOf } from './fields.ts'

/** The three fields of one vital. */
export function vitalFields(vital: Vital): { value: string; status: string; ts: string } {
  return { value: vital, status: `${vital}:status`, ts: `${vital}:ts` }
}

/**
 * The hash fields of `state`: the patient-wide fields, then each vital's three (only the vitals in
 * `only` when given: the speed layer writes the vitals a batch changed, the others keep theirs).
 */
export function encodeLatest(state: PatientState, only?: ReadonlySet<Vital>): Record<string, string> {
  const h: Record<string, string> = {
    status: state.status,
    news2: String(state.news2.score),
    news2Risk: state.news2.risk,
    ts: String(state.ts),
  }
  for (const [vital, v] of Object.entries(state.vitals) as [Vital, VitalState][]) {
    if (only !== undefined && !only.has(vital)) continue
    const f = vitalFields(vital)
    h[f.value] = String(v.value)
    h[f.status] = v.status
    h[f.ts] = String(v.ts)
  }
  return h
}

/** The hash's newest event time (ms); undefined for an empty hash (unknown patient). */
export function decodeLatestTs(hash: Readonly<Record<string, string>>): number | undefined {
  return num(hash.ts)
}

/**
 * The vitals of a latest hash: each vital whose value reads as a number, its status (NORMAL when
 * unreadable) and its event time (`fallbackTs` when missing).
 */
export function decodeLatestVitals(hash: Readonly<Record<string, string>>, fallbackTs: number): Partial<Record<Vital, VitalState>> {
  const vitals: Partial<Record<Vital, VitalState>> = {}
  for (const v of VITALS) {
    const f = vitalFields(v)
    const value = num(hash[f.value])
    if (value === undefined) continue
    vitals[v] = { value, status: oneOf(STATUSES, hash[f.status], 'NORMAL'), ts: num(hash[f.ts]) ?? fallbackTs }
  }
  return vitals
}

/** A latest hash as a PatientState; null when the hash has no `ts` (unknown patient). */
export function decodeLatest(patientId: string, hash: Readonly<Record<string, string>>): PatientState | null {
  const ts = decodeLatestTs(hash)
  if (ts === undefined) return null
  return {
    patientId,
    ts,
    status: oneOf(STATUSES, hash.status, 'NORMAL'),
    news2: { score: num(hash.news2) ?? 0, risk: oneOf(NEWS2_RISKS, hash.news2Risk, 'low') },
    vitals: decodeLatestVitals(hash, ts),
  }
}
