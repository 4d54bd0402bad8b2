import { describe, expect, it } from 'vitest'
import { redisKeys } from '../lib/contract/keys.ts'
import { bandsKeyPattern, patientOfBandsKey } from './band-overrides.ts'

describe("finding every patient's bands key", () => {
  it('matches the prefix literally, glob characters escaped', () => {
    expect(bandsKeyPattern(redisKeys('vigil:'))).toBe('vigil:{*}:bands')
    expect(bandsKeyPattern(redisKeys('t[1]*?:'))).toBe('t\\[1\\]\\*\\?:{*}:bands')
  })

  it('reads the patient back from a bands key, and nothing from another key', () => {
    const keys = redisKeys('vigil:')
    expect(patientOfBandsKey(keys, keys.bands('p-0001'))).toBe('p-0001')
    expect(patientOfBandsKey(keys, keys.latest('p-0001'))).toBeUndefined()
    expect(patientOfBandsKey(keys, 'other:{p-0001}:bands')).toBeUndefined()
    expect(patientOfBandsKey(keys, 'vigil:{}:bands')).toBeUndefined()
  })
})
