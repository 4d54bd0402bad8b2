/**
 * `vigil bench`: the benchmarks of every stage and the end-to-end run, with sizes short enough
 * for a shared 2-core machine (`--quick` shorter still), as one table and one JSON document.
 * Each stage runs on its own topic prefix, Redis prefix and temporary lake; one that fails is
 * reported with its error and the others still run. The run states the machine it ran on,
 * since every figure depends on it (and on what else ran meanwhile: the load average).
 */
import os from 'node:os'
import type { Config } from '../lib/config.ts'
import { describeError } from '../lib/errors.ts'
import { benchEdge, type EdgeBenchResult } from './edge.ts'
import { runSpeedBench, type SpeedBenchResult } from './speed.ts'
import { runBatchBench, type BatchBenchResult } from './batch.ts'
import { runParquetBench, type ParquetBenchResult } from './parquet.ts'
import { runServingBench, type ServingBenchResult } from './serving.ts'
import { runClientsBench, type ClientsBenchResult } from './clients.ts'
import { runE2eBench, type E2ePhaseResult } from './e2e.ts'
import { BENCH_STAGES, type BenchStage } from './stages.ts'
import { DRAIN_AIMS, type DrainFigures } from './drain.ts'

export { BENCH_STAGES, type BenchStage }

/** The end-to-end aims of the project, reported against (never tuned). */
export const E2E_AIMS = { sustainedReadingsPerSecond: 30_000, steadyBrowserP99Ms: 250 } as const

export interface BenchOptions {
  config: Config
  /** Stages to run, in BENCH_STAGES order. @defaultValue all */
  only?: readonly BenchStage[]
  /** Shorter runs (a smoke test of the benchmarks more than a measurement). */
  quick?: boolean
  /** Readings pre-filled for each drain of the speed layer and the archiver. @defaultValue 1 000 000 (30 000 with quick) */
  drainReadings?: number
  /** Patient counts of the drains, each on its own pre-filled topic. @defaultValue 100, 1 000 and 10 000 */
  drainPatients?: readonly number[]
  /** One line as each stage starts and ends. */
  progress?: (line: string) => void
}

export interface MachineInfo {
  cpus: number
  cpuModel: string
  totalMemGiB: number
  freeMemGiBAtStart: number
  loadAvgAtStart: number[]
  loadAvgAtEnd: number[]
  platform: string
  node: string
}

/** One line of the table. Throughput is in `unit`; null where it does not apply. */
export interface BenchRow {
  stage: BenchStage
  measurement: string
  throughput: number | null
  unit: string
  p50Ms: number | null
  p99Ms: number | null
  /** Percent of one core, or CPU per item, as the stage's benchmark measures it. */
  cpu: string
  peakMemMb: number | null
  /** The aim and whether it was met, where there is one. */
  aim: string
}

export interface BenchReport {
  startedAt: string
  seconds: number
  machine: MachineInfo
  quick: boolean
  rows: BenchRow[]
  results: Partial<{
    edge: EdgeBenchResult[]
    speed: SpeedBenchResult
    batch: BatchBenchResult
    parquet: ParquetBenchResult[]
    serving: ServingBenchResult
    clients: ClientsBenchResult
    e2e: E2ePhaseResult[]
  }>
  errors: Partial<Record<BenchStage, string>>
}

const load = () => os.loadavg().map((x) => Math.round(x * 100) / 100)

function machineAtStart(): MachineInfo {
  return {
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    totalMemGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    freeMemGiBAtStart: Math.round((os.freemem() / 2 ** 30) * 10) / 10,
    loadAvgAtStart: load(),
    loadAvgAtEnd: [],
    platform: `${os.platform()} ${os.release()}`,
    node: process.version,
  }
}

const met = (ok: boolean) => (ok ? 'met' : 'MISSED')

/** ` (+ redis 8.1, kafka 2.3)`: the services' CPU per item over the same drain, where measured. */
function servicesCpu(services: DrainFigures['services']): string {
  const parts = Object.entries(services).map(([name, us]) => `${name} ${us}`)
  return parts.length === 0 ? '' : ` (+ ${parts.join(', ')})`
}

function row(stage: BenchStage, measurement: string, r: Partial<BenchRow>): BenchRow {
  return { stage, measurement, throughput: null, unit: '', p50Ms: null, p99Ms: null, cpu: '', peakMemMb: null, aim: '', ...r }
}

