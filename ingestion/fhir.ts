/**
 * FHIR R4 vital-sign Observations (http://hl7.org/fhir/R4/observation-vitalsigns.html) to
 * readings v1 (docs/CONTRACT.md, The reading).
 *
 * - The vital comes from the LOINC code in `code.coding` (LOINC_VITALS); a blood-pressure panel
 *   (85354-9) gives systolic and diastolic from its components (8480-6, 8462-4); a component with
 *   a dataAbsentReason is left out.
 * - The patient id is the id in `subject.reference` (`Patient/123`, a full URL to a Patient, or a
 *   `urn:uuid:`); the device id is the id in `device.reference` (`Device/abc`; `DeviceMetric/abc` becomes `DeviceMetric-abc`),
 *   else `fhir-<patientId>`. FHIR ids ([A-Za-z0-9.-]{1,64}) fit the id policy of schema.ts; an id
 *   that does not is refused here, pointing at the reference it came from.
 * - `ts` comes from effectiveDateTime (or effectiveInstant, or effectivePeriod.start), in any form
 *   FHIR allows: `2014`, `2014-12`, `2014-12-05` (midnight UTC of that day),
 *   `2014-12-05T09:30:10+01:00`, fractional seconds, `Z`. A time without an offset is read as UTC.
 * - Units are UCUM codes, checked per vital and against the LOINC code's property (LOINC_CODES:
 *   a [Mass/volume] glucose code takes mg/dL or g/L, a [Moles/volume] one mmol/L), and converted
 *   to the schema's unit: [degF] and K to Cel, g/L and mmol/L of glucose to mg/dL, kPa to mm[Hg].
 *   Conversions are exact on the decimal sent and never rounded (`affine`); glucose mmol/L runs
 *   through the CGM consensus edge pairs (glucoseMmolToMgDl) and kPa uses 7.5 (KPA_TO_MMHG), so
 *   a value on a band edge in its own unit classifies as that edge. Anything else is refused with
 *   a message naming the field, the unit, the code and the units accepted.
 * - Supplemental oxygen (inspired oxygen flow 3151-8, concentration 3150-0 or 19994-3, alone or
 *   as components of an SpO2 Observation) becomes `onOxygen`, and the ACVPU observation 67775-7
 *   becomes `consciousness` (fhir-assessments.ts, which documents the codes and the rules).
 * - FHIR Observations carry no per-device sequence number, so `seq` is derived from the event
 *   time and the LOINC family: ts x SEQ_PER_MS (16) + index of the family. Re-posting the same
 *   Observation gives the same (deviceId, seq), which is what makes it idempotent downstream, and
 *   two Observations of one device at one instant (heart rate and SpO2) keep distinct keys.
 */
import { idProblem, type Reading, type Vital, type Vitals } from '../lib/contract/schema.ts'
import { affine, type Converter, fahrenheitToCelsius, glucoseMmolToMgDl, KPA_TO_MMHG, kelvinToCelsius, same } from '../lib/contract/units.ts'
import { consciousnessFrom, onOxygenFrom, oxygenComponents } from './fhir-assessments.ts'

const LOINC_SYSTEM = 'http://loinc.org'
const UCUM_SYSTEM = 'http://unitsofmeasure.org'

type Family = 'heartRate' | 'spo2' | 'glucose' | 'bloodPressure' | 'respRate' | 'temperature' | 'systolic' | 'diastolic' | 'oxygen' | 'consciousness'

/**
 * The kind of quantity a LOINC code measures (its Property axis), which fixes the units its value
 * may carry: a [Mass/volume] code (MCnc) takes mg/dL or g/L, a [Moles/volume] code (SCnc) takes
 * mmol/L, and never the other way round.
 */
type Property = 'NRat' | 'MFr' | 'MCnc' | 'SCnc' | 'Pres' | 'Temp' | 'panel' | 'VRat' | 'VFr' | 'Find'

const PROPERTY_WORDS: Readonly<Record<Property, string>> = {
  NRat: 'rate',
  MFr: 'fraction',
  MCnc: 'mass concentration',
  SCnc: 'substance concentration',
  Pres: 'pressure',
  Temp: 'temperature',
  panel: 'panel',
  VRat: 'volume rate',
  VFr: 'volume fraction',
  Find: 'finding',
}

interface LoincCode {
  family: Family
  property: Property
  /** LOINC's long common name. */
  name: string
}

