/**
 * Who the simulated patients are: each persona sets baselines, the devices worn and the episodes
 * that happen to them. Patient `p-0001` is the first persona, `p-0002` the second, and so on in a
 * cycle, so a run of 6 or more patients shows every persona and every status path.
 *
 * Device cadences are those of real devices: a wrist band or pulse oximeter reports heart rate
 * and SpO2 every second, a respiratory-rate monitor every 10 s, a CGM glucose every 5 min (Dexcom
 * G6/G7, Libre 2/3), an automatic BP cuff every 15 min (ward observation protocols), a thermometer
 * every 30 min. The nurse's observation round (`obs`) records the two NEWS2 parameters no sensor
 * measures, supplemental oxygen and ACVPU, every hour for every patient: hourly is the RCP's
 * minimum for a NEWS2 of 5 or a single 3 (Royal College of Physicians, National Early Warning
 * Score (NEWS) 2, 2017, "Clinical response to NEWS2 trigger thresholds"), the tightest routine ward round.
 */
import type { Vital } from '../lib/contract/schema.ts'

export type DeviceKind = 'wrist' | 'oximeter' | 'resp' | 'cgm' | 'bp' | 'thermo' | 'obs'

export interface DeviceSpec {
  /** Interval between two readings, in milliseconds of simulated time. */
  periodMs: number
  vitals: readonly Vital[]
  /** Sends onOxygen and consciousness (a nurse observation): its readings have no vitals. */
  assessments?: true
}

export const DEVICES: Readonly<Record<DeviceKind, DeviceSpec>> = {
  wrist: { periodMs: 1_000, vitals: ['heartRate', 'spo2'] },
  oximeter: { periodMs: 1_000, vitals: ['heartRate', 'spo2'] },
  resp: { periodMs: 10_000, vitals: ['respRate'] },
  cgm: { periodMs: 5 * 60_000, vitals: ['glucose'] },
  bp: { periodMs: 15 * 60_000, vitals: ['systolic', 'diastolic'] },
  thermo: { periodMs: 30 * 60_000, vitals: ['temperature'] },
  obs: { periodMs: 60 * 60_000, vitals: [], assessments: true },
}

export type EpisodeKind = 'hypoglycaemia' | 'hyperglycaemia' | 'tachycardia' | 'desaturation' | 'fever' | 'hypotension' | 'hypertensiveCrisis' | 'confusion'

/** Seconds [min, max] of an episode's phases: onset (ramp up), plateau, recovery (ramp down). */
export interface EpisodeShape {
  onsetS: readonly [number, number]
  plateauS: readonly [number, number]
  recoveryS: readonly [number, number]
}

/**
 * Phase lengths follow the physiology: paroxysmal SVT starts and stops within seconds; a
 * desaturation develops over a minute; hypoglycaemia over 5-15 minutes; post-operative fever over
 * tens of minutes. Plateaus last long enough for the slowest device that sees them to sample them.
 */
export const EPISODE_SHAPES: Readonly<Record<EpisodeKind, EpisodeShape>> = {
  tachycardia: { onsetS: [5, 15], plateauS: [90, 240], recoveryS: [5, 20] },
  desaturation: { onsetS: [30, 90], plateauS: [60, 180], recoveryS: [60, 120] },
  hypoglycaemia: { onsetS: [300, 900], plateauS: [900, 1800], recoveryS: [600, 1200] },
  hyperglycaemia: { onsetS: [900, 1800], plateauS: [1800, 3600], recoveryS: [1800, 3600] },
  fever: { onsetS: [1200, 2400], plateauS: [3600, 7200], recoveryS: [1800, 3600] },
  hypotension: { onsetS: [120, 300], plateauS: [1200, 1800], recoveryS: [300, 600] },
  hypertensiveCrisis: { onsetS: [300, 600], plateauS: [1800, 2700], recoveryS: [900, 1800] },
  // Post-operative delirium comes on over minutes and fluctuates over hours (Inouye SK, Westendorp
  // RGJ, Saczynski JS, "Delirium in elderly people", Lancet 2014;383:911-922). The plateau outlasts
  // the hourly observation round (and, at half intensity or more, the patient is "C"), so a round sees it.
  confusion: { onsetS: [120, 600], plateauS: [3900, 5400], recoveryS: [600, 1800] },
}

export type PersonaName = 'healthy' | 'diabetic' | 'copd' | 'postop' | 'tachycardia' | 'hypertensive'

export interface Baselines {
  heartRate: number
  spo2: number
  glucose: number
  systolic: number
  diastolic: number
  respRate: number
  temperature: number
}

