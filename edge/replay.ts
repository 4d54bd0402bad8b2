/**
 * The CSV replay as a record source (`--replay FILE.csv`): the file's rows, in file order, turned
 * into records (and injected faults) and handed to the flow, paced by the pacer: at the file's own
 * timing (--realtime, divided by --speedup), at --rate, or as fast as the sink takes them. With
 * --loop the file is read again and again, each pass shifted forward in time and seq (pass-span.ts).
 *
 * With --label, each run of positive rows of a patient is published as a clinical event when it
 * ends: at that patient's next negative row, or at the end of the pass (label-runs.ts). A run is
 * within one pass, each pass's times shifted like its readings, so every pass has its own event
 * ids. A replay stopped within a run publishes it without an end (unknown).
 */
import type { Logger } from '../lib/log.ts'
import { VigilError } from '../lib/errors.ts'
import type { Reading } from '../lib/contract/schema.ts'
import { readCsv, type ColumnMap, type CsvField, type FieldDrop } from './csv.ts'
import { replayEpisodeEvent, type LabelRun } from './episode-events.ts'
import type { EventSink } from './event-sink.ts'
import type { EdgeRecord } from './faults.ts'
import type { Flow } from './flow.ts'
import { LabelRuns } from './label-runs.ts'
import type { Schedule } from './pacer.ts'
import { PassSpan } from './pass-span.ts'
import type { ReplayInfo } from './summary.ts'

/** Rows held before they are handed over, and the longest hold (ms), when none is due later. */
const MAX_BATCH_ROWS = 500
const MAX_HOLD_MS = 50
/** Skipped rows (and, apart, cells left out) named one by one in the log; past it, only the summary counts them. */
const MAX_SKIP_WARNINGS = 100

export interface ReplaySettings {
  file: string
  timeZone: string
  columns: Partial<Record<CsvField, string>>
  loop: boolean
  log: Logger
  /** --label and --label-kind: the column whose positive rows mark episodes, and their kind. */
  label?: { column: string; kind: string }
  /** Where the labelled episodes go; undefined: not published. */
  events?: EventSink
}

/** The replay's schedule: the file's own timing (--realtime), --rate R, or as fast as possible. */
export function replaySchedule(realtime: boolean, rate: number | 'max' | undefined, speedup: number): Schedule {
  if (realtime) return { kind: 'eventTime', speedup }
  // A replayed reading keeps the file's event time (never stamped), so the origin is unused.
  if (typeof rate === 'number') return { kind: 'rate', perSecond: rate, origin: 0 }
  return { kind: 'asap' }
}

export class ReplaySource {
  readonly info: ReplayInfo
  readonly #flow: Flow
  readonly #settings: ReplaySettings
  /** Next seq per device when the file has no seq column, kept across passes. */
  readonly #seqs = new Map<string, number>()
  #shiftMs = 0
  /** Added to the file's seqs from the second pass on: the highest seq sent so far. */
  #seqOffset = 0
  #batch: EdgeRecord[] = []
  #lastPace = 0
  readonly #runs = new LabelRuns()

  constructor(flow: Flow, settings: ReplaySettings) {
    this.#flow = flow
    this.#settings = settings
    this.info = { file: settings.file, passes: 0, rowsRead: 0, rowsSent: 0, rowsSkipped: 0, cellsLeftOut: 0, cellsLeftOutByColumn: {} }
  }