/** The LOINC codes Vigil maps: the vital family each measures and its property (docs/CONTRACT.md, The gateway). */
const LOINC_CODES: Readonly<Record<string, LoincCode>> = {
  '8867-4': { family: 'heartRate', property: 'NRat', name: 'Heart rate' },
  '2708-6': { family: 'spo2', property: 'MFr', name: 'Oxygen saturation in Arterial blood' },
  '59408-5': { family: 'spo2', property: 'MFr', name: 'Oxygen saturation in Arterial blood by Pulse oximetry' },
  '99504-3': { family: 'glucose', property: 'MCnc', name: 'Glucose [Mass/volume] in Interstitial fluid' },
  // The HL7 CGM IG's molar sensor reading (CGMSensorReadingMolesPerVolume), which mmol/L CGMs send.
  '105272-9': { family: 'glucose', property: 'SCnc', name: 'Glucose [Moles/volume] in Interstitial fluid' },
  '2339-0': { family: 'glucose', property: 'MCnc', name: 'Glucose [Mass/volume] in Blood' },
  '15074-8': { family: 'glucose', property: 'SCnc', name: 'Glucose [Moles/volume] in Blood' },
  '2345-7': { family: 'glucose', property: 'MCnc', name: 'Glucose [Mass/volume] in Serum or Plasma' },
  '14749-6': { family: 'glucose', property: 'SCnc', name: 'Glucose [Moles/volume] in Serum or Plasma' },
  '41653-7': { family: 'glucose', property: 'MCnc', name: 'Glucose [Mass/volume] in Capillary blood by Glucometer' },
  '14743-9': { family: 'glucose', property: 'SCnc', name: 'Glucose [Moles/volume] in Capillary blood by Glucometer' },
  '85354-9': { family: 'bloodPressure', property: 'panel', name: 'Blood pressure panel with all children optional' },
  '8480-6': { family: 'systolic', property: 'Pres', name: 'Systolic blood pressure' },
  '8462-4': { family: 'diastolic', property: 'Pres', name: 'Diastolic blood pressure' },
  '9279-1': { family: 'respRate', property: 'NRat', name: 'Respiratory rate' },
  '8310-5': { family: 'temperature', property: 'Temp', name: 'Body temperature' },
  // Supplemental oxygen and ACVPU (fhir-assessments.ts).
  '3151-8': { family: 'oxygen', property: 'VRat', name: 'Inhaled oxygen flow rate' },
  '3150-0': { family: 'oxygen', property: 'VFr', name: 'Inhaled oxygen concentration' },
  '19994-3': { family: 'oxygen', property: 'VFr', name: 'Oxygen/Inspired gas setting [Volume Fraction] Ventilator' },
  '67775-7': { family: 'consciousness', property: 'Find', name: 'Level of responsiveness' },
}

/** LOINC code to the vital family it measures. */
export const LOINC_VITALS: Readonly<Record<string, Family>> = Object.fromEntries(Object.entries(LOINC_CODES).map(([code, c]) => [code, c.family]))

/**
 * `seq` per millisecond of event time: room for one Observation of each family per device and
 * instant (see the header). It was 8 before oxygen and consciousness were mapped.
 */
export const SEQ_PER_MS = 16

/** Position of each family in `seq` (see the header), below SEQ_PER_MS. */
const FAMILY_INDEX: Readonly<Record<Family, number>> = {
  heartRate: 0,
  spo2: 1,
  glucose: 2,
  bloodPressure: 3,
  systolic: 4,
  diastolic: 5,
  respRate: 6,
  temperature: 7,
  oxygen: 8,
  consciousness: 9,
}

/** A UCUM unit a vital accepts: the property it measures and its conversion to the schema's unit. */
interface UnitRule {
  property: Property
  convert: Converter
}

const rate: UnitRule = { property: 'NRat', convert: same }
const pressure = { 'mm[Hg]': { property: 'Pres', convert: same }, kPa: { property: 'Pres', convert: KPA_TO_MMHG } } as const

