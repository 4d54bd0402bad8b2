/**
 * The per-patient band overrides the batch job classifies with (docs/CLINICAL.md, Per-patient
 * bands and the batch job): every `bands(patientId)` hash under the prefix, read when the job
 * runs. Overrides keep no history, so a run applies the bands in force at the run to the whole
 * of every day it computes.
 */
import { overridesFromHash, type BandOverrides } from '../lib/bands.ts'
import type { RedisKeys } from '../lib/contract/keys.ts'
import type { Logger } from '../lib/log.ts'
import { scanKeys, type RedisClient } from '../lib/redis.ts'

/** Keys per SCAN step and per round trip of HGETALLs. */
const BATCH = 1_000

/** The text of a bands key before and after its patient id, taken from the key builder (docs/CONTRACT.md, Redis) rather than spelled again. */
function bandsKeyParts(keys: RedisKeys): { head: string; tail: string } {
  const marker = '\u0000'
  const [head = '', tail = ''] = keys.bands(marker).split(marker)
  return { head, tail }
}

/** Pure: the SCAN pattern of every patient's bands key: the prefix matched literally, then `{*}:bands`. */
export function bandsKeyPattern(keys: RedisKeys): string {
  const { head, tail } = bandsKeyParts(keys)
  return `${head.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}*${tail}`
}

/** Pure: the patient of a bands key (`<prefix>{<patientId>}:bands`), or undefined for another key. */
export function patientOfBandsKey(keys: RedisKeys, key: string): string | undefined {
  const { head, tail } = bandsKeyParts(keys)
  if (!key.startsWith(head) || !key.endsWith(tail) || key.length <= head.length + tail.length) return undefined
  const id = key.slice(head.length, key.length - tail.length)
  return keys.bands(id) === key ? id : undefined
}

/**
 * Every patient's overrides in Redis now. A stored override that does not parse is left out (the
 * patient's defaults apply, as in the speed layer) and named in a warning.
 */
export async function readBandOverrides(redis: RedisClient, keys: RedisKeys, log?: Logger): Promise<Map<string, BandOverrides>> {
  // SCAN may return a key twice.
  const found = new Set<string>()
  for await (const batch of scanKeys(redis, bandsKeyPattern(keys), BATCH)) {
    for (const key of batch) {
      const id = patientOfBandsKey(keys, key)
      if (id !== undefined) found.add(id)
    }
  }
  const patients = [...found]
  const out = new Map<string, BandOverrides>()
  for (let i = 0; i < patients.length; i += BATCH) {
    const chunk = patients.slice(i, i + BATCH)
    // Sent at once, one command each (each patient's key is in its own Redis Cluster slot).
    const replies = await Promise.all(chunk.map((id) => redis.hGetAll(keys.bands(id))))
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
