// The shared vocabulary of Vigil: every layer imports the reading schema and topic names from here.
export * from './schema.ts'
export * from './topics.ts'
// The gateway and the producer that edge and gateway share (ingestion's own stage).
export { BatchingProducer, type BatchingProducerOptions, type ProducerRecord, type ProducerStats, type Compression } from './producer.ts'
export { startGateway, type Gateway, type GatewayDeps } from './gateway.ts'
export { gatewayOptions, gatewayOptionsSchema, type GatewayOptions, type GatewayOptionsInput } from './config.ts'
export { observationToReading, bundleToReadings, parseFhirDateTime, LOINC_VITALS, type FieldError } from './fhir.ts'
