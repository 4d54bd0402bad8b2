/**
 * What must hold after the run, each checked by counting: the lake against the topic offset by
 * offset, the producer's ledger against the topic, the dead letters against a recomputation, the
 * real-time view against the topic, the alerts against their own history, and every lake file.
 */
import { readdir } from 'node:fs/promises'
import path from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import { classifyVital, DEFAULT_BANDS, worse, type Status } from '../../lib/bands.ts'
import type { RedisKeys } from '../../lib/contract/keys.ts'
import type { RedisClient } from '../../lib/redis.ts'
import { type AlertEvent, NEWS2_PARAMETERS, type News2Parameter, type News2State, type SeriesEntry } from '../../lib/contract/views.ts'
import { NEWS2_FIELDS, vitalFields } from '../../lib/contract/codecs/latest.ts'
import { REJECT_HEADERS } from '../../lib/contract/topics.ts'
import type { Consciousness, Reading, Vital } from '../../lib/contract/schema.ts'
import { parameterScore } from '../../lib/news2.ts'
import { validateRecord, type RejectReason } from '../../speed-layer/validate.ts'
import { DEDUP_WINDOW } from '../../speed-layer/devices.ts'
import type { EdgeSummary } from '../../edge/index.ts'
import type { EdgeRecord } from '../../edge/faults.ts'
import type { TopicRecord } from './ledger.ts'

export interface Verdict {
  name: string
  pass: boolean
  /** The figures the verdict rests on. */
  figures: string
  /** On failure: the first evidence found. */
  evidence?: string
}

export interface Classified {
  /**
   * Accepted readings, first occurrence of each (deviceId, seq), in offset order per partition:
   * each holds only its accepted vitals (validate.ts: refused and no-signal fields removed).
   */
  valid: { rec: TopicRecord; reading: Reading; noSignal: readonly Vital[] }[]
  duplicates: number
  /** Records rejected whole: dead-lettered, never classified. */
  rejected: Map<string, { rec: TopicRecord; reason: RejectReason }>
  /**
   * Records with refused fields and something accepted: classified on the rest (in `valid`, or
   * counted as a duplicate) and dead-lettered once, with their first field's reason and the
   * refused vitals in the `vigil-reject-fields` header.
   */
  partial: Map<string, { rec: TopicRecord; reason: RejectReason; fields: readonly Vital[] }>
}

const at = (p: number, o: number) => `${p}:${o}`

/** Orders `[key, value]` entries by key, so that two records compare whatever their insertion order. */
const byKey = ([a]: [string, unknown], [b]: [string, unknown]) => (a < b ? -1 : 1)

/**
 * Classifies every record of vitals.readings the way the speed layer does: validate.ts one field
 * at a time, then (deviceId, seq). A record with a refused field is dead-lettered whatever its
 * (deviceId, seq), as the layer decides dead letters before duplicates (decode.ts).
 */
export function classify(records: readonly TopicRecord[], maxClockSkewMs: number): Classified {
  const seen = new Set<string>()
  const out: Classified = { valid: [], duplicates: 0, rejected: new Map(), partial: new Map() }
  for (const rec of records) {
    const v = validateRecord(rec.value, { key: rec.key, brokerTs: rec.timestamp }, maxClockSkewMs)
    if (!v.ok) {
      out.rejected.set(at(rec.partition, rec.offset), { rec, reason: v.reason })
      continue
    }
    const first = v.fieldRejects[0]
    if (first !== undefined) out.partial.set(at(rec.partition, rec.offset), { rec, reason: first.reason, fields: v.fieldRejects.map((f) => f.vital) })
    const id = `${v.reading.deviceId}\u0000${v.reading.seq}`
    if (seen.has(id)) out.duplicates++
    else {
      seen.add(id)
      out.valid.push({ rec, reading: v.reading, noSignal: v.noSignal })
    }
  }
  return out
}

/** Every Parquet file under the lake (final names only; hidden temporary files are listed apart). */
async function lakeFiles(lake: string): Promise<{ files: string[]; temps: string[] }> {
  const files: string[] = []
  const temps: string[] = []
  const walk = async (dir: string): Promise<void> => {
    let entries: import('node:fs').Dirent[]
    try {
      entries = await readdir(dir, { withFileTypes: true })
    } catch {
      return
    }
    for (const e of entries) {
      const p = path.join(dir, e.name)
      if (e.isDirectory()) await walk(p)
      else if (e.name.startsWith('.')) temps.push(p)
      else if (e.name.endsWith('.parquet')) files.push(p)
    }
  }
  await walk(lake)
  return { files: files.sort(), temps }
}

