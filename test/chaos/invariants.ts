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
import type { AlertEvent, SeriesEntry } from '../../lib/contract/views.ts'
import { vitalFields } from '../../lib/contract/codecs/latest.ts'
import { REJECT_HEADERS } from '../../lib/contract/topics.ts'
import type { Reading, Vital } from '../../lib/contract/schema.ts'
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
  /** Valid readings, first occurrence of each (deviceId, seq), in offset order per partition. */
  valid: { rec: TopicRecord; reading: Reading }[]
  duplicates: number
  rejected: Map<string, { rec: TopicRecord; reason: RejectReason }>
}

const at = (p: number, o: number) => `${p}:${o}`

/** Classifies every record of vitals.readings the way the speed layer does (validate.ts, then (deviceId, seq)). */
export function classify(records: readonly TopicRecord[], maxClockSkewMs: number): Classified {
  const seen = new Set<string>()
  const out: Classified = { valid: [], duplicates: 0, rejected: new Map() }
  for (const rec of records) {
    const v = validateRecord(rec.value, { key: rec.key, brokerTs: rec.timestamp }, maxClockSkewMs)
    if (!v.ok) {
      out.rejected.set(at(rec.partition, rec.offset), { rec, reason: v.reason })
      continue
    }
    const id = `${v.reading.deviceId}\u0000${v.reading.seq}`
    if (seen.has(id)) out.duplicates++
    else {
      seen.add(id)
      out.valid.push({ rec, reading: v.reading })
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
      name: 'conservation: topic = classified + dead-lettered + duplicates',
      pass: accounted === topic.length && c.duplicates === summary.faults.duplicate,
      figures: `${c.valid.length} classified + ${c.rejected.size} dead-lettered + ${c.duplicates} duplicates = ${accounted} of ${topic.length}; duplicates injected ${summary.faults.duplicate}`,
      evidence:
        c.duplicates !== summary.faults.duplicate
          ? `${c.duplicates} repeated (deviceId, seq) in the topic, the simulator injected ${summary.faults.duplicate}`
          : undefined,
    },
  ]
}

/** Every record the speed layer must refuse is in vitals.rejected with its reason; counts match the injected faults. */
export function checkRejected(c: Classified, rejectedTopic: readonly TopicRecord[], summary: EdgeSummary): Verdict[] {
  const found = new Map<string, string>()
  let copies = 0
  let foreign = 0
  let firstWrong = ''
  for (const r of rejectedTopic) {
    const p = r.headers.get(REJECT_HEADERS.sourcePartition)
    const o = r.headers.get(REJECT_HEADERS.sourceOffset)
    const reason = r.headers.get(REJECT_HEADERS.reason) ?? ''
    if (p === undefined || o === undefined) {
      foreign++
      continue
    }
    const k = `${p}:${o}`
    if (found.has(k)) copies++
    found.set(k, reason)
    const want = c.rejected.get(k)
    if (want === undefined) firstWrong ||= `vitals.rejected holds source ${k} (${reason}), which is a valid reading`
    else if (want.reason !== reason) firstWrong ||= `source ${k} rejected as ${reason}, expected ${want.reason}`
  }
  let missing = 0
  let firstMissing = ''
  const byReason: Record<string, number> = {}
  for (const [k, { reason, rec }] of c.rejected) {
    byReason[reason] = (byReason[reason] ?? 0) + 1
    if (!found.has(k)) {
      missing++
      firstMissing ||= `source ${k} (${reason}: ${rec.value.toString('utf8').slice(0, 80)}) is not in vitals.rejected`
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
      name: 'every rejected reading is in vitals.rejected with its reason',
      pass: missing === 0 && firstWrong === '' && foreign === 0,
      figures: `${c.rejected.size} to reject, ${found.size} distinct in vitals.rejected (+${copies} replayed copies); missing ${missing}`,
      evidence: [firstMissing, firstWrong, foreign > 0 ? `${foreign} dead letters without source headers` : ''].filter(Boolean).join('; ') || undefined,
    },
    {
      name: 'dead letters by kind = faults the simulator injected',
      pass: kindsMatch,
      figures: `found ${fmt(byReason)}; injected ${fmt(expectByReason)} (expectedRejected ${summary.expectedRejected}); FUTURE_TS come from clockSkew (${f.clockSkew} injected)`,
      evidence: kindsMatch
        ? undefined
        : `by reason ${JSON.stringify(byReason)} vs injected ${JSON.stringify(expectByReason)}, expectedRejected ${summary.expectedRejected}`,
    },
  ]
}

