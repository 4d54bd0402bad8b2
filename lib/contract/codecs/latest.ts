/**
 * The codec of the `{p}:latest` hash (docs/CONTRACT.md, Redis): a patient's newest state as flat
 * string fields. For each vital present `<vital>` (value), `<vital>:status`, `<vital>:ts` (event
 * time, ms); and the patient-wide fields (NEWS2_FIELDS and the others below): `status` (the worst),
 * `ts` (newest event time, ms), the NEWS2 state (`news2` score, `news2Risk` ('' for none),
 * `news2Complete` 1|0, `news2Counted`/`news2Missing`/`news2Old` comma-separated parameters,
 * `news2Scale` 1|2, `news2Scores` JSON), `onOxygen` 1|0 and `onOxygen:ts`, `consciousness` A|C|V|P|U
 * and `consciousness:ts`, `glucoseTrend:rate|arrow|ts`; and `glucoseRecent`, the glucose values of
 * the trend window as JSON `[[ts,mgdl],...]` (the speed layer's own state: a restart decides as
 * before); and the experimental risk (RISK_FIELDS, only while the speed layer serves a risk model):
 * `risk` (probability, 4 decimals), `risk:ts`, `riskModel` (the model's version), `riskTop` (JSON of
 * the largest contributions) and `riskRecent` (JSON `[[ts,risk],...]`, the last hour, one per
 * minute). A patient-wide field without a value is written as '' (HSET cannot delete: the empty
 * string overwrites an older value) and decodes as absent.
 * The one TypeScript module that spells these field names: the speed layer hands the encoded pairs
 * to write-shard.lua as arguments, the serving layer and the tests decode with it.
 */
import { STATUSES } from '../../bands.ts'
import { CONSCIOUSNESS_LEVELS, type Consciousness, VITALS, type Vital } from '../schema.ts'
import {
  type AssessmentState,
  type GlucoseTrend,
  NEWS2_PARAMETERS,
  NEWS2_RISKS,
  type News2Parameter,
  type News2State,
  type PatientState,
  type RiskContribution,
  type RiskState,
  TREND_ARROWS,
  type VitalState,
} from '../views.ts'
import { num, oneOf } from './fields.ts'

/** One glucose value of the trend window: event time (ms) and mg/dL. */
export type GlucosePoint = readonly [ts: number, mgdl: number]

/** The NEWS2 fields of the hash. */
export const NEWS2_FIELDS = {
  score: 'news2',
  risk: 'news2Risk',
  complete: 'news2Complete',
  counted: 'news2Counted',
  missing: 'news2Missing',
  old: 'news2Old',
  scale: 'news2Scale',
  scores: 'news2Scores',
} as const

const ASSESSMENT_FIELDS = { onOxygen: 'onOxygen', onOxygenTs: 'onOxygen:ts', consciousness: 'consciousness', consciousnessTs: 'consciousness:ts' } as const
const TREND_FIELDS = { rate: 'glucoseTrend:rate', arrow: 'glucoseTrend:arrow', ts: 'glucoseTrend:ts' } as const
/** The risk fields of the hash. */
export const RISK_FIELDS = { risk: 'risk', ts: 'risk:ts', model: 'riskModel', top: 'riskTop', recent: 'riskRecent' } as const
/** Decimals of a stored risk (a probability): finer than any threshold, and a short field. */
const RISK_DECIMALS = 4
/** The field of the trend window's glucose values. */
export const GLUCOSE_RECENT_FIELD = 'glucoseRecent'

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
    ts: String(state.ts),
    ...encodeNews2(state.news2),
    ...encodeAssessments(state),
    ...encodeGlucoseTrend(state.glucoseTrend),
    ...encodeRisk(state.risk),
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

function encodeNews2(n: News2State): Record<string, string> {
  return {
    [NEWS2_FIELDS.score]: String(n.score),
    [NEWS2_FIELDS.risk]: n.risk ?? '',
    [NEWS2_FIELDS.complete]: n.complete ? '1' : '0',
    [NEWS2_FIELDS.counted]: n.counted.join(','),
    [NEWS2_FIELDS.missing]: n.missing.join(','),
    [NEWS2_FIELDS.old]: n.old.join(','),
    [NEWS2_FIELDS.scale]: String(n.scale),
    [NEWS2_FIELDS.scores]: JSON.stringify(n.scores),
  }
}

