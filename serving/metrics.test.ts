import { describe, expect, it } from 'vitest'
import { countAlert, countClient, countPush, countReadings, createMetrics, type ServingMetrics } from './metrics.ts'

/** A metric's value summed over its labels, as prom-client reports it. */
async function sum(m: { get(): Promise<{ values: Array<{ value: number }> }> }): Promise<number> {
  return (await m.get()).values.reduce((s, v) => s + v.value, 0)
}

async function promTotals(m: ServingMetrics) {
  return { clients: await sum(m.connectedClients), pushes: await sum(m.pushes), readings: await sum(m.readingsSeen), alerts: await sum(m.alertsSeen) }
}

describe("the serving layer's counters", () => {
  it("keep the plain totals equal to prom-client's sums over labels", async () => {
    const m = createMetrics(async () => ({}))
    countClient(m, 1)
    countClient(m, 1)
    countClient(m, -1)
    countPush(m, 'snapshot')
    countPush(m, 'reading', 7)
    countPush(m, 'alert')
    countReadings(m, 12)
    countReadings(m, 3)
    countAlert(m, { level: 'HIGH', kind: 'raised' })
    countAlert(m, { level: 'MEDIUM', kind: 'cleared' })
    expect(m.totals).toEqual({ clients: 1, pushes: 9, readings: 15, alerts: 2 })
    expect(await promTotals(m)).toEqual(m.totals)
  })
})
