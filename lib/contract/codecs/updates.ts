/**
 * The codec of the `updates` channel (docs/CONTRACT.md, Redis): each message is one `Update` as JSON.
 */
import type { PatientState, Update } from '../views.ts'

export function encodeUpdate(update: Update): string {
  return JSON.stringify(update)
}

/**
 * One patient's part of a `readings` update, from series members already encoded by
 * `encodeSeriesEntry`: the speed layer serialises each entry once, for the series and for the update.
 */
export function encodePatientReadings(patient: PatientState, encodedEntries: readonly string[]): string {
  return `{"patient":${JSON.stringify(patient)},"entries":[${encodedEntries.join(',')}]}`
}

/**
 * A `readings` update from its patients' parts (`encodePatientReadings`). Equal to
 * `encodeUpdate({type: 'readings', patients})` (the codec's tests check it).
 */
export function encodeReadingsUpdate(encodedPatients: readonly string[]): string {
  return `{"type":"readings","patients":[${encodedPatients.join(',')}]}`
}

/**
 * An `alert` update from the event already encoded by `encodeAlertEvent`: the speed layer
 * serialises each event once, for the alerts stream and for the update. Equal to
 * `encodeUpdate({type: 'alert', alert})` (the codec's tests check it).
 */
export function encodeAlertUpdate(encodedEvent: string): string {
  return `{"type":"alert","alert":${encodedEvent}}`
}

/** The message as an Update; throws on a message that is not JSON. Its type is not checked (see UPDATE_TYPES). */
export function decodeUpdate(message: string): Update {
  return JSON.parse(message) as Update
}
