/**
 * The episodes of a simulated ward waiting for their onset: a min-heap (min-heap.ts) ordered by onset,
 * ties broken by the order they were queued, so that a seeded run hands them out in one
 * deterministic order. A ward of 100 000 patients holds about one episode per patient and
 * timeline an hour ahead; each push and pop is O(log n).
 */
import { MinHeap } from './min-heap.ts'
import type { Episode } from './physiology.ts'

/** An episode of one patient whose onset event time has come. */
export interface StartedEpisode {
  patientId: string
  episode: Episode
}

interface Entry extends StartedEpisode {
  /** Order queued: the tie-breaker between equal onsets. */
  n: number
}

export class EpisodeQueue {
  readonly #heap = new MinHeap<Entry>(less)
  #queued = 0

  /** Onset of the earliest episode queued, epoch ms; Infinity when none is. */
  get nextStart(): number {
    return this.#heap.peek()?.episode.start ?? Infinity
  }

  get size(): number {
    return this.#heap.size
  }

  push(patientId: string, episode: Episode): void {
    this.#heap.push({ patientId, episode, n: this.#queued++ })
  }

  /** Removes and returns the episodes whose onset is at or before `t`, earliest first. */
  popStartedBy(t: number): StartedEpisode[] {
    const out: StartedEpisode[] = []
    while (this.nextStart <= t) {
      const { patientId, episode } = this.#heap.pop()!
      out.push({ patientId, episode })
    }
    return out
  }
}

function less(a: Entry, b: Entry): boolean {
  return a.episode.start < b.episode.start || (a.episode.start === b.episode.start && a.n < b.n)
}
