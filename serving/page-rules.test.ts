import { describe, expect, it } from 'vitest'
import type { PatientState, RiskModelInfo, RiskState } from '../lib/contract/views.ts'
import { ALERT_LEVELS } from '../lib/contract/views.ts'
import { ROLES as MODEL_ROLES, roleAllows as modelRoleAllows, type Requirement } from '../lib/identity/model.ts'
import {
  ALERT_LEVEL_VIEW,
  ROLES,
  ROLE_TEXT,
  agoText,
  alertRank,
  alertStyle,
  canAcknowledge,
  canRunBatch,
  isOld,
  logOddsText,
  news2MissingText,
  news2Text,
  oxygenText,
  patientUrgency,
  riskMeaningText,
  riskModelText,
  riskPercentText,
  riskThresholdText,
  riskTrendText,
  roleAllows,
  SESSION_URGENT_MS,
  SESSION_WARNING_MS,
  sessionEndText,
  sessionWarning,
  showsRisk,
  signInAgainWay,
  tileClass,
  topContributionTexts,
  trendText,
} from '../public/page-rules.js'
import { ALERT_URGENCY } from './open-alerts.ts'
import { completeNews2, news2Of } from './state-fixtures.ts'

const H = 3_600_000
const patient = (over: Partial<PatientState> = {}): PatientState => ({
  patientId: 'p-1',
  ts: 10 * H,
  status: 'NORMAL',
  news2: completeNews2(0),
  vitals: {},
  ...over,
})

describe('news2Text: a complete score with its risk, a partial one as a lower bound, never "low risk"', () => {
  it('labels a complete score with its RCP risk band', () => {
    expect(news2Text(completeNews2(6))).toEqual({ text: 'NEWS2 6 · medium risk', partial: false })
    expect(news2Text(completeNews2(0))).toEqual({ text: 'NEWS2 0 · low risk', partial: false })
    expect(news2Text(completeNews2(7))).toEqual({ text: 'NEWS2 7 · high risk', partial: false })
  })

  it('labels the wearable of the issue (heart rate 115 and SpO2 95 only) as partial, with no risk word', () => {
    // Heart rate 115 (2) and SpO2 95 (1): "NEWS2 3 · low risk" before; respiration, BP, ACVPU and oxygen unknown.
    const n = news2Of({ heartRate: 2, spo2: 1 })
    expect(n.risk).toBeNull()
    expect(news2Text(n)).toEqual({ text: 'NEWS2 ≥ 3 · partial: 2 of 7', partial: true })
    expect(news2Text(n).text).not.toMatch(/low risk/)
  })

  it('says "at least" the band a partial lower bound already reaches', () => {
    expect(news2Text(news2Of({ respRate: 3, spo2: 3, heartRate: 2 })).text).toBe('NEWS2 ≥ 8 · partial: 3 of 7 · at least high risk')
    expect(news2Text(news2Of({ respRate: 3, heartRate: 2 })).text).toBe('NEWS2 ≥ 5 · partial: 2 of 7 · at least medium risk')
    expect(news2Text(news2Of({ spo2: 3 })).text).toBe('NEWS2 ≥ 3 · partial: 1 of 7 · at least low-medium risk')
  })

  it('never shows "low risk" for a partial score, even when the state says low', () => {
    expect(news2Text({ ...news2Of({ heartRate: 0 }), risk: 'low' }).text).toBe('NEWS2 ≥ 0 · partial: 1 of 7')
  })

  it('shows no number when nothing is counted, and a dash for a state it cannot read', () => {
    expect(news2Text(news2Of({})).text).toBe('NEWS2 — · partial: 0 of 7')
    expect(news2Text(undefined)).toEqual({ text: 'NEWS2 —', partial: true })
    // A state without `complete` (an older writer) is not taken as complete.
    expect(news2Text({ score: 0, risk: 'low' } as never)).toEqual({ text: 'NEWS2 — · partial: 0 of 7', partial: true })
  })
})

