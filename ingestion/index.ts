// The shared vocabulary of Vigil: every layer imports the reading schema and topic names from here.
export * from './schema.ts'
export * from './topics.ts'
