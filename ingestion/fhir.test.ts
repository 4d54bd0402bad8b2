import { describe, expect, it } from 'vitest'
import { validateReading } from '../lib/contract/schema.ts'
import { bundleToReadings, observationToReading, parseFhirDateTime, patientIdOf } from './fhir.ts'
import { EXPECTED, bodyTemperature, heartRate, bloodPressure, satO2 } from './fixtures/fhir-vitalsigns-examples.ts'

describe('FHIR R4 vital-signs profile examples', () => {
  it.each(EXPECTED)('maps the $name example to the expected reading v1', ({ obs, reading }) => {
    const r = observationToReading(obs)
    expect(r).toEqual({ ok: true, reading })
    expect(validateReading(reading).ok).toBe(true)
  })
})

describe('FHIR dateTime', () => {
  it.each([
    ['2014', Date.UTC(2014, 0, 1)],
    ['2014-12', Date.UTC(2014, 11, 1)],
    ['2014-12-05', Date.UTC(2014, 11, 5)],
    ['2014-12-05T09:30:10+01:00', Date.UTC(2014, 11, 5, 8, 30, 10)],
    ['2014-12-05T09:30:10.123Z', Date.UTC(2014, 11, 5, 9, 30, 10, 123)],
    ['2014-12-05T09:30:10-05:30', Date.UTC(2014, 11, 5, 15, 0, 10)],
    ['2014-12-05T09:30:10', Date.UTC(2014, 11, 5, 9, 30, 10)],
  ])('reads %s', (text, ms) => {
    expect(parseFhirDateTime(text)).toBe(ms)
  })

  it.each(['05/12/2014', '2014-13-01', '2014-02-30', '2014-12-05T25:00:00Z', 'today'])('refuses %s', (text) => {
    expect(parseFhirDateTime(text)).toBeUndefined()
  })
})

