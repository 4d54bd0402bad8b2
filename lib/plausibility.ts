/**
 * Which values of a reading are measurements: the physiological plausibility table and the
 * no-signal list, shared by the speed layer's per-field validation (speed-layer/validate.ts) and the
 * batch job's daily statistics (batch-layer/stats-sql.ts), so that both judge a value alike
 * (docs/CLINICAL.md, Validation, one field at a time; docs/CONTRACT.md, Classification).
 */
import type { Vital } from './contract/schema.ts'

/**
 * Physiologically possible values, inclusive, per vital and unit. Outside them a value is a
 * sensor or unit error, not a patient state. The bounds are deliberately wide: extreme but real
 * values (a hyperosmolar glucose of 1 500 mg/dL, a 13.7 °C accidental
 * hypothermia) are classified, not rejected. Each limit's source: docs/CONTRACT.md, Classification.
 */
export const PLAUSIBLE_RANGES: Readonly<Record<Vital, { min: number; max: number; unit: string }>> = Object.freeze({
  /**
   * 0 to 300 bpm; 0 is a no-signal value (NO_SIGNAL_VALUES), not classified. Stated reason for 300: adult tachyarrhythmias reach about 300 bpm (atrial
   * flutter with 1:1 conduction, pre-excited atrial fibrillation); isolated case reports above
   * that exist, but a monitor value over 300 is far more often an artefact (QRS and T counted
   * twice, motion). 300 is deep in CRITICAL_HIGH (>= 131), so nothing clinical is lost. Kept.
   */
  heartRate: { min: 0, max: 300, unit: 'bpm' },
  /** A saturation is a fraction of haemoglobin: 0-100 % by definition. */
  spo2: { min: 0, max: 100, unit: '%' },
  /**
   * 10 mg/dL to 1 500 mg/dL. Low: below the reporting range of meters and CGMs (their floor is
   * 20-40 mg/dL), so a lower number is a device error. High: the hyperosmolar hyperglycaemic state
   * starts at > 600 mg/dL (Kitabchi et al., ADA consensus, Diabetes Care 2009;32:1335-43) and case
   * values reach 1 000-1 500 mg/dL. Kept.
   */
  glucose: { min: 10, max: 1_500, unit: 'mg/dL' },
  /**
   * 20-300 mmHg. Stated reason: 300 mmHg is the top of the usual cuff and transducer measuring
   * range, and a systolic under 20 is a circulatory arrest, not a pressure a device reports. Kept.
   */
  systolic: { min: 20, max: 300, unit: 'mmHg' },
  /** 10-200 mmHg: inside the cuff's 0-300 mmHg range, below any systolic (INCONSISTENT catches the rest). Kept. */
  diastolic: { min: 10, max: 200, unit: 'mmHg' },
  /**
   * 0 (apnoea) to 80 breaths/min: neonatal tachypnoea reaches 60-80+/min, adult rates above
   * ~60/min are not sustained; beyond 80 an impedance or capnography reading is artefact
   * (motion, cardiac oscillation). Kept.
   */
  respRate: { min: 0, max: 80, unit: 'breaths/min' },
  /**
   * Core/body temperature, 10-47 °C. Low: accidental hypothermia is survived far below 25 °C
   * (HT IV, < 24 °C, Swiss staging, Brown et al., NEJM 2012;367:1930-8; lowest survived core
   * temperature 13.7 °C, Gilbert et al., Lancet 2000;355:375-6), so a hypothermic reading must
   * be classified CRITICAL_LOW, never dead-lettered. 10 °C leaves a margin below the lowest
   * survivor (a colder one is possible, and a body is monitored while it is rewarmed); lower is a
   * probe in air or ice. High: the highest survived heat-stroke temperature is about 46.5 °C
   * (Slovis et al., Ann Emerg Med 1982;11:269-71, a case from 1980); 47 °C keeps it and rejects
   * non-body values (a probe in hot water, a °F value taken as °C: 98.6). Skin temperature is out
   * of scope (docs/CONTRACT.md, Classification).
   */
  temperature: { min: 10, max: 47, unit: '°C' },
})

/**
 * Values that mean "no signal", not a measurement: pulse oximeters and wearables report 0 when the
 * probe is off or perfusion is lost (a pulse oximeter finds no pulsatile signal). Vigil's heart
 * rate is pulse-derived, so a 0 is a lost signal, not asystole: detecting asystole is the bedside
 * ECG monitor's own alarm, out of Vigil's scope (docs/CLINICAL.md). Such a field is neither
 * classified nor dead-lettered; the device gets a NO_SIGNAL condition instead.
 */
export const NO_SIGNAL_VALUES: Readonly<Partial<Record<Vital, number>>> = Object.freeze({ heartRate: 0, spo2: 0 })

/**
 * Pairs of one reading's vitals where the first must be below the second: a diastolic not below
 * the systolic of the same reading is refused INCONSISTENT and the systolic kept (the systolic is
 * the NEWS2 parameter and a low one the danger; oscillometric cuffs measure the mean pressure and
 * derive the diastolic least reliably: Alpert BS, Quinn D, Gallick D, "Oscillometric blood
 * pressure: a review for clinicians", J Am Soc Hypertens 2014;8:930-938). The check applies when
 * both values are plausible (PLAUSIBLE_RANGES) and the upper one is kept.
 */
export const MUST_BE_BELOW: readonly { readonly refused: Vital; readonly below: Vital }[] = Object.freeze([{ refused: 'diastolic', below: 'systolic' }])
