// Types of page-rules.js for the TypeScript that imports it (the serving layer's unit tests).
import type { GlucoseTrend, News2Parameter, News2Risk, News2State, PatientState, RiskContribution, RiskModelInfo, RiskState } from '../lib/contract/views.ts'

export declare const NEWS2_LABELS: Readonly<Record<News2Parameter, string>>
export declare const RISK_TEXT: Readonly<Record<News2Risk, string>>
export declare const FRESHNESS_MS: Readonly<Record<string, number>>
export declare const ACVPU_TEXT: Readonly<Record<'A' | 'C' | 'V' | 'P' | 'U', string>>
export declare function news2Text(news2: News2State | undefined): { text: string; partial: boolean }
export declare function news2MissingText(news2: News2State | undefined): string
export declare function isOld(key: string, ts: number, p: PatientState): boolean
export declare function agoText(ms: number): string
export declare function trendText(trend: GlucoseTrend | undefined): string
export declare function oxygenText(onOxygen: boolean): string
export declare function patientUrgency(p: PatientState): number
export declare function tileClass(p: PatientState): 'critical' | 'warning' | 'normal'
export type AlertClass = 'critical' | 'urgent' | 'warning' | 'risk' | 'technical' | 'stale' | 'cleared'
export declare const ALERT_LEVEL_VIEW: Readonly<Record<string, { cls: AlertClass; text: string }>>
export declare function alertStyle(a: { level: string; kind?: string }): { cls: AlertClass; text: string }
export declare function alertRank(level: string): number
export declare function showsRisk(model: RiskModelInfo | null | undefined, p: PatientState | undefined): boolean
export declare function riskPercentText(risk: number): string
export declare function logOddsText(logOdds: number): string
export declare function topContributionTexts(top: RiskContribution[] | undefined): Array<{ text: string; logOdds: string }>
export declare function riskTrendText(recent: ReadonlyArray<readonly [number, number]> | undefined): string
export declare function riskMeaningText(model: RiskModelInfo): string
export declare function riskThresholdText(risk: number, model: RiskModelInfo): string
export declare function riskModelText(model: RiskModelInfo, risk?: RiskState): string
export declare const ROLES: readonly ['viewer', 'clinician', 'admin']
export declare const ROLE_TEXT: Readonly<Record<'viewer' | 'clinician' | 'admin', string>>
export declare function roleAllows(role: string | undefined, required: string): boolean
export declare function canAcknowledge(role: string | undefined): boolean
export declare function canRunBatch(role: string | undefined): boolean
export declare function sessionEndText(reason: unknown): string
export declare const SESSION_WARNING_MS: number
export declare const SESSION_URGENT_MS: number
export declare function signInAgainWay(user: unknown): 'token-link' | 'form'
export declare function sessionWarning(
  expiresAt: number | null | undefined,
  now: number,
  endsAt: string,
  way?: 'token-link' | 'form',
): { text: string; urgent: boolean } | null
