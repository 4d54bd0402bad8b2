/**
 * Per-patient band overrides in Redis (`{p}:bands`, a hash of vital -> serialized bands): read and
 * written by `vigil patient set/show` and the serving API; the speed layer applies them from the
 * patient's next batch. Every write bumps `bands-version` after the hash is written: the speed
 * layer caches the bands it has read and reads them again once the version moves.
 */
import { applyBandSpecs, mergeBands, overridesFromHash, overridesToHash, type BandOverrides, type BandSpec, type BandTable } from './bands.ts'
import type { RedisKeys } from './contract/keys.ts'
import type { RedisClient } from './redis.ts'

export interface PatientBands {
  overrides: BandOverrides
  /** The bands in force: the defaults with the overrides applied. */
  table: BandTable
}

export async function readPatientBands(redis: RedisClient, keys: RedisKeys, patientId: string): Promise<PatientBands> {
  const overrides = overridesFromHash(await redis.hGetAll(keys.bands(patientId)))
  return { overrides, table: mergeBands(overrides) }
}

/**
 * Applies band specs to a patient's stored overrides and writes the result in one transaction, then
 * bumps the bands version (its own command: the version key is in another slot of a Redis Cluster).
 */
export async function writePatientBands(redis: RedisClient, keys: RedisKeys, patientId: string, specs: readonly BandSpec[]): Promise<PatientBands> {
  const key = keys.bands(patientId)
  const overrides = applyBandSpecs(overridesFromHash(await redis.hGetAll(key)), specs)
  const hash = overridesToHash(overrides)
  const m = redis.multi().del(key)
  if (Object.keys(hash).length > 0) m.hSet(key, hash)
  await m.exec()
  await redis.incr(keys.bandsVersion)
  return { overrides, table: mergeBands(overrides) }
}