describe('FHIR mapping', () => {
  it('takes the patient id from any form of subject.reference and refuses a non-Patient subject', () => {
    expect(patientIdOf('Patient/123')).toEqual({ id: '123' })
    expect(patientIdOf('https://fhir.example.org/r4/Patient/p-0001/_history/3')).toEqual({ id: 'p-0001' })
    expect(patientIdOf('urn:uuid:8499029f-70ec-4919-88a9-938d8ad56397')).toEqual({ id: '8499029f-70ec-4919-88a9-938d8ad56397' })
    expect(patientIdOf('Group/12')).toEqual({ error: expect.stringMatching(/refers to a Group/) })
  })

  it('takes the device id from device.reference and refuses ids outside the id policy, pointing at the reference', () => {
    expect(observationToReading({ ...heartRate, device: { reference: 'https://fhir.example.org/r4/Device/monitor-7/_history/1' } })).toMatchObject({
      ok: true,
      reading: { patientId: 'example', deviceId: 'monitor-7' },
    })
    expect(observationToReading({ ...heartRate, device: { reference: 'DeviceMetric/monitor-7' } })).toMatchObject({
      ok: true,
      reading: { deviceId: 'DeviceMetric-monitor-7' },
    })
    expect(observationToReading({ ...heartRate, device: { reference: 'Location/ward-3' } })).toMatchObject({ ok: false })
    expect(observationToReading({ ...heartRate, subject: { reference: 'Patient/\u0440-1' } })).toEqual({
      ok: false,
      errors: [{ pointer: '/subject/reference', detail: expect.stringContaining('got a non-ASCII character U+0440 at position 1') }],
    })
    expect(observationToReading({ ...heartRate, device: { reference: 'Device/a<b>' } })).toEqual({
      ok: false,
      errors: [{ pointer: '/device/reference', detail: expect.stringContaining('got "<" at position 2') }],
    })
    expect(observationToReading({ ...heartRate, subject: { reference: `Patient/${'p'.repeat(64)}` } })).toEqual({
      ok: false,
      errors: [{ pointer: '/device/reference', detail: expect.stringContaining('send device.reference') }],
    })
  })

  it('converts [degF] to Cel and refuses a unit UCUM cannot convert, naming the field', () => {
    const f = observationToReading({ ...bodyTemperature, valueQuantity: { value: 98.6, unit: '°F', system: 'http://unitsofmeasure.org', code: '[degF]' } })
    expect(f).toMatchObject({ ok: true, reading: { vitals: { temperature: 37 } } })
    const bad = observationToReading({ ...heartRate, valueQuantity: { value: 1.2, system: 'http://unitsofmeasure.org', code: 'Hz' } })
    expect(bad).toEqual({
      ok: false,
      errors: [{ pointer: '/valueQuantity/code', detail: expect.stringMatching(/unit "Hz" is not accepted for heartRate: use one of \/min/) }],
    })
  })

  it('names every bad field at once', () => {
    const r = observationToReading({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '1234-5' }] },
      subject: { reference: 'Device/1' },
      effectiveDateTime: 'yesterday',
    })
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.errors.map((e) => e.pointer)).toEqual(['/code/coding', '/subject/reference', '/effectiveDateTime'])
  })

  it('refuses an Observation without a time or without a value', () => {
    const { effectiveDateTime: _omit, ...noTime } = heartRate
    expect(observationToReading(noTime)).toMatchObject({ ok: false, errors: [{ pointer: '/effectiveDateTime' }] })
    const { valueQuantity: _v, ...noValue } = heartRate
    expect(observationToReading(noValue)).toMatchObject({ ok: false, errors: [{ pointer: '/valueQuantity' }] })
    const cancelled = observationToReading({ ...bloodPressure, status: 'cancelled', component: [] })
    expect(cancelled).toMatchObject({ ok: false, errors: [{ pointer: '/status' }, { pointer: '/component' }] })
  })

  it('maps a Bundle entry by entry, leaves other resources out and points at the bad entry', () => {
    const ok = bundleToReadings({
      resourceType: 'Bundle',
      type: 'collection',
      entry: [{ resource: heartRate }, { resource: { resourceType: 'Patient', id: 'example' } }, { resource: bloodPressure }],
    })
    expect(ok.errors).toEqual([])
    expect(ok.ignored).toBe(1)
    expect(ok.readings.map((r) => r.vitals)).toEqual([{ heartRate: 44 }, { systolic: 107, diastolic: 60 }])
    const bad = bundleToReadings({
      resourceType: 'Bundle',
      entry: [{ resource: heartRate }, { resource: { ...heartRate, valueQuantity: { value: 'fast', code: '/min' } } }],
    })
    expect(bad.errors).toEqual([{ pointer: '/entry/1/resource/valueQuantity/value', detail: 'expected a number, received "fast"' }])
  })

  it("puts a Bundle's readings in event-time order, whatever the order of its entries", () => {
    const at = (iso: string, value: number) => ({ resource: { ...heartRate, effectiveDateTime: iso, valueQuantity: { ...heartRate.valueQuantity, value } } })
    const b = bundleToReadings({
      resourceType: 'Bundle',
      entry: [at('2026-01-05T10:00:05Z', 130), at('2026-01-05T10:00:00Z', 140), at('2026-01-05T10:00:03Z', 135)],
    })
    expect(b.errors).toEqual([])
    // One device (the same Observation source): a later seq first would make the earlier ones look like replays.
    expect(b.readings.map((r) => [r.ts, r.vitals.heartRate])).toEqual([
      [Date.parse('2026-01-05T10:00:00Z'), 140],
      [Date.parse('2026-01-05T10:00:03Z'), 135],
      [Date.parse('2026-01-05T10:00:05Z'), 130],
    ])
    expect(b.readings.map((r) => r.seq)).toEqual([...b.readings.map((r) => r.seq)].sort((x, y) => x - y))
  })
})

