/**
 * The in-memory state of the patients of the owned partitions. Redis holds exactly what earlier
 * batches wrote, so the cache can be dropped at any time and reloaded from it: it is dropped on
 * every rebalance (another instance may have written a patient meanwhile), on a detected wipe and
 * after a failed batch.
 */
import type { PatientRuntime } from './patients.ts'

export class PatientCache {
  private readonly patients = new Map<string, PatientRuntime>()
  /** Set by a group join or a reopened stream: the cache is dropped before its next use. */
  private invalid = false
  private invalidations = 0

  /** The assignment may have changed: drop the cache before its next use. */
  invalidate(): void {
    this.invalid = true
    this.invalidations++
  }

  /** Moves at every invalidation: a batch read under one generation knows when the assignment may have changed since. */
  get generation(): number {
    return this.invalidations
  }

  /** Whether the next `settle` drops the cache. */
  get invalidated(): boolean {
    return this.invalid
  }

  /** Before a use: drops the cache if it was invalidated since the last use. */
  settle(): void {
    if (!this.invalid) return
    this.patients.clear()
    this.invalid = false
  }

  clear(): void {
    this.patients.clear()
  }

  get(id: string): PatientRuntime | undefined {
    return this.patients.get(id)
  }

  has(id: string): boolean {
    return this.patients.has(id)
  }

  set(id: string, p: PatientRuntime): void {
    this.patients.set(id, p)
  }

  values(): IterableIterator<PatientRuntime> {
    return this.patients.values()
  }
}