const sql = (s: string) => `'${s.replaceAll("'", "''")}'`

/** Every Parquet file opens; the raw files hold every offset of the topic exactly once. */
export async function checkLake(lake: string, ends: readonly number[]): Promise<Verdict[]> {
  const { files, temps } = await lakeFiles(lake)
  const db = await DuckDBInstance.create(':memory:', { threads: '1' })
  const conn = await db.connect()
  const verdicts: Verdict[] = []
  try {
    let rows = 0
    const broken: string[] = []
    for (const f of files) {
      try {
        const r = await conn.runAndReadAll(`SELECT count(*)::BIGINT FROM read_parquet(${sql(f)})`)
        rows += Number(r.getRows()[0]?.[0] ?? 0)
      } catch (error) {
        broken.push(`${path.relative(lake, f)}: ${(error as Error).message.split('\n')[0]}`)
      }
    }
    verdicts.push({
      name: 'every Parquet file in the lake opens',
      pass: broken.length === 0 && files.length > 0,
      figures: `${files.length} files, ${rows} rows, ${broken.length} unreadable, ${temps.length} temporary files left`,
      evidence: broken.length > 0 ? broken.slice(0, 3).join('; ') : files.length === 0 ? 'the lake holds no file' : undefined,
    })

    const raw = files.filter((f) => f.includes(`${path.sep}raw${path.sep}`))
    const counts = ends.map((n) => new Uint8Array(n))
    let outside = 0
    let firstOutside = ''
    for (const f of raw) {
      if (broken.some((b) => b.startsWith(path.relative(lake, f)))) continue
      const r = await conn.runAndReadAll(`SELECT kafka_partition::INTEGER, kafka_offset::BIGINT FROM read_parquet(${sql(f)})`)
      for (const [p, o] of r.getRows()) {
        const part = Number(p)
        const off = Number(o)
        const c = counts[part]
        if (c === undefined || off < 0 || off >= c.length) {
          outside++
          firstOutside ||= `${path.relative(lake, f)} holds partition ${part} offset ${off}, past the topic's end`
          continue
        }
        if (c[off]! < 255) c[off]!++
      }
    }
    let gaps = 0
    let dups = 0
    let firstGap = ''
    let firstDup = ''
    counts.forEach((c, p) => {
      for (let o = 0; o < c.length; o++) {
        if (c[o] === 0) {
          gaps++
          firstGap ||= `partition ${p} offset ${o} is in no lake file`
        } else if (c[o]! > 1) {
          dups++
          firstDup ||= `partition ${p} offset ${o} is in ${c[o]} lake rows`
        }
      }
    })
    const total = ends.reduce((a, b) => a + b, 0)
    verdicts.push({
      name: 'the lake holds every offset of vitals.readings exactly once',
      pass: gaps === 0 && dups === 0 && outside === 0,
      figures: `${total} offsets in ${ends.length} partitions, ${raw.length} raw files; gaps ${gaps}, duplicates ${dups}, outside ${outside}`,
      evidence: [firstGap, firstDup, firstOutside].filter(Boolean).join('; ') || undefined,
    })
  } finally {
    conn.closeSync()
    db.closeSync()
  }
  return verdicts
}

