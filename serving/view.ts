/**
 * Reads the Redis views (lib/contract/views.ts describes the layout) into the API's shapes. The serving
 * layer only reads what the speed layer and the batch job write, except alert acknowledgements,
 * which are its own (`<prefix>alerts:acks` hash: alert id -> {by, at} JSON).
 */
import type { RedisKeys } from '../lib/contract/keys.ts'
import type { RedisClient } from '../lib/redis.ts'
import type { BatchMeta, DailyStatsRow, PatientState, RiskModelInfo, SeriesEntry } from '../lib/contract/views.ts'
import { decodeLatest } from '../lib/contract/codecs/latest.ts'
import { decodeSeriesEntries } from '../lib/contract/codecs/series.ts'
import { decodeAck, decodeAlertEntry, encodeAck, type AlertAck } from '../lib/contract/codecs/alerts.ts'
import { decodeBatchMeta } from '../lib/contract/codecs/batch-meta.ts'
import { decodeDailyValues } from '../lib/contract/codecs/daily-stats.ts'
import { decodeRiskModelInfo } from '../lib/contract/codecs/risk-model.ts'
import type { AlertView } from './events.ts'
import { openAlertsOf, type OpenAlertView } from './open-alerts.ts'

export function ackKey(keys: RedisKeys): string {
  return keys.other('alerts', 'acks')
}

export class View {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {}

  /** Known patients, newest reading first (at most `limit`). */
  async patientIds(limit = 10_000): Promise<string[]> {
    return this.redis.zRange(this.keys.patients, 0, limit - 1, { REV: true })
  }

  async patients(ids?: string[]): Promise<PatientState[]> {
    const list = ids ?? (await this.patientIds())
    // node-redis pipelines commands issued in the same tick: one round trip for the whole grid.
    const hashes = await Promise.all(list.map((id) => this.redis.hGetAll(this.keys.latest(id))))
    const out: PatientState[] = []
    list.forEach((id, i) => {
      const p = decodeLatest(id, hashes[i] ?? {})
      if (p !== null) out.push(p)
    })
    return out
  }

  async patient(id: string): Promise<PatientState | null> {
    return decodeLatest(id, await this.redis.hGetAll(this.keys.latest(id)))
  }

  /** The patient's series entries of the last `seconds` before their newest entry (event time), oldest first. */
  async series(id: string, seconds: number): Promise<{ from: number; to: number; entries: SeriesEntry[] }> {
    const key = this.keys.series(id)
    const newest = await this.redis.zRangeWithScores(key, 0, 0, { REV: true })
    const to = newest[0]?.score
    if (to === undefined) return { from: 0, to: 0, entries: [] }
    const from = to - seconds * 1000
    const members = await this.redis.zRange(key, from, '+inf', { BY: 'SCORE' })
    return { from, to, entries: decodeSeriesEntries(members) }
  }

  /** The patient's open alerts, most urgent first, each with its current value, side and message. */
  async openAlerts(id: string): Promise<OpenAlertView[]> {
    return openAlertsOf(await this.redis.hGetAll(this.keys.alertState(id)))
  }

  /** Series entries with event time at or after `fromTs` (for the Lambda merge), oldest first. */
  async seriesSince(id: string, fromTs: number, toTs: number): Promise<{ earliest: number | null; entries: SeriesEntry[] }> {
    const key = this.keys.series(id)
    const first = await this.redis.zRangeWithScores(key, 0, 0)
    const members = await this.redis.zRange(key, fromTs, `(${toTs}`, { BY: 'SCORE' })
    return { earliest: first[0]?.score ?? null, entries: decodeSeriesEntries(members) }
  }

  /** Newest first, with acknowledgements; only the patient's when `patientId` is given. */
  async alerts(count: number, patientId?: string): Promise<AlertView[]> {
    // A patient's alerts are found among the newest ones of the shared stream (it is capped anyway).
    const scan = patientId === undefined ? count : Math.max(count * 20, 1_000)
    const entries = await this.redis.xRevRange(this.keys.alerts, '+', '-', { COUNT: scan })
    const out: AlertView[] = []
    // A speed layer that crashed after writing a batch appends its events again when it replays
    // the batch, with the same ids: each alert is listed once, at its newest position.
    const seen = new Set<string>()
    for (const e of entries ?? []) {
      const alert = decodeAlertEntry(e.message)
      if (alert === null || (patientId !== undefined && alert.patientId !== patientId) || seen.has(alert.id)) continue
      seen.add(alert.id)
      out.push({ ...alert, streamId: e.id })
      if (out.length >= count) break
    }
    return this.withAcks(out)
  }

  async withAcks(alerts: AlertView[]): Promise<AlertView[]> {
    if (alerts.length === 0) return alerts
    const acks = await this.redis.hmGet(
      ackKey(this.keys),
      alerts.map((a) => a.id),
    )
    return alerts.map((a, i) => {
      // Only this process writes acks; an unreadable one shows the alert as unacknowledged.
      const ack = decodeAck(acks[i])
      return ack === undefined ? a : { ...a, ack }
    })
  }

  /** The alert with its acknowledgement, or null when it is not among the newest `scan` alerts. Writes nothing. */
  async recentAlert(alertId: string, scan: number): Promise<AlertView | null> {
    const recent = await this.alerts(scan)
    return recent.find((a) => a.id === alertId) ?? null
  }

  /**
   * Records who acknowledged an alert and when, unless it already is: the first acknowledgement
   * stays (HSETNX), so two clinicians acknowledging at once leave the first one shown. Returns the
   * alert with the acknowledgement stored.
   */
  async acknowledge(alert: AlertView, ack: AlertAck): Promise<AlertView> {
    if ((await this.redis.hSetNX(ackKey(this.keys), alert.id, encodeAck(ack))) === 1) return { ...alert, ack }
    const [stored] = await this.withAcks([alert])
    return stored ?? alert
  }

  async batchMeta(): Promise<BatchMeta | null> {
    return decodeBatchMeta(await this.redis.hGetAll(this.keys.batchMeta))
  }

  /** The risk model the speed layer serves, or null while it serves none (docs/CONTRACT.md, Redis: `risk:model`). One GET. */
  async riskModel(): Promise<RiskModelInfo | null> {
    return decodeRiskModelInfo(await this.redis.get(this.keys.riskModel))
  }

  /** The batch view of one day: the patient's rows, or every patient's. */
  async daily(date: string, patientId?: string): Promise<DailyStatsRow[]> {
    const key = this.keys.batchDaily(date)
    const values = patientId === undefined ? Object.values(await this.redis.hGetAll(key)) : [await this.redis.hGet(key, patientId)]
    return decodeDailyValues(values)
  }
}
