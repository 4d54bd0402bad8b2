import { describe, expect, it } from 'vitest'
import { validateReading } from '../lib/contract/schema.ts'
import { bundleToReadings, observationToReading, parseFhirDateTime, patientIdOf } from './fhir.ts'
import { EXPECTED, bodyTemperature, heartRate, bloodPressure } from './fixtures/fhir-vitalsigns-examples.ts'

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
})
