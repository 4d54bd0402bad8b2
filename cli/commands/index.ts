import type { Command } from 'commander'
import { register as stack } from './stack.ts'
import { register as init } from './init.ts'
import { register as edge } from './edge.ts'
import { register as ingest } from './ingest.ts'
import { register as speed } from './speed.ts'
import { register as patient } from './patient.ts'
import { register as device } from './device.ts'
import { register as user } from './user.ts'
import { register as audit } from './audit.ts'
import { register as archive } from './archive.ts'
import { register as batch } from './batch.ts'
import { register as compact } from './compact.ts'
import { register as model } from './model.ts'
import { register as serve } from './serve.ts'
import { register as all } from './all.ts'
import { register as status } from './status.ts'
import { register as bench } from './bench.ts'

/** Every command, in the order `vigil --help` lists them: the data flow, then operations. */
export function registerCommands(program: Command): void {
  for (const r of [stack, init, edge, ingest, speed, patient, device, user, audit, archive, batch, compact, model, serve, all, status, bench]) r(program)
}
