import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { Logger } from '../lib/log.ts'
import type { CompactResult } from './compact.ts'
import { settlesWithin } from '../lib/backoff.ts'
import { PeriodicCompaction, compactionLine, type CompactionRunner } from './periodic-compaction.ts'

const result = (extra: Partial<CompactResult> = {}): CompactResult => ({
  days: ['2026-11-22', '2026-11-23'],
  filesBefore: 2_170,
  filesAfter: 14,
  written: 12,
  rows: 48_000,
  cleaned: 0,
  skipped: [],
  seconds: 1.834,
  ...extra,
})

function recordingLog(): { log: Logger; lines: { level: string; msg: string }[] } {
  const lines: { level: string; msg: string }[] = []
  const at = (level: string) => (msg: string) => lines.push({ level, msg })
  return { log: { info: at('info'), warn: at('warn'), debug: at('debug'), error: at('error') } as unknown as Logger, lines }
}

/** A runner whose runs end when the test says so, or on abort when `honoursAbort`. */
function controlledRunner(honoursAbort: boolean) {
  const state = { started: 0, active: 0, maxActive: 0, finish: [] as (() => void)[], signals: [] as AbortSignal[] }
  const run: CompactionRunner = (signal) => {
    state.started++
    state.active++
    state.maxActive = Math.max(state.maxActive, state.active)
    state.signals.push(signal)
    return new Promise<CompactResult>((resolve, reject) => {
      const end = (): void => {
        state.active--
        resolve(result())
      }
      state.finish.push(end)
      if (honoursAbort) {
        signal.addEventListener('abort', () => {
          state.active--
          reject(new Error('INTERRUPT Error: Interrupted!'))
        })
      }
    })
  }
  return { run, state }
}

describe('the periodic compaction', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('never runs with an interval of 0', async () => {
    const { run, state } = controlledRunner(true)
    const p = new PeriodicCompaction(0, run, recordingLog().log)
    p.start()
    await vi.advanceTimersByTimeAsync(10 * 3_600_000)
    expect(state.started).toBe(0)
    expect(await p.stop(2_000)).toBe(true)
  })

  it('runs one interval after start, the next one an interval after the previous ended, never two at once', async () => {
    const { run, state } = controlledRunner(true)
    const { log, lines } = recordingLog()
    const p = new PeriodicCompaction(1_000, run, log)
    p.start()
    await vi.advanceTimersByTimeAsync(999)
    expect(state.started).toBe(0)
    await vi.advanceTimersByTimeAsync(1)
    expect(state.started).toBe(1)
    expect(p.busy).toBe(true)
    // A run longer than the interval delays the next one.
    await vi.advanceTimersByTimeAsync(5_000)
    expect(state.started).toBe(1)
    state.finish[0]?.()
    await vi.advanceTimersByTimeAsync(999)
    expect(state.started).toBe(1)
    expect(p.busy).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(state.started).toBe(2)
    expect(state.maxActive).toBe(1)
    expect(lines).toEqual([{ level: 'info', msg: compactionLine(result()) }])
    state.finish[1]?.()
    expect(await p.stop(2_000)).toBe(true)
  })

  it('logs a failed run as a warning and tries again an interval later', async () => {
    let calls = 0
    const { log, lines } = recordingLog()
    const p = new PeriodicCompaction(
      60_000,
      async () => {
        calls++
        if (calls === 1) throw new Error('another compaction (pid 42) is rewriting t.vitals.readings')
        return result()
      },
      log,
    )
    p.start()
    await vi.advanceTimersByTimeAsync(60_000)
    expect(lines).toHaveLength(1)
    expect(lines[0]?.level).toBe('warn')
    expect(lines[0]?.msg).toMatch(/^compaction failed after 0\.00 s: another compaction \(pid 42\).*; next try in 1 min$/)
    await vi.advanceTimersByTimeAsync(60_000)
    expect(calls).toBe(2)
    expect(lines[1]).toEqual({ level: 'info', msg: compactionLine(result()) })
    await p.stop(2_000)
  })

  it('on stop, cancels the next run and aborts the running one, which ends at once', async () => {
    const { run, state } = controlledRunner(true)
    const { log, lines } = recordingLog()
    const p = new PeriodicCompaction(1_000, run, log)
    p.start()
    await vi.advanceTimersByTimeAsync(1_250)
    expect(state.started).toBe(1)
    const stopped = p.stop(2_000)
    expect(state.signals[0]?.aborted).toBe(true)
    expect(await stopped).toBe(true)
    expect(p.busy).toBe(false)
    expect(lines.map((l) => l.level)).toEqual(['info'])
    expect(lines[0]?.msg).toBe('compaction stopped with the archiver after 0.25 s; every offset is still in the lake once, the next run goes on')
    await vi.advanceTimersByTimeAsync(10_000)
    expect(state.started).toBe(1)
  })

  it('on stop, waits at most the given time for a run that does not end, then leaves it', async () => {
    const { run, state } = controlledRunner(false)
    const { log, lines } = recordingLog()
    const p = new PeriodicCompaction(1_000, run, log)
    p.start()
    await vi.advanceTimersByTimeAsync(1_000)
    let answer: boolean | undefined
    void p.stop(2_000).then((a) => {
      answer = a
    })
    await vi.advanceTimersByTimeAsync(1_999)
    expect(answer).toBeUndefined()
    await vi.advanceTimersByTimeAsync(1)
    expect(answer).toBe(false)
    expect(lines.at(-1)?.level).toBe('warn')
    // When it ends later, no run follows.
    state.finish[0]?.()
    await vi.advanceTimersByTimeAsync(10_000)
    expect(state.started).toBe(1)
  })

  it('settlesWithin: true for a promise that settles in time, rejected or not; false for one that does not', async () => {
    const late = settlesWithin(new Promise(() => undefined), 50)
    const rejected = settlesWithin(Promise.reject(new Error('x')), 50)
    await vi.advanceTimersByTimeAsync(50)
    expect(await late).toBe(false)
    expect(await rejected).toBe(true)
  })
})

describe('the compaction log line', () => {
  it('names the days, the files before and after, what was written and the time', () => {
    expect(compactionLine(result())).toBe('compaction: 2 day(s) (2026-11-22, 2026-11-23), 2170 files before, 14 after, 12 written (48000 rows) in 1.83 s')
  })

  it('shortens many days to a range, and says what was cleaned and skipped', () => {
    const r = result({
      days: ['2026-11-20', '2026-11-21', '2026-11-22', '2026-11-23'],
      cleaned: 3,
      skipped: [{ dir: 'raw/readings/dt=2026-11-21', partition: 2, reason: 'x' }],
    })
    expect(compactionLine(r)).toBe(
      'compaction: 4 day(s) (2026-11-20 to 2026-11-23), 2170 files before, 14 after, 12 written (48000 rows), 3 leftover(s) removed in 1.83 s;' +
        ' 1 folder(s) with an unreadable file left as they are',
    )
  })

  it('says when no day holds small files', () => {
    expect(compactionLine(result({ days: [], filesBefore: 0, filesAfter: 0, written: 0, rows: 0, seconds: 0.01 }))).toBe(
      'compaction: no day with small files, 0 files before, 0 after, 0 written (0 rows) in 0.01 s',
    )
  })
})
