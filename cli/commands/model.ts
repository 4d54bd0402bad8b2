import type { Command } from 'commander'
import { modelTrainOptionsSchema } from '../../batch-layer/risk-config.ts'
import type { DatasetProgress } from '../../batch-layer/risk-train.ts'
import { action, commandConfig } from '../command.ts'
import { schemaFlags } from '../options.ts'

const TRAIN_FLAGS = schemaFlags(modelTrainOptionsSchema, ['horizonMin', 'kinds', 'testFraction', 'seed', 'l2', 'cohort', 'promote'])

export function register(program: Command): void {
  const model = program.command('model').description('the early-warning risk model (docs/CLINICAL.md, Early-warning risk model)')
  const train = model
    .command('train')
    .description('train the risk model on the data lake (readings and clinical events) and compare it with NEWS2 on held-out patients')
  TRAIN_FLAGS.addTo(train)
    .addHelpText(
      'after',
      `
Reads <lake>/raw/readings and <lake>/raw/events with DuckDB, computes each patient's features at
the end of every minute with the speed layer's own code (lib/risk/features.ts), labels a minute
positive when an episode starts within --horizon-min after it (minutes inside an episode are
left out), holds out --test-fraction of the patients (a hash of --seed and the patient id), fits
an L2-penalised logistic regression on the others and prints, on the held-out minutes, the model
beside NEWS2 >= 5 and "any per-vital WARNING": AUROC, AUPRC, Brier, sensitivity, alerts per
patient-day (at each rule's own threshold and at 80 % sensitivity), and the model's reliability.

Writes <lake>/models/risk-<version>.json, then, when the model passes the promotion check (its
AUROC within held-out patients at least 0.7 and its AUROC above NEWS2's; or with --promote),
<lake>/models/latest.json (the model the speed layer serves), each atomically; the same lake and
options give the same version. The risk alert's threshold is the model's at 80 % sensitivity on
the held-out patients.

Exit status: 0 trained; 1 failed (no readings, no events, no positive minute, a split without
patients or episodes: the message says what to do); 2 bad flag.`,
    )
    .action(
      action(async (_opts: unknown, cmd: Command) => {
        const config = commandConfig(cmd)
        const options = TRAIN_FLAGS.parse(cmd)
        const progress = progressLine(process.stderr)
        const { trainRiskModel } = await import('../../batch-layer/risk-train.ts')
        const r = await trainRiskModel(config, options, { onProgress: progress.update }).finally(progress.done)
        const t = r.file.training
        const summary = [
          ['model', `${r.file.version} (${r.path}${r.latest === undefined ? '' : `, and ${r.latest}`})`],
          ['served', r.promotion.reason],
          ['cohort', t.cohort],
          ['event time', `${new Date(t.from).toISOString()} to ${new Date(t.to).toISOString()}`],
          ['episodes of', t.eventKinds.join(', ')],
          ['patients', `${t.trainPatients} training, ${t.testPatients} held out (seed ${t.seed})`],
          ['minutes', `${t.trainMinutes} training, ${t.testMinutes} held out, ${t.positives} positive (within ${r.file.horizonMinutes} min before an onset)`],
          ['fit', `${r.fit.iterations} Newton steps${r.fit.converged ? '' : ' (stopped before converging)'}, L2 ${t.l2}`],
          ['threshold', `raise ${r.file.threshold.raise.toFixed(4)}, clear ${r.file.threshold.clear.toFixed(4)}`],
          ['seconds', r.seconds.toFixed(2)],
        ]
        const width = Math.max(...summary.map((row) => (row[0] ?? '').length))
        process.stdout.write(`${summary.map(([k, v]) => `${(k ?? '').padEnd(width)}  ${v}`).join('\n')}\n\non the held-out patients:\n${r.table}`)
        return 0
      }),
    )
}

/**
 * Progress of the read on stderr: on a terminal one line rewritten at most once a second, else
 * a line every 10 s (a long run says it is alive without a line per chunk).
 */
function progressLine(out: NodeJS.WriteStream): { update: (p: DatasetProgress) => void; done: () => void } {
  const tty = out.isTTY === true
  const everyMs = tty ? 1_000 : 10_000
  let last = Date.now()
  let shown = false
  return {
    update(p) {
      const now = Date.now()
      if (now - last < everyMs) return
      last = now
      const line = `reading the lake: patient group ${p.part} of ${p.parts}, ${p.buckets.toLocaleString('en')} patient-minute buckets, ${p.minutes.toLocaleString('en')} minutes kept, ${p.patients} patients`
      out.write(tty ? `\r${line}` : `${line}\n`)
      shown = tty
    },
    done() {
      if (shown) out.write('\n')
    },
  }
}