function encodeAssessments(state: PatientState): Record<string, string> {
  const { onOxygen, consciousness } = state
  return {
    [ASSESSMENT_FIELDS.onOxygen]: onOxygen === undefined ? '' : onOxygen.value ? '1' : '0',
    [ASSESSMENT_FIELDS.onOxygenTs]: onOxygen === undefined ? '' : String(onOxygen.ts),
    [ASSESSMENT_FIELDS.consciousness]: consciousness?.value ?? '',
    [ASSESSMENT_FIELDS.consciousnessTs]: consciousness === undefined ? '' : String(consciousness.ts),
  }
}

function encodeGlucoseTrend(trend: GlucoseTrend | undefined): Record<string, string> {
  return {
    [TREND_FIELDS.rate]: trend === undefined ? '' : String(trend.rate),
    [TREND_FIELDS.arrow]: trend?.arrow ?? '',
    [TREND_FIELDS.ts]: trend === undefined ? '' : String(trend.ts),
  }
}

const roundRisk = (x: number): number => Number(x.toFixed(RISK_DECIMALS))

/** The risk fields: '' each when the patient has no risk (no model served), so a risk of an earlier run does not linger. */
export function encodeRisk(risk: RiskState | undefined): Record<string, string> {
  if (risk === undefined) return { [RISK_FIELDS.risk]: '', [RISK_FIELDS.ts]: '', [RISK_FIELDS.model]: '', [RISK_FIELDS.top]: '', [RISK_FIELDS.recent]: '' }
  const top = risk.top.map((c) => ({ feature: c.feature, value: roundRisk(c.value), contribution: roundRisk(c.contribution), text: c.text }))
  return {
    [RISK_FIELDS.risk]: risk.risk.toFixed(RISK_DECIMALS),
    [RISK_FIELDS.ts]: String(risk.ts),
    [RISK_FIELDS.model]: risk.model,
    [RISK_FIELDS.top]: JSON.stringify(top),
    [RISK_FIELDS.recent]: JSON.stringify(risk.recent.map(([ts, r]) => [ts, roundRisk(r)])),
  }
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined || text === '') return undefined
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

function decodeRiskTop(text: string | undefined): RiskContribution[] {
  const raw = parseJson(text)
  if (!Array.isArray(raw)) return []
  const isContribution = (c: unknown): c is RiskContribution => {
    const x = c as Partial<RiskContribution> | null
    return (
      typeof x === 'object' &&
      x !== null &&
      typeof x.feature === 'string' &&
      typeof x.text === 'string' &&
      Number.isFinite(x.value) &&
      Number.isFinite(x.contribution)
    )
  }
  return raw.filter(isContribution).map(({ feature, value, contribution, text }) => ({ feature, value, contribution, text }))
}

/** The `riskRecent` points of a latest hash, oldest first; [] when missing or unreadable. */
export function decodeRiskRecent(hash: Readonly<Record<string, string>>): Array<readonly [ts: number, risk: number]> {
  const raw = parseJson(hash[RISK_FIELDS.recent])
  if (!Array.isArray(raw)) return []
  const isPoint = (p: unknown): p is [number, number] => Array.isArray(p) && p.length === 2 && typeof p[0] === 'number' && typeof p[1] === 'number'
  return raw.filter(isPoint).map(([ts, r]) => [ts, r] as const)
}

/** The risk of a latest hash; undefined when none is stored (no model served) or its probability is unreadable. */
export function decodeRisk(hash: Readonly<Record<string, string>>, fallbackTs: number): RiskState | undefined {
  const risk = num(hash[RISK_FIELDS.risk])
  const model = hash[RISK_FIELDS.model]
  if (risk === undefined || model === undefined || model === '') return undefined
  return { risk, ts: num(hash[RISK_FIELDS.ts]) ?? fallbackTs, model, top: decodeRiskTop(hash[RISK_FIELDS.top]), recent: decodeRiskRecent(hash) }
}

/** The `glucoseRecent` field: the trend window's glucose values as JSON `[[ts,mgdl],...]` ('[]' when none). */
export function encodeGlucoseRecent(points: readonly GlucosePoint[]): Record<string, string> {
  return { [GLUCOSE_RECENT_FIELD]: JSON.stringify(points) }
}

/** The trend window's glucose values of a latest hash; [] when the field is missing or unreadable (an older hash). */
export function decodeGlucoseRecent(hash: Readonly<Record<string, string>>): GlucosePoint[] {
  const text = hash[GLUCOSE_RECENT_FIELD]
  if (text === undefined || text === '') return []
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return []
  }
  if (!Array.isArray(raw)) return []
  const isPoint = (p: unknown): p is [number, number] =>
    Array.isArray(p) && p.length === 2 && Number.isFinite(p[0]) && Number.isFinite(p[1]) && typeof p[0] === 'number' && typeof p[1] === 'number'
  return raw.filter(isPoint).map(([ts, mgdl]) => [ts, mgdl] as const)
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

