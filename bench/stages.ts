/** The benchmark stages, in the order `vigil bench` runs them (a module of its own, so `vigil --help` loads no benchmark). */
export const BENCH_STAGES = ['edge', 'speed', 'batch', 'parquet', 'serving', 'clients', 'e2e'] as const
export type BenchStage = (typeof BENCH_STAGES)[number]