/** UCUM codes accepted per vital, with the conversion to the schema's unit (docs/CONTRACT.md, The reading). */
const UNITS: Readonly<Record<Vital, Readonly<Record<string, UnitRule>>>> = {
  heartRate: { '/min': rate, '{beats}/min': rate, '{beat}/min': rate, '1/min': rate },
  spo2: { '%': { property: 'MFr', convert: same } },
  glucose: {
    'mg/dL': { property: 'MCnc', convert: same },
    'g/L': { property: 'MCnc', convert: affine(100, 0, 1) },
    'mmol/L': { property: 'SCnc', convert: glucoseMmolToMgDl },
  },
  systolic: pressure,
  diastolic: pressure,
  respRate: { '/min': rate, '{breaths}/min': rate, '{breath}/min': rate, '{Breaths}/min': rate, '1/min': rate },
  temperature: {
    Cel: { property: 'Temp', convert: same },
    '[degF]': { property: 'Temp', convert: fahrenheitToCelsius },
    K: { property: 'Temp', convert: kelvinToCelsius },
  },
}

export interface FieldError {
  /** JSON Pointer (RFC 6901) to the bad field in the request body. */
  pointer: string
  detail: string
  /** Line of an NDJSON body (1-based), when the error is in one. */
  line?: number
}

type FhirResult = { ok: true; reading: Reading } | { ok: false; errors: FieldError[] }

type Json = Record<string, unknown>

function isObject(x: unknown): x is Json {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}

const FHIR_DATETIME = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/

/** Epoch ms of a FHIR date, dateTime or instant; undefined when it is not one. */
export function parseFhirDateTime(text: string): number | undefined {
  const m = FHIR_DATETIME.exec(text.trim())
  if (m === null) return undefined
  const [, y, mo = '01', d = '01', h = '00', mi = '00', s = '00', frac = '', zone] = m
  const month = Number(mo)
  const day = Number(d)
  if (month < 1 || month > 12 || day < 1 || day > 31 || Number(h) > 23 || Number(mi) > 59 || Number(s) > 60) return undefined
  // A leap second (:60) is read as the last millisecond of its minute.
  const sec = Math.min(Number(s), 59)
  const ms = Number(s) === 60 ? 999 : frac.length === 0 ? 0 : Math.floor(Number(`0.${frac}`) * 1000)
  const wall = Date.UTC(Number(y), month - 1, day, Number(h), Number(mi), sec, ms)
  if (new Date(wall).getUTCDate() !== day) return undefined
  if (zone === undefined || zone === 'Z') return wall
  const sign = zone.startsWith('-') ? -1 : 1
  return wall - sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000
}

/** The id of a Patient reference: `Patient/123`, `https://x/fhir/Patient/123/_history/2`, `urn:uuid:...`. */
export function patientIdOf(reference: string): { id: string } | { error: string } {
  const r = referenceOf(reference)
  if ('error' in r) return { error: `"${reference}" is not a reference to a Patient (expected Patient/<id>)` }
  if (r.type !== undefined && r.type !== 'Patient') return { error: `"${reference}" refers to a ${r.type}; the subject of a vital sign must be a Patient` }
  return { id: r.id }
}

/**
 * The device id of a device reference: `Device/abc` (also as a full URL, or `urn:uuid:...`) is
 * `abc`; `DeviceMetric/abc` is `DeviceMetric-abc`, so that a metric and a device sharing an id
 * stay two devices (their sequence numbers are deduplicated per device).
 */
function deviceIdOf(reference: string): { id: string } | { error: string } {
  const r = referenceOf(reference)
  if ('error' in r) return { error: `"${reference}" is not a reference to a Device (expected Device/<id>)` }
  if (r.type === undefined || r.type === 'Device') return { id: r.id }
  if (r.type === 'DeviceMetric') return { id: `DeviceMetric-${r.id}` }
  return { error: `"${reference}" refers to a ${r.type}; the device of a vital sign must be a Device or a DeviceMetric` }
}

/** Type and id of a literal reference; a `urn:` reference has no type. */
function referenceOf(reference: string): { type?: string; id: string } | { error: true } {
  const ref = reference.trim()
  if (ref.startsWith('urn:uuid:') || ref.startsWith('urn:oid:')) return { id: ref.slice(ref.lastIndexOf(':') + 1) }
  const parts = ref.split('/').filter((p) => p.length > 0)
  const history = parts.indexOf('_history')
  const path = history >= 0 ? parts.slice(0, history) : parts
  if (path.length < 2) return { error: true }
  return { type: path[path.length - 2]!, id: path[path.length - 1]! }
}

function loincFamily(code: unknown): { family: Family; code: string } | undefined {
  if (!isObject(code) || !Array.isArray(code.coding)) return undefined
  for (const c of code.coding) {
    if (isObject(c) && c.system === LOINC_SYSTEM && typeof c.code === 'string') {
      const family = LOINC_CODES[c.code]?.family
      if (family !== undefined) return { family, code: c.code }
    }
  }
  return undefined
}