describe('news2MissingText', () => {
  it('lists what a partial score misses in chart order, the old ones marked', () => {
    const n = news2Of({ heartRate: 1, spo2: 0 }, { old: ['systolic', 'respRate'] })
    expect(news2MissingText(n)).toBe('Missing: Resp. rate (old), Air/O₂, Systolic BP (old), ACVPU, Temperature')
    expect(news2MissingText(completeNews2(3))).toBe('')
  })
})

describe('isOld: dimmed values', () => {
  it("follows the NEWS2 state's old list for a NEWS2 parameter", () => {
    const p = patient({ news2: news2Of({ heartRate: 1 }, { old: ['systolic', 'respRate'] }) })
    expect(isOld('systolic', 10 * H - 6 * H, p)).toBe(true)
    expect(isOld('respRate', 10 * H - 6 * H, p)).toBe(true)
    // Not in `old`: the speed layer's window (configurable) decides, whatever the page's default says.
    expect(isOld('heartRate', 10 * H - H, p)).toBe(false)
  })

  it('judges the other vitals by their window before the newest reading', () => {
    const p = patient()
    expect(isOld('glucose', 10 * H - 15 * 60_000, p)).toBe(false)
    expect(isOld('glucose', 10 * H - 15 * 60_000 - 1, p)).toBe(true)
    expect(isOld('diastolic', 10 * H - 31 * 60_000, p)).toBe(true)
    expect(isOld('diastolic', 10 * H - 29 * 60_000, p)).toBe(false)
  })
})

describe('texts', () => {
  it('ages', () => {
    expect(agoText(45_000)).toBe('45 s ago')
    expect(agoText(6 * 60_000)).toBe('6 min ago')
    expect(agoText(6 * H + 59 * 60_000)).toBe('6 h ago')
    expect(agoText(50 * H)).toBe('2 d ago')
    expect(agoText(-5)).toBe('0 s ago')
  })

  it('the CGM trend with its arrow, a true minus and one decimal', () => {
    expect(trendText({ rate: -1.44, arrow: '↘', ts: 1 })).toBe('↘\u00a0−1.4 mg/dL/min')
    expect(trendText({ rate: 3.25, arrow: '↑↑', ts: 1 })).toBe('↑↑\u00a0+3.3 mg/dL/min')
    expect(trendText({ rate: 0.01, arrow: '→', ts: 1 })).toBe('→\u00a00.0 mg/dL/min')
    expect(trendText(undefined)).toBe('')
  })

  it('air or oxygen', () => {
    expect(oxygenText(true)).toBe('O₂')
    expect(oxygenText(false)).toBe('Air')
  })
})

describe('urgency: NEWS2 ≥ 7 is the most urgent', () => {
  it('orders a NEWS2 7 patient of WARNING vitals above a patient with one critical vital', () => {
    const aggregate = patient({ status: 'WARNING', news2: completeNews2(7) })
    const critical = patient({ status: 'CRITICAL_LOW', news2: completeNews2(3) })
    const medium = patient({ status: 'WARNING', news2: completeNews2(5) })
    const warning = patient({ status: 'WARNING', news2: completeNews2(2) })
    const quiet = patient({ status: 'NORMAL', news2: news2Of({ heartRate: 0 }) })
    const ranks = [aggregate, critical, medium, warning, quiet].map(patientUrgency)
    expect(ranks).toEqual([4, 3, 2, 1, 0])
    expect([aggregate, critical, medium, warning, quiet].map(tileClass)).toEqual(['critical', 'critical', 'warning', 'warning', 'normal'])
  })

  it('colours a partial lower bound of 7 red, and a new confusion (a single 3) amber although every vital is normal', () => {
    expect(tileClass(patient({ news2: news2Of({ respRate: 3, spo2: 3, heartRate: 1 }) }))).toBe('critical')
    expect(tileClass(patient({ news2: news2Of({ consciousness: 3, heartRate: 0 }) }))).toBe('warning')
  })

  it('ranks alert levels as the API does, NEWS2_HIGH first and the technical alarms last', () => {
    const pageOrder = [...ALERT_LEVELS].sort((a, b) => alertRank(a) - alertRank(b) || ALERT_URGENCY.indexOf(a) - ALERT_URGENCY.indexOf(b))
    expect(pageOrder).toEqual(ALERT_URGENCY)
    expect(Object.keys(ALERT_LEVEL_VIEW).sort()).toEqual([...ALERT_LEVELS].sort())
  })
})