/**
 * What the speed layer must have applied, recomputed from the topic by its published rules
 * (speed-layer/patients.ts, devices.ts), independently of its code: readings decided in arrival
 * (offset) order; a seq more than the dedup window below the device's highest is a replay; a
 * reading older than the patient's newest applied one by more than the tolerance is late and
 * changes nothing; a vital's latest is its newest applied reading by event time (equal event
 * times: the later arrival). None of it depends on how the records were cut into batches, so a
 * crash, a restart or a rebuild from Kafka must reach exactly this.
 */
interface Expected {
  /** Per patient: newest event time applied. */
  ts: Map<string, number>
  /** Per patient and vital: the latest value. */
  latest: Map<string, { value: number; ts: number; rec: TopicRecord }>
  /** Per patient: the series entries (`deviceId|seq|ts|status|vitals`). */
  series: Map<string, { ts: number; member: string }[]>
  late: number
}

const seriesMember = (deviceId: string, seq: number, ts: number, status: string, vitals: Record<string, number | undefined>) =>
  `${deviceId}|${seq}|${ts}|${status}|${Object.entries(vitals)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join(',')}`

export function expectedView(c: Classified, toleranceMs: number): Expected {
  const out: Expected = { ts: new Map(), latest: new Map(), series: new Map(), late: 0 }
  const deviceTop = new Map<string, number>()
  for (const { reading: r, rec } of c.valid) {
    const top = deviceTop.get(r.deviceId) ?? -Infinity
    if (r.seq < top - DEDUP_WINDOW) continue
    deviceTop.set(r.deviceId, Math.max(top, r.seq))
    const newest = out.ts.get(r.patientId) ?? 0
    if (newest > 0 && r.ts < newest - toleranceMs) {
      out.late++
      continue
    }
    out.ts.set(r.patientId, Math.max(newest, r.ts))
    let status: Status = 'NORMAL'
    for (const [vital, value] of Object.entries(r.vitals) as [Vital, number | undefined][]) {
      if (value === undefined) continue
      status = worse(status, classifyVital(vital, value, DEFAULT_BANDS))
      const k = `${r.patientId}\u0000${vital}`
      const cur = out.latest.get(k)
      if (cur === undefined || r.ts >= cur.ts) out.latest.set(k, { value, ts: r.ts, rec })
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

/** Each patient's latest state in Redis = the recomputation from the topic (expectedView), exactly. */
export async function checkLatest(expected: Expected, redis: RedisClient, keys: RedisKeys, runStartMs: number): Promise<Verdict[]> {
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
  patients.forEach((p, i) => {
    const h = hashes[i] ?? {}
    if (Number(h.ts) !== expected.ts.get(p)) {
      tsBad++
      firstBad ||= `${p}: Redis ts ${h.ts ?? '(none)'}, newest applied reading in the topic ${expected.ts.get(p)}`
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
      pass: bad === 0 && tsBad === 0 && statusBad === 0 && zcard === patients.length,
      figures: `${patients.length} patients (${zcard} in Redis); ${exact} vitals exact, ${bad} wrong${bad > 0 ? ` ${JSON.stringify(badBy)}` : ''}; ts wrong ${tsBad}, status wrong ${statusBad}; ${expected.late} late readings left out`,
      evidence: firstBad || (zcard !== patients.length ? `${zcard} patients in Redis, ${patients.length} in the topic` : undefined),
    },
  ]
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
  // One alert's life: a vital of a patient, or one device of a patient for stale-data alerts (the
  // id's second field names it). A patient's events are in one partition, in the order produced.
  const series = new Map<string, AlertEvent[]>()
  for (const text of byId.values()) {
    const e = JSON.parse(text) as AlertEvent
    const k = `${e.patientId} ${e.id.split('|')[1] ?? e.vital}`
    let s = series.get(k)
    if (s === undefined) {
      s = []
      series.set(k, s)
    }
    s.push(e)
  }
  let raised = 0
  let reRaised = 0
  const reRaisedBy: Record<string, number> = {}
  for (const [k, events] of series) {
    let open = false
    for (const e of events) {
      if (e.kind === 'raised') {
        raised++
        if (open) {
          reRaised++
          reRaisedBy[e.vital] = (reRaisedBy[e.vital] ?? 0) + 1
          firstBad ||= `${k}: raised again at ${e.ts} (${e.id}) while the alert raised before was never cleared`
        }
        open = true
      } else if (e.kind === 'cleared') open = false
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
      pass: differing === 0 && reRaised === 0 && notInTopic === 0 && raised > 0,
      figures: `${alertsTopic.length} events in vitals.alerts, ${byId.size} distinct ids (${copies} replayed copies), ${raised} raised, ${reRaised} raised again while open${reRaised > 0 ? ` (${JSON.stringify(reRaisedBy)})` : ''}; Redis stream ${stream.length} entries, ${streamIds.size} ids, ${notInTopic} unknown`,
      evidence: firstBad || (raised === 0 ? 'no alert was raised at all' : undefined),
    },
  ]
}
