/**
 * The two NEWS2 parameters that are observations, not measured vitals, from FHIR R4 Observations
 * (docs/CONTRACT.md, The gateway; docs/CLINICAL.md, Oxygen and consciousness): supplemental oxygen
 * (reading `onOxygen`) and the level of consciousness on the ACVPU scale (reading `consciousness`).
 *
 * Supplemental oxygen. LOINC has no "on oxygen yes/no" code; the inspired oxygen is sent as a
 * flow or a concentration, which the US Core Pulse Oximetry profile (HL7 US Core STU3-STU8) carries
 * as components of the SpO2 Observation, and which may also come as Observations of their own:
 * - 3151-8 Inhaled oxygen flow rate (L/min; mL/min accepted): > 0 is oxygen, 0 is air.
 * - 3150-0 Inhaled oxygen concentration and 19994-3 Oxygen/Inspired gas setting [Volume Fraction]
 *   Ventilator (%): > 21 % is oxygen, 20-21 % is room air (20.9 % O2). A value under 20 % is no
 *   breathable gas on a ward, most often a fraction sent as a percentage (0.21 for 21 %), and is
 *   refused rather than guessed; over 100 % is refused.
 * NEWS2 scores any supplemental oxygen 2, whatever the flow (Royal College of Physicians, National
 * Early Warning Score (NEWS) 2, 2017, Chart 1 "Air or oxygen?"), so only "more than air" matters.
 *
 * Consciousness. 67775-7 Level of responsiveness (the AVPU observation of NEMSIS and the HL7 CDA
 * EMS Run Report, whose value set is the LOINC answers below) with a valueCodeableConcept:
 * LOINC LA9340-6 Alert, LA17108-4 Verbal, LA17107-6 Painful, LA9343-0 Unresponsive, and for the
 * "new confusion" that NEWS2 adds (ACVPU, RCP 2017), LA6560-2 Confused (LOINC's answer for
 * confusion, from the Glasgow coma score verbal list), as national NEWS2 FHIR guides use it; or
 * SNOMED CT 248234008 Mentally alert, 300202002 Responds to voice (255373000 Verbal), 450847001
 * Responds to pain, 422768004 Unresponsive. Any other answer is refused, naming the accepted ones:
 * a level of consciousness guessed wrong would hide or invent a NEWS2 3. 80288-4 Level of
 * consciousness is not mapped: its LOINC answers (alert, lethargic, obtunded, ...) are not ACVPU.
 */
import type { Consciousness } from '../lib/contract/schema.ts'

const LOINC_SYSTEM = 'http://loinc.org'
const SNOMED_SYSTEM = 'http://snomed.info/sct'
const UCUM_SYSTEM = 'http://unitsofmeasure.org'

/** What an oxygen code measures: a flow (L/min) or a fraction of inspired oxygen (%). */
export type OxygenMeasure = 'flow' | 'fio2'

/** The LOINC codes of inspired oxygen Vigil maps to onOxygen, with their names. */
export const OXYGEN_CODES: Readonly<Record<string, { measure: OxygenMeasure; name: string }>> = {
  '3151-8': { measure: 'flow', name: 'Inhaled oxygen flow rate' },
  '3150-0': { measure: 'fio2', name: 'Inhaled oxygen concentration' },
  '19994-3': { measure: 'fio2', name: 'Oxygen/Inspired gas setting [Volume Fraction] Ventilator' },
}

/** The LOINC code of the ACVPU observation. */
export const CONSCIOUSNESS_CODE = '67775-7'

/** Room air is 20.9 % oxygen: an FiO2 up to 21 % is air, above it supplemental oxygen. */
export const ROOM_AIR_FIO2_PERCENT = 21
/** Below this an FiO2 is no breathable gas: a fraction (0.21) sent as a percentage, refused. */
export const MIN_FIO2_PERCENT = 20

/** UCUM units accepted per oxygen measure. */
const OXYGEN_UNITS: Readonly<Record<OxygenMeasure, readonly string[]>> = { flow: ['L/min', 'mL/min'], fio2: ['%'] }

/** ACVPU answers: `system|code` to the level. */
export const ACVPU_ANSWERS: Readonly<Record<string, Consciousness>> = {
  [`${LOINC_SYSTEM}|LA9340-6`]: 'A',
  [`${LOINC_SYSTEM}|LA6560-2`]: 'C',
  [`${LOINC_SYSTEM}|LA17108-4`]: 'V',
  [`${LOINC_SYSTEM}|LA17107-6`]: 'P',
  [`${LOINC_SYSTEM}|LA9343-0`]: 'U',
  [`${SNOMED_SYSTEM}|248234008`]: 'A',
  [`${SNOMED_SYSTEM}|300202002`]: 'V',
  [`${SNOMED_SYSTEM}|255373000`]: 'V',
  [`${SNOMED_SYSTEM}|450847001`]: 'P',
  [`${SNOMED_SYSTEM}|422768004`]: 'U',
}

const ACCEPTED_ANSWERS =
  'LOINC LA9340-6 (A), LA6560-2 (C), LA17108-4 (V), LA17107-6 (P), LA9343-0 (U) or SNOMED CT 248234008 (A), 300202002 (V), 450847001 (P), 422768004 (U)'

/** A problem with the field at `pointer` (the gateway's FieldError shape). */
export interface AssessmentError {
  pointer: string
  detail: string
}