describe('alertStyle', () => {
  it.each([
    ['NEWS2_HIGH', 'critical', 'NEWS2 ≥ 7'],
    ['NEWS2_MEDIUM', 'urgent', 'NEWS2 5–6'],
    ['NEWS2_SINGLE_3', 'warning', 'NEWS2 single 3'],
    ['NO_SIGNAL', 'technical', 'No signal'],
    ['STALE', 'stale', 'No data'],
    ['URGENT_LOW_SOON', 'urgent', 'Urgent low soon'],
    ['CRITICAL_LOW', 'critical', 'Critical low'],
    ['WARNING', 'warning', 'Warning'],
    ['RISK_HIGH', 'risk', 'Risk (experimental)'],
  ])('%s is styled %s, "%s"', (level, cls, text) => {
    expect(alertStyle({ level, kind: 'raised' })).toEqual({ cls, text })
  })

  it('a cleared alert is "Cleared" whatever its level; NO_SIGNAL is never critical', () => {
    expect(alertStyle({ level: 'NEWS2_HIGH', kind: 'cleared' })).toEqual({ cls: 'cleared', text: 'Cleared' })
    expect(alertStyle({ level: 'NO_SIGNAL', kind: 'escalated' }).cls).not.toBe('critical')
  })
})

describe('the experimental risk panel: shown only with a served model, said in words', () => {
  const model: RiskModelInfo = {
    version: 'lr-0123456789ab',
    cohort: 'simulator, 140 patients, 7 days',
    horizonMinutes: 60,
    testAuroc: 0.834,
    threshold: { raise: 0.3, clear: 0.2 },
  }
  const risk: RiskState = {
    risk: 0.34,
    ts: 10 * H,
    model: model.version,
    top: [
      { feature: 'heartRate.last', value: 112, contribution: 0.41, text: 'Heart rate 112 bpm' },
      { feature: 'spo2.slope10', value: -2, contribution: 0.8, text: 'SpO2 falling 2.0 %/10 min' },
      { feature: 'temperature.last', value: 36.8, contribution: -0.05, text: 'Temperature 36.8 °C' },
      { feature: 'respRate.mean15', value: 24, contribution: 0.52, text: 'Respiratory rate 15-min mean 24 /min' },
    ],
    recent: [
      [10 * H - 3_600_000, 0.12],
      [10 * H - 1_800_000, 0.36],
      [10 * H, 0.34],
    ],
  }

  it('shows a panel only when a model is served and the patient has a risk that reads as a probability', () => {
    expect(showsRisk(model, patient({ risk }))).toBe(true)
    expect(showsRisk(null, patient({ risk }))).toBe(false)
    expect(showsRisk(undefined, patient({ risk }))).toBe(false)
    expect(showsRisk(model, patient())).toBe(false)
    expect(showsRisk(model, undefined)).toBe(false)
    expect(showsRisk(model, patient({ risk: { ...risk, risk: Number.NaN } }))).toBe(false)
    expect(showsRisk(model, patient({ risk: { ...risk, risk: 1.2 } }))).toBe(false)
  })

  it('writes a risk as a whole percentage, never as none or certain at the ends', () => {
    expect(riskPercentText(0.34)).toBe('34 %')
    expect(riskPercentText(0.005)).toBe('1 %')
    expect(riskPercentText(0.004)).toBe('<1 %')
    expect(riskPercentText(0)).toBe('<1 %')
    expect(riskPercentText(0.996)).toBe('>99 %')
    expect(riskPercentText(1)).toBe('>99 %')
    expect(riskPercentText(Number.NaN)).toBe('—')
  })

  it('signs the log-odds with a true minus, two decimals below 0.1', () => {
    expect(logOddsText(0.8)).toBe('+0.8')
    expect(logOddsText(0.84)).toBe('+0.8')
    expect(logOddsText(-0.3)).toBe('−0.3')
    expect(logOddsText(-0.05)).toBe('−0.05')
    expect(logOddsText(0.004)).toBe('+0.00')
    expect(logOddsText(0)).toBe('±0.00')
  })

  it('lists the three largest contributions by magnitude, largest first, in words with their log-odds', () => {
    expect(topContributionTexts(risk.top)).toEqual([
      { text: 'SpO2 falling 2.0 %/10 min', logOdds: '+0.8' },
      { text: 'Respiratory rate 15-min mean 24 /min', logOdds: '+0.5' },
      { text: 'Heart rate 112 bpm', logOdds: '+0.4' },
    ])
    expect(topContributionTexts([{ feature: 'news2', value: 5, contribution: -1.24, text: 'NEWS2 5' }])).toEqual([{ text: 'NEWS2 5', logOdds: '−1.2' }])
    expect(topContributionTexts(undefined)).toEqual([])
  })

  it("says the last hour's trend, with its peak when the ends do not show it", () => {
    expect(riskTrendText(risk.recent)).toBe('Last hour: 12 % → 34 % (highest 36 %)')
    expect(
      riskTrendText([
        [1, 0.2],
        [2, 0.25],
      ]),
    ).toBe('Last hour: 20 % → 25 %')
    expect(riskTrendText([[1, 0.2]])).toBe('Last hour: 20 %')
    expect(riskTrendText([])).toBe('')
    expect(riskTrendText(undefined)).toBe('')
  })

  it('says what the risk means, where it stands against the threshold, and which model computed it', () => {
    expect(riskMeaningText(model)).toBe('Risk of an episode within 60 min')
    expect(riskThresholdText(0.34, model)).toBe('At or above the alert threshold (30 %)')
    expect(riskThresholdText(0.29, model)).toBe('Below the alert threshold (30 %)')
    expect(riskModelText(model, risk)).toBe('Model lr-0123456789ab · trained on simulator, 140 patients, 7 days · test AUROC 0.83')
    expect(riskModelText({ ...model, testAurocWithinPatients: 0.497 })).toBe(
      'Model lr-0123456789ab · trained on simulator, 140 patients, 7 days · test AUROC 0.83 (0.50 within patients)',
    )
    expect(riskModelText({ ...model, testAuroc: null })).toBe('Model lr-0123456789ab · trained on simulator, 140 patients, 7 days · test AUROC not computed')
    expect(riskModelText(model, { ...risk, model: 'lr-ffffffffffff' })).toContain('this risk is from model lr-ffffffffffff')
  })
})