/** The UCUM units `vital` accepts under LOINC `code`: those of the code's property. */
function unitsFor(vital: Vital, code: string): Record<string, UnitRule> {
  const property = LOINC_CODES[code]?.property
  return Object.fromEntries(Object.entries(UNITS[vital]).filter(([, rule]) => rule.property === property))
}

/** The value of a Quantity in the schema's unit, or the errors found; `code` is the LOINC code the value is of. */
function quantity(q: unknown, vital: Vital, code: string, pointer: string, errors: FieldError[]): number | undefined {
  if (!isObject(q)) {
    errors.push({ pointer, detail: `expected a valueQuantity holding the ${vital} value` })
    return undefined
  }
  if (typeof q.value !== 'number' || !Number.isFinite(q.value)) {
    errors.push({ pointer: `${pointer}/value`, detail: `expected a number, received ${JSON.stringify(q.value) ?? 'nothing'}` })
    return undefined
  }
  if (q.system !== undefined && q.system !== UCUM_SYSTEM) {
    errors.push({ pointer: `${pointer}/system`, detail: `expected the UCUM system ${UCUM_SYSTEM}, received ${JSON.stringify(q.system)}` })
    return undefined
  }
  const accepted = unitsFor(vital, code)
  const loinc = LOINC_CODES[code]!
  const units = Object.keys(accepted).join(', ')
  const fitting = `${units} (the ${PROPERTY_WORDS[loinc.property]} units of LOINC ${code}, ${loinc.name})`
  const unit = typeof q.code === 'string' ? q.code : typeof q.unit === 'string' && q.system === undefined ? q.unit : undefined
  if (unit === undefined) {
    errors.push({ pointer: `${pointer}/code`, detail: `expected a UCUM unit code for ${vital}: one of ${fitting}` })
    return undefined
  }
  const rule = accepted[unit]
  if (rule === undefined) {
    const other = UNITS[vital][unit]
    const detail =
      other === undefined
        ? `unit "${unit}" is not accepted for ${vital}: use one of ${fitting}`
        : `unit "${unit}" is a ${PROPERTY_WORDS[other.property]} and does not fit LOINC ${code} (${loinc.name}), a ${PROPERTY_WORDS[loinc.property]}: use one of ${units}, or the LOINC code of what was measured`
    errors.push({ pointer: `${pointer}/code`, detail })
    return undefined
  }
  const value = rule.convert(q.value)
  if (!Number.isFinite(value)) {
    errors.push({ pointer: `${pointer}/value`, detail: `${q.value} ${unit} is not a finite ${vital} in the schema's unit` })
    return undefined
  }
  return value
}

/** The patient an Observation's subject names, or undefined with an error recorded. */
function subjectPatient(obs: Record<string, unknown>, pointer: string, errors: FieldError[]): string | undefined {
  const subject = obs.subject
  if (!isObject(subject) || typeof subject.reference !== 'string') {
    errors.push({ pointer: `${pointer}/subject/reference`, detail: 'expected a reference to the Patient (e.g. "Patient/123")' })
    return undefined
  }
  const p = patientIdOf(subject.reference)
  const problem = 'error' in p ? p.error : idProblem('patientId', p.id)
  if (problem !== undefined) errors.push({ pointer: `${pointer}/subject/reference`, detail: problem })
  return problem === undefined && 'id' in p ? p.id : undefined
}

/** The device an Observation names, else one derived from the patient (`fhir-<patientId>`). */
function observationDevice(obs: Record<string, unknown>, patientId: string | undefined, pointer: string, errors: FieldError[]): string | undefined {
  if (isObject(obs.device) && typeof obs.device.reference === 'string' && obs.device.reference.trim().length > 0) {
    const d = deviceIdOf(obs.device.reference)
    const problem = 'error' in d ? d.error : idProblem('deviceId', d.id)
    if (problem !== undefined) errors.push({ pointer: `${pointer}/device/reference`, detail: problem })
    return problem === undefined && 'id' in d ? d.id : undefined
  }
  if (patientId === undefined) return undefined
  const deviceId = `fhir-${patientId}`
  const problem = idProblem('deviceId', deviceId)
  if (problem === undefined) return deviceId
  errors.push({
    pointer: `${pointer}/device/reference`,
    detail: `the Observation names no device and the patient id is too long to derive one (${problem}): send device.reference`,
  })
  return undefined
}