/** Acknowledged = in the topic, record for record; the topic's records all accounted for. */
export function checkConservation(ledger: readonly EdgeRecord[], summary: EdgeSummary, topic: readonly TopicRecord[], c: Classified): Verdict[] {
  const want = new Map<string, number>()
  for (const r of ledger) want.set(r.value, (want.get(r.value) ?? 0) + 1)
  let extra = 0
  let firstExtra = ''
  for (const r of topic) {
    const v = r.value.toString('utf8')
    const n = want.get(v)
    if (n === undefined || n === 0) {
      extra++
      firstExtra ||= `partition ${r.partition} offset ${r.offset} (${v.slice(0, 80)}) was never acknowledged, or is there once more than sent`
    } else want.set(v, n - 1)
  }
  let missing = 0
  let firstMissing = ''
  for (const [v, n] of want) {
    if (n > 0) {
      missing += n
      firstMissing ||= `acknowledged and not in the topic: ${v.slice(0, 100)}`
    }
  }
  const ids = (values: Iterable<string>) => {
    const s = new Set<string>()
    for (const v of values) {
      try {
        const j = JSON.parse(v) as { deviceId?: unknown; seq?: unknown }
        if (typeof j.deviceId === 'string' && typeof j.seq === 'number') s.add(`${j.deviceId}\u0000${j.seq}`)
      } catch {
        // Malformed on purpose: counted by value above.
      }
    }
    return s
  }
  const ledgerIds = ids(ledger.map((r) => r.value))
  const topicIds = ids(topic.map((r) => r.value.toString('utf8')))
  const accounted = c.valid.length + c.duplicates + c.rejected.size
  return [
    {
      name: 'conservation: acknowledged records = records in vitals.readings',
      pass: summary.unacknowledged === 0 && summary.acked === ledger.length && missing === 0 && extra === 0 && ledgerIds.size === topicIds.size,
      figures: `sent ${summary.sent}, acked ${summary.acked}, unacked ${summary.unacknowledged}, ledger ${ledger.length}, topic ${topic.length}; lost ${missing}, extra ${extra}; distinct (deviceId, seq) ledger ${ledgerIds.size} = topic ${topicIds.size}`,
      evidence:
        [summary.unacknowledged > 0 ? `${summary.unacknowledged} records never acknowledged` : '', firstMissing, firstExtra].filter(Boolean).join('; ') ||
        undefined,
    },
    {
      name: 'conservation: topic = classified + rejected whole + duplicates',
      pass: accounted === topic.length && c.duplicates === summary.faults.duplicate,
      figures: `${c.valid.length} classified (${c.partial.size} records partly refused, also dead-lettered) + ${c.rejected.size} rejected whole + ${c.duplicates} duplicates = ${accounted} of ${topic.length}; duplicates injected ${summary.faults.duplicate}`,
      evidence:
        c.duplicates !== summary.faults.duplicate
          ? `${c.duplicates} repeated (deviceId, seq) in the topic, the simulator injected ${summary.faults.duplicate}`
          : undefined,
    },
  ]
}

/** The dead letters the speed layer owes, by source `partition:offset`: records rejected whole and records with refused fields. */
function owedDeadLetters(c: Classified): Map<string, { rec: TopicRecord; reason: RejectReason; fields?: readonly Vital[] }> {
  const owed = new Map<string, { rec: TopicRecord; reason: RejectReason; fields?: readonly Vital[] }>(c.rejected)
  for (const [k, v] of c.partial) owed.set(k, v)
  return owed
}

/** The dead letters of vitals.rejected by source, checked against what is owed: reason, and the refused fields of a partial one. */
function readDeadLetters(owed: ReturnType<typeof owedDeadLetters>, rejectedTopic: readonly TopicRecord[]) {
  const found = new Map<string, string>()
  let copies = 0
  let foreign = 0
  let firstWrong = ''
  for (const r of rejectedTopic) {
    const p = r.headers.get(REJECT_HEADERS.sourcePartition)
    const o = r.headers.get(REJECT_HEADERS.sourceOffset)
    const reason = r.headers.get(REJECT_HEADERS.reason) ?? ''
    const fields = r.headers.get(REJECT_HEADERS.fields)
    if (p === undefined || o === undefined) {
      foreign++
      continue
    }
    const k = `${p}:${o}`
    if (found.has(k)) copies++
    found.set(k, reason)
    const want = owed.get(k)
    if (want === undefined) firstWrong ||= `vitals.rejected holds source ${k} (${reason}), which is a reading with nothing refused`
    else if (want.reason !== reason) firstWrong ||= `source ${k} rejected as ${reason}, expected ${want.reason}`
    else if (fields !== want.fields?.join(',')) {
      const expected = want.fields === undefined ? 'none (rejected whole)' : want.fields.join(',')
      firstWrong ||= `source ${k}: ${REJECT_HEADERS.fields} ${fields ?? '(none)'}, expected ${expected}`
    }
  }
  return { found, copies, foreign, firstWrong }
}

/**
 * Every record the speed layer must dead-letter is in vitals.rejected with its reason: those
 * rejected whole and those with a refused field (classified on the rest), the latter naming
 * their refused fields. Counts by reason, both kinds together, match the injected faults: an
 * impossible value beside other vitals is refused on its own, and still dead-lettered once.
 */
