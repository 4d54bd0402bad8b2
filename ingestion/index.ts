// The device gateway stage (`vigil ingest`): HTTP and FHIR in, `vitals.readings` out. The reading
// schema and topic names it enforces are the shared contract, in lib/contract/.
export { start, type Gateway, type GatewayConfig, type GatewayDeps } from './gateway.ts'
export type { GatewayStats } from './counts.ts'
export { gatewayOptions, gatewayOptionsSchema, type GatewayOptions, type GatewayOptionsInput } from './config.ts'
export { observationToReading, bundleToReadings, parseFhirDateTime, LOINC_VITALS, type FieldError } from './fhir.ts'
