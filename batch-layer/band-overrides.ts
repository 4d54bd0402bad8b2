/**
 * The per-patient band overrides the batch job classifies with (docs/CLINICAL.md, Per-patient
 * bands and the batch job): every `bands(patientId)` hash under the prefix, read when the job
 * runs. Overrides keep no history, so a run applies the bands in force at the run to the whole
 * of every day it computes.
 */
import { overridesFromHash, type BandOverrides } from '../lib/bands.ts'
import type { RedisKeys } from '../lib/contract/keys.ts'
import type { Logger } from '../lib/log.ts'
import type { RedisClient } from '../lib/redis.ts'

/** Keys per SCAN step and per pipeline of HGETALLs. */
const BATCH = 1_000

/**
 * Every patient's overrides in Redis now. A stored override that does not parse is left out (the
 * patient's defaults apply, as in the speed layer) and named in a warning.
 */
export async function readBandOverrides(redis: RedisClient, keys: RedisKeys, log?: Logger): Promise<Map<string, BandOverrides>> {
  // SCAN may return a key twice.
  const found = new Set<string>()
  for await (const batch of redis.scanIterator({ MATCH: keys.patientPattern('bands'), COUNT: BATCH })) {
    for (const key of batch) {
      const id = keys.patientOf(key, 'bands')
      if (id !== undefined) found.add(id)
    }
  }
  const patients = [...found]
  const out = new Map<string, BandOverrides>()
  for (let i = 0; i < patients.length; i += BATCH) {
    const chunk = patients.slice(i, i + BATCH)
    const m = redis.multi()
    for (const id of chunk) m.hGetAll(keys.bands(id))
    const replies = (await m.execAsPipeline()) as unknown as Record<string, string>[]
    chunk.forEach((id, k) => {
      try {
        const overrides = overridesFromHash(replies[k] ?? {})
        if (Object.keys(overrides).length > 0) out.set(id, overrides)
      } catch (error) {
        log?.warn(`the band overrides of ${id} cannot be read (${(error as Error).message}); its daily statistics use the default bands`)
      }
    })
  }
  return out
}