describe('roles on the page: only what the server would refuse is hidden', () => {
  it('knows the roles of lib/identity/model.ts, in the same order, each with a name', () => {
    expect(ROLES).toEqual(MODEL_ROLES)
    expect(Object.keys(ROLE_TEXT).sort()).toEqual([...MODEL_ROLES].sort())
  })

  it('decides every role against every requirement as the server does', () => {
    const requirements: Requirement[] = ['public', ...MODEL_ROLES]
    for (const role of MODEL_ROLES)
      for (const required of requirements) expect([role, required, roleAllows(role, required)]).toEqual([role, required, modelRoleAllows(role, required)])
  })

  it('offers acknowledging to clinicians and admins only, never to a viewer or an unknown role', () => {
    expect(MODEL_ROLES.filter((r) => canAcknowledge(r))).toEqual(['clinician', 'admin'])
    expect(canAcknowledge(undefined)).toBe(false)
    expect(canAcknowledge('root')).toBe(false)
    expect(MODEL_ROLES.filter((r) => canRunBatch(r))).toEqual(['clinician', 'admin'])
  })
})

describe('sessionEndText', () => {
  it("says why a session ended and that the patients' data is hidden", () => {
    expect(sessionEndText('expired')).toBe('The session expired. Patient data is hidden until you sign in again.')
    expect(sessionEndText('revoked')).toBe(
      'The sign-in was withdrawn (user disabled or removed, or password changed). Patient data is hidden until you sign in again.',
    )
    expect(sessionEndText('signed-out')).toBe('Signed out in another window. Patient data is hidden until you sign in again.')
    expect(sessionEndText(undefined)).toBe('The server no longer accepts this session. Patient data is hidden until you sign in again.')
  })

  it('shows an unknown reason as it came, cut short', () => {
    expect(sessionEndText('maintenance')).toBe('Reason: maintenance. Patient data is hidden until you sign in again.')
    expect(sessionEndText('x'.repeat(500)).length).toBeLessThan(200)
  })
})

