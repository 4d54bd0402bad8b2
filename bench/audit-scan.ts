/**
 * The audit trail's read path: `readAudit` (lib/identity/audit.ts) scans `vitals.audit` from its
 * start on every `vigil audit` and every audit API call. This fills a fresh topic with `events`
 * acknowledgement events (one per alert, spread over 1,000 patients, written in batches of 1,000
 * through the audit log's own producer), then times three reads: one patient's trail, the newest
 * 200 of everything, and everything. Not one of `vigil bench`'s timed benchmarks; the figures are
 * in docs/SECURITY.md, The audit trail. Needs the stack (`vigil stack up`); uses its own topic prefix.
 *
 *   npx tsx bench/audit-scan.ts [events]      (default 100000)
 */
import { randomUUID } from 'node:crypto'
import { loadConfig } from '../lib/config.ts'
import { createLogger } from '../lib/log.ts'
import { openAuditLog, readAudit } from '../lib/identity/audit.ts'
import { TOKEN_PRINCIPAL } from '../lib/identity/model.ts'

const events = Number(process.argv[2] ?? 100_000)
const config = loadConfig({ topicPrefix: `bench-audit-${randomUUID().slice(0, 8)}.` })
const log = createLogger({ level: 'warn' })
const audit = await openAuditLog(config, { log, clientId: 'vigil-bench-audit' })
const at = Date.now()
const t0 = performance.now()
for (let i = 0; i < events; i += 1_000) {
  const batch = []
  for (let j = i; j < Math.min(events, i + 1_000); j++) {
    const patientId = `p-${String(j % 1_000).padStart(4, '0')}`
    batch.push(
      audit.record({
        actor: TOKEN_PRINCIPAL,
        action: 'alert.acknowledge',
        patientId,
        subject: `${patientId}:heartRate:${j}`,
        before: null,
        after: { by: 'Kim Larsen', at },
        reason: null,
      }),
    )
  }
  await Promise.all(batch)
}
const wrote = performance.now() - t0
await audit.close()
process.stdout.write(`wrote ${events} events in ${(wrote / 1000).toFixed(1)} s\n`)
for (const [what, filter] of [
  ['one patient (p-0042)', { patientId: 'p-0042' }],
  ['newest 200', { limit: 200 }],
  ['everything', {}],
] as const) {
  const t = performance.now()
  const got = await readAudit(config, filter)
  process.stdout.write(`${what.padEnd(22)} ${String(got.length).padStart(7)} events in ${((performance.now() - t) / 1000).toFixed(2)} s\n`)
}
process.stdout.write(
  `(topics ${config.topicPrefix}vitals.audit and vitals.registry left on the broker; \`vigil init\` with that prefix and --with-identity deletes them)\n`,
)