/** Runs the chosen stages one after the other (never two at once: they share the cores). */
export async function runBench(options: BenchOptions): Promise<BenchReport> {
  const quick = options.quick === true
  const only = new Set(options.only ?? BENCH_STAGES)
  const progress = options.progress ?? (() => undefined)
  const config = options.config
  const drainReadings = options.drainReadings ?? (quick ? 30_000 : 1_000_000)
  const drainPatients = options.drainPatients ?? [100, 1_000, 10_000]
  const started = Date.now()
  const report: BenchReport = { startedAt: new Date(started).toISOString(), seconds: 0, machine: machineAtStart(), quick, rows: [], results: {}, errors: {} }
  const rows = report.rows

  const stages: Record<BenchStage, () => Promise<void>> = {
    async edge() {
      const r = await benchEdge(config, { seconds: quick ? 2 : 5, patients: 1_000 })
      report.results.edge = r
      for (const e of r) {
        rows.push(
          row('edge', e.name, {
            throughput: e.readingsPerSecond,
            unit: 'readings/s',
            cpu: `${e.cpuMicrosPerReading} µs/reading`,
            aim: `≥ ${e.aim}: ${met(e.readingsPerSecond >= e.aim)}`,
          }),
        )
      }
    },
    async speed() {
      const r = await runSpeedBench({ readings: drainReadings, patients: drainPatients, rate: 5_000, seconds: quick ? 5 : 10, config, progress })
      report.results.speed = r
      for (const run of r.runs) {
        const aims = r.aims.filter((a) => a.patients === run.patients).map((a) => `${a.aim}: ${met(a.met)}`)
        rows.push(
          row('speed', `drain of ${run.readings} readings, ${run.patients} patients`, {
            throughput: run.drain.perSecond,
            unit: 'readings/s',
            cpu: run.drain.cpuMicrosPerItem === null ? '' : `${run.drain.cpuMicrosPerItem} µs/reading${servicesCpu(run.drain.services)}`,
            peakMemMb: run.drain.peakRssMb,
            aim: aims.join('; '),
          }),
        )
        for (const c of run.clients)
          rows.push(
            row('speed', `bare consume, ${c.client}${c.error === undefined ? '' : `: FAILED: ${c.error}`}`, {
              throughput: c.messagesPerSecond,
              unit: 'messages/s',
              cpu: c.cpuMicrosPerMessage === null ? '' : `${c.cpuMicrosPerMessage} µs/message`,
            }),
          )
        if (run.latency !== undefined)
          rows.push(
            row('speed', `produce -> Redis at ${run.latency.rate}/s, ${run.patients} patients`, {
              throughput: run.latency.rate,
              unit: 'readings/s',
              p50Ms: run.latency.p50Ms,
              p99Ms: run.latency.p99Ms,
            }),
          )
      }
    },
    async batch() {
      const r = await runBatchBench({ drainRows: drainReadings, patients: drainPatients, batchRows: quick ? 500_000 : 2_000_000, config, progress })
      report.results.batch = r
      for (const d of r.archiverDrain ?? [])
        rows.push(
          row('batch', `archiver drain of ${d.rows} rows, ${d.patients} patients (${d.files} files)`, {
            throughput: d.drain.perSecond,
            unit: 'rows/s',
            cpu: d.drain.cpuMicrosPerItem === null ? '' : `${d.drain.cpuMicrosPerItem} µs/row${servicesCpu(d.drain.services)}`,
            peakMemMb: d.drain.peakRssMb,
            aim: `≥ ${DRAIN_AIMS.archiver / 1000}k rows/s: ${met(d.aimMet)}`,
          }),
        )
      if (r.batchJob !== undefined) {
        const j = r.batchJob
        rows.push(
          row('batch', `batch job over ${j.rows} rows: ${j.jobSeconds} s (${j.overheadRatio}x plain SQL)`, {
            throughput: Math.round(j.rows / j.jobSeconds),
            unit: 'rows/s',
            peakMemMb: j.peakRssMB,
          }),
        )
      }
    },
    async parquet() {
      const r = await runParquetBench(quick ? 50_000 : 200_000)
      report.results.parquet = r
      for (const p of r) rows.push(row('parquet', `${p.writer}: ${p.megabytes} MB`, { throughput: p.rowsPerSecond, unit: 'rows/s' }))
    },
    async serving() {
      const r = await runServingBench({ patients: 1_000, rate: 1, seconds: quick ? 5 : 10 })
      report.results.serving = r
      rows.push(
        row('serving', `${r.patients} patients at ${r.rateHz} Hz: publish -> Socket.io`, {
          throughput: r.updatesPerSecond,
          unit: 'updates/s',
          p50Ms: r.p50Ms,
          p99Ms: r.p99Ms,
          cpu: `serve ${r.servingCpuPercent}%`,
          peakMemMb: r.servingRssMb,
        }),
      )
    },
    async clients() {
      const n = quick ? 10_000 : 50_000
      const r = await runClientsBench({ messages: n, commands: n, rounds: 1 }, { config })
      report.results.clients = r
      for (const m of [...r.kafka, ...r.redis])
        rows.push(row('clients', `${m.client} ${m.operation}`, { throughput: m.median === null ? null : Math.round(m.median), unit: m.unit }))
    },
    async e2e() {
      const r = await runE2eBench({ rate: 5_000, seconds: quick ? 5 : 15, maxSeconds: quick ? 5 : 15, patients: 1_000, config })
      report.results.e2e = r
      for (const p of r) {
        const pr = p.processes
        const sustained =
          p.speedPerSecond === null || p.archiverPerSecond === null ? null : Math.min(p.speedPerSecond, p.archiverPerSecond, p.producedPerSecond)
        const aims: string[] = []
        if (p.target === 'max')
          aims.push(`≥ ${E2E_AIMS.sustainedReadingsPerSecond}/s kept up: ${met(p.keptUp && p.producedPerSecond >= E2E_AIMS.sustainedReadingsPerSecond)}`)
        else aims.push(`browser p99 ≤ ${E2E_AIMS.steadyBrowserP99Ms} ms: ${met(p.browserP99Ms !== null && p.browserP99Ms <= E2E_AIMS.steadyBrowserP99Ms)}`)
        const lag = `lag 0 after ${p.speedCatchUpS ?? '>timeout'} s (speed), ${p.archiverCatchUpS ?? '>timeout'} s (archiver)`
        rows.push(
          row('e2e', `${p.phase}: produced ${p.producedPerSecond}/s; ${lag}`, {
            throughput: p.producedPerSecond,
            unit: 'readings/s',
            cpu:
              `speed ${pr.speed.cpuPercent}%, archive ${pr.archive.cpuPercent}%, serve ${pr.serve.cpuPercent}%, sim+client ${pr.bench.cpuPercent}%` +
              (pr.redis === undefined ? '' : `, redis ${pr.redis.cpuPercent}%`) +
              (pr.kafka === undefined ? '' : `, kafka ${pr.kafka.cpuPercent}%`),
            // The layers' processes; this one's peak includes the stages run before.
            peakMemMb: Math.max(pr.speed.peakRssMb, pr.archive.peakRssMb, pr.serve.peakRssMb),
            aim: aims.join('; ') + (sustained === null || p.target !== 'max' ? '' : ` (through both layers ${sustained}/s)`),
          }),
        )
        if (p.redisSamples > 0) rows.push(row('e2e', `${p.phase}: produce -> Redis (${p.redisSamples} readings)`, { p50Ms: p.redisP50Ms, p99Ms: p.redisP99Ms }))
        rows.push(row('e2e', `${p.phase}: produce -> browser (${p.browserSamples} patient states)`, { p50Ms: p.browserP50Ms, p99Ms: p.browserP99Ms }))
      }
    },
  }

  for (const stage of BENCH_STAGES) {
    if (!only.has(stage)) continue
    const t0 = Date.now()
    progress(`${stage}: running`)
    try {
      await stages[stage]()
      progress(`${stage}: done in ${Math.round((Date.now() - t0) / 1000)} s`)
    } catch (error) {
      report.errors[stage] = describeError(error)
      rows.push(row(stage, `FAILED: ${describeError(error)}`, {}))
      progress(`${stage}: failed: ${describeError(error)}`)
    }
  }
  report.machine.loadAvgAtEnd = load()
  report.seconds = Math.round((Date.now() - started) / 1000)
  return report
}