export function checkRejected(c: Classified, rejectedTopic: readonly TopicRecord[], summary: EdgeSummary): Verdict[] {
  const owed = owedDeadLetters(c)
  const { found, copies, foreign, firstWrong } = readDeadLetters(owed, rejectedTopic)
  let missing = 0
  let firstMissing = ''
  const byReason: Record<string, number> = {}
  const partialByReason: Record<string, number> = {}
  for (const [k, { reason, rec, fields }] of owed) {
    byReason[reason] = (byReason[reason] ?? 0) + 1
    if (fields !== undefined) partialByReason[reason] = (partialByReason[reason] ?? 0) + 1
    if (!found.has(k)) {
      missing++
      const what = fields === undefined ? reason : `${reason} of ${fields.join(',')}, the rest classified`
      firstMissing ||= `source ${k} (${what}: ${rec.value.toString('utf8').slice(0, 80)}) is not in vitals.rejected`
    }
  }
  const f = summary.faults
  const expectByReason: Partial<Record<RejectReason, number>> = {
    OUT_OF_RANGE: f.impossibleValue,
    SCHEMA: f.missingField + f.wrongType,
    MALFORMED_JSON: f.malformedJson,
  }
  const simulatorKinds = (byReason.OUT_OF_RANGE ?? 0) + (byReason.INCONSISTENT ?? 0) + (byReason.SCHEMA ?? 0) + (byReason.MALFORMED_JSON ?? 0)
  const kindsMatch = Object.entries(expectByReason).every(([r, n]) => (byReason[r] ?? 0) === n) && simulatorKinds === summary.expectedRejected
  const fmt = (o: Record<string, number | undefined>) =>
    Object.entries(o)
      .map(([k, v]) => `${k} ${v ?? 0}`)
      .join(', ')
  return [
    {
      name: 'every rejected reading or refused field is in vitals.rejected with its reason',
      pass: missing === 0 && firstWrong === '' && foreign === 0,
      figures: `${owed.size} to dead-letter (${c.rejected.size} whole, ${c.partial.size} with refused fields), ${found.size} distinct in vitals.rejected (+${copies} replayed copies); missing ${missing}`,
      evidence: [firstMissing, firstWrong, foreign > 0 ? `${foreign} dead letters without source headers` : ''].filter(Boolean).join('; ') || undefined,
    },
    {
      name: 'dead letters by kind = faults the simulator injected',
      pass: kindsMatch,
      figures: `found ${fmt(byReason)} (of which partial: ${fmt(partialByReason) || 'none'}); injected ${fmt(expectByReason)} (expectedRejected ${summary.expectedRejected}); FUTURE_TS come from clockSkew (${f.clockSkew} injected)`,
      evidence: kindsMatch
        ? undefined
        : `by reason ${JSON.stringify(byReason)} vs injected ${JSON.stringify(expectByReason)}, expectedRejected ${summary.expectedRejected}`,
    },
  ]
}

/**
 * What the speed layer must have applied, recomputed from the topic by its published rules
 * (docs/CONTRACT.md and docs/CLINICAL.md) independently of its code: readings decided in arrival
 * (offset) order; a seq more than the dedup window below the device's highest is a replay; a
 * reading older than its own device's newest one by more than the tolerance is late and
 * changes nothing; only a reading's accepted vitals are classified (a refused or no-signal field
 * is not); a vital's latest, and the newest air/oxygen and ACVPU observation, is the newest
 * applied one by event time (equal event times: the later arrival). None of it depends on how
 * the records were cut into batches, so a crash, a restart or a rebuild from Kafka must reach
 * exactly this.
 */
interface Expected {
  /** Per patient: newest event time applied. */
  ts: Map<string, number>
  /** Per patient and vital: the latest value (accepted vitals only). */
  latest: Map<string, { value: number; ts: number; rec: TopicRecord }>
  /** Per patient: the newest air/oxygen and ACVPU observations, by the same rule as a vital's latest. */
  assessments: Map<string, Assessments>
  /** Per patient: the series entries (`deviceId|seq|ts|status|vitals`). */
  series: Map<string, { ts: number; member: string }[]>
  late: number
}

interface Assessments {
  onOxygen?: { value: boolean; ts: number }
  consciousness?: { value: Consciousness; ts: number }
}

const seriesMember = (deviceId: string, seq: number, ts: number, status: string, vitals: Record<string, number | undefined>) =>
  `${deviceId}|${seq}|${ts}|${status}|${Object.entries(vitals)
    .filter(([, v]) => v !== undefined)
    .sort(byKey)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')}`

/** A newer (or equally new, later-arriving) observation replaces the one known. */
const newer = <T extends { ts: number }>(cur: T | undefined, ts: number) => cur === undefined || ts >= cur.ts