describe('supplemental oxygen and ACVPU (fhir-assessments.ts)', () => {
  const base = {
    resourceType: 'Observation',
    status: 'final',
    subject: { reference: 'Patient/p-0001' },
    device: { reference: 'Device/obs-0001' },
    effectiveDateTime: '2026-03-01T10:00:00Z',
  }
  const ts = Date.UTC(2026, 2, 1, 10)
  const loinc = (code: string) => ({ coding: [{ system: 'http://loinc.org', code }] })
  const oxygen = (code: string, value: number, unit: string) => ({
    ...base,
    code: loinc(code),
    valueQuantity: { value, system: 'http://unitsofmeasure.org', code: unit },
  })
  const acvpu = (...coding: { system: string; code: string }[]) => ({ ...base, code: loinc('67775-7'), valueCodeableConcept: { coding } })

  it.each<[string, Record<string, unknown>, boolean]>([
    ['an O2 flow of 2 L/min', oxygen('3151-8', 2, 'L/min'), true],
    ['an O2 flow of 0.5 L/min', oxygen('3151-8', 0.5, 'L/min'), true],
    ['an O2 flow of 500 mL/min', oxygen('3151-8', 500, 'mL/min'), true],
    ['an O2 flow of 0 L/min (air)', oxygen('3151-8', 0, 'L/min'), false],
    ['an FiO2 of 28 %', oxygen('3150-0', 28, '%'), true],
    ['an FiO2 of 21.5 %', oxygen('3150-0', 21.5, '%'), true],
    ['an FiO2 of 21 % (room air)', oxygen('3150-0', 21, '%'), false],
    ['an FiO2 of 20.9 % (room air)', oxygen('3150-0', 20.9, '%'), false],
    ['a ventilator O2 setting of 40 %', oxygen('19994-3', 40, '%'), true],
    ['a ventilator O2 setting of 100 %', oxygen('19994-3', 100, '%'), true],
  ])('maps %s to onOxygen, with empty vitals', (_name, obs, onOxygen) => {
    const r = observationToReading(obs)
    expect(r).toEqual({ ok: true, reading: { v: 1, patientId: 'p-0001', deviceId: 'obs-0001', ts, seq: ts * 16 + 8, vitals: {}, onOxygen } })
    if (r.ok) expect(validateReading(r.reading).ok).toBe(true)
  })

  it.each<[string, Record<string, unknown>, string, string]>([
    ['a negative flow', oxygen('3151-8', -1, 'L/min'), '/valueQuantity/value', 'cannot be negative'],
    ['an FiO2 sent as a fraction', oxygen('3150-0', 0.21, '%'), '/valueQuantity/value', 'send a fraction such as 0.4 as 40 %'],
    ['an FiO2 over 100 %', oxygen('3150-0', 101, '%'), '/valueQuantity/value', 'at most 100 %'],
    ['a flow in %', oxygen('3151-8', 2, '%'), '/valueQuantity/code', 'unit "%" does not fit LOINC 3151-8 (Inhaled oxygen flow rate): use L/min or mL/min'],
    ['an FiO2 as a UCUM fraction', oxygen('3150-0', 0.4, '1'), '/valueQuantity/code', 'does not fit LOINC 3150-0'],
    ['a flow without a value', { ...base, code: loinc('3151-8') }, '/valueQuantity', 'expected a valueQuantity with a number'],
  ])('refuses %s, naming the field', (_name, obs, pointer, detail) => {
    expect(observationToReading(obs)).toEqual({ ok: false, errors: [{ pointer, detail: expect.stringContaining(detail) }] })
  })

  it.each<[string, string, string]>([
    ['http://loinc.org', 'LA9340-6', 'A'],
    ['http://loinc.org', 'LA6560-2', 'C'],
    ['http://loinc.org', 'LA17108-4', 'V'],
    ['http://loinc.org', 'LA17107-6', 'P'],
    ['http://loinc.org', 'LA9343-0', 'U'],
    ['http://snomed.info/sct', '248234008', 'A'],
    ['http://snomed.info/sct', '300202002', 'V'],
    ['http://snomed.info/sct', '450847001', 'P'],
    ['http://snomed.info/sct', '422768004', 'U'],
  ])('maps the ACVPU answer %s|%s to %s', (system, code, level) => {
    const r = observationToReading(acvpu({ system, code }))
    expect(r).toEqual({ ok: true, reading: { v: 1, patientId: 'p-0001', deviceId: 'obs-0001', ts, seq: ts * 16 + 9, vitals: {}, consciousness: level } })
  })

  it('refuses an unknown or contradictory ACVPU answer, naming the accepted ones', () => {
    expect(observationToReading(acvpu({ system: 'http://loinc.org', code: 'LA6561-0' }))).toEqual({
      ok: false,
      errors: [
        {
          pointer: '/valueCodeableConcept/coding',
          detail: expect.stringMatching(/^not an ACVPU level Vigil knows \(http:\/\/loinc.org\|LA6561-0\): expected LOINC LA9340-6 \(A\)/),
        },
      ],
    })
    expect(observationToReading({ ...base, code: loinc('67775-7'), valueCodeableConcept: { text: 'Alert' } })).toMatchObject({
      ok: false,
      errors: [{ pointer: '/valueCodeableConcept/coding', detail: expect.stringContaining('(no coding)') }],
    })
    const both = acvpu({ system: 'http://loinc.org', code: 'LA9340-6' }, { system: 'http://snomed.info/sct', code: '422768004' })
    expect(observationToReading(both)).toMatchObject({ ok: false, errors: [{ detail: expect.stringContaining('different ACVPU levels (A, U)') }] })
    const agreeing = acvpu({ system: 'http://loinc.org', code: 'LA6560-2' }, { system: 'http://example.org/local', code: 'new-confusion' })
    expect(observationToReading(agreeing)).toMatchObject({ ok: true, reading: { consciousness: 'C' } })
  })

  it('does not map 80288-4 (its answers are not ACVPU), saying which codes it maps', () => {
    const r = observationToReading({ ...acvpu({ system: 'http://loinc.org', code: 'LA9340-6' }), code: loinc('80288-4') })
    expect(r).toMatchObject({ ok: false, errors: [{ pointer: '/code/coding', detail: expect.stringContaining('3151-8, 3150-0, 19994-3, 67775-7') }] })
  })

  it('reads the inspired oxygen components of a US Core pulse oximetry Observation', () => {
    const flow = (value: number) => ({ code: loinc('3151-8'), valueQuantity: { value, unit: 'L/min', system: 'http://unitsofmeasure.org', code: 'L/min' } })
    const fio2 = (value: number) => ({ code: loinc('3150-0'), valueQuantity: { value, unit: '%', system: 'http://unitsofmeasure.org', code: '%' } })
    const pulseOx = (component: unknown[]) => ({ ...satO2, component })
    expect(observationToReading(pulseOx([flow(6)]))).toMatchObject({ ok: true, reading: { vitals: { spo2: 95 }, onOxygen: true } })
    expect(observationToReading(pulseOx([flow(0), fio2(21)]))).toMatchObject({ ok: true, reading: { vitals: { spo2: 95 }, onOxygen: false } })
    expect(observationToReading(pulseOx([fio2(21), flow(2)]))).toMatchObject({ ok: true, reading: { onOxygen: true } })
    const absent = observationToReading(pulseOx([{ code: loinc('3151-8'), dataAbsentReason: { text: 'not asked' } }]))
    expect(absent.ok && 'onOxygen' in absent.reading).toBe(false)
    expect(observationToReading(pulseOx([fio2(0.3)]))).toMatchObject({ ok: false, errors: [{ pointer: '/component/0/valueQuantity/value' }] })
    const plain = observationToReading(satO2)
    expect(plain.ok && 'onOxygen' in plain.reading).toBe(false)
  })

  it('keeps distinct seqs for the SpO2, oxygen and ACVPU Observations of one device at one instant', () => {
    const seqs = [oxygen('3151-8', 2, 'L/min'), acvpu({ system: 'http://loinc.org', code: 'LA9340-6' }), { ...satO2, ...base }].map((o) => {
      const r = observationToReading(o)
      return r.ok ? r.reading.seq : -1
    })
    expect(seqs).toEqual([ts * 16 + 8, ts * 16 + 9, ts * 16 + 1])
  })
})