/** The measurement's time in ms since the epoch: effectiveDateTime, effectiveInstant or effectivePeriod.start. */
function effectiveTime(obs: Record<string, unknown>, pointer: string, errors: FieldError[]): number | undefined {
  let tsPointer = `${pointer}/effectiveDateTime`
  let tsText: unknown = obs.effectiveDateTime
  if (tsText === undefined && obs.effectiveInstant !== undefined) {
    tsPointer = `${pointer}/effectiveInstant`
    tsText = obs.effectiveInstant
  }
  if (tsText === undefined && isObject(obs.effectivePeriod)) {
    tsPointer = `${pointer}/effectivePeriod/start`
    tsText = obs.effectivePeriod.start
  }
  if (tsText === undefined) {
    const detail = 'expected the time of the measurement (effectiveDateTime, effectiveInstant or effectivePeriod.start): Vigil works in event time'
    errors.push({ pointer: `${pointer}/effectiveDateTime`, detail })
    return undefined
  }
  const ts = typeof tsText === 'string' ? parseFhirDateTime(tsText) : undefined
  if (ts === undefined) {
    errors.push({ pointer: tsPointer, detail: `expected a FHIR dateTime such as 2014-12-05T09:30:10+01:00, received ${JSON.stringify(tsText)}` })
    return undefined
  }
  if (ts < 0) {
    errors.push({ pointer: tsPointer, detail: `${String(tsText)} is before 1970-01-01, which readings v1 cannot carry` })
    return undefined
  }
  return ts
}

/** The systolic and diastolic components of a blood-pressure panel. */
function panelVitals(obs: Record<string, unknown>, pointer: string, errors: FieldError[]): Vitals {
  const vitals: Vitals = {}
  const components = Array.isArray(obs.component) ? obs.component : []
  components.forEach((c: unknown, i: number) => {
    if (!isObject(c)) return
    const loinc = loincFamily(c.code)
    const f = loinc?.family
    if (loinc === undefined || (f !== 'systolic' && f !== 'diastolic')) return
    if (c.valueQuantity === undefined && c.dataAbsentReason !== undefined) return
    const v = quantity(c.valueQuantity, f, loinc.code, `${pointer}/component/${i}/valueQuantity`, errors)
    if (v !== undefined) vitals[f] = v
  })
  if (vitals.systolic === undefined && vitals.diastolic === undefined && !errors.some((e) => e.pointer.startsWith(`${pointer}/component`))) {
    errors.push({
      pointer: `${pointer}/component`,
      detail: 'a blood-pressure panel needs a systolic (8480-6) or diastolic (8462-4) component with a valueQuantity',
    })
  }
  return vitals
}

/** What one Observation adds to a reading: vitals, and the oxygen and consciousness assessments. */
type Content = Pick<Reading, 'vitals' | 'onOxygen' | 'consciousness'>

/** The vitals and assessments an Observation of a mapped LOINC family carries. */
function observationContent(obs: Record<string, unknown>, { family, code }: { family: Family; code: string }, pointer: string, errors: FieldError[]): Content {
  if (family === 'bloodPressure') return { vitals: panelVitals(obs, pointer, errors) }
  const valueField = family === 'consciousness' ? 'valueCodeableConcept' : 'valueQuantity'
  if (obs[valueField] === undefined && obs.dataAbsentReason !== undefined) {
    errors.push({ pointer: `${pointer}/${valueField}`, detail: 'the Observation has a dataAbsentReason and no value: there is no reading to record' })
    return { vitals: {} }
  }
  if (family === 'oxygen') return assessed({}, 'onOxygen', onOxygenFrom(obs.valueQuantity, code, `${pointer}/valueQuantity`, errors))
  if (family === 'consciousness') return assessed({}, 'consciousness', consciousnessFrom(obs.valueCodeableConcept, `${pointer}/valueCodeableConcept`, errors))
  const v = quantity(obs.valueQuantity, family, code, `${pointer}/valueQuantity`, errors)
  const vitals: Vitals = v === undefined ? {} : { [family]: v }
  // US Core Pulse Oximetry: the inspired oxygen rides along as components of the SpO2 Observation.
  if (family === 'spo2') return assessed(vitals, 'onOxygen', oxygenComponents(obs.component, `${pointer}/component`, errors))
  return { vitals }
}