export function expectedView(c: Classified, toleranceMs: number): Expected {
  const out: Expected = { ts: new Map(), latest: new Map(), assessments: new Map(), series: new Map(), late: 0 }
  const deviceTop = new Map<string, number>()
  const deviceNewest = new Map<string, number>()
  for (const { reading: r, rec } of c.valid) {
    const top = deviceTop.get(r.deviceId) ?? -Infinity
    if (r.seq < top - DEDUP_WINDOW) continue
    deviceTop.set(r.deviceId, Math.max(top, r.seq))
    // Late against the reading's own device (its newest event time so far, late readings included).
    const seen = deviceNewest.get(r.deviceId)
    deviceNewest.set(r.deviceId, Math.max(seen ?? -Infinity, r.ts))
    if (seen !== undefined && r.ts < seen - toleranceMs) {
      out.late++
      continue
    }
    out.ts.set(r.patientId, Math.max(out.ts.get(r.patientId) ?? 0, r.ts))
    applyAssessments(out, r)
    // Only the accepted vitals: a refused or no-signal field is neither classified nor "latest".
    let status: Status = 'NORMAL'
    for (const [vital, value] of Object.entries(r.vitals) as [Vital, number | undefined][]) {
      if (value === undefined) continue
      status = worse(status, classifyVital(vital, value, DEFAULT_BANDS))
      const k = `${r.patientId}\u0000${vital}`
      if (newer(out.latest.get(k), r.ts)) out.latest.set(k, { value, ts: r.ts, rec })
    }
    let entries = out.series.get(r.patientId)
    if (entries === undefined) {
      entries = []
      out.series.set(r.patientId, entries)
    }
    entries.push({ ts: r.ts, member: seriesMember(r.deviceId, r.seq, r.ts, status, r.vitals) })
  }
  return out
}

function applyAssessments(out: Expected, r: Reading): void {
  if (r.onOxygen === undefined && r.consciousness === undefined) return
  const a = out.assessments.get(r.patientId) ?? {}
  if (r.onOxygen !== undefined && newer(a.onOxygen, r.ts)) a.onOxygen = { value: r.onOxygen, ts: r.ts }
  if (r.consciousness !== undefined && newer(a.consciousness, r.ts)) a.consciousness = { value: r.consciousness, ts: r.ts }
  out.assessments.set(r.patientId, a)
}

const NEWS2_MEASURED = ['respRate', 'spo2', 'systolic', 'heartRate', 'temperature'] as const

/**
 * A patient's NEWS2 as docs/CLINICAL.md (NEWS2) states it, recomputed from the expected view: at
 * the patient's newest applied reading, a parameter counts when its newest observation is within
 * its freshness window (older: old and missing); measured ones scored by the RCP chart
 * (lib/news2.ts parameterScore; SpO2 scale 2 by the oxygen counted), oxygen 2 / air 0, ACVPU A 0
 * and C, V, P, U 3. Complete: all seven, with the RCP risk band; partial: the band its lower
 * bound reaches (high >= 7, medium >= 5, low-medium for a counted 3), else none.
 */
export function expectedNews2(e: Expected, patientId: string, freshnessMs: Readonly<Record<News2Parameter, number>>, scale: 1 | 2 = 1): News2State {
  const atTs = e.ts.get(patientId) ?? 0
  const fresh = (param: News2Parameter, ts: number) => ts >= atTs - freshnessMs[param]
  const a = e.assessments.get(patientId) ?? {}
  const onOxygen = a.onOxygen !== undefined && fresh('onOxygen', a.onOxygen.ts) ? a.onOxygen.value : undefined
  const observed: Partial<Record<News2Parameter, { ts: number; score: number }>> = {}
  for (const vital of NEWS2_MEASURED) {
    const l = e.latest.get(`${patientId}\u0000${vital}`)
    if (l !== undefined) observed[vital] = { ts: l.ts, score: parameterScore(vital, l.value, { scale, onOxygen }) }
  }
  if (a.onOxygen !== undefined) observed.onOxygen = { ts: a.onOxygen.ts, score: a.onOxygen.value ? 2 : 0 }
  if (a.consciousness !== undefined) observed.consciousness = { ts: a.consciousness.ts, score: a.consciousness.value === 'A' ? 0 : 3 }
  const n: News2State = { score: 0, risk: null, complete: false, counted: [], scores: {}, missing: [], old: [], scale }
  for (const param of NEWS2_PARAMETERS) {
    const o = observed[param]
    if (o !== undefined && fresh(param, o.ts)) {
      n.counted.push(param)
      n.scores[param] = o.score
      n.score += o.score
      continue
    }
    n.missing.push(param)
    if (o !== undefined) n.old.push(param)
  }
  n.complete = n.missing.length === 0
  const anyThree = Object.values(n.scores).includes(3)
  n.risk = n.score >= 7 ? 'high' : n.score >= 5 ? 'medium' : anyThree ? 'low-medium' : n.complete ? 'low' : null
  return n
}