const fmt = (x: number | null) => (x === null ? '' : x.toLocaleString('en-US'))

/** The report as one table for a terminal, with the machine above it. */
export function formatBench(report: BenchReport): string {
  const m = report.machine
  const header = ['stage', 'measurement', 'throughput', 'p50 ms', 'p99 ms', 'CPU', 'peak MB', 'aim']
  const body = report.rows.map((r) => [
    r.stage,
    r.measurement,
    r.throughput === null ? '' : `${fmt(r.throughput)} ${r.unit}`,
    fmt(r.p50Ms),
    fmt(r.p99Ms),
    r.cpu,
    fmt(r.peakMemMb),
    r.aim,
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)))
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join(' | ')
      .trimEnd()
  return [
    `machine: ${m.cpus} cores (${m.cpuModel}), ${m.totalMemGiB} GiB memory (${m.freeMemGiBAtStart} GiB free), ${m.platform}, Node ${m.node}`,
    `load average (1/5/15 min): ${m.loadAvgAtStart.join(' / ')} at start, ${m.loadAvgAtEnd.join(' / ')} at end; ${report.seconds} s${report.quick ? ' (--quick)' : ''}`,
    '',
    line(header),
    widths.map((w) => '-'.repeat(w)).join('-+-'),
    ...body.map(line),
    '',
  ].join('\n')
}