/** `vitals` with the assessment `key` set when it is known. */
function assessed<K extends 'onOxygen' | 'consciousness'>(vitals: Vitals, key: K, value: Reading[K] | undefined): Content {
  return value === undefined ? { vitals } : { vitals, [key]: value }
}

/**
 * Maps one Observation to a reading. `pointer` prefixes every error's pointer (e.g.
 * `/entry/2/resource` inside a Bundle).
 */
export function observationToReading(obs: unknown, pointer = ''): FhirResult {
  const errors: FieldError[] = []
  if (!isObject(obs)) return { ok: false, errors: [{ pointer: pointer || '/', detail: 'expected a FHIR Observation object' }] }
  if (obs.resourceType !== 'Observation') {
    errors.push({ pointer: `${pointer}/resourceType`, detail: `expected "Observation", received ${JSON.stringify(obs.resourceType) ?? 'nothing'}` })
    return { ok: false, errors }
  }
  if (obs.status === 'cancelled' || obs.status === 'entered-in-error') {
    errors.push({ pointer: `${pointer}/status`, detail: `an Observation with status "${obs.status}" carries no measurement` })
  }
  const loinc = loincFamily(obs.code)
  if (loinc === undefined) {
    errors.push({
      pointer: `${pointer}/code/coding`,
      detail:
        `no LOINC vital-sign, inspired-oxygen or ACVPU code Vigil maps: expected one of ${Object.keys(LOINC_VITALS).join(', ')} ` +
        `with system ${LOINC_SYSTEM}`,
    })
  }
  const patientId = subjectPatient(obs, pointer, errors)
  const deviceId = observationDevice(obs, patientId, pointer, errors)
  const ts = effectiveTime(obs, pointer, errors)
  const content = loinc === undefined ? { vitals: {} } : observationContent(obs, loinc, pointer, errors)
  if (errors.length > 0 || patientId === undefined || deviceId === undefined || ts === undefined || loinc === undefined) return { ok: false, errors }
  const seq = ts * SEQ_PER_MS + FAMILY_INDEX[loinc.family]
  return { ok: true, reading: { v: 1, patientId, deviceId, ts, seq, ...content } }
}

interface BundleResult {
  readings: Reading[]
  errors: FieldError[]
  /** Entries that are not Observations (Patient, Device, ...): not readings, left out. */
  ignored: number
}

/**
 * Field errors one answer lists at most (the gateway's too): a request is refused whole at its
 * first bad field, so the rest only cost time. Without a bound, a 1 MB array of `{}` held the
 * event loop for 10 s and overflowed the stack.
 */
export const MAX_FIELD_ERRORS = 100

/** Maps every Observation of a Bundle; `errors` lists the bad fields of its entries (the first MAX_FIELD_ERRORS). */
export function bundleToReadings(bundle: unknown): BundleResult {
  const out: BundleResult = { readings: [], errors: [], ignored: 0 }
  if (!isObject(bundle) || bundle.resourceType !== 'Bundle') {
    out.errors.push({ pointer: '/resourceType', detail: 'expected a FHIR Bundle ("resourceType": "Bundle")' })
    return out
  }
  if (!Array.isArray(bundle.entry) || bundle.entry.length === 0) {
    out.errors.push({ pointer: '/entry', detail: 'expected a non-empty array of entries holding Observations' })
    return out
  }
  const entries: unknown[] = bundle.entry
  // The Bundle is refused whole at its first bad entry: past 100 errors, the rest only cost time.
  for (let i = 0; i < entries.length && out.errors.length < MAX_FIELD_ERRORS; i++) {
    const e = entries[i]
    const resource = isObject(e) ? e.resource : undefined
    if (!isObject(resource)) {
      out.errors.push({ pointer: `/entry/${i}/resource`, detail: 'expected a resource' })
      continue
    }
    if (resource.resourceType !== 'Observation') {
      out.ignored++
      continue
    }
    const r = observationToReading(resource, `/entry/${i}/resource`)
    if (r.ok) out.readings.push(r.reading)
    else out.errors.push(...r.errors)
  }
  if (out.errors.length === 0 && out.readings.length === 0) out.errors.push({ pointer: '/entry', detail: 'the Bundle holds no Observation' })
  // In event-time order (seq is ts x SEQ_PER_MS + family): a Bundle may list its Observations in any
  // order, and the speed layer reads a seq more than 32 below its device's highest as a replay, so an
  // earlier Observation sent after a later one of the same device would be dropped as a duplicate.
  out.readings.sort((a, b) => a.seq - b.seq)
  return out
}
