import { describe, expect, it } from 'vitest'
import { Flow, type FlowLimits } from './flow.ts'
import { FaultInjector, type EdgeRecord } from './faults.ts'
import { Pacer } from './pacer.ts'
import { Prng } from './prng.ts'
import type { Sink } from './sinks.ts'

/** A sink that keeps what it is given; `fatal` can be set by the test. */
function memorySink(): Sink & { got: EdgeRecord[][]; fatal: Error | undefined } {
  return {
    got: [],
    fatal: undefined,
    pending: 0,
    stats: { acked: 0, refused: 0, outages: 0, outageMs: 0 },
    send(records) {
      this.got.push(records)
    },
    waitForCapacity: () => undefined,
    flush: async () => undefined,
    close: async () => undefined,
  }
}

function flow(limits: FlowLimits, clock = { t: 0 }) {
  const sink = memorySink()
  const f = new Flow(sink, new FaultInjector(0, new Prng(1)), new Pacer({ kind: 'asap' }, () => clock.t), limits)
  return { f, sink, clock }
}

const records = (n: number, fault?: 'duplicate'): EdgeRecord[] =>
  Array.from({ length: n }, (_, i) => ({ key: 'p', value: String(i), ts: i, ...(fault ? { fault } : {}) }))

describe('the flow from a source to the sink', () => {
  it('never hands the sink more than --count records, and counts only the faults it handed over', () => {
    const { f, sink } = flow({ count: 5 })
    expect(f.emit(records(3))).toBe(true)
    expect(f.emit(records(4, 'duplicate'))).toBe(false)
    expect(f.emit(records(1))).toBe(false)
    expect(sink.got.map((b) => b.length)).toEqual([3, 2])
    expect(f.sent).toBe(5)
    expect(f.faults.counts.duplicate).toBe(2)
    f.endAtLimit()
    expect(f.stoppedBy).toBe('count')
  })

  it("gives its counters and the sink's as a copy", () => {
    const { f, sink } = flow({ count: 10 })
    f.emit(records(4))
    f.skipped = 2
    f.leftOut = 1
    sink.stats.acked = 3
    sink.stats.outages = 1
    const stats = f.stats()
    f.emit(records(1))
    expect(stats).toEqual({ sent: 4, skipped: 2, leftOut: 1, acked: 3, refused: 0, outages: 1, outageMs: 0 })
    expect(f.stats().sent).toBe(5)
  })

  it('takes --rate × --duration as the limit when no --count is given, and ends by duration', () => {
    expect(flow({ rate: 400, durationS: 1.5 }).f.limit).toBe(600)
    expect(flow({ rate: 'max', durationS: 1 }).f.limit).toBe(Infinity)
    const { f } = flow({ rate: 400, durationS: 1 })
    f.endAtLimit()
    expect(f.stoppedBy).toBe('duration')
  })

  it("ends the wait at the deadline, on stop(), and with the sink's fatal error", async () => {
    const late = flow({ durationS: 2 }, { t: 1_000 })
    expect(late.f.deadline).toBe(3_000)
    expect(await late.f.wait(1_000)).toBe(true)
    late.clock.t = 3_000
    expect(await late.f.wait(5_000)).toBe(false)
    expect(late.f.stoppedBy).toBe('duration')
    const stopped = flow({})
    stopped.f.stop()
    expect(await stopped.f.wait(0)).toBe(false)
    expect(stopped.f.stoppedBy).toBe('stop')
    const failed = flow({})
    failed.sink.fatal = new Error('token refused')
    await expect(failed.f.wait(0)).rejects.toThrow('token refused')
  })
})