/** The NEWS2 parameters of a comma-separated field, in chart order (unknown names dropped). */
function decodeParameters(text: string | undefined): News2Parameter[] {
  const names = new Set((text ?? '').split(','))
  return NEWS2_PARAMETERS.filter((p) => names.has(p))
}

function decodeScores(text: string | undefined, counted: readonly News2Parameter[]): Partial<Record<News2Parameter, number>> {
  let raw: unknown
  try {
    raw = JSON.parse(text ?? '{}')
  } catch {
    return {}
  }
  const scores: Partial<Record<News2Parameter, number>> = {}
  if (typeof raw !== 'object' || raw === null) return scores
  for (const p of counted) {
    const s = (raw as Record<string, unknown>)[p]
    if (s === 0 || s === 1 || s === 2 || s === 3) scores[p] = s
  }
  return scores
}

/**
 * The NEWS2 state of a latest hash. A hash written before the state was complete-aware (no
 * `news2Complete`) decodes as partial with risk null: its score was computed from whatever vitals
 * were present, so it says nothing about the parameters it lacked.
 */
export function decodeNews2(hash: Readonly<Record<string, string>>): News2State {
  const complete = hash[NEWS2_FIELDS.complete] === '1'
  const counted = decodeParameters(hash[NEWS2_FIELDS.counted])
  const missing = hash[NEWS2_FIELDS.missing] === undefined ? NEWS2_PARAMETERS.filter((p) => !counted.includes(p)) : decodeParameters(hash[NEWS2_FIELDS.missing])
  const risk = hash[NEWS2_FIELDS.complete] === undefined ? null : (NEWS2_RISKS.find((r) => r === hash[NEWS2_FIELDS.risk]) ?? null)
  return {
    score: num(hash[NEWS2_FIELDS.score]) ?? 0,
    risk,
    complete,
    counted,
    scores: decodeScores(hash[NEWS2_FIELDS.scores], counted),
    missing,
    old: decodeParameters(hash[NEWS2_FIELDS.old]).filter((p) => missing.includes(p)),
    scale: hash[NEWS2_FIELDS.scale] === '2' ? 2 : 1,
  }
}

/** The newest air/oxygen and ACVPU observations of a latest hash (absent when never observed); `fallbackTs` for a missing time. */
export function decodeAssessments(
  hash: Readonly<Record<string, string>>,
  fallbackTs: number,
): { onOxygen?: AssessmentState<boolean>; consciousness?: AssessmentState<Consciousness> } {
  const out: { onOxygen?: AssessmentState<boolean>; consciousness?: AssessmentState<Consciousness> } = {}
  const o = hash[ASSESSMENT_FIELDS.onOxygen]
  if (o === '1' || o === '0') out.onOxygen = { value: o === '1', ts: num(hash[ASSESSMENT_FIELDS.onOxygenTs]) ?? fallbackTs }
  const c = CONSCIOUSNESS_LEVELS.find((l) => l === hash[ASSESSMENT_FIELDS.consciousness])
  if (c !== undefined) out.consciousness = { value: c, ts: num(hash[ASSESSMENT_FIELDS.consciousnessTs]) ?? fallbackTs }
  return out
}

/** The glucose trend of a latest hash, or undefined when none is stored (or it is unreadable). */
export function decodeGlucoseTrend(hash: Readonly<Record<string, string>>, fallbackTs: number): GlucoseTrend | undefined {
  const rate = num(hash[TREND_FIELDS.rate])
  const arrow = TREND_ARROWS.find((a) => a === hash[TREND_FIELDS.arrow])
  if (rate === undefined || arrow === undefined) return undefined
  return { rate, arrow, ts: num(hash[TREND_FIELDS.ts]) ?? fallbackTs }
}

/** A latest hash as a PatientState; null when the hash has no `ts` (unknown patient). */
export function decodeLatest(patientId: string, hash: Readonly<Record<string, string>>): PatientState | null {
  const ts = decodeLatestTs(hash)
  if (ts === undefined) return null
  const state: PatientState = {
    patientId,
    ts,
    status: oneOf(STATUSES, hash.status, 'NORMAL'),
    news2: decodeNews2(hash),
    vitals: decodeLatestVitals(hash, ts),
    ...decodeAssessments(hash, ts),
  }
  const trend = decodeGlucoseTrend(hash, ts)
  if (trend !== undefined) state.glucoseTrend = trend
  const risk = decodeRisk(hash, ts)
  if (risk !== undefined) state.risk = risk
  return state
}