describe('sessionWarning: the banner before a session ends', () => {
  const END = 100 * H
  const MIN = 60_000

  it('warns from 30 minutes before the end, with the time and the minutes left, urgent in the last 5', () => {
    expect(SESSION_WARNING_MS).toBe(30 * MIN)
    expect(SESSION_URGENT_MS).toBe(5 * MIN)
    expect(sessionWarning(END, END - 30 * MIN - 1, '19:42')).toBeNull()
    expect(sessionWarning(END, END - 30 * MIN, '19:42')).toEqual({
      text: 'Your session ends at 19:42 (in 30 min): sign in again to keep watching',
      urgent: false,
    })
    expect(sessionWarning(END, END - 12 * MIN, '19:42')).toEqual({
      text: 'Your session ends at 19:42 (in 12 min): sign in again to keep watching',
      urgent: false,
    })
    expect(sessionWarning(END, END - 5 * MIN - 1, '19:42')?.urgent).toBe(false)
    expect(sessionWarning(END, END - 5 * MIN, '19:42')).toEqual({ text: 'Your session ends at 19:42 (in 5 min): sign in again to keep watching', urgent: true })
  })

  it('rounds the minutes up: the last minute reads "in 1 min", and past the end "ended at"', () => {
    expect(sessionWarning(END, END - 4 * MIN - 1, '19:42')?.text).toBe('Your session ends at 19:42 (in 5 min): sign in again to keep watching')
    expect(sessionWarning(END, END - 1, '19:42')?.text).toBe('Your session ends at 19:42 (in 1 min): sign in again to keep watching')
    expect(sessionWarning(END, END, '19:42')).toEqual({ text: 'Your session ended at 19:42: sign in again to keep watching', urgent: true })
    expect(sessionWarning(END, END + 10 * MIN, '19:42')?.text).toBe('Your session ended at 19:42: sign in again to keep watching')
  })

  it("tells the token link's user (VIGIL_TOKEN, who has no password for the sign-in form) to reopen the token link instead", () => {
    expect(signInAgainWay('VIGIL_TOKEN')).toBe('token-link')
    for (const user of ['nurse.kim', 'vigil_token', undefined, null]) expect(signInAgainWay(user)).toBe('form')
    expect(sessionWarning(END, END - 12 * MIN, '19:42', 'token-link')).toEqual({
      text: 'Your session ends at 19:42 (in 12 min): reopen the token link (/login?token=…) to keep watching',
      urgent: false,
    })
    expect(sessionWarning(END, END, '19:42', 'token-link')?.text).toBe('Your session ended at 19:42: reopen the token link (/login?token=…) to keep watching')
    expect(sessionWarning(END, END - 12 * MIN, '19:42', 'form')?.text).toBe('Your session ends at 19:42 (in 12 min): sign in again to keep watching')
  })

  it('says nothing for a credential that does not expire, or a session renewed to more than 30 minutes', () => {
    expect(sessionWarning(null, END, '19:42')).toBeNull()
    expect(sessionWarning(undefined, END, '19:42')).toBeNull()
    expect(sessionWarning(Number.NaN, END, '19:42')).toBeNull()
    // Signed in again: the new session's end is 12 h away.
    expect(sessionWarning(END + 12 * H, END - 4 * MIN, '07:42')).toBeNull()
  })
})