/** Each patient's latest state in Redis = the recomputation from the topic (expectedView), exactly; NEWS2 too. */
export async function checkLatest(
  expected: Expected,
  redis: RedisClient,
  keys: RedisKeys,
  runStartMs: number,
  news2FreshnessMs: Readonly<Record<News2Parameter, number>>,
): Promise<Verdict[]> {
  const patients = [...expected.ts.keys()]
  const m = redis.multi()
  for (const p of patients) m.hGetAll(keys.latest(p))
  const hashes = (await m.exec()) as unknown as Record<string, string>[]
  const index = new Map(patients.map((p, i) => [p, i]))
  let exact = 0
  let bad = 0
  let firstBad = ''
  let tsBad = 0
  const badBy: Record<string, number> = {}
  let statusBad = 0
  let assessmentsBad = 0
  patients.forEach((p, i) => {
    const h = hashes[i] ?? {}
    if (Number(h.ts) !== expected.ts.get(p)) {
      tsBad++
      firstBad ||= `${p}: Redis ts ${h.ts ?? '(none)'}, newest applied reading in the topic ${expected.ts.get(p)}`
    }
    const wrong = assessmentMismatch(expected.assessments.get(p) ?? {}, h)
    if (wrong !== undefined) {
      assessmentsBad++
      firstBad ||= `${p}: ${wrong}`
    }
  })
  for (const [k, want] of expected.latest) {
    const [p, vital] = k.split('\u0000') as [string, Vital]
    const h = hashes[index.get(p)!] ?? {}
    // The raw fields, not decodeLatest: its lenient defaults (NORMAL for an unreadable status) would hide a wrong field.
    const f = vitalFields(vital)
    const value = Number(h[f.value])
    const ts = Number(h[f.ts])
    const status = h[f.status]
    if (status !== classifyVital(vital, want.value, DEFAULT_BANDS)) statusBad++
    if (value === want.value && ts === want.ts) exact++
    else {
      bad++
      badBy[vital] = (badBy[vital] ?? 0) + 1
      const writtenS = ((want.rec.timestamp - runStartMs) / 1000).toFixed(1)
      const where = `partition ${want.rec.partition} offset ${want.rec.offset}, written at ${writtenS} s on the run's clock`
      firstBad ||= `${p} ${vital}: Redis ${h[f.value] ?? '(none)'} at ${h[f.ts] ?? '(none)'}, the topic's ${want.value} at ${want.ts} (${where})`
    }
  }
  const zcard = await redis.zCard(keys.patients)
  return [
    {
      name: "each patient's latest state in Redis = recomputation from the topic",
      pass: bad === 0 && tsBad === 0 && statusBad === 0 && assessmentsBad === 0 && zcard === patients.length,
      figures: `${patients.length} patients (${zcard} in Redis); ${exact} vitals exact, ${bad} wrong${bad > 0 ? ` ${JSON.stringify(badBy)}` : ''}; ts wrong ${tsBad}, status wrong ${statusBad}, oxygen/ACVPU wrong ${assessmentsBad}; ${expected.late} late readings left out`,
      evidence: firstBad || (zcard !== patients.length ? `${zcard} patients in Redis, ${patients.length} in the topic` : undefined),
    },
    news2Verdict(expected, patients, hashes, news2FreshnessMs),
  ]
}

/** The air/oxygen and ACVPU fields of a latest hash against the expected observations; a description of the first difference. */
function assessmentMismatch(want: Assessments, h: Readonly<Record<string, string>>): string | undefined {
  const o = want.onOxygen
  const oxygen = [o === undefined ? '' : o.value ? '1' : '0', o === undefined ? '' : String(o.ts)]
  const gotOxygen = [h.onOxygen ?? '', h['onOxygen:ts'] ?? '']
  if (oxygen.join() !== gotOxygen.join()) return `Redis onOxygen ${gotOxygen.join(' at ')}, the topic's ${oxygen.join(' at ')}`
  const c = want.consciousness
  const acvpu = [c?.value ?? '', c === undefined ? '' : String(c.ts)]
  const gotAcvpu = [h.consciousness ?? '', h['consciousness:ts'] ?? '']
  if (acvpu.join() !== gotAcvpu.join()) return `Redis consciousness ${gotAcvpu.join(' at ')}, the topic's ${acvpu.join(' at ')}`
  return undefined
}

/** The NEWS2 fields of a latest hash, raw (not decodeNews2, whose defaults would hide a missing field), in a comparable form. */
function storedNews2(h: Readonly<Record<string, string>>): string {
  let scores: unknown = h[NEWS2_FIELDS.scores]
  try {
    scores = Object.entries(JSON.parse(h[NEWS2_FIELDS.scores] ?? '') as Record<string, number>).sort(byKey)
  } catch {
    // Compared as the text it is.
  }
  const f = NEWS2_FIELDS
  return JSON.stringify([h[f.score], h[f.risk], h[f.complete], h[f.counted], h[f.missing], h[f.old], h[f.scale], scores])
}

