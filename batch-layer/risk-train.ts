/**
 * `vigil model train` (docs/CLINICAL.md, Early-warning risk model; the file's format in
 * docs/CONTRACT.md, The data lake): the lake's minutes (risk-dataset.ts), a split by patient, an
 * L2-penalised logistic regression on the training patients (logistic.ts), the comparison with
 * NEWS2 >= 5 and "any per-vital WARNING" on the held-out patients (risk-metrics.ts), and the model
 * file, written to `<lake>/models/risk-<version>.json` and then `<lake>/models/latest.json`, the
 * one the speed layer serves, each to a temporary name, fsynced and renamed.
 *
 * Deterministic: the same lake, options and seed give the same file, byte for byte, and so the
 * same version (the SHA-256 of its content): the minutes come in patient and minute order, the
 * DuckDB sums are exact, the split is a hash of (seed, patient), and the fit is a bounded number
 * of Newton steps from 0.
 *
 * The run's parts, in order: `readMinutes` (lake -> MinuteTable), `splitPatients`, `fitModel`,
 * `measure` (scores of the held-out minutes with lib/risk/model.ts's riskLogit, the serving
 * code, then the three scorers' metrics), `modelFile` (content and version), `publish` (files).
 */
import { createHash } from 'node:crypto'
import { rename, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api'
import type { Config } from '../lib/config.ts'
import { VigilError, describeError, isVigilError } from '../lib/errors.ts'
import { classifyVital } from '../lib/bands.ts'
import { FEATURE_NAMES, RISK_VITALS, VITAL_STATS } from '../lib/risk/features.ts'
import { compileRiskModel, MODEL_FORMAT, MODEL_FORMAT_VERSION, riskLogit, sigmoid, type RiskModelFile, type ScorerMetrics } from '../lib/risk/model.ts'
import { ensureDir, eventsDir, fsyncFile } from './lake.ts'
import { firstLine } from './quarantine.ts'
import { fitLogistic, fitStandardiser, SingularFit, standardise, type LogisticFit, type Rows, type Standardiser } from './logistic.ts'
import { CLEAR_RATIO, FIT_MAX_ITERATIONS, FIT_TOLERANCE, PROMOTE_MIN_WITHIN_AUROC, TARGET_SENSITIVITY, type ModelTrainOptions } from './risk-config.ts'
import {
  listEventFiles,
  listReadingFiles,
  loadEpisodes,
  MinuteTable,
  MinuteWalker,
  vanished,
  walkBuckets,
  type DatasetProgress,
  type LoadedEpisodes,
} from './risk-dataset.ts'
import { alertingShare, formatMetrics, reliability, scorerMetrics, thresholdAtSensitivity } from './risk-metrics.ts'

export type { DatasetProgress }

export interface TrainDeps {
  /** Called after each chunk of DuckDB's result: buckets read, minutes kept, patients seen. */
  onProgress?: (p: DatasetProgress) => void
}

export interface TrainResult {
  file: RiskModelFile
  /** `<lake>/models/risk-<version>.json`, and `<lake>/models/latest.json` when the model was promoted (else undefined). */
  path: string
  latest: string | undefined
  /** Whether the model is now the served one, and why (the promotion check, risk-config.ts). */
  promotion: Promotion
  /** The comparison and reliability tables, as printed. */
  table: string
  buckets: number
  /** The patients of each side of the split (never one on both). */
  split: { train: string[]; test: string[] }
  fit: { iterations: number; converged: boolean }
  seconds: number
}

/** The models' folder of a lake. */
export function modelsDir(lake: string): string {
  return path.join(lake, 'models')
}

/** Listings taken before training gives up on a lake whose files keep vanishing under it (as job.ts). */
const MAX_LISTINGS = 5

const NEWS2_INDEX = FEATURE_NAMES.indexOf('news2')
/** NEWS2 aggregate of 5 or more: the urgent-response trigger (RCP, NEWS2, 2017). */
const NEWS2_TRIGGER = 5

export async function trainRiskModel(config: Config, options: ModelTrainOptions, deps: TrainDeps = {}): Promise<TrainResult> {
  const started = Date.now()
  const lake = config.datalakeDir
  const db = await DuckDBInstance.create(':memory:')
  const conn = await db.connect()
  try {
    const { table, episodes, buckets } = await readMinutes(conn, lake, options, deps)
    const split = splitPatients(table, options)
    const { standardiser, fit } = fitModel(table, split.train, options)
    const draft = modelFile(table, split, standardiser, fit, options, lake, episodes)
    const measured = measure(table, split.test, draft)
    const file = withVersion({ ...draft, threshold: measured.threshold, metrics: measured.metrics })
    compileRiskModel(file, 'the trained model')
    const promotion = promotionOf(file, options.promote)
    const written = await publish(lake, file, promotion.promoted)
    return {
      file,
      ...written,
      promotion,
      table: measured.metrics.table,
      buckets,
      split: { train: table.patients.filter((_, i) => !split.isTest[i]), test: table.patients.filter((_, i) => split.isTest[i]) },
      fit: { iterations: fit.iterations, converged: fit.converged },
      seconds: (Date.now() - started) / 1000,
    }
  } finally {
    conn.closeSync()
    db.closeSync()
  }
}

/** Read: the readings are there, the events, then the readings' minutes; the whole read again when a listed reading file vanished. */
async function readMinutes(
  conn: DuckDBConnection,
  lake: string,
  options: ModelTrainOptions,
  deps: TrainDeps,
): Promise<{ table: MinuteTable; episodes: LoadedEpisodes; buckets: number }> {
  if ((await listReadingFiles(lake)).length === 0) throw noReadings(lake)
  const episodes = await readEpisodes(conn, lake, options)
  for (let listing = 1; ; listing++) {
    const files = await listReadingFiles(lake)
    if (files.length === 0) throw noReadings(lake)
    const walker = new MinuteWalker(new MinuteTable(), episodes.byPatient, options.horizonMin * 60_000)
    try {
      const buckets = await walkBuckets(conn, files, walker, deps.onProgress)
      return { table: finish(walker, episodes, options), episodes, buckets }
    } catch (error) {
      if (isVigilError(error)) throw error
      const gone = await vanished(files)
      if (gone === undefined)
        throw new VigilError(
          'STAGE_FAILED',
          `training failed reading the readings in DuckDB: ${firstLine(describeError(error))}; \`vigil batch --date <the file's day>\` moves a raw file it cannot read to the lake's quarantine, then train again.`,
          { cause: error },
        )
      if (listing >= MAX_LISTINGS)
        throw new VigilError('STAGE_FAILED', `the lake's files kept vanishing while training read them (last: ${gone}); run it again when compaction is done.`)
    }
  }
}

function noReadings(lake: string): VigilError {
  return new VigilError(
    'INPUT_INVALID',
    `no readings in ${path.join(lake, 'raw', 'readings')}: run the simulator with --start in the past (\`vigil edge --start <time> --speedup ...\`) and \`vigil archive\` first, or point --datalake-dir at a lake that has some.`,
  )
}

async function readEpisodes(conn: DuckDBConnection, lake: string, options: ModelTrainOptions): Promise<LoadedEpisodes> {
  const files = await listEventFiles(lake)
  if (files.length === 0) {
    throw new VigilError(
      'INPUT_INVALID',
      `no clinical events in ${eventsDir(lake)}: the model learns from them; run \`vigil archive\` while the simulator writes its episodes (\`vigil edge --start <time in the past>\`), replay a CSV with --label, or record events in the dashboard first.`,
    )
  }
  const episodes = await loadEpisodes(conn, files, options.kinds).catch((error: unknown) => {
    throw new VigilError(
      'STAGE_FAILED',
      `training failed reading the events in ${eventsDir(lake)} in DuckDB: ${firstLine(describeError(error))}; move the file it names out of the folder and train again.`,
      { cause: error },
    )
  })
  // A kind asked for and absent is refused, not left out: a misspelt kind would quietly change what the model predicts.
  const absent = options.kinds?.filter((k) => !episodes.kindsInLake.includes(k)) ?? []
  if (episodes.count === 0 || absent.length > 0) {
    const chosen = options.kinds === undefined ? 'any kind' : `kind ${absent.join(', ')}`
    const have = episodes.kindsInLake.length === 0 ? 'none valid' : episodes.kindsInLake.join(', ')
    throw new VigilError('INPUT_INVALID', `no valid clinical event of ${chosen} in ${eventsDir(lake)} (kinds there: ${have}); choose --kinds among those.`)
  }
  return episodes
}

function finish(walker: MinuteWalker, episodes: LoadedEpisodes, options: ModelTrainOptions): MinuteTable {
  const { table } = walker
  if (walker.positives === 0) {
    throw new VigilError(
      'INPUT_INVALID',
      `none of the ${table.n} minutes of ${table.patients.length} patients is within ${options.horizonMin} min before the onset of one of the ${episodes.count} episodes (are the events of the same patients and times as the readings?); archive readings that span episodes, or raise --horizon-min.`,
    )
  }
  return table
}

/** Which patients are held out: the first 32 bits of SHA-256(seed, patientId) below the fraction. */
export function isTestPatient(seed: number, patientId: string, testFraction: number): boolean {
  const h = createHash('sha256').update(`${seed}\u0000${patientId}`).digest()
  return h.readUInt32BE(0) / 2 ** 32 < testFraction
}

export interface Split {
  /** Minute indices of the training and the test patients, in table order. */
  train: Uint32Array
  test: Uint32Array
  /** Per patient of the table, whether it is held out. */
  isTest: boolean[]
  trainPatients: number
  testPatients: number
}

/** Split: by patient, never one patient on both sides; each side needs what it is used for. */
export function splitPatients(table: MinuteTable, options: Pick<ModelTrainOptions, 'seed' | 'testFraction'>): Split {
  const isTest = table.patients.map((p) => isTestPatient(options.seed, p, options.testFraction))
  const train: number[] = []
  const test: number[] = []
  const pos = { train: 0, test: 0 }
  for (let i = 0; i < table.n; i++) {
    const side = isTest[table.group[i]!] ? 'test' : 'train'
    ;(side === 'test' ? test : train).push(i)
    pos[side] += table.label[i]!
  }
  const testPatients = isTest.filter(Boolean).length
  const trainPatients = table.patients.length - testPatients
  const fix = `the split (--seed ${options.seed}, --test-fraction ${options.testFraction}) of ${table.patients.length} patients`
  if (trainPatients === 0 || testPatients === 0)
    throw new VigilError(
      'INPUT_INVALID',
      `${fix} left no patient for ${trainPatients === 0 ? 'training' : 'testing'}; train on a lake of more patients, or try another --seed.`,
    )
  if (pos.train === 0 || pos.train === train.length)
    throw new VigilError(
      'INPUT_INVALID',
      `${fix} left the training patients without ${pos.train === 0 ? 'a positive' : 'a negative'} minute; train on a lake of more patients and episodes, or try another --seed.`,
    )
  if (pos.test === 0)
    throw new VigilError(
      'INPUT_INVALID',
      `${fix} left the test patients without a positive minute to measure sensitivity on; train on a lake of more patients and episodes, or try another --seed.`,
    )
  return { train: Uint32Array.from(train), test: Uint32Array.from(test), isTest, trainPatients, testPatients }
}

/** The table's minutes at `index` as rows of a fit, standardised when `s` is given. */
function rowsOf(table: MinuteTable, index: Uint32Array, s?: Standardiser): Rows {
  return {
    n: index.length,
    d: FEATURE_NAMES.length,
    row: (i, out) => {
      table.row(index[i]!, out)
      if (s !== undefined) standardise(s, out)
    },
    label: (i) => table.label[index[i]!]!,
  }
}

/** Fit: mean and sd from the training minutes, then the penalised logistic regression on their standardised features. */
function fitModel(table: MinuteTable, train: Uint32Array, options: ModelTrainOptions): { standardiser: Standardiser; fit: LogisticFit } {
  const standardiser = fitStandardiser(rowsOf(table, train))
  try {
    const fit = fitLogistic(rowsOf(table, train, standardiser), { l2: options.l2, maxIterations: FIT_MAX_ITERATIONS, tolerance: FIT_TOLERANCE })
    return { standardiser, fit }
  } catch (error) {
    if (error instanceof SingularFit) throw new VigilError('INPUT_INVALID', `the fit has no unique solution (${error.message}); use an --l2 above 0.`)
    throw error
  }
}

type Draft = Omit<RiskModelFile, 'threshold' | 'metrics'>

/** The model file's content but its threshold and metrics; version still to compute. */
function modelFile(
  table: MinuteTable,
  split: Split,
  s: Standardiser,
  fit: LogisticFit,
  options: ModelTrainOptions,
  lake: string,
  episodes: LoadedEpisodes,
): Draft {
  let first = Number.POSITIVE_INFINITY
  let last = Number.NEGATIVE_INFINITY
  let positives = 0
  for (let i = 0; i < table.n; i++) {
    first = Math.min(first, table.minute[i]!)
    last = Math.max(last, table.minute[i]!)
    positives += table.label[i]!
  }
  return {
    format: MODEL_FORMAT,
    formatVersion: MODEL_FORMAT_VERSION,
    version: 'lr-000000000000',
    kind: 'logistic',
    horizonMinutes: options.horizonMin,
    features: FEATURE_NAMES.map((name, j) => ({ name, mean: s.mean[j]!, sd: s.sd[j]!, weight: fit.weights[j]! })),
    intercept: fit.intercept,
    training: {
      cohort: options.cohort ?? `lake ${lake}`,
      from: first * 60_000,
      to: last * 60_000 + 59_999,
      seed: options.seed,
      trainPatients: split.trainPatients,
      testPatients: split.testPatients,
      trainMinutes: split.train.length,
      testMinutes: split.test.length,
      positives,
      eventKinds: options.kinds === undefined ? episodes.kindsInLake : [...options.kinds].sort(),
      l2: options.l2,
    },
  }
}

/**
 * Measure, on the held-out minutes: the model's risk (scored by riskLogit, the serving code, from
 * the draft file), the NEWS2 aggregate (rule: >= 5) and "any per-vital WARNING" (rule: any
 * RISK_VITALS `last` outside NORMAL in the default bands, lib/bands.ts). threshold.raise is the
 * model's threshold at TARGET_SENSITIVITY, clear CLEAR_RATIO of it.
 */
function measure(table: MinuteTable, test: Uint32Array, draft: Draft): Pick<RiskModelFile, 'threshold' | 'metrics'> {
  const model = compileRiskModel({ ...draft, threshold: { raise: 1, clear: 0 }, metrics: { test: [], reliability: [], table: '' } }, 'the trained model')
  const n = test.length
  const risk = new Float64Array(n)
  const news2 = new Float64Array(n)
  const warning = new Float64Array(n)
  const labels = new Uint8Array(n)
  const groups = new Int32Array(n)
  const x = new Float64Array(FEATURE_NAMES.length)
  for (let k = 0; k < n; k++) {
    const i = test[k]!
    table.row(i, x)
    risk[k] = sigmoid(riskLogit(model, x))
    news2[k] = x[NEWS2_INDEX]!
    warning[k] = anyWarning(x) ? 1 : 0
    labels[k] = table.label[i]!
    groups[k] = table.group[i]!
  }
  const raise = thresholdAtSensitivity(risk, labels, TARGET_SENSITIVITY) as number
  const rows: ScorerMetrics[] = [
    scorerMetrics({ name: 'risk model', scores: risk, threshold: raise, brierOf: 'score' }, labels, groups, TARGET_SENSITIVITY),
    scorerMetrics({ name: `NEWS2 >= ${NEWS2_TRIGGER}`, scores: news2, threshold: NEWS2_TRIGGER, brierOf: 'rule' }, labels, groups, TARGET_SENSITIVITY),
    scorerMetrics({ name: 'any per-vital WARNING', scores: warning, threshold: 1, brierOf: 'rule' }, labels, groups, TARGET_SENSITIVITY),
  ]
  const calibration = reliability(risk, labels)
  const alerting = rows.map((row, i) => (row.thresholdAt80 === null ? null : alertingShare([risk, news2, warning][i]!, row.thresholdAt80)))
  return {
    threshold: { raise, clear: raise * CLEAR_RATIO },
    metrics: { test: rows, reliability: calibration, table: formatMetrics(rows, calibration, TARGET_SENSITIVITY, alerting) },
  }
}

/** Whether any vital's last value (a feature) is outside NORMAL in the default bands. */
function anyWarning(x: Float64Array): boolean {
  for (const [k, v] of RISK_VITALS.entries()) {
    const last = x[k * VITAL_STATS.length]!
    if (!Number.isNaN(last) && classifyVital(v, last) !== 'NORMAL') return true
  }
  return false
}

/** JSON with every object's keys sorted: the same content, the same text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
  }
  return JSON.stringify(value)
}

/** The file with its version: `lr-` and 12 hex digits of the SHA-256 of its canonical JSON, without the version and the printed table. */
export function withVersion(file: RiskModelFile): RiskModelFile {
  const content = { ...file, version: undefined, metrics: { ...file.metrics, table: undefined } }
  const version = `lr-${createHash('sha256').update(canonicalJson(content)).digest('hex').slice(0, 12)}`
  return { ...file, version }
}

export interface Promotion {
  promoted: boolean
  /** In words, for the summary: what the check found. */
  reason: string
}

/** The promotion check (risk-config.ts PROMOTE_MIN_WITHIN_AUROC): the model row against PROMOTE_MIN_WITHIN_AUROC and NEWS2's AUROC. */
export function promotionOf(file: RiskModelFile, force: boolean): Promotion {
  const [model, news2] = file.metrics.test
  const within = model?.withinPatientAuroc ?? null
  const fmt = (x: number | null | undefined) => (x === null || x === undefined ? 'none' : x.toFixed(3))
  const found = `AUROC within patients ${fmt(within)} (needs ${PROMOTE_MIN_WITHIN_AUROC}), AUROC ${fmt(model?.auroc)} against NEWS2's ${fmt(news2?.auroc)}`
  const passes = within !== null && within >= PROMOTE_MIN_WITHIN_AUROC && (model?.auroc ?? 0) > (news2?.auroc ?? 1)
  if (passes) return { promoted: true, reason: `passed the promotion check: ${found}` }
  if (force) return { promoted: true, reason: `failed the promotion check (${found}), served because of --promote` }
  return { promoted: false, reason: `not served: failed the promotion check (${found}); the speed layer keeps the model it had. --promote serves it anyway.` }
}

/** Publish: risk-<version>.json, then, when promoted, latest.json, each atomically. */
async function publish(lake: string, file: RiskModelFile, promoted: boolean): Promise<{ path: string; latest: string | undefined }> {
  const dir = modelsDir(lake)
  await ensureDir(dir)
  const text = `${JSON.stringify(file, null, 2)}\n`
  const versioned = path.join(dir, `risk-${file.version}.json`)
  await writeAtomically(versioned, text)
  if (!promoted) return { path: versioned, latest: undefined }
  const latest = path.join(dir, 'latest.json')
  await writeAtomically(latest, text)
  return { path: versioned, latest }
}

/** Writes `text` to a hidden temporary name in the same folder, fsyncs it, renames it over `file` and fsyncs the folder. */
async function writeAtomically(file: string, text: string): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`)
  try {
    await writeFile(tmp, text)
    await fsyncFile(tmp)
    await rename(tmp, file)
  } catch (error) {
    await rm(tmp, { force: true })
    throw new VigilError('STAGE_FAILED', `cannot write the model file ${file}: ${describeError(error)}.`, { cause: error })
  }
  await fsyncFile(path.dirname(file))
}