export interface Persona {
  name: PersonaName
  description: string
  /** Population means; each patient draws its own around them. */
  baselines: Baselines
  devices: readonly DeviceKind[]
  episodes: readonly EpisodeKind[]
  /** The first episode starts within this many seconds [min, max] of the run's start. */
  firstEpisodeS: readonly [number, number]
  /** Quiet seconds [min, max] between two episodes. */
  gapS: readonly [number, number]
  /** Peak glucose rise after a meal, mg/dL [min, max]: large without endogenous insulin. */
  mealRise: readonly [number, number]
  /** On supplemental oxygen throughout (the nurse's round records it). */
  onOxygen: boolean
  /**
   * The per-patient band presets the persona's chart prescribes (`vigil patient set <id> --band`):
   * the simulator only sends readings, so a run applies them itself when it wants them.
   */
  bands: readonly string[]
}

export const PERSONAS: readonly Persona[] = [
  {
    name: 'healthy',
    description: 'healthy adult',
    baselines: { heartRate: 68, spo2: 98.5, glucose: 92, systolic: 118, diastolic: 76, respRate: 14, temperature: 36.8 },
    devices: ['wrist', 'thermo', 'obs'],
    episodes: [],
    firstEpisodeS: [0, 0],
    gapS: [0, 0],
    mealRise: [20, 35],
    onOxygen: false,
    bands: [],
  },
  {
    name: 'diabetic',
    description: 'type 1 diabetic on a CGM',
    baselines: { heartRate: 74, spo2: 98, glucose: 135, systolic: 124, diastolic: 80, respRate: 15, temperature: 36.8 },
    devices: ['wrist', 'cgm', 'obs'],
    episodes: ['hypoglycaemia', 'hyperglycaemia'],
    firstEpisodeS: [0, 60],
    gapS: [1800, 3600],
    mealRise: [70, 120],
    onOxygen: false,
    bands: [],
  },
  {
    name: 'copd',
    // On controlled oxygen to the hypercapnic target of 88-92 % (O'Driscoll BR et al., BTS guideline for
    // oxygen use in adults in healthcare and emergency settings, Thorax 2017;72:ii1-ii90), which NEWS2
    // scores on SpO2 scale 2 (RCP 2017): the chart prescribes the news2-scale2 preset.
    description: 'COPD patient on controlled oxygen, SpO2 target 88-92 % (NEWS2 scale 2)',
    baselines: { heartRate: 86, spo2: 91, glucose: 105, systolic: 132, diastolic: 84, respRate: 20, temperature: 36.9 },
    devices: ['oximeter', 'resp', 'thermo', 'obs'],
    episodes: ['desaturation', 'desaturation', 'fever'],
    firstEpisodeS: [45, 120],
    gapS: [480, 1200],
    mealRise: [25, 40],
    onOxygen: true,
    bands: ['spo2:news2-scale2'],
  },
  {
    name: 'postop',
    description: 'post-operative patient developing a fever and an episode of new confusion',
    baselines: { heartRate: 82, spo2: 96, glucose: 120, systolic: 122, diastolic: 78, respRate: 17, temperature: 37.3 },
    devices: ['oximeter', 'resp', 'bp', 'thermo', 'obs'],
    episodes: ['fever', 'hypotension', 'desaturation', 'confusion'],
    firstEpisodeS: [0, 30],
    gapS: [600, 1800],
    mealRise: [25, 40],
    onOxygen: false,
    bands: [],
  },
  {
    name: 'tachycardia',
    description: 'patient with paroxysmal tachycardia',
    baselines: { heartRate: 72, spo2: 97, glucose: 95, systolic: 120, diastolic: 78, respRate: 15, temperature: 36.7 },
    devices: ['wrist', 'resp', 'obs'],
    episodes: ['tachycardia'],
    firstEpisodeS: [30, 90],
    gapS: [300, 900],
    mealRise: [20, 35],
    onOxygen: false,
    bands: [],
  },
  {
    name: 'hypertensive',
    description: 'hypertensive patient',
    baselines: { heartRate: 78, spo2: 96, glucose: 110, systolic: 158, diastolic: 96, respRate: 16, temperature: 36.8 },
    devices: ['wrist', 'bp', 'obs'],
    episodes: ['hypertensiveCrisis', 'hypotension'],
    firstEpisodeS: [0, 60],
    gapS: [1800, 3600],
    mealRise: [25, 40],
    onOxygen: false,
    bands: [],
  },
]

/** The persona of the patient with 1-based number `n` (p-0001 is healthy, p-0002 diabetic, ...). */
export function personaOf(n: number): Persona {
  return PERSONAS[(n - 1) % PERSONAS.length]!
}

/** `p-0001`, `p-0002`, ... (at least 4 digits). */
export function patientId(n: number): string {
  return `p-${String(n).padStart(4, '0')}`
}

/** `wrist-0001`, `cgm-0002`, ...: one device of a kind per patient. */
export function deviceId(kind: DeviceKind, n: number): string {
  return `${kind}-${String(n).padStart(4, '0')}`
}