function news2Text(n: News2State): string {
  const scores = Object.entries(n.scores).sort(byKey)
  return JSON.stringify([
    String(n.score),
    n.risk ?? '',
    n.complete ? '1' : '0',
    n.counted.join(','),
    n.missing.join(','),
    n.old.join(','),
    String(n.scale),
    scores,
  ])
}

/** Each patient's NEWS2 in Redis (score, risk, complete, counted, missing, old, scale, scores) = expectedNews2. */
function news2Verdict(
  expected: Expected,
  patients: readonly string[],
  hashes: readonly Record<string, string>[],
  freshnessMs: Readonly<Record<News2Parameter, number>>,
): Verdict {
  let exact = 0
  let bad = 0
  let complete = 0
  let firstBad = ''
  const byLabel: Record<string, number> = {}
  patients.forEach((p, i) => {
    const want = expectedNews2(expected, p, freshnessMs)
    const h = hashes[i] ?? {}
    const label = want.complete ? `complete ${want.risk}` : `partial ${want.risk ?? 'no band'}`
    byLabel[label] = (byLabel[label] ?? 0) + 1
    if (want.complete) complete++
    if (storedNews2(h) === news2Text(want)) exact++
    else {
      bad++
      firstBad ||= `${p} at ${expected.ts.get(p)}: Redis [score, risk, complete, counted, missing, old, scale, scores] ${storedNews2(h)}, recomputed ${news2Text(want)}`
    }
  })
  return {
    name: "each patient's NEWS2 in Redis = recomputation from the topic (fresh parameters only, complete or partial)",
    pass: bad === 0 && patients.length > 0,
    figures: `${patients.length} patients: ${exact} exact, ${bad} wrong; ${complete} complete; ${Object.entries(byLabel)
      .sort(byKey)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    evidence: firstBad || undefined,
  }
}

/**
 * Each patient's series in Redis = the recomputation: every entry within the window behind the
 * patient's newest reading is there, and every entry there is one of the recomputation (the
 * layer trims once a minute of event time, so it may still hold up to a minute more).
 */
export async function checkSeries(expected: Expected, redis: RedisClient, keys: RedisKeys, windowMs: number): Promise<Verdict[]> {
  const patients = [...expected.series.keys()]
  let checked = 0
  let missing = 0
  let extra = 0
  let firstBad = ''
  for (let i = 0; i < patients.length; i += 500) {
    const slice = patients.slice(i, i + 500)
    const m = redis.multi()
    for (const p of slice) m.zRangeWithScores(keys.series(p), 0, -1)
    const replies = (await m.exec()) as unknown as { value: string; score: number }[][]
    slice.forEach((p, j) => {
      const want = expected.series.get(p)!
      const all = new Set(want.map((e) => e.member))
      const got = new Set<string>()
      for (const { value, score } of replies[j] ?? []) {
        const e = JSON.parse(value) as SeriesEntry
        const member = seriesMember(e.deviceId, e.seq, e.ts, e.status, e.vitals)
        got.add(member)
        if (score !== e.ts || !all.has(member)) {
          extra++
          firstBad ||= `${p}: Redis series holds ${value.slice(0, 160)} (score ${score}), which the recomputation does not`
        }
      }
      const from = expected.ts.get(p)! - windowMs
      for (const e of want) {
        if (e.ts < from) continue
        checked++
        if (!got.has(e.member)) {
          missing++
          firstBad ||= `${p}: Redis series lacks ${e.member}`
        }
      }
    })
  }
  return [
    {
      name: "each patient's 15-minute series in Redis = recomputation from the topic",
      pass: missing === 0 && extra === 0 && checked > 0,
      figures: `${patients.length} patients, ${checked} entries expected in the window; missing ${missing}, not in the recomputation ${extra}`,
      evidence: firstBad || (checked === 0 ? 'no series entry expected at all' : undefined),
    },
  ]
}

/** Each alert is raised once: replays repeat an event with its id, never raise an open alert again. */
export async function checkAlerts(alertsTopic: readonly TopicRecord[], redis: RedisClient, keys: RedisKeys): Promise<Verdict[]> {
  const byId = new Map<string, string>()
  let copies = 0
  let differing = 0
  let firstBad = ''
  for (const r of alertsTopic) {
    const text = r.value.toString('utf8')
    let e: AlertEvent
    try {
      e = JSON.parse(text) as AlertEvent
    } catch {
      differing++
      firstBad ||= `partition ${r.partition} offset ${r.offset} of vitals.alerts is not JSON`
      continue
    }
    const prev = byId.get(e.id)
    if (prev !== undefined) {
      copies++
      if (prev !== text) {
        differing++
        firstBad ||= `alert id ${e.id} carries two different events: ${prev.slice(0, 120)} / ${text.slice(0, 120)}`
      }
    } else byId.set(e.id, text)
  }
  // One alert's life: a subject of a patient (a vital, `news2`, `glucoseForecast`), or one device's
  // stale-data or no-signal alert (two lives: a device can be silent and, before that, probe-off).
  // A patient's events are in one partition, in the order produced.
  const series = new Map<string, AlertEvent[]>()
  let misnamed = 0
  for (const text of byId.values()) {
    const e = JSON.parse(text) as AlertEvent
    const life = alertLife(e)
    if (life.subjectInId !== e.id.split('|')[1]) {
      misnamed++
      firstBad ||= `alert ${e.id} (${e.level}${e.deviceId === undefined ? '' : ` of device ${e.deviceId}`}) does not name its subject ${life.subjectInId}`
    }
    let s = series.get(life.key)
    if (s === undefined) {
      s = []
      series.set(life.key, s)
    }
    s.push(e)
  }
  let raised = 0
  let reRaised = 0
  let orphans = 0
  const reRaisedBy: Record<string, number> = {}
  const raisedBy: Record<string, number> = {}
  for (const [k, events] of series) {
    let open = false
    for (const e of events) {
      if (e.kind === 'raised') {
        raised++
        raisedBy[e.level] = (raisedBy[e.level] ?? 0) + 1
        if (open) {
          reRaised++
          reRaisedBy[e.vital] = (reRaisedBy[e.vital] ?? 0) + 1
          firstBad ||= `${k}: raised again at ${e.ts} (${e.id}) while the alert raised before was never cleared`
        }
        open = true
      } else {
        if (!open) orphans++
        if (e.kind === 'cleared') open = false
      }
    }
  }
  const stream = (await redis.xRange(keys.alerts, '-', '+')) ?? []
  let notInTopic = 0
  const streamIds = new Set<string>()
  for (const entry of stream) {
    const text = entry.message.event
    if (text === undefined) continue
    const id = (JSON.parse(text) as AlertEvent).id
    streamIds.add(id)
    if (!byId.has(id)) {
      notInTopic++
      firstBad ||= `the Redis stream holds alert ${id}, which is not in vitals.alerts`
    }
  }
  return [
    {
      name: 'each alert is raised once, not once per crash',
      pass: differing === 0 && reRaised === 0 && misnamed === 0 && notInTopic === 0 && raised > 0,
      figures:
        `${alertsTopic.length} events in vitals.alerts, ${byId.size} distinct ids (${copies} replayed copies), ${raised} raised (${fmtCounts(raisedBy)}), ` +
        `${reRaised} raised again while open${reRaised > 0 ? ` (${JSON.stringify(reRaisedBy)})` : ''}, ${misnamed} not naming their subject, ` +
        `${orphans} escalated or cleared with no raise in the topic; Redis stream ${stream.length} entries, ${streamIds.size} ids, ${notInTopic} unknown`,
      evidence: firstBad || (raised === 0 ? 'no alert was raised at all' : undefined),
    },
  ]
}

/**
 * Which alert an event belongs to, and the subject its id must name (speed-layer alertId:
 * `patient|subject[:extra]|ts|kind`): a vital, `news2` or `glucoseForecast` is its own subject; a
 * device's STALE alert is `device:<deviceId>`, its NO_SIGNAL alert `device:<deviceId>:signal`.
 */
export function alertLife(e: AlertEvent): { key: string; subjectInId: string } {
  // A NEWS2 escalation names its level too (two escalations may share one event time).
  if (e.vital === 'news2' && e.kind === 'escalated') return { key: `${e.patientId} news2`, subjectInId: `news2:${e.level}` }
  if (e.vital !== 'device') return { key: `${e.patientId} ${e.vital}`, subjectInId: e.vital }
  const subjectInId = e.level === 'NO_SIGNAL' ? `device:${e.deviceId}:signal` : `device:${e.deviceId}`
  return { key: `${e.patientId} ${subjectInId}`, subjectInId }
}

const fmtCounts = (o: Record<string, number>): string =>
  Object.entries(o)
    .sort(byKey)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ') || 'none'