type Json = Record<string, unknown>

function isObject(x: unknown): x is Json {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}

/** The unit of a Quantity: its UCUM code, else its `unit` text when no system is named. */
function unitOf(q: Json): string | undefined {
  if (typeof q.code === 'string') return q.code
  return typeof q.unit === 'string' && q.system === undefined ? q.unit : undefined
}

/** Why `value` (already a number in `unit`) is not a valid `measure`, or undefined. */
function oxygenValueProblem(measure: OxygenMeasure, value: number, code: string): string | undefined {
  if (measure === 'flow') return value < 0 ? `an oxygen flow cannot be negative (LOINC ${code}); got ${value}` : undefined
  if (value > 100) return `an inspired oxygen concentration is at most 100 % (LOINC ${code}); got ${value}`
  if (value < MIN_FIO2_PERCENT) {
    return `an inspired oxygen concentration of ${value} % is not a breathable gas (LOINC ${code}): room air is 21 %; send a fraction such as 0.4 as 40 %`
  }
  return undefined
}

/**
 * Whether the inspired oxygen quantity `q` of LOINC `code` (one of OXYGEN_CODES) means
 * supplemental oxygen: flow > 0, or FiO2 > 21 %. Undefined with an error recorded when the
 * quantity is missing, has another unit, or is not plausible.
 */
export function onOxygenFrom(q: unknown, code: string, pointer: string, errors: AssessmentError[]): boolean | undefined {
  const { measure, name } = OXYGEN_CODES[code]!
  if (!isObject(q) || typeof q.value !== 'number' || !Number.isFinite(q.value)) {
    errors.push({ pointer, detail: `expected a valueQuantity with a number for LOINC ${code} (${name})` })
    return undefined
  }
  if (q.system !== undefined && q.system !== UCUM_SYSTEM) {
    errors.push({ pointer: `${pointer}/system`, detail: `expected the UCUM system ${UCUM_SYSTEM}, received ${JSON.stringify(q.system)}` })
    return undefined
  }
  const unit = unitOf(q)
  const units = OXYGEN_UNITS[measure]
  if (unit === undefined || !units.includes(unit)) {
    const got = unit === undefined ? 'no unit' : `unit "${unit}"`
    errors.push({ pointer: `${pointer}/code`, detail: `${got} does not fit LOINC ${code} (${name}): use ${units.join(' or ')}` })
    return undefined
  }
  const problem = oxygenValueProblem(measure, q.value, code)
  if (problem !== undefined) {
    errors.push({ pointer: `${pointer}/value`, detail: problem })
    return undefined
  }
  return measure === 'flow' ? q.value > 0 : q.value > ROOM_AIR_FIO2_PERCENT
}

/**
 * The ACVPU level a valueCodeableConcept names (the first coding with a known answer), or
 * undefined with an error naming the accepted answers. Two codings naming different levels are
 * refused: the observation contradicts itself.
 */
export function consciousnessFrom(value: unknown, pointer: string, errors: AssessmentError[]): Consciousness | undefined {
  const codings = isObject(value) && Array.isArray(value.coding) ? value.coding : []
  const levels = new Set<Consciousness>()
  const seen: string[] = []
  for (const c of codings) {
    if (!isObject(c) || typeof c.system !== 'string' || typeof c.code !== 'string') continue
    seen.push(`${c.system}|${c.code}`)
    const level = ACVPU_ANSWERS[`${c.system}|${c.code}`]
    if (level !== undefined) levels.add(level)
  }
  if (levels.size === 1) return [...levels][0]
  if (levels.size > 1) {
    errors.push({ pointer: `${pointer}/coding`, detail: `the codings name different ACVPU levels (${[...levels].join(', ')}): send one level` })
    return undefined
  }
  const got = seen.length === 0 ? 'no coding' : seen.join(', ')
  errors.push({ pointer: `${pointer}/coding`, detail: `not an ACVPU level Vigil knows (${got}): expected ${ACCEPTED_ANSWERS}` })
  return undefined
}

/**
 * Supplemental oxygen from the inspired-oxygen components of an SpO2 Observation (US Core Pulse
 * Oximetry): true when any component says oxygen, false when every one says air, undefined when
 * there is none (a component with a dataAbsentReason and no value is left out).
 */
export function oxygenComponents(components: unknown, pointer: string, errors: AssessmentError[]): boolean | undefined {
  if (!Array.isArray(components)) return undefined
  let result: boolean | undefined
  components.forEach((c: unknown, i: number) => {
    if (!isObject(c)) return
    const code = oxygenCodeOf(c.code)
    if (code === undefined || (c.valueQuantity === undefined && c.dataAbsentReason !== undefined)) return
    const on = onOxygenFrom(c.valueQuantity, code, `${pointer}/${i}/valueQuantity`, errors)
    if (on !== undefined) result = result === true || on
  })
  return result
}

/** The first LOINC coding of a CodeableConcept that is an inspired-oxygen code. */
export function oxygenCodeOf(code: unknown): string | undefined {
  if (!isObject(code) || !Array.isArray(code.coding)) return undefined
  for (const c of code.coding) {
    if (isObject(c) && c.system === LOINC_SYSTEM && typeof c.code === 'string' && OXYGEN_CODES[c.code] !== undefined) return c.code
  }
  return undefined
}