  /** Replays until the end of the file (or, with --loop, the limit), the deadline or a stop. */
  async run(): Promise<void> {
    const flow = this.#flow
    for (;;) {
      this.info.passes++
      const span = new PassSpan()
      const whole = await this.#pass(span)
      this.#publishAll(whole)
      if (!whole) return
      flow.faults.drain(this.#batch)
      const more = this.#emit()
      if (!more && flow.sent >= flow.limit) {
        flow.endAtLimit()
        return
      }
      if (!this.#settings.loop) {
        flow.stoppedBy = 'end-of-file'
        return
      }
      if (span.empty) throw new VigilError('INPUT_INVALID', `${this.#settings.file} has no valid row to loop over.`)
      this.#shiftMs += span.shiftMs
      this.#seqOffset = Math.max(this.#seqOffset, span.seqMax)
      if (flow.stopping) return
    }
  }

  /** One pass over the file; false when the run ended before its last row. */
  async #pass(span: PassSpan): Promise<boolean> {
    const { file, timeZone, columns } = this.#settings
    const first = this.info.passes === 1
    this.#batch = []
    this.#lastPace = this.#flow.pacer.now()
    const rows = readCsv(file, {
      timeZone,
      columns,
      shiftMs: this.#shiftMs,
      seqOffset: this.#seqOffset,
      seqs: this.#seqs,
      label: this.#settings.label?.column,
      onColumns: (c) => (first ? this.#logColumns(c) : undefined),
    })
    for await (const item of rows) {
      if (item.kind === 'skip') this.#skip(item.line, item.reason)
      else {
        if (item.dropped.length > 0) this.#leftOut(item.line, item.dropped)
        if (!(await this.#row(item.reading, span))) return false
        if (item.label !== undefined) this.#labelled(item.reading, item.label)
      }
    }
    return true
  }

  /** Takes one row: hands over what is held first when this row is due later (or enough is held); false when the run ended. */
  async #row(r: Reading, span: PassSpan): Promise<boolean> {
    const { pacer, faults } = this.#flow
    this.info.rowsRead++
    span.add(r.ts - this.#shiftMs, r.seq)
    pacer.anchor(r.ts)
    const dueAt = pacer.dueAt(this.#flow.sent + this.#batch.length, r.ts)
    if (dueAt > pacer.now() || this.#batch.length >= MAX_BATCH_ROWS || pacer.now() - this.#lastPace > MAX_HOLD_MS) {
      if (!(await this.#handOverAndWait(dueAt))) return false
    }
    faults.process(r, this.#batch)
    return true
  }

  /** Notes a row's label (once the row is due and taken); a negative row ending a run publishes it. */
  #labelled(r: Reading, positive: boolean): void {
    const ended = this.#runs.add(r.patientId, r.ts, positive)
    if (ended !== undefined) this.#publish(ended)
  }

  /** Publishes every run under way: complete at the end of a pass, without an end when the replay stopped within it. */
  #publishAll(complete: boolean): void {
    for (const run of this.#runs.endAll(complete)) this.#publish(run)
  }

  #publish(run: LabelRun): void {
    const { events, label } = this.#settings
    if (events === undefined || label === undefined) return
    events.send(replayEpisodeEvent(run, label.kind, Date.now()))
  }

  /** Hands the held records to the flow, then waits until `dueAt`; false when the run ended. */
  async #handOverAndWait(dueAt: number): Promise<boolean> {
    const flow = this.#flow
    if (!this.#emit()) {
      flow.endAtLimit()
      return false
    }
    if (!(await flow.wait(dueAt))) return false
    while (dueAt > flow.pacer.now() + 1) if (!(await flow.wait(dueAt))) return false
    this.#lastPace = flow.pacer.now()
    return true
  }

  /** Emits the held records and counts the rows sent; false once the limit is reached. */
  #emit(): boolean {
    const before = this.#flow.sent
    const more = this.#flow.emit(this.#batch)
    this.info.rowsSent += this.#flow.sent - before
    this.#batch = []
    return more
  }

  #skip(line: number, reason: string): void {
    const { file, log } = this.#settings
    this.info.rowsSkipped++
    this.#flow.skipped++
    if (this.info.rowsSkipped <= MAX_SKIP_WARNINGS) log.warn(`${file}:${line}: row skipped: ${reason}`)
    else if (this.info.rowsSkipped === MAX_SKIP_WARNINGS + 1) log.warn(`${file}: more rows skipped; the summary has the count`)
  }

  /** Counts and names the cells left out of a row's reading (the rest of the row goes out). */
  #leftOut(line: number, dropped: readonly FieldDrop[]): void {
    const { file, log } = this.#settings
    const byColumn = this.info.cellsLeftOutByColumn
    for (const d of dropped) {
      this.info.cellsLeftOut++
      this.#flow.leftOut++
      byColumn[d.column] = (byColumn[d.column] ?? 0) + 1
      if (this.info.cellsLeftOut <= MAX_SKIP_WARNINGS) log.warn(`${file}:${line}: ${d.column} left out, the rest of the row sent: ${d.reason}`)
      else if (this.info.cellsLeftOut === MAX_SKIP_WARNINGS + 1) log.warn(`${file}: more cells left out; the summary has the count per column`)
    }
  }

  #logColumns(c: ColumnMap): void {
    const named = Object.fromEntries(Object.entries(c.fields).map(([k, v]) => [k, v.name]))
    this.#settings.log.info({ columns: named, ignored: c.ignored }, `replaying ${this.#settings.file}`)
  }
}
